"""The client side of process-memory RPC: a connection to one server window
writes a struct into the server's memory, sends the message, and reads the
result back, from threads or from asyncio."""

from __future__ import annotations

import errno
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Optional, TypeVar, Union, cast, overload

from . import _aio
from . import _rpc as _native
from ._errors import (CallTimeout, NoSuchProcess, ServerGone, WindowNotFound, WinIPCError,
                      error_from_errno, error_from_winerror)
from .constants import WinError
from ._remote import (_CT, VM_ACCESS, Process, RemoteBuffer, Window, _open_native, _size_of,
                      find_window)
from ._callargs import _check_message, _result_for
from ._resource import Resource
from ._timeouts import (_TURN_SLICE, DEFAULT_TIMEOUT, _check_spin, _deadline,
                        _left, _seconds, _timeout_ms)

if TYPE_CHECKING:
    from ctypes import _CData

    from typing_extensions import Buffer

__all__ = ["Connection", "connect"]

# A buffer that call() fills in place (out=).
_B = TypeVar("_B", bound="Buffer")


class Connection(Resource):
    """A client of one server window: its process opened with the VM rights,
    and a scratch buffer there for :meth:`call`.  Use :func:`connect`."""

    def __init__(self, title: str, timeout: Optional[float] = DEFAULT_TIMEOUT,
                 wait: float = 0.0, *, spin: Optional[int] = None, shared: bool = False):
        if not isinstance(title, str):
            raise TypeError(f"connect() title is a str, the server window's title, not "
                            f"{type(title).__name__}")
        sys.audit("winipc.connect", title)
        self.title = title
        self._timeout_ms = _timeout_ms(timeout)
        self.timeout = timeout
        self.shared: bool = bool(shared)
        _check_spin(spin)
        deadline = time.monotonic() + _seconds(wait, "wait")
        while True:
            try:
                self.window: Window = find_window(title)
                break
            except WindowNotFound as e:
                if time.monotonic() >= deadline:
                    if wait == 0:
                        raise WindowNotFound(e.errno, f"{e.strerror}; connect(..., wait=seconds) "
                                             "waits for a server that is still starting",
                                             winerror=e.winerror, call=e.call) from None
                    raise
                time.sleep(0.02)
        # The connection's own channel to the server; its Process (the
        # memory it allocates there) is the one that closes it.
        self._native = _open_native(self.window.pid, VM_ACCESS, self.window.handle)
        self.process: Process = Process._wrap(self._native, self.window.pid, VM_ACCESS)
        self.process._warns = False     # part of the connection, which warns
        self._scratch: Optional[RemoteBuffer[bytes]] = None
        self._lock = threading.Lock()
        # The asynchronous calls: one at a time, with a scratch buffer of their own.
        self._aturn = _aio.AsyncTurn()
        self._ascratch: Optional[RemoteBuffer[bytes]] = None
        try:
            # Doorbell or window messages: the native connection's choice.
            self._native.open_transport(-1 if spin is None else spin, self.shared,
                                        self._timeout_ms)
        except BaseException:
            self.process.close()
            raise
        self._opened()

    @property
    def pid(self) -> int:
        return self.window.pid

    @property
    def server_is_32bit(self) -> bool:
        """Whether the server is a 32-bit process (Windows, WoW64): its
        wParam and lParam carry 32 bits, so a value that would arrive
        truncated is refused before sending, and its buffers lie below 2 GiB.
        False on Linux, whose backend carries full 64-bit values to any peer."""
        return self._native.server_is_32bit

    @property
    def last_result(self) -> Optional[int]:
        """The message's result of the last :meth:`call` or :meth:`acall`
        (None before the first), as the native connection keeps it."""
        result: Optional[int] = self._native.last_result
        return result

    @property
    def spin(self) -> int:
        """µs a call spins for its reply before it sleeps (0: never spins)."""
        return self._native.spin_us

    def _ms(self, timeout: Optional[float]) -> int:
        return self._timeout_ms if timeout is None else _timeout_ms(timeout)

    @overload
    def alloc(self, what: type[_CT], *, shared: Optional[bool] = None) -> RemoteBuffer[_CT]: ...
    @overload
    def alloc(self, what: int, *, shared: Optional[bool] = None) -> RemoteBuffer[bytes]: ...

    def alloc(self, what: Union[int, type[_CData]], *,
              shared: Optional[bool] = None) -> RemoteBuffer[Any]:
        """A buffer in the server for ``what`` (a ctypes type or a size);
        shared (see :meth:`Process.allocate`) if the connection is, unless
        ``shared`` says otherwise."""
        self._check_open()
        try:
            return self.process.allocate(what, shared=self.shared if shared is None else shared,
                                         timeout=self.timeout)
        except NoSuchProcess as e:
            raise self._gone(e) from None

    def send(self, msg: int, buffer: RemoteBuffer[Any], timeout: Optional[float] = None) -> int:
        """SendMessageTimeout(msg, wParam=buffer.size, lParam=buffer.address):
        the server's result."""
        self._check_open()
        if not isinstance(buffer, RemoteBuffer):
            raise TypeError(f"send() takes a message number and a RemoteBuffer, "
                            f"not {type(buffer).__name__}")
        buffer._check_open()
        try:
            # owned: a refusal is worded with the buffer's size and the
            # failed handler's note, read natively from the buffer.
            return self._send(msg, buffer.size, buffer.address, timeout, True)
        except BaseException as e:
            if _may_be_in_flight(e):
                buffer._leave_allocated()
            raise

    def send_raw(self, msg: int, wparam: int, lparam: int,
                 timeout: Optional[float] = None) -> int:
        """Send any wParam and lParam, as any process could."""
        self._check_open()
        return self._send(msg, wparam, lparam, timeout, False)

    def _send(self, msg: int, wparam: int, lparam: int, timeout: Optional[float],
              owned: bool) -> int:
        try:
            return self._native.send(msg, wparam, lparam, self._ms(timeout), owned)
        except NoSuchProcess as e:
            raise self._gone(e) from None

    def _gone(self, error: NoSuchProcess) -> WinIPCError:
        """The server's process has ended, seen by a call on its memory (its
        window's end is ServerGone already): for a connection that is one
        event, ServerGone, whichever call notices it."""
        gone = error_from_errno(error.errno or errno.ESRCH, error.call or "call",
                                f"{os.strerror(error.errno or errno.ESRCH)}: the server "
                                f"(process {self.pid}) has exited", cls=ServerGone)
        gone.winerror = error.winerror
        return gone

    def _scratch_for(self, size: int) -> RemoteBuffer[bytes]:
        s = self._scratch
        if s is None or s.size < size or s.closed:
            if s is not None:
                s.close()
            self._scratch = s = self.process.allocate(max(size, 64), shared=self.shared,
                                                      timeout=self.timeout)
            s._warns = False
        return s

    @overload
    def call(self, msg: int, struct: _CT, timeout: Optional[float] = None,  # type: ignore[overload-overlap]
             out: None = None) -> _CT: ...
    @overload
    def call(self, msg: int, struct: Buffer, timeout: Optional[float] = None,
             out: None = None) -> bytearray: ...
    @overload
    def call(self, msg: int, struct: Buffer, timeout: Optional[float] = None, *,
             out: _B) -> _B: ...
    @overload
    def call(self, msg: int, struct: Buffer, timeout: Optional[float], out: _B) -> _B: ...

    def call(self, msg: int, struct: Any, timeout: Optional[float] = None,
             out: Any = None) -> Any:
        """Write ``struct`` into the server, send ``msg``, read the result
        back: into ``out`` if given (``struct`` itself for no copy at all),
        else into a new object of the same type (bytes-like in, bytearray
        out).  The message's result is left in :attr:`last_result`."""
        if self._closed:
            self._check_open()
        if type(msg) is not int:
            _check_message(msg, "call")
        ms = self._timeout_ms if timeout is None else _timeout_ms(timeout)
        lock = self._lock
        if not lock.acquire(False):     # the usual case costs no timed wait
            self._take_turn(ms)
        try:
            scratch = self._scratch
            try:
                # The usual kinds of request in one native step (answer.pxi);
                # None: any other, or a larger buffer is needed first.
                answer = None if scratch is None else self._native.call_object(
                    msg, scratch.address, scratch.size, struct, out, ms)
                if answer is not None:
                    return answer
                answer, size = _result_for(struct, out, "call")
                if scratch is None or scratch.size < size:
                    scratch = self._scratch_for(size)
                self._native.call(msg, scratch.address, answer, ms)
                return answer
            except NoSuchProcess as e:
                raise self._gone(e) from None
            except BaseException as e:
                if scratch is not None and _may_be_in_flight(e):
                    self._abandon(scratch)
                raise
        finally:
            lock.release()

    def prepare(self, msg: int, what: Union[int, type[_CData]],
                timeout: Optional[float] = None) -> _native.PreparedCall:
        """``msg`` bound once to a buffer of its own in the server, for
        ``what`` (a ctypes type or a size), shared if the connection is: the
        fastest way to make the same call many times.  ``prepared(struct)``
        writes ``struct``, sends, reads the answer back into ``struct`` (in
        place, no new object) and returns the message's result; a struct
        smaller than the buffer is sent as its own size.  One thread at a
        time per prepared call; ``close()`` (or ``with``) frees its buffer.
        Errors are :meth:`call`'s; after a :class:`CallTimeout` it goes on
        with a new buffer, and the old one stays with the server."""
        self._check_open()
        size = _size_of(what)
        buffer = self.alloc(size)
        try:
            prepared = _native.PreparedCall(self._native, msg, buffer.address, size,
                                            self._ms(timeout), buffer)
        except BaseException:
            buffer.close()
            raise
        prepared.on_error = self._prepared_failed
        return prepared

    def _prepared_failed(self, prepared: _native.PreparedCall, error: BaseException
                         ) -> BaseException:
        # The owner is the RemoteBuffer prepare() gave it (the native module
        # knows only that it has a close()).
        buffer = cast(Optional[RemoteBuffer[Any]], prepared.owner)
        if isinstance(error, NoSuchProcess):
            return self._gone(error)
        if _may_be_in_flight(error) and buffer is not None and not self._closed:
            # The server may still write the old buffer: never reuse it.
            prepared.owner = None
            buffer._leave_allocated()
            try:
                fresh = self.process.allocate(prepared.size, shared=self.shared,
                                              timeout=self.timeout)
            except BaseException:
                prepared.close()
                buffer.close()          # left allocated: closing frees nothing
                return error
            prepared.bind(fresh.address, prepared.size)
            prepared.owner = fresh
            buffer.close()
        return error

    def _take_turn(self, ms: int) -> None:
        """The connection's scratch buffer, for one call: a call waiting
        behind another thread's keeps its own timeout.  The lock is waited
        for in slices: on Windows a lock's wait does not end for Ctrl+C,
        and between slices Python runs its signal handlers."""
        deadline = _deadline(ms)
        while True:
            left = _left(deadline)
            if self._lock.acquire(timeout=_TURN_SLICE if left is None else min(left, _TURN_SLICE)):
                return
            if _left(deadline) == 0.0:
                raise error_from_winerror(WinError.TIMEOUT, "call", "another thread's call on "
                                          "this connection lasted the whole timeout")

    def bench(self, msg: int, struct: Buffer, n: int,
              timeout: Optional[float] = None) -> list[int]:
        """``n`` calls in a compiled loop (no Python between them); each
        call's duration in nanoseconds."""
        self._check_open()
        out = bytearray(memoryview(struct).cast("B"))
        ms = self._ms(timeout)
        self._take_turn(ms)
        try:
            try:
                scratch = self._scratch_for(len(out))
            except NoSuchProcess as e:
                raise self._gone(e) from None
            try:
                return self._native.bench(msg, scratch.address, out, n, ms)
            except NoSuchProcess as e:
                raise self._gone(e) from None
            except BaseException as e:
                if _may_be_in_flight(e):
                    self._abandon(scratch)
                raise
        finally:
            self._lock.release()

    # --- asyncio -------------------------------------------------------------

    async def asend(self, msg: int, buffer: RemoteBuffer[Any],
                    timeout: Optional[float] = None) -> int:
        """:meth:`send` for asyncio: awaits the server's result without
        blocking the event loop (see :meth:`acall`)."""
        self._check_open()
        if not isinstance(buffer, RemoteBuffer):
            raise TypeError(f"asend() takes a message number and a RemoteBuffer, "
                            f"not {type(buffer).__name__}")
        buffer._check_open()
        _aio.check_loop()
        ms = self._ms(timeout)
        deadline = _deadline(ms)
        if not self._aturn.try_acquire():
            await self._aturn.acquire(deadline)
        try:
            seq, result = self._asend_begin(msg, buffer.size, buffer.address, ms)
            if result is None:
                result = await self._asend_raw(msg, buffer.size, buffer.address, ms, deadline,
                                               begun=seq)
            return result
        except BaseException as e:
            if _may_be_in_flight(e):
                buffer._leave_allocated()
            raise
        finally:
            self._aturn.release()

    @overload
    async def acall(self, msg: int, struct: _CT, timeout: Optional[float] = None,  # type: ignore[overload-overlap]
                    out: None = None) -> _CT: ...
    @overload
    async def acall(self, msg: int, struct: Buffer, timeout: Optional[float] = None,
                    out: None = None) -> bytearray: ...
    @overload
    async def acall(self, msg: int, struct: Buffer, timeout: Optional[float] = None, *,
                    out: _B) -> _B: ...
    @overload
    async def acall(self, msg: int, struct: Buffer, timeout: Optional[float], out: _B) -> _B: ...

    async def acall(self, msg: int, struct: Any, timeout: Optional[float] = None,
                    out: Any = None) -> Any:
        """:meth:`call` for asyncio: the request is posted in the doorbell
        and the answer awaited without blocking the event loop (Linux: the
        endpoint's socket, with ``loop.add_reader``; Windows: the doorbell's
        Event, through the ProactorEventLoop).

        Calls on one connection run one at a time, in the order they were
        awaited, each with its own ``timeout`` (counted from the await).
        Cancelling the awaiting task gives up the call: as after a
        :class:`CallTimeout`, its buffer is never freed under the server and
        the connection stays usable."""
        if self._closed:
            self._check_open()
        if type(msg) is not int:
            _check_message(msg, "acall")
        _aio.check_loop()
        ms = self._timeout_ms if timeout is None else _timeout_ms(timeout)
        deadline = _deadline(ms)
        turn = self._aturn
        if not turn.try_acquire():
            await turn.acquire(deadline)
        try:
            scratch = self._ascratch
            try:
                # The usual kinds of request posted, and their answer spun
                # for, in one native step (answer.pxi); None: any other, or a
                # larger buffer is needed first.
                begun = None if scratch is None or scratch.closed else \
                    self._native.begin_object(msg, scratch.address, scratch.size, struct, out, ms)
                if begun is None:
                    out, size = _result_for(struct, out, "acall")
                    if scratch is None or scratch.size < size or scratch.closed:
                        if scratch is not None:
                            scratch.close()
                        # A request to the server (Linux) or VirtualAllocEx: once per
                        # connection, or when a call needs more room.
                        self._ascratch = scratch = self.process.allocate(
                            max(size, 64), shared=self.shared, timeout=self.timeout)
                        scratch._warns = False
                    # The bytes go with the request, and come back with its
                    # answer (in the doorbell page, when they fit).
                    address = scratch.address
                    seq, result = self._asend_begin(msg, size, address, ms, out)
                elif type(begun) is tuple:
                    seq, out = begun        # posted: _asend_raw goes on with it
                    size, result = 0, None
                    address = cast(RemoteBuffer[Any], scratch).address
                else:
                    return begun
                if result is None:
                    result = await self._asend_raw(msg, size, address, ms, deadline, out, seq)
                self._native.last_result = result
            except NoSuchProcess as e:
                raise self._gone(e) from None
            except BaseException as e:
                if scratch is not None and _may_be_in_flight(e):
                    # Cancelled or timed out: the server may still run it.
                    self._abandon(scratch)
                raise
        finally:
            turn.release()
        return out

    def _asend_begin(self, msg: int, size: int, address: int, ms: int,
                     data: Optional[Buffer] = None) -> tuple[int, Optional[int]]:
        """_asend_raw's first step, without a coroutine: the request posted
        and its answer looked for once, spinning (an awake server answers
        within the spin) -> (0, its result); (its sequence number, None)
        while it runs; (0, None) when another thread's request holds the
        connection (nothing was posted)."""
        native = self._native
        seq = native.begin_send(msg, size, address, ms, data)
        if not seq:
            return 0, None
        # Raising, it has ended: the turn is given back.
        result = native.end_send(seq, native.spin_us, data)
        return (0, result) if result is not None else (seq, None)

    async def _asend_raw(self, msg: int, size: int, address: int, ms: int,
                         deadline: Optional[float], data: Optional[Buffer] = None,
                         begun: int = 0) -> int:
        """One request of ``msg`` on the connection's buffer of ``size``
        bytes at ``address``, through the native split-phase send (the
        caller has the asynchronous turn), or the rest of request ``begun``
        (_asend_begin: its first look is done); ``data``: the request's
        bytes, written first and read back from the answer."""
        native = self._native
        seq = begun or native.begin_send(msg, size, address, ms, data)
        while not seq:
            # Another thread's synchronous request holds the connection;
            # its end makes wait_handle ready.
            if not await _aio.wait_handle(native.wait_handle, _left(deadline)):
                raise error_from_winerror(WinError.TIMEOUT, "server SEND (doorbell)",
                                          "another thread's request on this connection "
                                          "lasted the whole timeout")
            seq = native.begin_send(msg, size, address, ms, data)
        spin = 0 if begun else native.spin_us   # the first look spins (an awake server)
        try:
            while True:
                try:
                    result = native.end_send(seq, spin, data)
                    spin = 0
                except BaseException:
                    seq = 0         # ended: the turn is given back
                    raise
                if result is not None:
                    seq = 0
                    return result
                left = _left(deadline)
                if left is not None and left <= 0:
                    error = error_from_winerror(WinError.TIMEOUT, "server SEND (doorbell)")
                    assert isinstance(error, CallTimeout)       # (ERROR_TIMEOUT's class)
                    # Withdrawn if the server has not taken it yet: then it never runs.
                    error.started = not native.cancel_send(seq)
                    seq = 0
                    raise error
                if _aio.ALIVE_SLICE is not None:
                    left = _aio.ALIVE_SLICE if left is None else min(left, _aio.ALIVE_SLICE)
                await _aio.wait_handle(native.wait_handle, left)
        finally:
            if seq:
                native.cancel_send(seq)

    def _abandon(self, scratch: RemoteBuffer[Any]) -> None:
        """A call on a scratch buffer may still run in the server: never
        free it under the server, and use a new one from now on."""
        scratch._leave_allocated()
        if scratch is self._scratch:
            self._scratch = None
        if scratch is self._ascratch:
            self._ascratch = None
        scratch.close()

    def _release(self) -> None:
        try:
            for scratch in (self._scratch, self._ascratch):
                if scratch is not None:
                    if _native.FREES_ON_CLOSE:
                        # The server frees it with the connection: no request
                        # that a hung server could keep waiting.
                        scratch._leave_allocated()
                    scratch.close()
        finally:
            self.process.close()

    def __repr__(self) -> str:
        return f"<winipc.Connection {self.title!r} pid={self.window.pid}>"


def _may_be_in_flight(error: BaseException) -> bool:
    """Whether the server may still be running the request that raised
    ``error``: it timed out, or a signal handler (Ctrl+C) raised while the
    call waited.  The server's own refusals mean it is done, and so does a
    timeout whose request was withdrawn before the server took it."""
    if isinstance(error, CallTimeout):
        return error.started is not False
    return not isinstance(error, OSError)


def connect(title: str, timeout: Optional[float] = DEFAULT_TIMEOUT, wait: float = 0.0, *,
            spin: Optional[int] = None, shared: bool = False) -> Connection:
    """Connect to the server window ``title``.

    ``timeout`` (seconds, None for no end) bounds every call; ``wait`` is how
    long to wait for the window to appear.  ``spin`` is how many µs a call
    spins for its reply before it sleeps in the kernel (0: never; default
    DEFAULT_SPIN_US); on Windows giving it turns the doorbell on.
    ``shared=True`` puts :meth:`Connection.call`'s buffer, and by default
    every :meth:`Connection.alloc`, in memory both processes map, and rings
    the doorbell (on Windows too)."""
    return Connection(title, timeout, wait, spin=spin, shared=shared)

