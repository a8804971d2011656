# The kinds of kernel object by the names the facade gives them, for both
# backends' _kernel.pyx (each sets MUTEX, EVENT, SEMAPHORE and MAPPING to its
# own values before it includes this).

KIND_NAMES = {MUTEX: "Mutex", EVENT: "Event", SEMAPHORE: "Semaphore", MAPPING: "FileMapping"}


def _a(str noun):
    """``noun`` with its indefinite article, for messages."""
    return ("an " if noun[0] in "AEIOU" else "a ") + noun
