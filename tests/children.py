"""Child processes of the tests, run so that nothing can hang a test run.

A reader of a pipe sees its end only when every holder of the write end has
closed it, and on Windows ``subprocess.run(..., timeout=...)`` reads the pipes
to their end even after it killed the child.  A grandchild that inherited the
pipe (under Wine, the desktop process can be one) then makes it wait forever.
So here a child's output goes to a temporary file, which no other holder can
make anyone wait for; a line that must be read from a live child's pipe is
read on a thread with a deadline; and every wait has a bound.

(The outermost Windows Python under Wine needs pipes for its own standard
handles, see WINE.md; its children, started by Windows Python, take files.)
"""

import subprocess
import tempfile
import threading

KILL_WAIT = 30      # seconds a killed child may take to be reaped


# Wine's CreateProcess has now and then failed with ERROR_INTERNAL_ERROR
# (1359) for a program it starts fine a moment later; a test's child is
# started once more then.  (Real Windows gives that code for no such cause.)
ERROR_INTERNAL_ERROR = 1359


def _popen(argv, **popen):
    try:
        return subprocess.Popen(argv, **popen)
    except OSError as e:
        if getattr(e, "winerror", None) != ERROR_INTERNAL_ERROR:
            raise
    return subprocess.Popen(argv, **popen)


def run(argv, timeout, *, text=False, merge_stderr=False, **popen):
    """subprocess.run(argv, capture_output=True, timeout=timeout), with the
    output in temporary files.  On timeout the child is killed and
    ``subprocess.TimeoutExpired`` carries what it wrote."""
    popen.setdefault("stdin", subprocess.DEVNULL)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = _popen(argv, stdout=out, stderr=subprocess.STDOUT if merge_stderr else err,
                      **popen)
        try:
            rc = proc.wait(timeout)
            expired = None
        except subprocess.TimeoutExpired as e:
            proc.kill()
            proc.wait(KILL_WAIT)
            expired = e
        outputs = []
        for f in (out, err):
            f.seek(0)
            data = f.read()
            outputs.append(data.decode(errors="replace") if text else data)
    if expired is not None:
        expired.output, expired.stderr = outputs
        raise expired
    return subprocess.CompletedProcess(argv, rc, *outputs)


def read_line(proc, stream, timeout):
    """The next line of ``stream`` (a pipe from ``proc``), waiting at most
    ``timeout`` seconds; on timeout ``proc`` is killed and TimeoutError raised.
    The read runs on a daemon thread, so a pipe that never ends cannot keep
    the test run waiting."""
    got = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not got:
        stop(proc)
        raise TimeoutError(f"{proc.args!r} wrote no line within {timeout} s")
    return got[0]


def stop(proc, timeout=KILL_WAIT):
    """Kills ``proc`` if it still runs, and reaps it (bounded)."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout)
