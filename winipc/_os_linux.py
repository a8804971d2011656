"""The facade's Linux parts: process creation (what :func:`winipc.spawn`
needs beyond ``subprocess.Popen``) and handle duplication.  ``winipc/_os.py`` picks this module or
``_os_windows.py`` once, at import.

The child inherits exactly the listed fds through ``pass_fds`` (which also
closes every other fd in the child), under the same numbers.  The "message"
way of telling it their values is a line on an inherited socket.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from typing import TYPE_CHECKING, Any, Optional, Sequence

from . import _rpc as _native
from ._errors import _ERRNO_OF_WINERROR, NoSuchProcess, NotSupported, error_from_errno
from ._remote import Process as RemoteProcess
from ._timeouts import DEFAULT_TIMEOUT_MS
from .constants import WinError

if TYPE_CHECKING:
    import asyncio

    from ._kernel import KObject
    from ._kobject import _ProcessRef

# Linux only (winipc/_os.py imports it there): type checkers skip the rest of
# the module for Windows.
assert sys.platform != "win32"

__all__ = ["Process", "Launch", "receive_values"]


class Process(subprocess.Popen[Any]):
    """The Linux part of :class:`winipc.Child`: a pidfd of the child, held
    from its start until it is waited for (or the object is collected)."""

    _pidfd = -1

    @property
    def handle(self) -> int:
        """A pidfd of the child (Linux's process handle); closed once the
        child has been waited for."""
        if self._pidfd < 0:
            if self.returncode is not None:
                raise ValueError(f"process {self.pid} has been waited for: its pidfd is closed")
            raise NotSupported(errno.EOPNOTSUPP, "pidfd_open failed: this kernel gives no pidfd",
                               call="pidfd_open", winerror=WinError.NOT_SUPPORTED)
        return self._pidfd

    def _open_pidfd(self) -> None:
        """Right after the start: holds a pidfd of the child (none where the
        kernel gives none)."""
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            self._pidfd = -1

    def _close_pidfd(self, _close: Any = os.close) -> None:
        fd, self._pidfd = self._pidfd, -1
        if fd >= 0:
            _close(fd)

    def poll(self) -> int | None:
        """The exit code, or None while the child runs (Popen.poll); the
        pidfd is closed once there is one."""
        code = super().poll()
        if code is not None:
            self._close_pidfd()
        return code

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to exit and return its exit code (Popen.wait);
        the pidfd is closed then."""
        code = super().wait(timeout)
        self._close_pidfd()
        return code

    def __del__(self, *args: Any, **kwargs: Any) -> None:
        self._close_pidfd()
        super().__del__(*args, **kwargs)   # Popen's own


class Launch:
    """One start of a child: the ``Popen`` arguments that make it inherit
    exactly ``values``, and the values it is told (here the same numbers).
    ``close()`` releases what the start held; twice is harmless."""

    def __init__(self, values: Sequence[int], pass_handles: str | None,
                 kwargs: dict[str, Any]) -> None:
        self.values = list(values)
        self.message_payload = ""
        self._ours: socket.socket | None = None
        self._theirs: socket.socket | None = None
        pass_fds = list(values)
        if pass_handles == "message":
            self._ours, self._theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            pass_fds.append(self._theirs.fileno())
            self.message_payload = str(self._theirs.fileno())
        kwargs["pass_fds"] = pass_fds
        kwargs["close_fds"] = True

    def started(self, child: Process, timeout: float) -> None:
        """Right after the child started: holds its pidfd, and in "message"
        mode writes the values as one line on the socket."""
        if self._theirs is not None:
            self._theirs.close()
            self._theirs = None
        child._open_pidfd()
        if self._ours is not None:
            self._ours.settimeout(_socket_timeout(timeout))
            self._ours.sendall((",".join(map(str, self.values)) + "\n").encode())

    def close(self) -> None:
        for sock in (self._ours, self._theirs):
            if sock is not None:
                sock.close()
        self._ours = self._theirs = None

    def __enter__(self) -> Launch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _socket_timeout(timeout: float) -> float | None:
    """Seconds as a socket takes them: one longer than a day has no end
    (math.inf is too long for it)."""
    return None if timeout > 86400 * 365 else timeout


def receive_values(payload: str, timeout: float) -> list[int]:
    """In the child, "message" mode: the line its parent wrote on the
    inherited socket ``payload`` (an fd number)."""
    with socket.socket(fileno=int(payload)) as sock:
        sock.settimeout(_socket_timeout(timeout))
        data = b""
        try:
            while not data.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            raise error_from_errno(errno.ETIMEDOUT, "recv", "the parent sent no handle values in time")
    return [int(v) for v in data.decode().strip().split(",") if v]


def duplicate(native: KObject, kind: str, into: int | _ProcessRef | None, access: int,
              inheritable: bool, close_source: bool) -> int:
    """The handle of kernel object ``native`` (a ``kind``) duplicated for
    process ``into`` (None: this one); ``close_source`` is done by the
    caller.  An fd goes into another process only through that process's
    winipc Server (SCM_RIGHTS)."""
    if into is None:
        return native.duplicate(access, inheritable)
    pid = into if isinstance(into, int) else int(into.pid)
    if pid == os.getpid():
        return native.duplicate(access, inheritable)
    # Only a winipc.Process pushes, through the process's server (a Child, a
    # pid: no server to push through).
    if not isinstance(into, RemoteProcess):
        raise NotSupported(
            errno.EOPNOTSUPP, "DuplicateHandle failed: on Linux a handle can only be pushed into "
            "another process through that process's winipc Server; pass a "
            "winipc.Process from winipc.open_process(pid, Access.DUP_HANDLE), or let "
            "the other process pull it with from_process(pid, value)",
            call="DuplicateHandle", winerror=WinError.NOT_SUPPORTED)
    if inheritable:
        raise NotSupported(
            errno.EOPNOTSUPP, "DuplicateHandle failed: on Linux the receiving process decides "
            "whether a pushed fd is inheritable (winipc receives it with FD_CLOEXEC)",
            call="DuplicateHandle", winerror=WinError.NOT_SUPPORTED)
    fd = native.duplicate(access, False)
    try:
        # A copy sent into the process through its server (SCM_RIGHTS): its
        # number there.
        return into._native.push_fd(fd, DEFAULT_TIMEOUT_MS)
    except NoSuchProcess as e:
        if not _process_exists(pid):
            raise
        raise NotSupported(
            errno.EOPNOTSUPP, f"DuplicateHandle failed: process {pid} runs no winipc Server, and "
            "on Linux a handle can only be pushed into a process through its Server; "
            f"let that process pull it instead with {kind}.from_process("
            f"{os.getpid()}, {native.handle}) (pidfd_getfd), or serve a winipc.Server there",
            call="DuplicateHandle", winerror=WinError.NOT_SUPPORTED) from e
    finally:
        os.close(fd)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def describe_winerror(code: int) -> str:
    """Win32 error ``code`` in the words of the errno value it maps to."""
    return os.strerror(_ERRNO_OF_WINERROR.get(code, errno.EIO))


def winerror_message(code: int, call: str, message: str) -> str:
    """An error's message with its Win32 code, which OSError shows only on
    Windows."""
    return f"{message} [WinError {code}]"


def errno_message(code: int, call: str, message: str) -> str:
    """An errno error's message, with why Linux refuses ``call`` most often
    when nothing says so: process_vm_readv/writev's EPERM is ptrace access."""
    if code == errno.EPERM and call.startswith("process_vm"):
        message += f" ({ptrace_hint(_native.ptrace_scope())})"
    return message


def ptrace_hint(scope: Optional[int]) -> str:
    """Why process_vm_* was refused, given the Yama ptrace scope (or None)."""
    if scope is not None and scope >= 2:
        return (f"kernel.yama.ptrace_scope is {scope}, which lets only privileged processes "
                "read or write another process's memory; set it to 1 "
                "(sysctl kernel.yama.ptrace_scope=1) or run with CAP_SYS_PTRACE, or use "
                "shared buffers, which need no ptrace access")
    return "no ptrace access to the process (another user, or not dumpable)"


# asyncio (winipc/_aio.py): an fd's readiness is what a loop waits for.

async def readable(fd: int, timeout: Optional[float] = None) -> bool:
    """Until ``fd`` is readable (or hung up): True, or False after ``timeout``."""
    import asyncio      # (loaded: this runs in a loop; not at winipc's import)

    loop = asyncio.get_running_loop()
    ready: asyncio.Future[bool] = loop.create_future()

    def on_readable() -> None:
        if not ready.done():
            ready.set_result(True)

    def on_timeout() -> None:
        if not ready.done():
            ready.set_result(False)

    loop.add_reader(fd, on_readable)
    timer = None if timeout is None else loop.call_later(max(timeout, 0.0), on_timeout)
    try:
        return await ready
    finally:
        loop.remove_reader(fd)
        if timer is not None:
            timer.cancel()


wait_handle = readable
# A server that dies hangs its socket up: nothing to look at meanwhile.
ALIVE_SLICE: Optional[float] = None


def check_loop() -> None:
    """Every asyncio loop can wait for an fd."""


def tidy() -> None:
    """The files of named objects that no process holds any more, left in
    /dev/shm by processes of this user that died or exited without closing
    them, go (once per process; the server endpoints' own sweep runs when a
    server starts)."""
    from . import _shm
    _shm.sweep_once()
