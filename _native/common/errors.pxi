# How native code reports a failure (included by every _rpc.pyx and
# _kernel.pyx).
#
# Native code imports nothing of the facade (winipc/*.py) and never builds
# winipc's exceptions itself: right after a failing call it reads
# GetLastError() or errno and calls raise_winerror(code, "CallName") or
# raise_errno(code, "call_name").  Those hand the code to the error factory
# that the facade installs in this module when it imports it
# (set_error_factory; winipc/_os.py installs winipc/_errors.py's
# native_error), which picks the winipc error class and words the message
# as it does for every other winipc error:
#
#   factory(kind, code, call, detail, cls_name) -> the exception to raise
#     kind      "winerror": code is a Win32 error code;
#               "errno": code is an errno value;
#               "message": code is a Win32 error code and detail is the whole
#               message, taken as it is
#     call      the call that failed, as the message and the error's .call
#               name it
#     detail    None: the message says what the code means; a str: said
#               instead; a callable: given what the code means, returns what
#               to say (so that a detail can quote the facade's words)
#     cls_name  None: the class that the code maps to; else the name of the
#               winipc error class to raise instead, one of ERROR_CLASSES
#
# A name is all native code knows of a winipc class: where it catches a
# failure of its own, it catches the OSError that the failure is (and tells
# failures apart by their code where that matters).

import os as _os_errors

#: The winipc error classes a failure may name (cls_name), by name.
ERROR_CLASSES = frozenset({
    "WinIPCError", "AccessDenied", "NoSuchProcess", "WindowNotFound", "ObjectNotFound",
    "CallTimeout", "ServerGone", "WrongObjectType", "AbandonedMutex", "BufferTooSmall",
    "InvalidAddress", "UnknownMessage", "HandlerFailed", "NotSupported", "NotOwner",
    "TooManyPosts", "InvalidHandle", "ServerFull",
})

cdef object ERROR_FACTORY = None


def set_error_factory(factory):
    """Build every error of this module with ``factory`` (see errors.pxi);
    None: plain OSErrors."""
    global ERROR_FACTORY
    ERROR_FACTORY = factory


cdef object plain_error(str kind, object code, str call, object detail):
    """The error without a factory (this module imported without winipc's
    facade, or its factory taken away): a plain OSError with the errno
    value, or the Win32 code as its winerror (on Windows, OSError derives
    the errno from it; elsewhere errno stays None)."""
    words = _os_errors.strerror(code) if kind == "errno" else f"Win32 error {code}"
    if callable(detail):
        detail = detail(words)
    message = detail if kind == "message" else f"{call} failed: {detail or words}"
    if kind == "errno":
        return OSError(code, message)
    if BACKEND == "windows":
        return OSError(None, message, None, code)
    err = OSError(message)
    err.winerror = code
    return err


cdef object native_error(str kind, object code, str call, object detail, object cls):
    """The exception for a failure of ``call`` (see the top of errors.pxi)."""
    if cls is not None and cls not in ERROR_CLASSES:
        raise ValueError(f"{cls!r} is not one of winipc's error classes")
    if ERROR_FACTORY is None:
        return plain_error(kind, code, call, detail)
    return ERROR_FACTORY(kind, code, call, detail, cls)


cdef int raise_winerror(object code, str call, object detail=None, object cls=None) except -1:
    """Raise the error for Win32 error ``code`` from ``call``."""
    raise native_error("winerror", code, call, detail, cls)


cdef int raise_errno(object code, str call, object detail=None, object cls=None) except -1:
    """Raise the error for errno value ``code`` from ``call``."""
    raise native_error("errno", code, call, detail, cls)
