"""Kernel objects shared between processes: mutexes, events, semaphores and
file mappings, by name, by inheritance and by duplication.

On Windows these are the Win32 objects themselves.  On Linux a named object is
a file in ``/dev/shm`` (an unnamed one a memfd) with a typed header: a mutex
is a robust process-shared pthread mutex, events and semaphores are futexes, a
mapping's views are ``mmap`` objects; a handle is a file descriptor, and what
it may do is what its open mode allows.  ``docs/kernel-objects.md`` describes
each mechanism and where Linux differs.

Timeouts are in seconds (``None`` waits forever, ``0`` polls).
"""

from __future__ import annotations

import os
import subprocess
import time
import sys
import atexit
import threading
import weakref
from typing import TYPE_CHECKING, Any, Self

from . import _aio
from . import _kernel as _native
from . import _rpc
from ._errors import (
    AbandonedMutex, NotSupported, error_from_errno,
    error_from_winerror,
)
from ._resource import Resource

if TYPE_CHECKING:
    # What FileMapping.map() returns: mmap.mmap on Linux, a MappedView on Windows.
    from typing import Protocol

    from ._kernel import KObject, _View

    class _HasPid(Protocol):
        """A process by its id: a winipc.Process or a Child."""
        @property
        def pid(self) -> int: ...

__all__ = [
    "Mutex", "Event", "Semaphore", "FileMapping", "SingleInstance", "single_instance",
    "Child", "spawn", "inherited_handles", "HANDLES_ENV",
    "SYNCHRONIZE", "DELETE", "READ_CONTROL", "WRITE_DAC", "WRITE_OWNER",
    "MUTEX_MODIFY_STATE", "MUTEX_ALL_ACCESS", "EVENT_MODIFY_STATE", "EVENT_ALL_ACCESS",
    "SEMAPHORE_MODIFY_STATE", "SEMAPHORE_ALL_ACCESS", "FILE_MAP_COPY", "FILE_MAP_WRITE",
    "FILE_MAP_READ", "FILE_MAP_EXECUTE", "FILE_MAP_ALL_ACCESS",
]

# Access rights (winnt.h), the same numbers on every platform.
DELETE = 0x00010000
READ_CONTROL = 0x00020000
WRITE_DAC = 0x00040000
WRITE_OWNER = 0x00080000
SYNCHRONIZE = 0x00100000
_STANDARD_RIGHTS_REQUIRED = 0x000F0000
MUTEX_MODIFY_STATE = 0x0001
MUTEX_ALL_ACCESS = _STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | MUTEX_MODIFY_STATE
EVENT_MODIFY_STATE = 0x0002
EVENT_ALL_ACCESS = _STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x3
SEMAPHORE_MODIFY_STATE = 0x0002
SEMAPHORE_ALL_ACCESS = _STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x3
FILE_MAP_COPY = 0x0001
FILE_MAP_WRITE = 0x0002
FILE_MAP_READ = 0x0004
FILE_MAP_EXECUTE = 0x0020
FILE_MAP_ALL_ACCESS = _STANDARD_RIGHTS_REQUIRED | 0x001F

#: The environment variable through which :func:`spawn` tells a child how it
#: passed the handle values; :func:`inherited_handles` reads it.
HANDLES_ENV = "WINIPC_HANDLES"

_WINDOWS = _native.BACKEND == "windows"


def _ns(timeout: float | None) -> int:
    if timeout is None:
        return -1
    if timeout < 0:
        raise ValueError("timeout must be None or >= 0")
    return int(timeout * 1e9)


async def _wait_native(obj: "_KernelObject", deadline: float | None) -> int | None:
    """One asynchronous wait on ``obj`` (an event, semaphore or mutex), on
    the native Waiting (Linux: a thread that signals an eventfd; Windows: a
    RegisterWaitForSingleObject that sets an Event of its own, which the
    proactor waits for) -> its result (0, or 2 for a mutex whose owner
    died), or None at the deadline.  Cancelled, it leaves nothing behind:
    what the wait took on the caller's behalf (a count, an auto-reset
    signal) is given back."""
    _aio.check_loop()
    waiting = obj._native.wait_start()
    done = False
    try:
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        if sys.platform == "win32":
            ready = await _aio.signalled(waiting.handle, left)
        else:
            ready = await _aio.readable(waiting.handle, left)
        if ready:
            done = True
            return waiting.finish()
        return None
    finally:
        if not done:
            waiting.cancel()


def _deadline(timeout: float | None) -> float | None:
    _ns(timeout)        # validated as the blocking waits do
    return None if timeout is None else time.monotonic() + timeout


# Objects still open at exit are closed then, as Windows closes a process's
# handles when it ends; on Linux that is what removes a name nobody else holds.
_live: "weakref.WeakSet[_KernelObject]" = weakref.WeakSet()


@atexit.register
def _close_at_exit() -> None:
    for obj in list(_live):
        try:
            obj.close()
        except Exception:
            pass


def _handle_of(obj) -> int:
    return obj if isinstance(obj, int) else int(obj.handle)


class _KernelObject(Resource):
    """What every kernel object has: a handle it owns, a name, inheritance
    and duplication."""

    _kind: int
    _all_access: int

    def _adopt(self, native: KObject, name: str | None = None, created: bool = True) -> Self:
        self._native = native
        self.name = name
        self.created = created
        self._opened()
        _live.add(self)
        return self

    @classmethod
    def _wrap(cls, native: KObject, name: str | None = None, created: bool = True) -> Self:
        self = cls.__new__(cls)
        return self._adopt(native, name, created)

    def _release(self) -> None:
        self._native.close()

    def close(self) -> None:
        """Closes the handle; twice is harmless.  A handle protected from close
        (Windows ``HANDLE_FLAG_PROTECT_FROM_CLOSE``) raises and stays open."""
        if self._closed:
            return
        if self._owner_pid == os.getpid():
            self._native.close()
        self._closed = True

    @property
    def handle(self) -> int:
        """The raw handle value (Windows: a HANDLE; Linux: an fd)."""
        self._check_open()
        return self._native.handle

    def __int__(self) -> int:
        return self.handle

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"handle={self._native.handle}"
        name = f" {self.name!r}" if self.name else ""
        return f"<winipc.{type(self).__name__}{name} {state}>"

    # --- opening ---

    @classmethod
    def open(cls, name: str, access: int | None = None, inheritable: bool = False) -> Self:
        """The existing object named ``name`` (``OpenMutex`` and friends);
        :class:`~winipc.ObjectNotFound` (a ``FileNotFoundError``) if there is
        none, :class:`~winipc.WrongObjectType` if the name is another type's."""
        access = cls._all_access if access is None else int(access)
        return cls._wrap(_native.open_object(cls._kind, name, access, bool(inheritable)),
                         name, False)

    @classmethod
    def from_handle(cls, value: int) -> Self:
        """Adopts a handle value this process got by inheritance or duplication;
        the new object owns it.  Raises :class:`~winipc.WrongObjectType` if it
        is another kind of object, :class:`~winipc.InvalidHandle` if nothing is
        open under that value."""
        # A handle a client pushed to this process's server becomes this
        # object's: first taken from its client, whose leaving closes what
        # it pushed, so that it cannot be closed under the adoption.
        _rpc.claim_pushed(int(value))
        return cls._wrap(_native.adopt(int(value), cls._kind))

    @classmethod
    def from_process(cls, process: int | _HasPid, value: int,
                     access: int | None = None) -> Self:
        """Pulls handle ``value`` of another process into this one and adopts it.

        ``process`` is a pid or a :class:`winipc.Process`.  Windows:
        ``DuplicateHandle`` from that process (it needs ``PROCESS_DUP_HANDLE``).
        Linux: ``pidfd_getfd`` (it needs ptrace access to the process); with a
        reduced ``access`` the copy is reopened read-only and the full one closed.
        """
        pid = process if isinstance(process, int) else int(process.pid)
        acc = -1 if access is None else int(access)
        sys.audit("winipc.pull_handle", pid, int(value), acc)
        return cls._wrap(_native.adopt(_native.pull(pid, int(value), cls._kind, acc),
                                       cls._kind))

    # --- inheritance ---

    @property
    def inheritable(self) -> bool:
        """Whether child processes inherit the handle (``HANDLE_FLAG_INHERIT``;
        Linux: the fd without ``FD_CLOEXEC``)."""
        self._check_open()
        return self._native.inheritable

    @inheritable.setter
    def inheritable(self, value: bool) -> None:
        self._check_open()
        self._native.inheritable = bool(value)

    @property
    def protect_from_close(self) -> bool:
        """``HANDLE_FLAG_PROTECT_FROM_CLOSE`` (Windows only: Linux has no such flag,
        and says so with :class:`~winipc.NotSupported`).  ``close()`` of a
        protected handle raises."""
        self._check_open()
        return self._native.protect_from_close

    @protect_from_close.setter
    def protect_from_close(self, value: bool) -> None:
        self._check_open()
        self._native.protect_from_close = bool(value)

    # --- duplication ---

    def duplicate(self, into=None, access: int | None = None, inheritable: bool = False,
                  close_source: bool = False) -> int:
        """A new handle to this object, valid in the process ``into``; its value.

        ``into`` is ``None`` (this process), a :class:`winipc.Process` (or a
        :class:`Child`) or, on Windows, a pid.  ``access`` ``None`` keeps this
        handle's rights; fewer rights are really fewer (Linux: the file reopened
        read-only).  The other process must then learn the value (a message, a
        process-memory RPC) and adopt it with :meth:`from_handle`.
        ``close_source`` closes this handle (``DUPLICATE_CLOSE_SOURCE``).

        Linux: a handle goes into another process only through that process's
        winipc :class:`~winipc.Server` (``SCM_RIGHTS``), so ``into`` must be a
        :class:`winipc.Process` from :func:`winipc.open_process` for such a
        process; the receiver decides the new fd's ``FD_CLOEXEC``, so
        ``inheritable=True`` is refused there.  The other direction needs no
        cooperation: :meth:`from_process`.
        """
        self._check_open()
        acc = -1 if access is None else int(access)
        if into is not None:
            sys.audit("winipc.duplicate_handle", getattr(into, "pid", into), acc)
        if _WINDOWS:
            value = self._native.duplicate_into(_windows_target(into), acc, bool(inheritable),
                                                bool(close_source))
        else:
            value = self._duplicate_linux(into, acc, bool(inheritable))
        if close_source:
            self.close()
        return value

    def _duplicate_linux(self, into, access: int, inheritable: bool) -> int:
        target = into if isinstance(into, int) else getattr(into, "pid", None)
        if into is None or target == os.getpid():
            return self._native.duplicate(access, inheritable)
        push = getattr(getattr(into, "_native", None), "push_fd", None)
        if push is None:
            raise NotSupported(
                95, "DuplicateHandle failed: on Linux a handle can only be pushed into "
                "another process through that process's winipc Server; pass a "
                "winipc.Process from winipc.open_process(pid, Access.DUP_HANDLE), or let "
                "the other process pull it with from_process(pid, value)",
                call="DuplicateHandle", winerror=50)
        if inheritable:
            raise NotSupported(
                95, "DuplicateHandle failed: on Linux the receiving process decides "
                "whether a pushed fd is inheritable (winipc receives it with FD_CLOEXEC)",
                call="DuplicateHandle", winerror=50)
        fd = self._native.duplicate(access, False)
        try:
            return push(fd)
        finally:
            os.close(fd)


def _windows_target(into) -> object:
    if into is None:
        return None
    if isinstance(into, int):
        return ("pid", into)
    return int(into.handle)


class Mutex(_KernelObject):
    """A mutex (``CreateMutexW``): recursive, owned by a thread, abandoned
    when its owner dies holding it.

    ``Mutex(name)`` creates the named mutex or opens the existing one
    (``created`` says which); ``Mutex()`` is unnamed.  ``with mutex:``
    acquires and releases, as ``threading.Lock`` does; ``close()`` closes the
    handle (closing it while owned keeps the ownership, as on Windows).
    """

    _kind = _native.MUTEX
    _all_access = MUTEX_ALL_ACCESS

    def __init__(self, name: str | None = None, *, initial_owner: bool = False,
                 inheritable: bool = False):
        native, created = _native.create(self._kind, name, bool(inheritable),
                                         1 if initial_owner else 0, 0, 0)
        self._adopt(native, name, created)

    def acquire(self, timeout: float | None = None) -> bool:
        """Waits for ownership: True when acquired, False on timeout.

        Raises :class:`~winipc.AbandonedMutex` when the previous owner died
        holding the mutex (``WAIT_ABANDONED``; Linux ``EOWNERDEAD``): the caller
        owns it then, and must check what it protects and release it.
        """
        self._check_open()
        r = self._native.mutex_acquire(_ns(timeout))
        if r == 2:
            raise error_from_winerror(
                0x80, "WaitForSingleObject",
                "the mutex was abandoned: its owner died holding it; the caller owns it now",
                cls=AbandonedMutex)
        return r == 0

    wait = acquire

    async def acquire_async(self, timeout: float | None = None) -> bool:
        """:meth:`acquire` for asyncio: the calling thread (the event loop's)
        owns the mutex when it returns True; False on timeout.

        A mutex belongs to a thread, and only a thread that waits can take
        it: a helper waits until the mutex is free (Windows: the thread
        pool of ``RegisterWaitForSingleObject``; Linux: a thread of its
        own), gives it back at once, and the loop's thread then takes it,
        waiting again if another thread was faster.  An owner that died is
        reported with :class:`~winipc.AbandonedMutex` as :meth:`acquire`
        does; on Windows only when the loop's thread takes it from the dead
        owner itself (the pool's wait clears that state)."""
        self._check_open()
        deadline = _deadline(timeout)
        abandoned = False
        while True:
            r = self._native.mutex_acquire(0)
            if r != 1:
                break
            seen = await _wait_native(self, deadline)
            if seen is None:
                return False
            abandoned = abandoned or seen == 2
        if r == 2 or abandoned:
            raise error_from_winerror(
                0x80, "WaitForSingleObject",
                "the mutex was abandoned: its owner died holding it; the caller owns it now",
                cls=AbandonedMutex)
        return True

    def release(self) -> None:
        """``ReleaseMutex``; :class:`~winipc.NotOwner` if this thread does not own it."""
        self._check_open()
        self._native.mutex_release()

    def __enter__(self) -> Self:
        try:
            self.acquire()
        except AbandonedMutex:
            # No __exit__ runs after a failed __enter__: give the ownership back,
            # so the block's exception does not leave the mutex owned forever.
            self.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Event(_KernelObject):
    """An event (``CreateEventW``): manual-reset (stays set until reset) or
    auto-reset (releases one waiter, then resets)."""

    _kind = _native.EVENT
    _all_access = EVENT_ALL_ACCESS

    def __init__(self, name: str | None = None, *, manual_reset: bool = False,
                 initial_state: bool = False, inheritable: bool = False):
        native, created = _native.create(self._kind, name, bool(inheritable),
                                         1 if manual_reset else 0, 1 if initial_state else 0, 0)
        self._adopt(native, name, created)

    def set(self) -> None:
        """``SetEvent``; :class:`~winipc.AccessDenied` without ``EVENT_MODIFY_STATE``."""
        self._check_open()
        self._native.event_set()

    def reset(self) -> None:
        """``ResetEvent``."""
        self._check_open()
        self._native.event_reset()

    def wait(self, timeout: float | None = None) -> bool:
        """True once signalled (an auto-reset event is then reset), False on timeout."""
        self._check_open()
        return self._native.event_wait(_ns(timeout))

    async def wait_async(self, timeout: float | None = None) -> bool:
        """:meth:`wait` for asyncio, without blocking the event loop: True
        once signalled (an auto-reset event is then reset), False on
        timeout.  Windows waits as asyncio's proactor does
        (``RegisterWaitForSingleObject``; other loops raise
        :class:`~winipc.NotSupported`); Linux on a thread that sleeps on the
        event's futex and signals an eventfd (no fd stands for a futex)."""
        self._check_open()
        deadline = _deadline(timeout)
        if self._native.event_wait(0):
            return True
        return await _wait_native(self, deadline) is not None


class Semaphore(_KernelObject):
    """A counting semaphore (``CreateSemaphoreW``); ``with sem:`` takes one
    count and gives it back, as ``threading.Semaphore`` does."""

    _kind = _native.SEMAPHORE
    _all_access = SEMAPHORE_ALL_ACCESS

    def __init__(self, initial: int = 0, maximum: int = 1, name: str | None = None, *,
                 inheritable: bool = False):
        if not 0 < maximum <= 0x7FFFFFFF or not 0 <= initial <= maximum:
            raise ValueError(f"Semaphore needs 0 <= initial <= maximum and 1 <= maximum <= "
                             f"2**31-1 (got initial={initial}, maximum={maximum})")
        native, created = _native.create(self._kind, name, bool(inheritable),
                                         int(initial), int(maximum), 0)
        self._adopt(native, name, created)

    def acquire(self, timeout: float | None = None) -> bool:
        """Takes one count: True, or False on timeout."""
        self._check_open()
        return self._native.semaphore_wait(_ns(timeout))

    wait = acquire

    async def acquire_async(self, timeout: float | None = None) -> bool:
        """:meth:`acquire` for asyncio: takes one count, True, or False on
        timeout, without blocking the event loop (see
        :meth:`Event.wait_async` for how each platform waits).  A
        cancelled acquire that had already taken a count gives it back."""
        self._check_open()
        deadline = _deadline(timeout)
        if self._native.semaphore_wait(0):
            return True
        return await _wait_native(self, deadline) is not None

    wait_async = acquire_async

    def release(self, count: int = 1) -> int:
        """``ReleaseSemaphore``: adds ``count``; returns the previous count.
        :class:`~winipc.TooManyPosts` (a ``ValueError``) if the count would pass
        the maximum, and nothing changes."""
        self._check_open()
        return self._native.semaphore_release(int(count))

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class FileMapping(_KernelObject):
    """Shared memory (``CreateFileMappingW`` on the paging file): ``map()``
    returns views with the buffer protocol.  A view stays valid after the
    mapping is closed, and keeps the object (and its name) alive."""

    _kind = _native.MAPPING
    _all_access = FILE_MAP_ALL_ACCESS

    def __init__(self, size: int, name: str | None = None, *, inheritable: bool = False):
        if size <= 0:
            raise ValueError("FileMapping size must be > 0")
        native, created = _native.create(self._kind, name, bool(inheritable), 0, 0, int(size))
        self._adopt(native, name, created)

    @property
    def size(self) -> int:
        """The mapping's size in bytes (of the object as created, when it existed)."""
        self._check_open()
        return self._native.size

    def map(self, offset: int = 0, length: int = 0, write: bool | None = None) -> _View:
        """``MapViewOfFile``: a view of ``length`` bytes at ``offset`` (``0``: to
        the end).  ``offset`` is a multiple of the allocation granularity.
        ``write=None`` maps writable if the handle allows it.  The view
        (Linux: an ``mmap.mmap``) supports ``memoryview``, slicing, ``close()``
        and ``with``; a read-only view refuses writes."""
        self._check_open()
        return self._native.map(int(offset), int(length), None if write is None else bool(write))


class SingleInstance(Resource):
    """The single-instance guard: a named mutex held open for the program's
    life; ``already_running`` is True when another instance made it first."""

    def __init__(self, name: str, scope: str = "local"):
        if "\\" not in name:
            if scope not in ("local", "global"):
                raise ValueError("scope is 'local' or 'global'")
            name = ("Global\\" if scope == "global" else "Local\\") + name
        self.mutex = Mutex(name)
        self.name = name
        self.already_running = not self.mutex.created
        self._opened()

    def _release(self) -> None:
        self.mutex.close()

    def __repr__(self) -> str:
        return (f"<winipc.SingleInstance {self.name!r} "
                f"already_running={self.already_running}>")


def single_instance(name: str, scope: str = "local") -> SingleInstance:
    """``with single_instance("{GUID}") as inst: if inst.already_running: ...``

    ``scope="local"`` guards one session (Linux: one user), ``"global"`` the
    machine; a name with its own ``Global\\``/``Local\\`` prefix keeps it."""
    return SingleInstance(name, scope)


# --- child processes ---

class Child(Resource):
    """A process started by :func:`spawn`.  ``wait()``/``poll()`` give its
    exit code; ``close()`` releases the process handle without waiting."""

    def __init__(self, pid: int, handle: int, impl):
        self.pid = pid
        self._handle = handle
        self._impl = impl
        self.returncode: int | None = None
        self._opened()

    @property
    def handle(self) -> int:
        """The process handle (Windows, all access) or a pidfd (Linux)."""
        self._check_open()
        return self._handle

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._impl.poll()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """The exit code; ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        if self.returncode is None:
            self.returncode = self._impl.wait(timeout)
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            self._impl.kill()

    terminate = kill

    def _release(self) -> None:
        self._impl.close()

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is not None:
                self.kill()
            self.wait()
        finally:
            self.close()

    def __repr__(self) -> str:
        return f"<winipc.Child pid={self.pid} returncode={self.returncode}>"


class _PopenImpl:
    def __init__(self, popen: subprocess.Popen, pidfd: int):
        self.popen, self.pidfd = popen, pidfd

    def poll(self):
        return self.popen.poll()

    def wait(self, timeout):
        return self.popen.wait(timeout)

    def kill(self):
        self.popen.kill()

    def close(self):
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1


def spawn(argv, *, inherit=(), pass_handles: str | None = "argv", env=None, cwd=None,
          stdin=None, stdout=None, stderr=None, timeout: float = 10.0) -> Child:
    """Starts ``argv`` as a child that inherits exactly the handles in ``inherit``
    (objects or raw values), whatever their ``inheritable`` flag, and nothing
    else of this process's; and tells it their values:

    - ``"argv"``: appended to its command line, in order (``sys.argv[1:]``);
    - ``"env"``: in the environment variable ``WINIPC_HANDLES``;
    - ``"message"``: by a message once the child is ready to read it (Windows:
      thread messages posted after ``WaitForInputIdle``; Linux: a line on an
      inherited socket);
    - ``None``: not at all.

    The child reads the values back with :func:`inherited_handles` and adopts
    them with ``X.from_handle(value)``.  Windows: ``CreateProcessW`` with
    ``PROC_THREAD_ATTRIBUTE_HANDLE_LIST``; Linux: ``subprocess`` ``pass_fds``.
    The parent may close its own handles as soon as ``spawn`` returns.
    stdin/stdout/stderr: ``None`` (this process's), a file object or fd, or
    ``subprocess.DEVNULL``.
    """
    if pass_handles not in ("argv", "env", "message", None):
        raise ValueError("pass_handles is 'argv', 'env', 'message' or None")
    argv = [os.fspath(a) for a in argv]
    values = [_handle_of(h) for h in inherit]
    sys.audit("winipc.spawn", argv, values)
    env = dict(os.environ if env is None else env)
    env.pop(HANDLES_ENV, None)
    if _WINDOWS:
        return _spawn_windows(argv, values, pass_handles, env, cwd, (stdin, stdout, stderr),
                              timeout)
    extra = []
    channel = None
    pass_fds = list(values)
    if pass_handles == "argv":
        extra = [str(v) for v in values]
        env[HANDLES_ENV] = f"argv:{len(values)}"
    elif pass_handles == "env":
        env[HANDLES_ENV] = "env:" + ",".join(map(str, values))
    elif pass_handles == "message":
        import socket
        channel, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pass_fds.append(theirs.fileno())
        env[HANDLES_ENV] = f"message:{theirs.fileno()}"
    try:
        popen = subprocess.Popen(argv + extra, pass_fds=pass_fds, env=env, cwd=cwd,
                                 stdin=stdin, stdout=stdout, stderr=stderr, close_fds=True)
    finally:
        if channel is not None:
            theirs.close()
    try:
        pidfd = os.pidfd_open(popen.pid)
    except (AttributeError, OSError):
        pidfd = -1
    if channel is not None:
        with channel:
            channel.sendall((",".join(map(str, values)) + "\n").encode())
    return Child(popen.pid, pidfd, _PopenImpl(popen, pidfd))


class _WindowsProcessImpl:
    def __init__(self, handle: int, argv):
        self.handle, self.argv = handle, argv

    def poll(self):
        return _native.wait_process(self.handle, 0)

    def wait(self, timeout):
        code = _native.wait_process(self.handle, _ns(timeout))
        if code is None:
            raise subprocess.TimeoutExpired(self.argv, timeout)
        return code

    def kill(self):
        _native.terminate_process(self.handle, 1)

    def close(self):
        _native.close_handle(self.handle)


def _std_handle(which: int, spec):
    """(handle value, needs closing) for a child's stdin/stdout/stderr."""
    import msvcrt
    if spec is None:
        h = _native.std_handle(which)
        if h:
            return h, False
        spec = subprocess.DEVNULL
    if spec == subprocess.DEVNULL:
        fd = os.open(os.devnull, os.O_RDWR)
        try:
            return _native.inheritable_copy(msvcrt.get_osfhandle(fd)), True
        finally:
            os.close(fd)
    if isinstance(spec, int):
        return msvcrt.get_osfhandle(spec), False
    return msvcrt.get_osfhandle(spec.fileno()), False


def _spawn_windows(argv, values, pass_handles, env, cwd, std, timeout) -> Child:
    # Every handle in PROC_THREAD_ATTRIBUTE_HANDLE_LIST must be inheritable; a
    # listed handle that is not gets an inheritable duplicate for the spawn
    # (the child is told that duplicate's value), closed right after.
    temporary: list[int] = []
    passed: list[int] = []
    try:
        for v in values:
            if _native.handle_flags(v) & 1:
                passed.append(v)
            else:
                dup = _native.inheritable_copy(v)
                temporary.append(dup)
                passed.append(dup)
        std_values = []
        for which, spec in enumerate(std):
            h, owned = _std_handle(which, spec)
            if not _native.handle_flags(h) & 1:
                h2 = _native.inheritable_copy(h)
                if owned:
                    _native.close_handle(h)
                h, owned = h2, True
            if owned:
                temporary.append(h)
            std_values.append(h)
        args = list(argv)
        if pass_handles == "argv":
            args += [str(v) for v in passed]
            env[HANDLES_ENV] = f"argv:{len(passed)}"
        elif pass_handles == "env":
            env[HANDLES_ENV] = "env:" + ",".join(map(str, passed))
        elif pass_handles == "message":
            env[HANDLES_ENV] = f"message:{len(passed)}"
        block = "".join(f"{k}={v}\0" for k, v in sorted(env.items(), key=lambda kv:
                                                           kv[0].upper())) + "\0"
        handle_list = list(dict.fromkeys(passed + std_values))
        hproc, pid, tid = _native.create_process(subprocess.list2cmdline(args), handle_list,
                                                 block, cwd, std_values)
    finally:
        for h in temporary:
            _native.close_handle(h)
    child = Child(pid, hproc, _WindowsProcessImpl(hproc, argv))
    if pass_handles == "message" and passed:
        try:
            _post_values(hproc, tid, passed, timeout)
        except BaseException:
            child.kill()
            child.close()
            raise
    return child


def _post_values(hproc: int, tid: int, values, timeout: float) -> None:
    import time
    # WaitForInputIdle first, as the technique says; a console child has no
    # input-idle state and answers at once, so posts that find no message
    # queue yet are retried until the child makes one (inherited_handles()).
    _native.wait_for_input_idle(hproc, _ns(timeout))
    deadline = time.monotonic() + timeout
    for index, value in enumerate(values):
        while not _native.post_handle_message(tid, index, value):
            if _native.wait_process(hproc, 0) is not None:
                raise error_from_winerror(
                    1444, "PostThreadMessageW", "the child exited before it read the handle "
                    "values (did it call winipc.inherited_handles()?)")
            if time.monotonic() >= deadline:
                raise error_from_winerror(1460, "PostThreadMessageW",
                                          "the child made no message queue in time")
            time.sleep(0.01)


_received: list[int] | None = None


def inherited_handles(timeout: float = 10.0) -> list[int]:
    """The handle values a parent passed with :func:`spawn`, in its order
    (``[]`` if this process was not started that way).  In ``"message"`` mode
    the first call waits up to ``timeout`` seconds for the message and must run
    on the main thread (Windows posts to it)."""
    global _received
    if _received is not None:
        return list(_received)
    spec = os.environ.pop(HANDLES_ENV, "")
    mode, _, payload = spec.partition(":")
    if not spec:
        values = []
    elif mode == "argv":
        n = int(payload)
        values = [int(a) for a in sys.argv[len(sys.argv) - n:]] if n else []
    elif mode == "env":
        values = [int(v) for v in payload.split(",") if v]
    elif mode == "message":
        if _WINDOWS:
            if threading.current_thread() is not threading.main_thread():
                raise RuntimeError("inherited_handles() waits for thread messages posted "
                                   "to the main thread: call it there")
            values = _native.receive_handle_messages(int(payload), _ns(timeout))
        else:
            values = _read_channel(int(payload), timeout)
    else:
        raise ValueError(f"{HANDLES_ENV}={spec!r} is not from winipc.spawn")
    _received = values
    return list(values)


def _read_channel(fd: int, timeout: float) -> list[int]:
    import socket
    with socket.socket(fileno=fd) as sock:
        sock.settimeout(timeout)
        data = b""
        try:
            while not data.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            raise error_from_errno(110, "recv", "the parent sent no handle values in time")
    return [int(v) for v in data.decode().strip().split(",") if v]
