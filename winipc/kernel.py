"""Kernel objects shared between processes: mutexes, events, semaphores and
file mappings, by name, by inheritance and by duplication.

On Windows these are the Win32 objects themselves.  On Linux a named object is
a file in ``/dev/shm`` (an unnamed one a memfd) with a typed header: a mutex
is a robust process-shared pthread mutex, events and semaphores are futexes, a
mapping's views are ``mmap`` objects; a handle is a file descriptor, and what
it may do is what its open mode allows.  ``docs/kernel-objects.md`` describes
each mechanism and where Linux differs.

Timeouts are in seconds: ``0`` polls, ``None`` and ``math.inf`` wait without
end, a bool is refused.  ``Mutex`` and ``Semaphore`` take ``acquire(blocking=True,
timeout=None)`` as ``threading`` does (``acquire(False)`` polls, ``timeout=-1``
is no end too), and ``acquire(seconds)`` as before.

What every kind shares (handles, names, inheritance, duplication) is
``_kobject.py``; child processes (spawn, Child, inherited_handles) are
``_spawn.py``.  This module has every name of both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from . import _kernel as _native
from ._errors import AbandonedMutex, BufferTooSmall, WinIPCError, error_from_winerror
from .constants import (
    EventAccess, FileMapAccess, MutexAccess, SemaphoreAccess, StandardAccess, WaitResult,
    WinError,
)
from ._kobject import _acquire_ns, _check_int, _check_name, _deadline, _KernelObject, _ns
from ._resource import Resource
from ._spawn import HANDLES_ENV, PASS_HANDLES, Child, inherited_handles, spawn

if TYPE_CHECKING:
    # What FileMapping.map() returns: mmap.mmap on Linux, a MappedView on Windows.
    from ._kernel import _View

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


def _abandoned() -> WinIPCError:
    return error_from_winerror(
        WaitResult.ABANDONED, "WaitForSingleObject",
        "the mutex was abandoned: its owner died holding it; the caller owns it now",
        cls=AbandonedMutex)


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

    def acquire(self, blocking: bool | float | None = True,
                timeout: float | None = None) -> bool:
        """Waits for ownership: True when acquired, False on timeout.

        As ``threading.Lock.acquire``: ``acquire()`` waits without end,
        ``acquire(False)`` only tries, ``acquire(timeout=2.0)`` (or
        ``acquire(True, 2.0)``) waits up to 2 s; ``timeout=-1`` is no end
        too.  A number first is the timeout (``acquire(2.0)``, winipc's own
        form); a bool is never taken for seconds.

        Raises :class:`~winipc.AbandonedMutex` when the previous owner died
        holding the mutex (``WAIT_ABANDONED``; Linux ``EOWNERDEAD``): the caller
        owns it then, and must check what it protects and release it.
        """
        ns = _acquire_ns(blocking, timeout, "Mutex.acquire()")
        self._check_open()
        r = self._native.mutex_acquire(ns)
        if r == WaitResult.ABANDONED:
            raise _abandoned()
        return r == WaitResult.OBJECT_0

    wait = acquire

    async def acquire_async(self, blocking: bool | float | None = True,
                            timeout: float | None = None) -> bool:
        """:meth:`acquire` for asyncio, with its arguments: the calling
        thread (the event loop's) owns the mutex when it returns True; False
        on timeout.

        A mutex belongs to a thread, and only a thread that waits can take
        it: a helper waits until the mutex is free (Windows: the thread
        pool of ``RegisterWaitForSingleObject``; Linux: a thread of its
        own), gives it back at once, and the loop's thread then takes it,
        waiting again if another thread was faster.  An owner that died is
        reported with :class:`~winipc.AbandonedMutex` as :meth:`acquire`
        does; on Windows only when the loop's thread takes it from the dead
        owner itself (the pool's wait clears that state)."""
        ns = _acquire_ns(blocking, timeout, "Mutex.acquire_async()")
        self._check_open()
        deadline = _deadline(ns)
        abandoned = False
        while True:
            r = self._native.mutex_acquire(0)
            if r != WaitResult.TIMEOUT or ns == 0:
                break
            seen = await self._wait_native(deadline)
            if seen is None:
                return False
            abandoned = abandoned or seen == WaitResult.ABANDONED
        if r == WaitResult.ABANDONED or abandoned:
            raise _abandoned()
        return r == WaitResult.OBJECT_0

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
        """True once signalled (an auto-reset event is then reset), False on
        timeout (seconds; None or math.inf: no end), as ``threading.Event``."""
        ns = _ns(timeout, "Event.wait() timeout")
        self._check_open()
        return self._native.event_wait(ns)

    async def wait_async(self, timeout: float | None = None) -> bool:
        """:meth:`wait` for asyncio, without blocking the event loop: True
        once signalled (an auto-reset event is then reset), False on
        timeout.  Windows waits as asyncio's proactor does
        (``RegisterWaitForSingleObject``; other loops raise
        :class:`~winipc.NotSupported`); Linux on a thread that sleeps on the
        event's futex and signals an eventfd (no fd stands for a futex)."""
        ns = _ns(timeout, "Event.wait_async() timeout")
        self._check_open()
        deadline = _deadline(ns)
        if self._native.event_wait(0):
            return True
        if ns == 0:
            return False
        return await self._wait_native(deadline) is not None


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

    def acquire(self, blocking: bool | float | None = True,
                timeout: float | None = None) -> bool:
        """Takes one count: True, or False on timeout.  The arguments are
        :meth:`Mutex.acquire`'s, as ``threading.Semaphore.acquire``:
        ``acquire(False)`` only tries, ``acquire(timeout=2.0)`` waits up to
        2 s, ``acquire(2.0)`` too."""
        ns = _acquire_ns(blocking, timeout, "Semaphore.acquire()")
        self._check_open()
        return self._native.semaphore_wait(ns)

    wait = acquire

    async def acquire_async(self, blocking: bool | float | None = True,
                            timeout: float | None = None) -> bool:
        """:meth:`acquire` for asyncio, with its arguments: takes one count,
        True, or False on timeout, without blocking the event loop (see
        :meth:`Event.wait_async` for how each platform waits).  A
        cancelled acquire that had already taken a count gives it back."""
        ns = _acquire_ns(blocking, timeout, "Semaphore.acquire_async()")
        self._check_open()
        deadline = _deadline(ns)
        if self._native.semaphore_wait(0):
            return True
        if ns == 0:
            return False
        return await self._wait_native(deadline) is not None

    wait_async = acquire_async

    def release(self, count: int = 1) -> int:
        """``ReleaseSemaphore``: adds ``count``; returns the previous count.
        :class:`~winipc.TooManyPosts` (a ``ValueError``) if the count would pass
        the maximum, and nothing changes."""
        count = _check_int(count, "Semaphore.release()", "count")
        self._check_open()
        return self._native.semaphore_release(count)

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class FileMapping(_KernelObject):
    """Shared memory (``CreateFileMappingW`` on the paging file): ``map()``
    returns views with the buffer protocol.  A view stays valid after the
    mapping is closed and keeps its memory; the name, as on Windows, lives
    only while a handle is open."""

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
        offset = _check_int(offset, "FileMapping.map()", "offset")
        length = _check_int(length, "FileMapping.map()", "length")
        if offset < 0 or length < 0:
            raise ValueError(f"FileMapping.map() takes an offset and a length >= 0, not "
                             f"offset={offset}, length={length}")
        self._check_open()
        return self._native.map(offset, length, None if write is None else bool(write))


class SingleInstance(Resource):
    """The single-instance guard: a named mutex held open for the program's
    life; ``already_running`` is True when another instance made it first."""

    _warns = False      # held until the process exits, on purpose

    def __init__(self, name: str, scope: str = "local"):
        if "\\" not in name:
            if scope not in ("local", "global"):
                raise ValueError("scope is 'local' or 'global'")
            name = ("Global\\" if scope == "global" else "Local\\") + name
        self.mutex: Mutex = Mutex(name)
        self.mutex._warns = False
        self.name = name
        self.already_running: bool = not self.mutex.created
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
