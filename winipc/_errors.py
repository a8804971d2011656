"""winipc's exceptions, and the one place that turns an error code into one.

Every error is a :class:`WinIPCError` (an :class:`OSError`) that is also the
matching built-in ``OSError`` subclass, so ``except PermissionError`` and
``except winipc.AccessDenied`` both work.  Each carries ``winerror`` (the
Win32 error code; on Linux the code the Windows backend would report) and
``errno``, and its message names the call that failed.

The native modules never build exceptions themselves, and import nothing of
this package: right after a failing call they hand the code they read to
:func:`native_error`, the error factory that ``winipc/_os.py`` installs in
each of them (``_native/common/errors.pxi``).  The facade's own code calls
:func:`raise_winerror` or :func:`raise_errno`.
"""

from __future__ import annotations

import errno as _errno
import os
from typing import Callable, NoReturn, Optional

from .constants import WinError

__all__ = [
    "WinIPCError", "AccessDenied", "NoSuchProcess", "WindowNotFound",
    "ObjectNotFound", "CallTimeout", "ServerGone", "WrongObjectType",
    "AbandonedMutex", "BufferTooSmall", "InvalidAddress", "UnknownMessage",
    "HandlerFailed", "NotSupported", "NotOwner", "TooManyPosts", "InvalidHandle",
    "ServerFull",
]


class WinIPCError(OSError):
    """Base class of every winipc error; an :class:`OSError`."""

    # None when the error has no Win32 code, as for a plain OSError on Windows
    # (typeshed declares OSError.winerror, on Windows only, as int).
    winerror: int | None  # type: ignore[assignment,unused-ignore]
    call: str | None

    def __init__(self, *args: object, winerror: int | None = None,
                 call: str | None = None) -> None:
        super().__init__(*args)
        self.winerror = winerror
        self.call = call


class AccessDenied(WinIPCError, PermissionError):
    """The process or object refused the requested access."""


class NoSuchProcess(WinIPCError, ProcessLookupError):
    """No process has that id (or it has exited)."""


class WindowNotFound(WinIPCError, FileNotFoundError):
    """No server window (Linux: endpoint) has that title."""


class ObjectNotFound(WinIPCError, FileNotFoundError):
    """No kernel object has that name."""


class CallTimeout(WinIPCError, TimeoutError):
    """The server did not answer within the timeout (or is hung).

    ``started`` says what became of the request: ``False``, it was
    withdrawn before the server took it and never runs; ``True``, the
    server had taken it, and its handler runs or ran; ``None``, unknown
    (the classic SendMessageTimeout path, or a wait before the request)."""

    started: Optional[bool] = None


class ServerGone(WinIPCError, ConnectionError):
    """The server exited or closed its window while a call was pending."""


class WrongObjectType(WinIPCError):
    """The name belongs to a kernel object of another type."""


class AbandonedMutex(WinIPCError):
    """The mutex's previous owner died holding it; the caller now owns it."""


class BufferTooSmall(WinIPCError, ValueError):
    """A buffer or wParam is smaller than the struct it must hold."""


class InvalidAddress(WinIPCError, ValueError):
    """The server refused an address that is not a buffer it may use."""


class UnknownMessage(WinIPCError):
    """The server has no handler for that message."""


class HandlerFailed(WinIPCError):
    """The server's handler raised; the server logged it and kept serving.
    ``handler_error`` is what it raised ("ValueError: ..."), or None: whole
    (as much UTF-8 as a failed handler's note holds) for a call through a
    doorbell, else as far as the request's buffer could hold it."""

    handler_error: str | None = None


class NotSupported(WinIPCError):
    """This platform cannot do what was asked (the message says why)."""


class NotOwner(WinIPCError, RuntimeError):
    """A mutex was released by a thread that does not own it."""


class TooManyPosts(WinIPCError, ValueError):
    """A semaphore release would raise its count past its maximum."""


class InvalidHandle(WinIPCError, ValueError):
    """A handle value (Linux: fd) that is not open in this process.

    Raised with ``cls=`` where it applies: Win32 reports a wrong object type
    with the same ERROR_INVALID_HANDLE code, which maps to WrongObjectType.
    """


class ServerFull(WinIPCError, ConnectionRefusedError):
    """The server is alive but serves as many clients as it can hold."""


_BY_WINERROR: dict[int, type[WinIPCError]] = {
    WinError.CONNECTION_COUNT_LIMIT: ServerFull,
    WinError.FILE_NOT_FOUND: ObjectNotFound,
    WinError.ACCESS_DENIED: AccessDenied,
    WinError.INVALID_HANDLE: WrongObjectType,
    WinError.INSUFFICIENT_BUFFER: BufferTooSmall,
    WinError.INVALID_ADDRESS: InvalidAddress,
    WinError.PARTIAL_COPY: InvalidAddress,
    WinError.NOACCESS: InvalidAddress,
    WinError.UNHANDLED_EXCEPTION: HandlerFailed,
    WinError.INVALID_MESSAGE: UnknownMessage,
    WinError.INVALID_WINDOW_HANDLE: ServerGone,
    WinError.PIPE_NOT_CONNECTED: ServerGone,
    WinError.TIMEOUT: CallTimeout,
    WinError.NOT_SUPPORTED: NotSupported,
    WinError.NOT_OWNER: NotOwner,
    WinError.TOO_MANY_POSTS: TooManyPosts,
}

_ERRNO_OF_WINERROR: dict[int, int] = {
    WinError.CONNECTION_COUNT_LIMIT: _errno.EUSERS,
    WinError.FILE_NOT_FOUND: _errno.ENOENT,
    WinError.ACCESS_DENIED: _errno.EACCES,
    WinError.INVALID_HANDLE: _errno.EBADF,
    WinError.NOT_ENOUGH_MEMORY: _errno.ENOMEM,
    WinError.INVALID_PARAMETER: _errno.EINVAL,
    WinError.INSUFFICIENT_BUFFER: _errno.ENOBUFS,
    WinError.ALREADY_EXISTS: _errno.EEXIST,
    WinError.PARTIAL_COPY: _errno.EFAULT,
    WinError.INVALID_ADDRESS: _errno.EFAULT,
    WinError.INVALID_MESSAGE: _errno.EBADMSG,
    WinError.INVALID_WINDOW_HANDLE: _errno.ECONNRESET,
    WinError.PIPE_NOT_CONNECTED: _errno.ECONNRESET,
    WinError.TIMEOUT: _errno.ETIMEDOUT,
    WinError.NOT_SUPPORTED: _errno.EOPNOTSUPP,
    WinError.UNHANDLED_EXCEPTION: _errno.EIO,
    WinError.NOT_OWNER: _errno.EPERM,
    WinError.TOO_MANY_POSTS: _errno.EOVERFLOW,
}

_BY_ERRNO: dict[int, type[WinIPCError]] = {
    _errno.EACCES: AccessDenied,
    _errno.EPERM: AccessDenied,
    _errno.ESRCH: NoSuchProcess,
    _errno.ENOENT: ObjectNotFound,
    _errno.ETIMEDOUT: CallTimeout,
    _errno.ECONNRESET: ServerGone,
    _errno.EPIPE: ServerGone,
    _errno.ECONNREFUSED: ServerGone,
    _errno.ENOTCONN: ServerGone,
    _errno.EOWNERDEAD: AbandonedMutex,
    _errno.ENOBUFS: BufferTooSmall,
    _errno.EFAULT: InvalidAddress,
    _errno.EBADMSG: UnknownMessage,
    _errno.EOPNOTSUPP: NotSupported,
    _errno.EIO: HandlerFailed,
}

# What the Windows backend would report for the errno values Linux gives.
_WINERROR_OF_ERRNO: dict[int, int] = {
    _errno.EACCES: WinError.ACCESS_DENIED,
    _errno.EPERM: WinError.ACCESS_DENIED,
    _errno.ESRCH: WinError.INVALID_PARAMETER,      # OpenProcess's answer for no process
    _errno.ENOENT: WinError.FILE_NOT_FOUND,
    _errno.ETIMEDOUT: WinError.TIMEOUT,
    _errno.ECONNRESET: WinError.INVALID_WINDOW_HANDLE,
    _errno.EPIPE: WinError.INVALID_WINDOW_HANDLE,
    _errno.ECONNREFUSED: WinError.INVALID_WINDOW_HANDLE,
    _errno.EFAULT: WinError.PARTIAL_COPY,
    _errno.ENOMEM: WinError.NOT_ENOUGH_MEMORY,
    _errno.EINVAL: WinError.INVALID_PARAMETER,
}

_WIN_DESCRIPTIONS: dict[int, str] = {
    WinError.INVALID_MESSAGE: "the server has no handler for this message",
    WinError.INSUFFICIENT_BUFFER: "the buffer is smaller than the handler's struct",
    WinError.INVALID_ADDRESS: "the address is not a committed read-write buffer of that size",
    WinError.UNHANDLED_EXCEPTION: "the server's handler raised an exception",
    WinError.TIMEOUT: "the call timed out",
    WinError.CONNECTION_COUNT_LIMIT: "the server is full: it serves as many clients as it can hold",
    WinError.INVALID_WINDOW_HANDLE: "the server window is gone",
    WinError.NOT_OWNER: "the calling thread does not own the mutex",
    WinError.TOO_MANY_POSTS: "the release would exceed the semaphore's maximum count",
}


# The platform's words for an error: winipc/_os.py installs its platform
# module's at import (set_platform_words), as it installs native_error in
# the native modules.  The platform modules raise these errors, so this
# module imports none of them.  Until then: the code's number, and each
# message as it is.
_MessageHook = Callable[[int, str, str], str]


def _as_it_is(code: int, call: str, message: str) -> str:
    return message


_platform_describe: Callable[[int], str] = "error {}".format
_winerror_message: _MessageHook = _as_it_is
_errno_message: _MessageHook = _as_it_is


def set_platform_words(describe_winerror: Callable[[int], str], winerror_message: _MessageHook,
                       errno_message: _MessageHook) -> None:
    """The platform's text for a Win32 code (when winipc has none of its
    own), and what it adds to a Win32 or errno error's message (a hint:
    elevation, ptrace access): the hooks of ``_os_windows.py`` or
    ``_os_linux.py``."""
    global _platform_describe, _winerror_message, _errno_message
    _platform_describe, _winerror_message = describe_winerror, winerror_message
    _errno_message = errno_message


def _describe_winerror(code: int) -> str:
    if code in _WIN_DESCRIPTIONS:
        return _WIN_DESCRIPTIONS[code]
    return _platform_describe(code)


def _known(code: int | None) -> int | None:
    """``code`` as a WinError member when winipc knows it."""
    if code is None:
        return None
    try:
        return WinError(code)
    except ValueError:
        return code


def error_from_winerror(code: int, call: str, detail: str | None = None,
                        cls: type[WinIPCError] | None = None) -> WinIPCError:
    """Build the exception for Win32 error ``code`` raised by ``call``."""
    cls = cls or _BY_WINERROR.get(code, WinIPCError)
    msg = _winerror_message(code, call, f"{call} failed: {detail or _describe_winerror(code)}")
    err = cls(_ERRNO_OF_WINERROR.get(code, _errno.EIO), msg, winerror=_known(code), call=call)
    return err


def error_from_errno(code: int, call: str, detail: str | None = None,
                     cls: type[WinIPCError] | None = None) -> WinIPCError:
    """Build the exception for ``errno`` value ``code`` raised by ``call``."""
    cls = cls or _BY_ERRNO.get(code, WinIPCError)
    msg = _errno_message(code, call, f"{call} failed: {detail or os.strerror(code)}")
    return cls(code, msg, winerror=_known(_WINERROR_OF_ERRNO.get(code)), call=call)


def raise_winerror(code: int, call: str, detail: str | None = None,
                   cls: type[WinIPCError] | None = None) -> NoReturn:
    raise error_from_winerror(code, call, detail, cls)


def raise_errno(code: int, call: str, detail: str | None = None,
                cls: type[WinIPCError] | None = None) -> NoReturn:
    raise error_from_errno(code, call, detail, cls)


# The classes a native module may name instead of the one a code maps to (its
# ERROR_CLASSES: tests/test_contract.py checks that they are these).
_BY_NAME: dict[str, type[WinIPCError]] = {cls.__name__: cls for cls in (
    WinIPCError, AccessDenied, NoSuchProcess, WindowNotFound, ObjectNotFound, CallTimeout,
    ServerGone, WrongObjectType, AbandonedMutex, BufferTooSmall, InvalidAddress,
    UnknownMessage, HandlerFailed, NotSupported, NotOwner, TooManyPosts, InvalidHandle,
    ServerFull)}


def native_error(kind: str, code: int, call: str,
                 detail: str | Callable[[str], str] | None,
                 cls_name: str | None) -> WinIPCError:
    """The exception for a native module's failure: the factory that
    winipc/_os.py installs in each (their ``set_error_factory``; the
    arguments are described at the top of ``_native/common/errors.pxi``).

    ``kind`` "winerror" and "errno" are :func:`error_from_winerror` and
    :func:`error_from_errno`; "message" is Win32 error ``code`` said by
    ``detail`` whole.  A callable ``detail`` is given what the code means
    and returns what to say."""
    cls = None if cls_name is None else _BY_NAME[cls_name]
    if kind == "errno":
        if callable(detail):
            detail = detail(os.strerror(code))
        return error_from_errno(code, call, detail, cls)
    if callable(detail):
        detail = detail(_describe_winerror(code))
    if kind == "winerror":
        return error_from_winerror(code, call, detail, cls)
    if kind == "message" and detail is not None:
        cls = cls or _BY_WINERROR.get(code, WinIPCError)
        return cls(_ERRNO_OF_WINERROR.get(code, _errno.EIO), detail, winerror=_known(code),
                   call=call)
    raise ValueError(f"no native error of kind {kind!r} with detail {detail!r}")
