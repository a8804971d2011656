# The native process-memory RPC module, winipc._rpc: this stub is its
# contract (_native/README.md says where each part lives).  One module name,
# two sources (_native/linux/_rpc.pyx,
# _native/windows/_rpc.pyx): what both have is declared once, and what only
# one has, or has in another shape, sits under `sys.platform`.  Checked against
# the built module with `python -m mypy.stubtest winipc._rpc winipc._kernel
# winipc._win32`
# (tests/test_types.py); tests/test_contract.py checks that each backend
# exports exactly this, and where the platforms may differ.
import ctypes
import sys
from typing import Any, Callable, Final, Optional

from typing_extensions import Buffer, disjoint_base

BACKEND: Final[str]                 # "linux" or "windows"
DOORBELL_BY_DEFAULT: Final[bool]    # connections ring the doorbell unless told otherwise
FREES_ON_CLOSE: Final[bool]         # closing a connection frees its buffers in the server
HANDLER_CAPSULE_NAME: Final[str]    # "winipc.handler": the name a handler capsule carries

# (The Win32 numbers are winipc._win32's.)
# The longest spin either side may be given (µs); spin_us setters check it.
MAX_SPIN_US: Final[int]
# The results the protocol keeps for errors (winipc.h): -2**31 .. -2**31 + 0xFFFF.
RESERVED_RESULTS: Final[range]
# The most bytes a failed handler's note takes (its format: note_failure;
# a refused call reads it natively).
NOTE_LIMIT: Final[int]
# How long (µs) a waiting side spins before it sleeps, unless told otherwise.
DEFAULT_SPIN_US: Final[int]
# A server's steady mode spans gaps of up to this many times its spin, unless told otherwise.
STEADY_PER_SPIN: Final[int]
# A spin argument (None: the default) checked by the native setters' rule:
# TypeError unless an int, ValueError outside 0..MAX_SPIN_US, worded with ``name``.
def check_spin(value: object, name: str = "spin") -> None: ...
# The ctypes types whose instances call_object copies, as the facade's checks see them.
CTYPES_DATA: Final[tuple[type[ctypes.Structure], type[ctypes.Union], type[ctypes.Array[Any]]]]

# How the module builds its errors (_native/common/errors.pxi): through the
# factory the facade installs at import (winipc/_os.py installs
# winipc._errors.native_error); without one, they are plain OSErrors.
# factory(kind, code, call, detail, cls_name): kind "winerror", "errno" or
# "message"; detail None, a str, or a callable given what the code means;
# cls_name None or one of ERROR_CLASSES, the winipc error classes by name.
ERROR_CLASSES: Final[frozenset[str]]
def set_error_factory(
        factory: Callable[[str, int, str, str | Callable[[str], str] | None, str | None],
                          BaseException] | None) -> None: ...

# Cython's doctest table (empty: the module has no doctests).
__test__: dict[str, str]

if sys.platform == "win32":
    # The name RegisterWindowMessageW gives winipc's control message.
    CONTROL_NAME: Final[str]
    # How a handler reads a client's private buffer (safecopy.pxi).
    SAFE_COPY: Final[str]
else:
    def endpoint_dir() -> str: ...
    # Yama's ptrace scope (None: no Yama): what a refused process_vm_* call's hint says.
    def ptrace_scope() -> int | None: ...
    # Removes the endpoint files of servers that are gone (a server's start runs it).
    def _sweep() -> None: ...

# A handle (Linux: an fd) a client pushed into this server, now adopted.
def claim_pushed(value: int) -> bool: ...

def find_window(title: str) -> tuple[int, int, int]: ...
def handler_address(obj: object) -> int: ...
def sample_handlers() -> dict[str, object]: ...
# A failed Python handler's note: at the start of its buffer (cut to size) and,
# for a doorbell call, whole in the page.
def note_failure(address: int, size: int, text: bytes) -> None: ...
# The process the handler running on this thread serves (0: none, unknown).
def serving_caller() -> int: ...
# The facade's words for a Python handler: result_of(fn, returned) -> the
# int that what it returned (not None, not an int) stands for, or raises why
# not (the native side then checks the range, as for every result);
# failed(fn, error, address, size) logs the error and writes the note.
def set_handler_hooks(result_of: Callable[[Callable[..., Any], Any], int],
                      failed: Callable[[Callable[..., Any], BaseException, int, int], None]
                      ) -> None: ...

@disjoint_base
class HandlerTable:
    # pyfunc(a memoryview of the request, or a ctype instance at it) -> result
    def add(self, msg: int, size: int, pyfunc: Callable[[Any], Any] | None = None,
            native: int = 0, ctype: type | None = None) -> None: ...

@disjoint_base
class Process:
    def __init__(self, pid: int, access: int, window: int = 0) -> None: ...
    @property
    def pid(self) -> int: ...
    @property
    def access(self) -> int: ...
    @property
    def handle(self) -> int: ...
    spin_us: int
    def read_into(self, address: int, buffer: Buffer) -> None: ...
    def write(self, address: int, buffer: Buffer) -> None: ...
    @property
    def window(self) -> int: ...           # the server window given at creation (0: none)
    # To that window (Windows: SendMessageTimeoutW, or its doorbell; Linux:
    # its endpoint, or the doorbell).
    # owned: wparam and lparam are a buffer of this connection's (size,
    # address), and a refusal is worded as a call's, with the failed
    # handler's note; else nothing at lparam is read.
    def send(self, msg: int, wparam: int, lparam: int, timeout_ms: int,
             owned: bool = False) -> int: ...
    # write + send(wparam=len(buffer), lparam=address) + read back into
    # buffer, one block without the GIL -> the message's result
    def call(self, msg: int, address: int, buffer: Buffer, timeout_ms: int) -> int: ...
    # call() of the usual kinds of request (bytes, bytearray, ctypes, or
    # out=struct), the answer object made natively; None: nothing was sent.
    def call_object(self, msg: int, address: int, capacity: int, struct: object,
                    out: object, timeout_ms: int) -> Any: ...
    last_result: Optional[int]
    # n calls in C -> each one's duration in ns
    def bench(self, msg: int, address: int, buffer: Buffer, n: int,
              timeout_ms: int) -> list[int]: ...
    # Windows: VirtualAllocEx/VirtualFreeEx, which never wait; Linux: the
    # server maps and unmaps, within timeout_ms.
    def alloc(self, size: int, timeout_ms: int) -> int: ...
    def free(self, address: int, timeout_ms: int) -> None: ...
    # A connection's transport, chosen once at connect: the doorbell when
    # DOORBELL_BY_DEFAULT, shared buffers or a spin (spin_us >= 0; < 0: the
    # default spin) ask for it, else window messages (Windows' classic path).
    # From then on send/call/bench ring the doorbell (common/doorbell.h) in a
    # page the server made and both map: spin spin_us µs, then sleep.
    def open_transport(self, spin_us: int, shared: bool, timeout_ms: int) -> None: ...
    # Memory the server creates and maps (Linux: a sealed memfd; Windows: a
    # section), mapped here too: (its address there, a writable mapping here);
    # copies and calls in it are plain memory copies.  free_shared raises
    # BufferError while a view of the mapping is exported, and does nothing else.
    def alloc_shared(self, size: int, timeout_ms: int) -> tuple[int, Buffer]: ...
    def free_shared(self, address: int, timeout_ms: int) -> None: ...
    def close(self) -> None: ...        # safe twice; collection closes what is left
    # split-phase sends, for asyncio, of a message on a buffer of this
    # connection's: the request's sequence number (0: another thread has the
    # connection's turn), then its answer, or None until wait_handle is ready
    @property
    def wait_handle(self) -> int: ...     # Linux: an fd to be readable; Windows: an Event
    # data: the request's bytes, written first; out: where end_send reads the answer
    def begin_send(self, msg: int, size: int, address: int, timeout_ms: int,
                   data: Buffer | None = None) -> int: ...
    def end_send(self, seq: int, spin_us: int = 0, out: Buffer | None = None) -> int | None: ...
    def cancel_send(self, seq: int) -> bool: ...      # True: withdrawn, it never runs
    # acall()'s first step for call_object()'s kinds of request: begin_send,
    # then end_send spinning spin_us: the answer; (seq, the answer) while the
    # server runs it; None, having posted nothing (any other kind, larger
    # than capacity, or the turn is another thread's)
    def begin_object(self, msg: int, address: int, capacity: int, struct: object, out: object,
                     timeout_ms: int) -> Any: ...
    @property
    def server_is_32bit(self) -> bool: ...  # Windows WoW64: 32-bit wParam/lParam, buffers below 2 GiB
    if sys.platform == "win32":
        @property
        def bell(self) -> tuple[int, int, int]: ...     # (its window, page here, token); 0s: none
        def close_bell(self) -> None: ...
    else:
        def push_fd(self, fd: int, timeout_ms: int) -> int: ...

# One message bound to one buffer of a Process (Connection.prepare): calling
# it writes the struct, sends, reads the answer back into it, and returns the
# message's result.
@disjoint_base
class PreparedCall:
    """``msg`` on the ``size`` bytes at ``address`` in ``process``'s server:
    ``prepared(struct)`` writes ``struct`` there, sends, reads the answer
    back into ``struct`` (in place) and returns the message's result."""
    def __init__(self, process: Process, msg: int, address: int, size: int,
                 timeout_ms: int, owner: object = None) -> None: ...
    @property
    def process(self) -> Process: ...
    @property
    def msg(self) -> int: ...
    @property
    def address(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def timeout_ms(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    # (prepared, error) -> the exception to raise for a failed call
    on_error: Callable[[PreparedCall, BaseException], BaseException] | None
    owner: object         # what frees the buffer: its close() is called by close()
    def bind(self, address: int, size: int) -> None:
        """Use the ``size`` bytes at ``address`` from now on."""
    def __call__(self, buffer: Buffer) -> int: ...
    def close(self) -> None:
        """Stop using the buffer and free it (its owner's close()); harmless
        twice."""
    def __enter__(self) -> PreparedCall: ...
    def __exit__(self, *exc: object) -> None: ...

@disjoint_base
class ServerCore:
    def __init__(self, title: str, spin_us: int) -> None: ...
    @property
    def title(self) -> str: ...
    @property
    def handlers(self) -> HandlerTable: ...
    @property
    def pid(self) -> int: ...
    @property
    def window(self) -> int: ...
    @property
    def tid(self) -> int: ...
    @property
    def held(self) -> tuple[int, int]: ...     # (handles or fds, bytes) held for clients
    if sys.platform == "win32":
        @property
        def healed(self) -> int: ...
    allow_lower_integrity: bool   # before run(); Windows: ChangeWindowMessageFilterEx
    spin_us: int
    steady_us: int          # steady mode: the longest gap it spins across (0: off;
                            # STEADY_PER_SPIN times spin_us unless set)
    def stop(self) -> None: ...
    # Makes the window (endpoint) on this thread, calls on_ready(window, tid)
    # with the GIL, then serves without it until stop() (from any thread).
    def run(self, on_ready: Callable[[int, int], object] | None = None) -> None: ...
