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
import time
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Self

from . import _aio
from . import _kernel as _native
from . import _os, _rpc
from ._errors import AbandonedMutex, BufferTooSmall, error_from_winerror
from .constants import (
    EventAccess, FileMapAccess, MutexAccess, SemaphoreAccess, StandardAccess, WaitResult,
    WinError,
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
    "Child", "spawn", "inherited_handles", "HANDLES_ENV", "PASS_HANDLES",
    "SYNCHRONIZE", "DELETE", "READ_CONTROL", "WRITE_DAC", "WRITE_OWNER",
    "MUTEX_MODIFY_STATE", "MUTEX_ALL_ACCESS", "EVENT_MODIFY_STATE", "EVENT_ALL_ACCESS",
    "SEMAPHORE_MODIFY_STATE", "SEMAPHORE_ALL_ACCESS", "FILE_MAP_COPY", "FILE_MAP_WRITE",
    "FILE_MAP_READ", "FILE_MAP_EXECUTE", "FILE_MAP_ALL_ACCESS",
]

# The access rights by their Win32 names (winipc.constants has them as enums
# per object family).
DELETE = StandardAccess.DELETE
READ_CONTROL = StandardAccess.READ_CONTROL
WRITE_DAC = StandardAccess.WRITE_DAC
WRITE_OWNER = StandardAccess.WRITE_OWNER
SYNCHRONIZE = StandardAccess.SYNCHRONIZE
MUTEX_MODIFY_STATE = MutexAccess.MODIFY_STATE
MUTEX_ALL_ACCESS = MutexAccess.ALL_ACCESS
EVENT_MODIFY_STATE = EventAccess.MODIFY_STATE
EVENT_ALL_ACCESS = EventAccess.ALL_ACCESS
SEMAPHORE_MODIFY_STATE = SemaphoreAccess.MODIFY_STATE
SEMAPHORE_ALL_ACCESS = SemaphoreAccess.ALL_ACCESS
FILE_MAP_COPY = FileMapAccess.COPY
FILE_MAP_WRITE = FileMapAccess.WRITE
FILE_MAP_READ = FileMapAccess.READ
FILE_MAP_EXECUTE = FileMapAccess.EXECUTE
FILE_MAP_ALL_ACCESS = FileMapAccess.ALL_ACCESS

#: The environment variable through which :func:`spawn` tells a child how it
#: passed the handle values; :func:`inherited_handles` reads it.
HANDLES_ENV = "WINIPC_HANDLES"



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
    proactor waits for) -> its result (WaitResult.OBJECT_0, or ABANDONED
    for a mutex whose owner died), or None at the deadline.  Cancelled, it leaves nothing behind:
    what the wait took on the caller's behalf (a count, an auto-reset
    signal) is given back."""
    _aio.check_loop()
    waiting = obj._native.wait_start()
    done = False
    try:
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        ready = await _aio.wait_handle(waiting.handle, left)
        if ready:
            done = True
            return waiting.finish()
        return None
    finally:
        if not done:
            waiting.cancel()


def _abandoned() -> AbandonedMutex:
    return error_from_winerror(
        WaitResult.ABANDONED, "WaitForSingleObject",
        "the mutex was abandoned: its owner died holding it; the caller owns it now",
        cls=AbandonedMutex)  # type: ignore[return-value]


def _deadline(timeout: float | None) -> float | None:
    _ns(timeout)        # validated as the blocking waits do
    return None if timeout is None else time.monotonic() + timeout


def _check_name(name: object, signature: str) -> None:
    if name is not None and not isinstance(name, str):
        raise TypeError(f"{signature}: name is a str or None, not {type(name).__name__}"
                        + (" (the numbers are keyword arguments)"
                           if isinstance(name, int) else ""))


def _check_int(value: object, cls: str, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{cls}: {param} is an int, not {type(value).__name__}")
    return value


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
        return self

    @classmethod
    def _wrap(cls, native: KObject, name: str | None = None, created: bool = True) -> Self:
        self = cls.__new__(cls)
        return self._adopt(native, name, created)

    def _release(self) -> None:
        self._native.close()

    def __enter__(self) -> Self:
        # ``with`` on a kernel object takes it (a Mutex's ownership, a
        # Semaphore's count); nothing else can be taken, and closing is
        # spelled close() or contextlib.closing() for every kernel object.
        kind = type(self).__name__
        raise TypeError(
            f"{'an' if kind[0] in 'AEIOU' else 'a'} {kind} is not a context manager: `with` on "
            "a winipc kernel "
            "object takes it, and only a Mutex or a Semaphore can be taken; close it with "
            f"close(), or with contextlib.closing({type(self).__name__.lower()})")

    def close(self) -> None:
        """Closes the handle; twice is harmless.  A handle protected from close
        (Windows ``HANDLE_FLAG_PROTECT_FROM_CLOSE``) raises and stays open."""
        super().close()

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
        value = _os.duplicate(self, into, acc, bool(inheritable), bool(close_source))
        if close_source:
            self.close()
        return value

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
        _check_name(name, "Mutex(name, *, initial_owner=False)")
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
        if r == WaitResult.ABANDONED:
            raise _abandoned()
        return r == WaitResult.OBJECT_0

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
            if r != WaitResult.TIMEOUT:
                break
            seen = await _wait_native(self, deadline)
            if seen is None:
                return False
            abandoned = abandoned or seen == WaitResult.ABANDONED
        if r == WaitResult.ABANDONED or abandoned:
            raise _abandoned()
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
        _check_name(name, "Event(name, *, manual_reset=False, initial_state=False)")
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

    def __init__(self, name: str | None = None, *, initial: int = 0, maximum: int = 1,
                 inheritable: bool = False):
        _check_name(name, "Semaphore(name, *, initial=0, maximum=1)")
        initial = _check_int(initial, "Semaphore", "initial")
        maximum = _check_int(maximum, "Semaphore", "maximum")
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

    def __init__(self, name: str | None = None, *, size: int, inheritable: bool = False):
        _check_name(name, "FileMapping(name, *, size)")
        size = _check_int(size, "FileMapping", "size")
        if size <= 0:
            raise ValueError(f"FileMapping size must be > 0 (got {size})")
        native, created = _native.create(self._kind, name, bool(inheritable), 0, 0, size)
        self._adopt(native, name, created)
        if not created and self.size < size:
            # CreateFileMappingW hands back the existing, smaller object: a
            # view past its end would fault, so say so now.
            have = self.size
            self.close()
            raise error_from_winerror(
                WinError.INSUFFICIENT_BUFFER, "CreateFileMappingW",
                f"the mapping {name!r} exists with {have} bytes, fewer than the {size} asked "
                "for; open it with FileMapping.open(name) to use it as it is",
                cls=BufferTooSmall)

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
        # A guard guards until it is closed or the process exits, however it
        # is written: ``if single_instance(x).already_running: ...`` drops
        # the object at once, and collecting it must not let a second
        # instance in.
        _LIVE_GUARDS.add(self)

    def _release(self) -> None:
        _LIVE_GUARDS.discard(self)
        self.mutex.close()

    def __repr__(self) -> str:
        return (f"<winipc.SingleInstance {self.name!r} "
                f"already_running={self.already_running}>")


_LIVE_GUARDS: set[SingleInstance] = set()


def single_instance(name: str, scope: str = "local") -> SingleInstance:
    """``with single_instance("{GUID}") as inst: if inst.already_running: ...``

    ``scope="local"`` guards one session (Linux: one user), ``"global"`` the
    machine; a name with its own ``Global\\``/``Local\\`` prefix keeps it."""
    return SingleInstance(name, scope)


# --- child processes ---

#: The ways :func:`spawn` can tell a child its handle values; the first is the default.
PASS_HANDLES = ("env", "argv", "message", None)

# Popen arguments spawn decides itself: they would let the child inherit more
# (or fewer) handles than ``inherit=`` lists, or run ``argv`` through a shell.
_REFUSED = {
    "pass_fds": "list the handles in inherit= instead",
    "close_fds": "the child inherits exactly the handles in inherit=",
    "shell": "spawn runs argv without a shell",
}


def _argv_list(argv: object) -> list[Any]:
    if isinstance(argv, (str, bytes, os.PathLike)):
        raise TypeError(
            f"spawn() argv must be a list of arguments, the program first (such as "
            f"[sys.executable, 'child.py', '--name', 'job1']), not {type(argv).__name__} "
            f"{argv!r}; split a command line first (shlex.split)")
    try:
        items = list(argv)                                    # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"spawn() argv must be a list of arguments, not "
                        f"{type(argv).__name__}") from None
    if not items:
        raise ValueError("spawn() argv is empty: it needs at least the program")
    out = []
    for i, a in enumerate(items):
        try:
            out.append(os.fspath(a))
        except TypeError:
            raise TypeError(f"spawn() argv[{i}] must be str, bytes or os.PathLike, "
                            f"not {type(a).__name__}") from None
    return out


class Child(_os.Process):
    """A process started by :func:`spawn`: a :class:`subprocess.Popen`, with
    ``stdin``/``stdout``/``stderr`` pipes, ``communicate()``, ``wait(timeout)``
    (``subprocess.TimeoutExpired``), ``poll()``, ``returncode``, ``kill()`` and
    ``pid``, plus ``handle`` (Windows: the process handle; Linux: a pidfd,
    closed once the child was waited for).  Nothing needs closing after
    ``wait()``.

    ``with child:`` is Popen's (closes the pipes, waits for the child), except
    that when the block raises, the child is killed first, so that an error
    never leaves the parent waiting for a child that waits for it.
    """

    def __init__(self, argv: Sequence[Any], *, inherit: Iterable[Any] = (),
                 pass_handles: str | None = "env", timeout: float = 10.0,
                 **popen_kwargs: Any) -> None:
        args = _argv_list(argv)
        if pass_handles not in PASS_HANDLES:
            raise ValueError(f"pass_handles is 'env' (the default), 'argv', 'message' or "
                             f"None, not {pass_handles!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
            raise ValueError(f"spawn() timeout is a number of seconds >= 0, not {timeout!r}")
        for key, why in _REFUSED.items():
            if key in popen_kwargs:
                raise TypeError(f"spawn() takes no {key}=: {why}")
        values = [_handle_of(h) for h in inherit]
        sys.audit("winipc.spawn", args, values)
        env = popen_kwargs.get("env")
        env = dict(os.environ if env is None else env)
        env.pop(HANDLES_ENV, None)
        with _os.Launch(values, pass_handles, popen_kwargs) as launch:
            told = launch.values
            if pass_handles == "argv":
                args += [str(v) for v in told]
                env[HANDLES_ENV] = f"argv:{len(told)}"
            elif pass_handles == "env":
                env[HANDLES_ENV] = "env:" + ",".join(map(str, told))
            elif pass_handles == "message":
                env[HANDLES_ENV] = "message:" + launch.message_payload
            popen_kwargs["env"] = env
            super().__init__(args, **popen_kwargs)
            try:
                launch.started(self, timeout)
            except BaseException:
                self.kill()
                self.wait()
                raise

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None and self.poll() is None:
            self.kill()
        super().__exit__(exc_type, *exc)

    def __repr__(self) -> str:
        return f"<winipc.Child pid={self.pid} returncode={self.returncode}>"


def spawn(argv: Sequence[Any], *, inherit: Iterable[Any] = (),
          pass_handles: str | None = "env", timeout: float = 10.0,
          **popen_kwargs: Any) -> Child:
    """Starts ``argv`` as a child that inherits exactly the handles in ``inherit``
    (objects or raw values), whatever their ``inheritable`` flag, and nothing
    else of this process's; and tells it their values.  Returns a
    :class:`Child`, a :class:`subprocess.Popen`.

    ``argv`` is a list, the program first; a string is refused with a
    ``TypeError`` (``subprocess`` would read it one way on Linux and another on
    Windows): split a command line with ``shlex.split`` first.

    ``pass_handles``, how the child learns the values (it reads them back, in
    ``inherit`` order, with :func:`inherited_handles`):

    - ``"env"`` (the default): in the environment variable ``WINIPC_HANDLES``;
      the command line stays exactly ``argv``;
    - ``"argv"``: appended to the command line (``sys.argv[1:]`` ends with them);
    - ``"message"``: by a message once the child is ready to read it (Windows:
      thread messages to its main thread, posted after ``WaitForInputIdle``;
      Linux: a line on an inherited socket), within ``timeout`` seconds;
    - ``None``: not at all.

    Every other keyword goes to ``subprocess.Popen`` (``stdin``, ``stdout``,
    ``stderr``, ``env``, ``cwd``, ``text``, ...), except ``pass_fds``,
    ``close_fds`` and ``shell``, which would change what the child inherits
    and are refused.  Windows: ``Popen`` with
    ``STARTUPINFO(lpAttributeList={"handle_list": [...]})``; Linux: ``Popen``
    with ``pass_fds``.  The parent may close its own handles as soon as
    ``spawn`` returns.
    """
    return Child(argv, inherit=inherit, pass_handles=pass_handles, timeout=timeout,
                 **popen_kwargs)


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
        values = _os.receive_values(payload, timeout)
    else:
        raise ValueError(f"{HANDLES_ENV}={spec!r} is not from winipc.spawn")
    _received = values
    return list(values)
