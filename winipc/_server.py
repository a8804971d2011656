"""The server side of process-memory RPC: a window (Linux: an endpoint) whose
handlers, Python or compiled, compute in place on structs that clients wrote
into this process's memory."""

from __future__ import annotations

import ctypes
import hashlib
import inspect
import logging
import operator
import threading
from typing import (TYPE_CHECKING, Any, Callable, Optional, Self, SupportsIndex, TypeVar, Union,
                    overload)

from . import _os, _rpc as _native
from ._errors import WindowNotFound, error_from_winerror
from ._notes import _write_note
from ._remote import _CT, Window, _size_of, find_window
from ._resource import Resource
from ._timeouts import DEFAULT_SPIN_US, _check_spin
from .constants import WinError

if TYPE_CHECKING:
    from ctypes import _CData

    from .kernel import Mutex

__all__ = ["NATIVE_HANDLER", "Server", "caller_pid"]

log: logging.Logger = logging.getLogger("winipc")

# What a handler may return: the message's result (None is 0).
_R = TypeVar("_R", bound=Optional[SupportsIndex])
_N = TypeVar("_N")

# The prototype of a compiled handler: int64_t handler(void *data, size_t size).
NATIVE_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, ctypes.c_size_t)


def _handler_address(native: Any) -> int:
    """The address of a compiled handler, checked: a PyCapsule named
    "winipc.handler", or a ctypes function pointer of NATIVE_HANDLER's type."""
    if isinstance(native, ctypes._CFuncPtr):  # type: ignore[attr-defined]
        if (native.restype not in (ctypes.c_int64, ctypes.c_longlong)
                or [ctypes.sizeof(t) for t in (native.argtypes or ())] != [
                    ctypes.sizeof(ctypes.c_void_p), ctypes.sizeof(ctypes.c_size_t)]):
            raise TypeError("a compiled handler is int64_t handler(void *data, size_t size): "
                            "make it with winipc.rpc.NATIVE_HANDLER(function)")
    elif type(native).__name__ != "PyCapsule":
        raise TypeError(f"native= takes a PyCapsule named 'winipc.handler' or a ctypes "
                        f"function pointer (winipc.rpc.NATIVE_HANDLER), not "
                        f"{type(native).__name__}; a Python function is registered with "
                        f"@server.handler(msg, struct) instead")
    try:
        return _native.handler_address(native)
    except ValueError as e:
        raise TypeError(f"the capsule is not a winipc handler: {e}") from None


def caller_pid() -> Optional[int]:
    """Inside a Python handler: the id of the process whose call it serves.
    None outside a handler, and where nobody can know: a Windows window
    message (the classic path), which any process may send.  A doorbell
    call's process is known on Windows (the doorbell is that process's own),
    and every call's on Linux (the endpoint connection's peer credentials)."""
    return _native.serving_caller() or None


# A Python handler runs natively (dispatch.pxi): its argument, a plain
# result, and the caller's pid for caller_pid().  What needs words comes here.

def _result_of(fn: Callable[..., Any], result: Any) -> int:
    """The int that what handler ``fn`` returned stands for, other than None
    or a plain int: an index (a bool, an IntEnum), or the error that says
    why not.  The native side then checks it as every result (dispatch.pxi:
    not in the reserved range, and within a signed 64-bit int)."""
    try:
        return operator.index(result)   # an int (or bool), never "12" or 3.7
    except TypeError:
        raise TypeError(f"handler {fn.__qualname__} returned {result!r}: a message's "
                        "result is an int or None") from None


def _failed(fn: Callable[..., Any], error: BaseException, address: int, size: int) -> None:
    """Handler ``fn`` raised ``error`` on ``size`` bytes at ``address``: logged
    here; the sender gets HandlerFailed with the note written in its buffer."""
    log.error("handler %s raised; the sender gets HandlerFailed", fn,
              exc_info=(type(error), error, error.__traceback__))
    _write_note(address, size, f"{type(error).__name__}: {error}")


_native.set_handler_hooks(_result_of, _failed)


class Server(Resource):
    """A window titled ``title`` (Linux: an endpoint) whose handlers compute
    in place on structs that clients wrote into this process.

    ``serve_forever()`` serves on the calling thread; ``with server:`` serves
    on a thread of its own until the block ends, and closes the server.
    ``stop()`` ends serving and allows serving again; ``close()`` is final.
    """

    def __init__(self, title: str, *, spin: Optional[int] = None, steady: Optional[int] = None,
                 allow_lower_integrity: bool = False, exclusive: bool = False):
        """``allow_lower_integrity=True`` (Windows) lets processes of a lower
        integrity level send this server its messages: when the server runs
        elevated, User Interface Privilege Isolation otherwise drops the
        messages of every process that does not
        (ChangeWindowMessageFilterEx).  It opens the server to every such
        process of the session, so use it only for a server meant to be
        driven from there.  Linux has no integrity levels: any process of
        the same user may connect, and the flag changes nothing.

        ``spin`` (µs) is how long the serving thread spins for the next
        request after answering one before it sleeps in the kernel; the
        next call after a longer pause pays a kernel wake-up.  ``steady``
        (µs, 0: off) keeps it spinning while calls come at most that far
        apart, until twice the recent longest gap has passed: no call then
        pays a wake-up, and the serving thread burns its CPU for as long as
        they keep coming (a call every millisecond with ``steady=2000``: a
        whole CPU).  A longer pause ends it.  By default ``steady`` is
        ``winipc.rpc.STEADY_PER_SPIN`` (4) times ``spin``, 200 µs: calls that come in
        bursts, or every 100 µs, find the server awake, for at most 200 µs
        of spinning after the last one; ``steady=0`` spins ``spin`` after
        every call and no longer.

        ``exclusive=True`` refuses to serve a title that another server
        already serves (WinIPCError with winerror ERROR_ALREADY_EXISTS and
        errno EEXIST, when serving starts); by default a second server may
        take a title, and new clients then reach the newer one, as Windows
        allows.  Exclusive servers hold a named mutex for the title while
        they serve, so that two starting at once cannot both have it."""
        _check_spin(spin)
        _check_spin(steady, "steady")
        self.title = title
        # How long the serving thread spins over its doorbells for the next
        # request after answering one (µs; 0: it sleeps at once).
        self.spin: int = DEFAULT_SPIN_US if spin is None else spin
        self._core = _native.ServerCore(title, self.spin)
        # Steady mode (µs; 0: off); by default the core's, from the spin.
        if steady is not None:
            self._core.steady_us = steady
        self.steady: int = self._core.steady_us
        self._core.allow_lower_integrity = bool(allow_lower_integrity)
        if type(exclusive) is not bool:
            raise TypeError(f"exclusive is True or False, not {type(exclusive).__name__} "
                            f"{exclusive!r}")
        self.exclusive = exclusive
        self._thread: Optional[threading.Thread] = None
        self._ready = threading.Event()
        self._error: Optional[BaseException] = None
        self._natives: list[object] = []
        self.window: Optional[Window] = None
        self._opened()

    @property
    def pid(self) -> int:
        return self._core.pid

    @property
    def held(self) -> tuple[int, int]:
        """(handles or fds, bytes) the server holds for its clients now:
        what the bounds in the README limit."""
        return self._core.held

    @overload
    def handler(self, msg: int, struct: Union[None, int, type[_CData]] = None, *,
                native: _N) -> _N: ...
    @overload
    def handler(self, msg: int, struct: type[_CT], *, native: None = None
                ) -> Callable[[Callable[[_CT], _R]], Callable[[_CT], _R]]: ...
    @overload
    def handler(self, msg: int, struct: Optional[int] = None, *, native: None = None
                ) -> Callable[[Callable[[memoryview], _R]], Callable[[memoryview], _R]]: ...

    def handler(self, msg: int, struct: Union[None, int, type[_CData]] = None, *,
                native: Any = None) -> Any:
        """Register the handler of ``msg``.  ``struct`` is the ctypes type the
        handler works on (wParam must be at least its size), a minimum size,
        or None for raw bytes.  A Python handler is the decorated function,
        called with the struct (or a memoryview) in place; a compiled one is
        ``native=``, a PyCapsule named "winipc.handler" or a ctypes function
        pointer of type ``int64_t (*)(void *data, size_t size)``."""
        if self._ready.is_set():
            raise RuntimeError("register handlers before the server starts serving")
        if isinstance(msg, bool) or not isinstance(msg, int):
            raise TypeError(f"handler() takes the message number first (an int), then the "
                            f"struct; got {type(msg).__name__} for the message")
        size = 0 if struct is None else _size_of(struct)
        if native is not None:
            self._core.handlers.add(msg, size, None, _handler_address(native))
            # The server calls it for as long as it serves: a ctypes function
            # pointer collected meanwhile would leave it calling freed code.
            self._natives.append(native)
            return native
        ctype = None if struct is None or isinstance(struct, int) else struct

        def register(fn: Callable[[Any], _R]) -> Callable[[Any], _R]:
            if inspect.iscoroutinefunction(fn):
                # The serving thread calls a handler and takes its result at
                # once: a coroutine would never run.
                raise TypeError(f"handler {fn.__qualname__} is a coroutine function: a "
                                "handler runs on the serving thread and returns the "
                                "message's result (an int or None) before the answer goes")
            self._core.handlers.add(msg, size, fn, 0, ctype)
            return fn
        return register

    def _on_ready(self, handle: int, tid: int) -> None:
        self.window = Window(handle, self.pid, tid)
        self._ready.set()

    def serve_forever(self) -> None:
        """Create the window and serve until :meth:`stop`."""
        self._check_open()
        _os.tidy()
        claim = self._claim_title() if self.exclusive else None
        try:
            self._core.run(self._on_ready)
        finally:
            self._ready.clear()
            if claim is not None:
                claim.close()

    def _claim_title(self) -> Mutex:
        """The title's mutex, created here, for an exclusive server; raises
        when another server has the title (exclusive or not)."""
        from .kernel import Mutex       # (the kernel objects need nothing from here)

        digest = hashlib.sha256(self.title.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        claim = Mutex(f"Local\\winipc.title.{digest}")
        try:
            taken = not claim.created
            if not taken:
                try:
                    find_window(self.title)
                    taken = True
                except WindowNotFound:
                    pass
        except BaseException:
            claim.close()
            raise
        if taken:
            claim.close()
            raise error_from_winerror(WinError.ALREADY_EXISTS, "Server",
                                      f"another server serves the title {self.title!r} "
                                      f"(exclusive=True refuses to share it)")
        return claim

    def _serve_thread(self) -> None:
        try:
            self.serve_forever()
        except BaseException as e:
            self._error = e
            self._ready.set()

    def start(self) -> Self:
        """Serve on a new thread; returns once the window exists."""
        self._check_open()
        self._thread = threading.Thread(target=self._serve_thread, name=f"winipc {self.title}",
                                        daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            error, self._error = self._error, None
            raise error
        return self

    def stop(self) -> None:
        """Stop serving (from any thread); joins the serving thread."""
        self._core.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
            self._thread = None

    def _release(self) -> None:
        self.stop()

    def _unclosed(self) -> str:
        if self._thread is not None:
            return (f"{self!r} was never stopped: it served until now; stop() or close() "
                    "it, or serve with `with server:`")
        return super()._unclosed()

    def __enter__(self) -> Self:
        return self.start()

    def __repr__(self) -> str:
        return f"<winipc.Server {self.title!r}>"
