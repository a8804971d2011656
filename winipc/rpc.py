"""Process-memory RPC: a server computes in place on a struct that a client
wrote into the server's own memory.

On Windows: FindWindowW, GetWindowThreadProcessId, OpenProcess,
VirtualAllocEx, WriteProcessMemory, SendMessageTimeoutW, ReadProcessMemory,
VirtualFreeEx.  On Linux: a named endpoint, pidfd_open, buffers the server
maps on request, process_vm_writev/readv and a synchronous request served by
one dispatch thread.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import logging
import operator
import sys
import threading
import time
from typing import (TYPE_CHECKING, Any, Callable, Generic, Literal, NamedTuple, Optional, Self,
                    SupportsIndex, Type, TypeVar, Union, overload)

from . import _aio
from . import _rpc as _native
from ._errors import (BufferTooSmall, CallTimeout, HandlerFailed, NoSuchProcess, ServerGone, WindowNotFound, WinIPCError,
                      error_from_winerror)
from ._resource import Resource
from .constants import WM_USER, ProcessAccess, WinError

if TYPE_CHECKING:
    from ctypes import _CData

    from typing_extensions import Buffer

__all__ = [
    "WM_USER", "Access", "Window", "Process", "RemoteBuffer", "Connection", "Server",
    "connect", "find_window", "open_process", "sample_handlers", "BACKEND",
]

BACKEND: str = _native.BACKEND
DEFAULT_TIMEOUT = 5.0
DEFAULT_TIMEOUT_MS = 5000
# How long a waiting side spins (µs) before it sleeps in the kernel; see the
# README ("The doorbell") for the measurement behind it.
DEFAULT_SPIN_US = 50
# The longest spin either side may be given: longer is a busy wait, not a spin.
MAX_SPIN_US: int = _native.MAX_SPIN_US
# A timeout of None waits this long (ms): the longest both backends take.
_FOREVER_MS = 0x7FFFFFFF
# A call waiting for another thread's to end looks at signals this often (s).
_TURN_SLICE = 0.05

log = logging.getLogger("winipc")



#: Process access rights (winipc.constants.ProcessAccess).
Access = ProcessAccess


VM_ACCESS = Access.VM_OPERATION | Access.VM_READ | Access.VM_WRITE

StructType = Type[ctypes.Structure]

# What a RemoteBuffer reads back: an instance of its ctypes type, or bytes.
_T = TypeVar("_T")
# A ctypes instance (a Structure, Union, Array or simple type) and its type.
_CT = TypeVar("_CT", bound="_CData")
# A buffer that call() fills in place (out=).
_B = TypeVar("_B", bound="Buffer")
# What a handler may return: the message's result (None is 0).
_R = TypeVar("_R", bound=Optional[SupportsIndex])
_N = TypeVar("_N")
_CTYPES_DATA = (ctypes.Structure, ctypes.Union, ctypes.Array)


class Window(NamedTuple):
    """A server window: its handle (on Linux, the dispatch thread's id), the
    process id and the thread that serves it."""
    handle: int
    pid: int
    tid: int


def find_window(title: str) -> Window:
    """The server window titled ``title``, or :class:`WindowNotFound`."""
    return Window(*_native.find_window(title))


def sample_handlers() -> dict[str, object]:
    """Compiled handlers shipped with winipc, as PyCapsules:
    ``compare`` (two doubles red, blue -> blue + 1, red * 2) and ``bump``
    (adds one to every byte and returns the size)."""
    return _native.sample_handlers()


def _size_of(what: Union[int, type[_CData]]) -> int:
    if isinstance(what, int):
        if what <= 0:
            raise ValueError("a buffer needs at least one byte")
        return what
    return ctypes.sizeof(what)


class Process(Resource):
    """A process opened with ``access`` rights (by default exactly
    VM_OPERATION | VM_READ | VM_WRITE).  Use :func:`open_process`."""

    def __init__(self, pid: int, access: int = VM_ACCESS, *, window: int = 0):
        sys.audit("winipc.open_process", pid, int(access))
        self._native = _native.Process(pid, int(access), window)
        self.pid = pid
        self.access = Access(access)
        self._opened()

    @property
    def handle(self) -> int:
        """The process handle (Linux: the pidfd)."""
        return self._native.handle

    @overload
    def allocate(self, what: type[_CT], *, shared: bool = False,
                 timeout: Optional[float] = DEFAULT_TIMEOUT) -> RemoteBuffer[_CT]: ...
    @overload
    def allocate(self, what: int, *, shared: bool = False,
                 timeout: Optional[float] = DEFAULT_TIMEOUT) -> RemoteBuffer[bytes]: ...

    def allocate(self, what: Union[int, type[_CData]], *, shared: bool = False,
                 timeout: Optional[float] = DEFAULT_TIMEOUT) -> RemoteBuffer[Any]:
        """A buffer of ``what`` bytes (or the size of a ctypes type) inside the
        process: VirtualAllocEx (Linux: the server maps it).

        ``shared=True`` asks the process's winipc server for memory that both
        processes map (Linux: a sealed memfd; Windows: a section): writes and
        reads become plain memory copies, and :attr:`RemoteBuffer.view` is
        the memory itself.  It needs no ptrace access on Linux."""
        self._check_open()
        size = _size_of(what)
        ms = _timeout_ms(timeout)
        mapping = None
        if shared:
            address, mapping = self._native.alloc_shared(size, ms)
        else:
            address = self._native.alloc(size, ms)
        return RemoteBuffer(self, address, size, None if isinstance(what, int) else what,
                            mapping=mapping, timeout_ms=ms)

    def _release(self) -> None:
        self._native.close()

    def __repr__(self):
        return f"<winipc.Process pid={self.pid} access={self.access!r}>"


def _timeout_ms(timeout: Optional[float]) -> int:
    """Seconds (None: no end) as the milliseconds the backends take."""
    if timeout is None:
        return _FOREVER_MS
    return min(int(_seconds(timeout, "timeout") * 1000), _FOREVER_MS)


def _seconds(value: object, param: str) -> float:
    """``value`` checked as a number of seconds >= 0 (TypeError or ValueError
    naming ``param``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{param} is a number of seconds (or None), not {type(value).__name__}")
    if value != value or value < 0:
        raise ValueError(f"{param} must be a number of seconds >= 0 or None, not {value!r}")
    return float(value)


def _check_spin(spin: Optional[int]) -> None:
    if spin is not None and (isinstance(spin, bool) or not isinstance(spin, int)):
        raise TypeError(f"spin is an int number of microseconds, not {type(spin).__name__}")
    if spin is not None and not 0 <= spin <= MAX_SPIN_US:
        raise ValueError(f"spin is a number of microseconds from 0 to {MAX_SPIN_US}, "
                         f"not {spin!r}")


def open_process(pid: int, access: int = VM_ACCESS) -> Process:
    """OpenProcess(``access``, pid) (Linux: pidfd_open)."""
    return Process(pid, access)


class RemoteBuffer(Resource, Generic[_T]):
    """A buffer inside another process; it still owes its VirtualFreeEx until
    closed.  Typed buffers (allocated for a ctypes type) read back that type:
    ``RemoteBuffer[MyInfo]``; untyped ones read bytes (``RemoteBuffer[bytes]``)."""

    def __init__(self, process: Process, address: int, size: int,
                 type: Optional[Type[_T]] = None, *, mapping: Any = None,
                 timeout_ms: int = DEFAULT_TIMEOUT_MS):
        self.process = process
        self._timeout_ms = timeout_ms   # for the free
        self.address = address
        self.size = size
        self.type = type
        self._mapping = mapping     # shared: the same memory, mapped here
        self._in_flight = False     # a send on it timed out
        self._opened()

    @property
    def shared(self) -> bool:
        """Whether both processes map this memory (see Process.allocate)."""
        return self._mapping is not None

    @property
    def view(self) -> memoryview:
        """The buffer itself, for a shared buffer: no copy at all (for
        example ``MyInfo.from_buffer(buf.view)``).  Release every view
        before the buffer closes."""
        self._check_open()
        if self._mapping is None:
            raise ValueError("only a shared buffer (allocated with shared=True) has a view")
        return memoryview(self._mapping)

    def _span(self, length: int, offset: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise error_from_winerror(
                WinError.INSUFFICIENT_BUFFER, "RemoteBuffer",
                f"{length} bytes at offset {offset} do not fit the remote buffer of "
                f"{self.size} bytes", cls=BufferTooSmall)

    def write(self, data: Buffer, offset: int = 0) -> None:
        """WriteProcessMemory (Linux: process_vm_writev) of any bytes-like
        object or ctypes instance at ``offset``."""
        self._check_open()
        view = memoryview(data).cast("B")
        self._span(len(view), offset)
        self.process._native.write(self.address + offset, view)

    def read_into(self, buffer: Buffer, offset: int = 0) -> None:
        """ReadProcessMemory (Linux: process_vm_readv) into a writable buffer."""
        self._check_open()
        view = memoryview(buffer).cast("B")
        self._span(len(view), offset)
        self.process._native.read_into(self.address + offset, view)

    @overload
    def read(self, size: None = None, offset: Literal[0] = 0) -> _T: ...
    @overload
    def read(self, size: int, offset: int = 0) -> bytes: ...
    @overload
    def read(self, size: None = None, offset: int = 0) -> _T | bytes: ...

    def read(self, size: Optional[int] = None, offset: int = 0) -> Any:
        """The buffer's contents: an instance of its type if it has one and no
        size is given, else ``bytes``."""
        if size is None and self.type is not None and offset == 0:
            typed: Any = self.type()
            self.read_into(typed)
            return typed
        raw = bytearray(self.size - offset if size is None else size)
        self.read_into(raw, offset)
        return bytes(raw)

    def _release(self) -> None:
        if self._in_flight:
            # A call on it timed out, so the server may still be using it: never
            # free it under the server.  On Linux the server frees it when the
            # process handle closes; on Windows it stays until the server exits.
            if not _native.FREES_ON_CLOSE:
                log.warning("remote buffer %#x left allocated in process %d: a call on it "
                            "timed out and the server may still write to it",
                            self.address, self.process.pid)
            return
        if self._mapping is not None:
            try:
                self.process._native.free_shared(self.address, self._timeout_ms)
            except BufferError:
                self._closed = False     # a view is still held: nothing was freed
                raise BufferError("release the views of this shared buffer before closing it")
            except (ServerGone, NoSuchProcess, CallTimeout, ValueError):
                pass        # unmapped here; the server frees it with the connection
            return
        if not self.process.closed:
            try:
                self.process._native.free(self.address, self._timeout_ms)
            except (ServerGone, NoSuchProcess):
                pass        # the buffer went with its process
            except CallTimeout:
                # A hung server: on Linux it frees the buffer with the
                # connection; on Windows it stays until the server exits.
                log.warning("freeing remote buffer %#x in process %d timed out",
                            self.address, self.process.pid)

    def __repr__(self):
        return f"<winipc.RemoteBuffer {self.size} bytes at {self.address:#x} in {self.process.pid}>"


class Connection(Resource):
    """A client of one server window: its process opened with the VM rights,
    and a scratch buffer there for :meth:`call`.  Use :func:`connect`."""

    def __init__(self, title: str, timeout: Optional[float] = DEFAULT_TIMEOUT,
                 wait: float = 0.0, *, spin: Optional[int] = None, shared: bool = False):
        sys.audit("winipc.connect", title)
        self.title = title
        self._timeout_ms = _timeout_ms(timeout)
        self.timeout = timeout
        self.shared = bool(shared)
        self.last_result: Optional[int] = None
        _check_spin(spin)
        deadline = time.monotonic() + _seconds(wait, "wait")
        while True:
            try:
                self.window = find_window(title)
                break
            except WindowNotFound as e:
                if time.monotonic() >= deadline:
                    if wait == 0:
                        raise WindowNotFound(e.errno, f"{e.strerror}; connect(..., wait=seconds) "
                                             "waits for a server that is still starting",
                                             winerror=e.winerror, call=e.call) from None
                    raise
                time.sleep(0.02)
        self.process = Process(self.window.pid, VM_ACCESS, window=self.window.handle)
        self._native = self.process._native
        self._scratch: Optional[RemoteBuffer[bytes]] = None
        self._lock = threading.Lock()
        # The asynchronous calls: one at a time, with a scratch buffer of their own.
        self._aturn = _AsyncTurn()
        self._ascratch: Optional[RemoteBuffer[bytes]] = None
        try:
            # The doorbell: always on Linux; on Windows only when asked for
            # (shared buffers, or a spin), the classic SendMessage otherwise.
            if shared or spin is not None or _native.DOORBELL_BY_DEFAULT:
                self._native.open_bell(DEFAULT_SPIN_US if spin is None else spin,
                                       self._timeout_ms)
        except BaseException:
            self.process.close()
            raise
        self._opened()

    @property
    def pid(self) -> int:
        return self.window.pid

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
        return self.process.allocate(what, shared=self.shared if shared is None else shared,
                                     timeout=self.timeout)

    def send(self, msg: int, buffer: RemoteBuffer[Any], timeout: Optional[float] = None) -> int:
        """SendMessageTimeout(msg, wParam=buffer.size, lParam=buffer.address):
        the server's result."""
        self._check_open()
        if not isinstance(buffer, RemoteBuffer):
            raise TypeError(f"send() takes a message number and a RemoteBuffer, "
                            f"not {type(buffer).__name__}")
        buffer._check_open()
        try:
            return self.send_raw(msg, buffer.size, buffer.address, timeout)
        except (HandlerFailed, BufferTooSmall) as e:
            raise _explained(e, msg, buffer, buffer.size) from None
        except BaseException as e:
            if _may_be_in_flight(e):
                buffer._in_flight = True
            raise

    def send_raw(self, msg: int, wparam: int, lparam: int,
                 timeout: Optional[float] = None) -> int:
        """Send any wParam and lParam, as any process could."""
        self._check_open()
        return self._native.send(msg, wparam, lparam, self._ms(timeout))

    def _scratch_for(self, size: int) -> RemoteBuffer[bytes]:
        s = self._scratch
        if s is None or s.size < size or s.closed:
            if s is not None:
                s.close()
            self._scratch = s = self.process.allocate(max(size, 64), shared=self.shared,
                                                      timeout=self.timeout)
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
        out, size = _result_for(struct, out, "call")
        ms = self._timeout_ms if timeout is None else _timeout_ms(timeout)
        lock = self._lock
        if not lock.acquire(False):     # the usual case costs no timed wait
            self._take_turn(ms)
        try:
            scratch = self._scratch
            if scratch is None or scratch.size < size:
                scratch = self._scratch_for(size)
            try:
                self.last_result = self._native.call(msg, scratch.address, out, ms)
            except (HandlerFailed, BufferTooSmall) as e:
                raise _explained(e, msg, scratch, size) from None
            except BaseException as e:
                if _may_be_in_flight(e):
                    self._abandon(scratch)
                raise
        finally:
            lock.release()
        return out

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
            scratch = self._scratch_for(len(out))
            try:
                return self._native.bench(msg, scratch.address, out, n, ms)
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
        await self._aturn.acquire(deadline)
        try:
            return await self._asend_raw(msg, buffer.size, buffer.address, ms, deadline)
        except BaseException as e:
            if _may_be_in_flight(e):
                buffer._in_flight = True
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
        self._check_open()
        out, size = _result_for(struct, out, "acall")
        _aio.check_loop()
        ms = self._ms(timeout)
        deadline = _deadline(ms)
        await self._aturn.acquire(deadline)
        try:
            scratch = self._ascratch
            if scratch is None or scratch.size < size or scratch.closed:
                if scratch is not None:
                    scratch.close()
                # A request to the server (Linux) or VirtualAllocEx: once per
                # connection, or when a call needs more room.
                self._ascratch = scratch = self.process.allocate(
                    max(size, 64), shared=self.shared, timeout=self.timeout)
            self._native.write(scratch.address, out)
            try:
                self.last_result = await self._asend_raw(msg, size, scratch.address, ms, deadline)
            except BaseException as e:
                if _may_be_in_flight(e):
                    # Cancelled or timed out: the server may still run it.
                    scratch._in_flight = True
                    self._ascratch = None
                    scratch.close()
                raise
            self._native.read_into(scratch.address, out)
        finally:
            self._aturn.release()
        return out

    async def _asend_raw(self, msg: int, wparam: int, lparam: int, ms: int,
                         deadline: Optional[float]) -> int:
        """One request through the native split-phase send (the caller has
        the asynchronous turn)."""
        native = self._native
        while True:
            seq = native.begin_send(msg, wparam, lparam, ms)
            if seq:
                break
            # Linux: another thread's synchronous request holds the
            # connection; its end makes turn_handle readable.
            if not await _aio.readable(native.turn_handle, _left(deadline)):
                raise error_from_winerror(WinError.TIMEOUT, "server SEND (doorbell)",
                                          "another thread's request on this connection "
                                          "lasted the whole timeout")
            _aio.drain_eventfd(native.turn_handle)
        try:
            while True:
                try:
                    result = native.end_send(seq)
                except BaseException:
                    seq = 0         # ended: the turn is given back
                    raise
                if result is not None:
                    seq = 0
                    return result
                left = _left(deadline)
                if left is not None and left <= 0:
                    raise error_from_winerror(WinError.TIMEOUT, "server SEND (doorbell)")
                if _aio.ALIVE_SLICE is not None:
                    left = _aio.ALIVE_SLICE if left is None else min(left, _aio.ALIVE_SLICE)
                await _aio.wait_handle(native.wait_handle, left)
        finally:
            if seq:
                native.cancel_send(seq)

    def _abandon(self, scratch: RemoteBuffer) -> None:
        """A call on the scratch buffer may still run in the server: never
        free it under the server, and use a new one from now on."""
        scratch._in_flight = True
        self._scratch = None
        scratch.close()

    def _release(self) -> None:
        try:
            for scratch in (self._scratch, self._ascratch):
                if scratch is not None:
                    if _native.FREES_ON_CLOSE:
                        # The server frees it with the connection: no request
                        # that a hung server could keep waiting.
                        scratch._in_flight = True
                    scratch.close()
        finally:
            self.process.close()

    def __repr__(self):
        return f"<winipc.Connection {self.title!r} pid={self.window.pid}>"


def _deadline(ms: int) -> Optional[float]:
    """The monotonic time a wait of ``ms`` (as _timeout_ms gives) ends; None: never."""
    return None if ms >= _FOREVER_MS else time.monotonic() + ms / 1000


def _left(deadline: Optional[float]) -> Optional[float]:
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)


class _AsyncTurn:
    """One asynchronous call at a time on a connection, first come first
    served, for tasks of any event loop (in any thread): a task that finds
    the turn taken waits on a future, which the call before it completes
    when it ends.  A waiter that is cancelled or times out after being
    handed the turn passes it on."""

    def __init__(self) -> None:
        self._busy = False
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._lock = threading.Lock()

    async def acquire(self, deadline: Optional[float]) -> None:
        with self._lock:
            if not self._busy and not self._waiters:
                self._busy = True
                return
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
        try:
            async with asyncio.timeout(_left(deadline)):
                await waiter
        except BaseException as e:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)        # never handed the turn
                    handed = False
                else:
                    handed = True
            if handed:
                # Handed over meanwhile: the hand-over sees the future done
                # and passes the turn on (_hand).
                if waiter.done() and not waiter.cancelled():
                    self.release()
            if isinstance(e, TimeoutError) and not isinstance(e, CallTimeout):
                raise error_from_winerror(WinError.TIMEOUT, "call", "the asynchronous calls "
                                          "before this one on the connection lasted the "
                                          "whole timeout") from None
            raise

    def release(self) -> None:
        with self._lock:
            if not self._waiters:
                self._busy = False
                return
            waiter = self._waiters.popleft()
        # The turn stays taken: it goes to the waiter, on its own loop.
        try:
            waiter.get_loop().call_soon_threadsafe(self._hand, waiter)
        except RuntimeError:        # its loop is closed: the next one
            self.release()

    def _hand(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done():           # cancelled before it got here
            self.release()
        else:
            waiter.set_result(None)


def _result_for(struct: Any, out: Any, method: str) -> tuple[Any, int]:
    """Where a call of ``struct`` reads its result back, holding ``struct``'s
    bytes, and its size: ``out`` (``struct`` itself for no copy at all), or
    a new object of ``struct``'s type (bytes-like in, bytearray out)."""
    if out is None:
        if isinstance(struct, _CTYPES_DATA):
            out = type(struct).from_buffer_copy(struct)
        elif isinstance(struct, type):
            raise TypeError(f"{method}() takes an instance to send, not the type "
                            f"{struct.__name__}")
        else:
            out = bytearray(struct)
    elif out is not struct:
        memoryview(out).cast("B")[:] = memoryview(struct).cast("B")
    return out, (len(out) if type(out) is bytearray else memoryview(out).nbytes)


def _may_be_in_flight(error: BaseException) -> bool:
    """Whether the server may still be running the request that raised
    ``error``: it timed out, or a signal handler (Ctrl+C) raised while the
    call waited.  The server's own refusals mean it is done."""
    return isinstance(error, CallTimeout) or not isinstance(error, OSError)


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


# A failed handler's buffer starts with _NOTE and a UTF-8 text saying why,
# NUL-terminated, at most _NOTE_MAX bytes in all (as _native/common/dispatch.pxi
# writes for compiled handlers): the sender's HandlerFailed shows it.
_NOTE = b"winipc!"
_NOTE_MAX = 256
# Results the protocol keeps for errors (common/winipc.h).
_RESERVED = range(-2**63, -2**63 + 0x10000)


def _write_note(address: int, size: int, text: str) -> None:
    room = min(size, _NOTE_MAX) - len(_NOTE) - 1
    if room >= 0:
        data = _NOTE + text.encode("utf-8", "replace")[:room] + b"\0"
        ctypes.memmove(address, data, len(data))


def _read_note(buffer: "RemoteBuffer[Any]", size: int) -> Optional[str]:
    """The failure note at the start of ``buffer`` (``size`` bytes sent), if any."""
    try:
        raw = buffer.read(min(size, _NOTE_MAX))
    except (OSError, ValueError):
        return None
    if not raw.startswith(_NOTE):
        return None
    return raw[len(_NOTE):].split(b"\0", 1)[0].decode("utf-8", "replace")


def _explained(error: WinIPCError, msg: int, buffer: "RemoteBuffer[Any]", size: int
               ) -> WinIPCError:
    """``error`` (the server refused message ``msg`` on ``size`` bytes of
    ``buffer``) with what the client can say about it."""
    if isinstance(error, HandlerFailed):
        note = _read_note(buffer, size)
        if note is None:
            return error
        detail = f"the handler of message {msg:#x} failed: {note}"
    elif isinstance(error, BufferTooSmall):
        detail = (f"the handler of message {msg:#x} needs more than the {size} bytes "
                  f"sent (wParam {size})")
    else:
        return error
    new = error_from_winerror(error.winerror or 0, error.call or "SendMessageTimeoutW", detail)
    if isinstance(new, HandlerFailed):
        new.handler_error = note
    return new


def _python_handler(fn: Callable, struct: Optional[type[Any]]) -> Callable[[int, int], int]:
    def run(address: int, size: int) -> int:
        try:
            arg: Any
            if struct is None:
                arg = memoryview((ctypes.c_char * size).from_address(address)).cast("B")
            else:
                arg = struct.from_address(address)
            result = fn(arg)
            if result is None:
                return 0
            try:
                value = operator.index(result)   # an int (or bool), never "12" or 3.7
            except TypeError:
                raise TypeError(f"handler {fn.__qualname__} returned {result!r}: a message's "
                                "result is an int or None") from None
            if value in _RESERVED:
                raise ValueError(f"handler {fn.__qualname__} returned {value:#x}, which is in "
                                 "the range winipc keeps for errors (-2**63 to -2**63 + 0xFFFF)")
            return value
        except KeyboardInterrupt:
            raise           # not a failure to log: the server stops (dispatch.pxi)
        except BaseException as e:
            log.exception("handler %s raised; the sender gets HandlerFailed", fn)
            _write_note(address, size, f"{type(e).__name__}: {e}")
            raise
    return run


class Server(Resource):
    """A window titled ``title`` (Linux: an endpoint) whose handlers compute
    in place on structs that clients wrote into this process.

    ``serve_forever()`` serves on the calling thread; ``with server:`` serves
    on a thread of its own until the block ends, and closes the server.
    ``stop()`` ends serving and allows serving again; ``close()`` is final.
    """

    def __init__(self, title: str, *, spin: Optional[int] = None,
                 allow_lower_integrity: bool = False):
        """``allow_lower_integrity=True`` (Windows) lets processes of a lower
        integrity level send this server its messages: when the server runs
        elevated, User Interface Privilege Isolation otherwise drops the
        messages of every process that does not
        (ChangeWindowMessageFilterEx).  It opens the server to every such
        process of the session, so use it only for a server meant to be
        driven from there.  Linux has no integrity levels: any process of
        the same user may connect, and the flag changes nothing."""
        _check_spin(spin)
        self.title = title
        # How long the serving thread spins over its doorbells for the next
        # request after answering one (µs; 0: it sleeps at once).
        self.spin = DEFAULT_SPIN_US if spin is None else spin
        self._core = _native.ServerCore(title, self.spin)
        self._core.allow_lower_integrity = bool(allow_lower_integrity)
        self._thread: Optional[threading.Thread] = None
        self._ready = threading.Event()
        self._error: Optional[BaseException] = None
        self._natives: list = []
        self.window: Optional[Window] = None
        self._opened()

    @property
    def pid(self) -> int:
        return self._core.pid

    @property
    def held(self) -> tuple:
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
        size = 0 if struct is None else _size_of(struct)
        if native is not None:
            self._core.handlers.add(msg, size, None, _handler_address(native))
            # The server calls it for as long as it serves: a ctypes function
            # pointer collected meanwhile would leave it calling freed code.
            self._natives.append(native)
            return native
        ctype = None if struct is None or isinstance(struct, int) else struct

        def register(fn: Callable) -> Callable:
            self._core.handlers.add(msg, size, _python_handler(fn, ctype), 0)
            return fn
        return register

    def _on_ready(self, handle: int, tid: int) -> None:
        self.window = Window(handle, self.pid, tid)
        self._ready.set()

    def serve_forever(self) -> None:
        """Create the window and serve until :meth:`stop`."""
        self._check_open()
        try:
            self._core.run(self._on_ready)
        finally:
            self._ready.clear()

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
            raise self._error
        return self

    def stop(self) -> None:
        """Stop serving (from any thread); joins the serving thread."""
        self._core.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
            self._thread = None

    def _release(self) -> None:
        self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __repr__(self):
        return f"<winipc.Server {self.title!r}>"
