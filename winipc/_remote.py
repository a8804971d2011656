"""The other process: its window, the process opened with access rights, and
buffers inside it (VirtualAllocEx, WriteProcessMemory, ReadProcessMemory,
VirtualFreeEx; on Linux the server maps them and process_vm_writev/readv copy,
or both processes map them)."""

from __future__ import annotations

import ctypes
import logging
import sys
from typing import (TYPE_CHECKING, Any, Generic, Literal, NamedTuple, Optional, Self, Type,
                    TypeVar, Union, overload)

from . import _rpc as _native
from ._errors import (BufferTooSmall, CallTimeout, NoSuchProcess, ServerGone,
                      error_from_winerror)
from ._resource import Resource
from .constants import ProcessAccess, WinError
from ._timeouts import DEFAULT_TIMEOUT, DEFAULT_TIMEOUT_MS, _timeout_ms

if TYPE_CHECKING:
    from ctypes import _CData

    from typing_extensions import Buffer

__all__ = ["Access", "VM_ACCESS", "Window", "find_window", "sample_handlers", "Process",
           "open_process", "RemoteBuffer"]

log: logging.Logger = logging.getLogger("winipc")

#: Process access rights (winipc.constants.ProcessAccess).
Access = ProcessAccess


VM_ACCESS = Access.VM_OPERATION | Access.VM_READ | Access.VM_WRITE

StructType = Type[ctypes.Structure]

# What a RemoteBuffer reads back: an instance of its ctypes type, or bytes.
_T = TypeVar("_T")
# A ctypes instance (a Structure, Union, Array or simple type) and its type.
_CT = TypeVar("_CT", bound="_CData")


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
    """The bytes of a struct's type (a ctypes type) or a size (an int > 0)."""
    if not isinstance(what, bool):
        if isinstance(what, int):
            if what <= 0:
                raise ValueError(f"a buffer needs at least one byte, not {what}")
            return what
        try:
            return ctypes.sizeof(what)
        except TypeError:
            pass
    given = type(what).__name__ + (f" {what!r}" if isinstance(what, (bool, str)) else "")
    raise TypeError(f"a struct is given by its ctypes type (such as a ctypes.Structure "
                    f"subclass) or a size in bytes (an int), not {given}")


def _open_native(pid: int, access: int, window: int = 0) -> _native.Process:
    """OpenProcess(``access``, pid) (Linux: pidfd_open), seen by audit hooks."""
    if isinstance(pid, bool) or not isinstance(pid, int):
        raise TypeError(f"a process is given by its pid, an int, not {type(pid).__name__}"
                        + (f" {pid!r}" if isinstance(pid, str) else ""))
    sys.audit("winipc.open_process", pid, int(access))
    return _native.Process(pid, int(access), window)


class Process(Resource):
    """A process opened with ``access`` rights (by default exactly
    VM_OPERATION | VM_READ | VM_WRITE).  Use :func:`open_process`."""

    def __init__(self, pid: int, access: int = VM_ACCESS, *, window: int = 0):
        self._adopt(_open_native(pid, access, window), pid, access)

    def _adopt(self, native: _native.Process, pid: int, access: int) -> Self:
        self._native = native
        self.pid = pid
        self.access: ProcessAccess = Access(access)
        self._opened()
        return self

    @classmethod
    def _wrap(cls, native: _native.Process, pid: int, access: int) -> Self:
        """The Process of ``native`` (from :func:`_open_native`), which it
        closes when it closes."""
        return cls.__new__(cls)._adopt(native, pid, access)

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

    # What its buffers do in it (RemoteBuffer).

    def _write(self, address: int, data: memoryview) -> None:
        self._native.write(address, data)

    def _read_into(self, address: int, buffer: memoryview) -> None:
        self._native.read_into(address, buffer)

    def _free(self, address: int, timeout_ms: int) -> None:
        self._native.free(address, timeout_ms)

    def _free_shared(self, address: int, timeout_ms: int) -> None:
        self._native.free_shared(address, timeout_ms)

    def _release(self) -> None:
        self._native.close()

    def __repr__(self) -> str:
        return f"<winipc.Process pid={self.pid} access={self.access!r}>"


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

    def _leave_allocated(self) -> None:
        """Closing it will not free it: a call on it may still run in the
        server (it timed out, or was interrupted), or the server frees it
        with the connection."""
        self._in_flight = True

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
        self.process._write(self.address + offset, view)

    def read_into(self, buffer: Buffer, offset: int = 0) -> None:
        """ReadProcessMemory (Linux: process_vm_readv) into a writable buffer."""
        self._check_open()
        view = memoryview(buffer).cast("B")
        self._span(len(view), offset)
        self.process._read_into(self.address + offset, view)

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
                self.process._free_shared(self.address, self._timeout_ms)
            except BufferError:
                self._closed = False     # a view is still held: nothing was freed
                raise BufferError("release the views of this shared buffer before closing it")
            except (ServerGone, NoSuchProcess, CallTimeout, ValueError):
                pass        # unmapped here; the server frees it with the connection
            return
        if not self.process.closed:
            try:
                self.process._free(self.address, self._timeout_ms)
            except (ServerGone, NoSuchProcess):
                pass        # the buffer went with its process
            except CallTimeout:
                # A hung server: on Linux it frees the buffer with the
                # connection; on Windows it stays until the server exits.
                log.warning("freeing remote buffer %#x in process %d timed out",
                            self.address, self.process.pid)

    def __repr__(self) -> str:
        return f"<winipc.RemoteBuffer {self.size} bytes at {self.address:#x} in {self.process.pid}>"

