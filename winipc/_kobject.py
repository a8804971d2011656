"""What every kernel object has: a handle it owns, a name, inheritance,
duplication, and the checks and waits the kinds of winipc.kernel share."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Self

from . import _aio
from . import _kernel as _native
from . import _os, _rpc
from ._resource import Resource
from ._timeouts import _given, _timeout_ns

if TYPE_CHECKING:
    from typing import Protocol

    from ._kernel import KObject

    class _HasPid(Protocol):
        """A process by its id: a winipc.Process or a Child."""
        @property
        def pid(self) -> int: ...

    class _HasHandle(Protocol):
        """What holds a handle (Linux: an fd): a kernel object, a winipc.Process
        or a Child (their process handle)."""
        @property
        def handle(self) -> int: ...

    class _ProcessRef(_HasPid, _HasHandle, Protocol):
        """A process by its id and handle: a winipc.Process or a Child."""


def _ns(timeout: float | None, param: str = "timeout") -> int:
    """A kernel wait's timeout (seconds; None or math.inf: no end) in the
    nanoseconds the native waits take (-1: no end)."""
    return _timeout_ns(timeout, param)


def _acquire_ns(blocking: bool | float | None, timeout: float | None, method: str) -> int:
    """The wait of ``acquire(blocking=True, timeout=None)``, in nanoseconds
    (-1: no end).  ``blocking`` is threading's flag (``False`` polls), or, as
    winipc's acquire has always taken first, the timeout itself in seconds
    (None: no end).  As in threading, ``timeout=-1`` also means no end, and
    a non-blocking acquire takes no timeout."""
    unbounded = timeout is None or (type(timeout) in (int, float) and timeout == -1)
    if isinstance(blocking, bool):
        if not blocking:
            if not unbounded:
                raise ValueError(f"{method}: a non-blocking acquire takes no timeout "
                                 f"(got blocking=False, timeout={timeout!r})")
            return 0
        return -1 if unbounded else _ns(timeout, f"{method} timeout")
    if not unbounded:
        raise TypeError(f"{method} takes blocking (a bool) then timeout (seconds), or the "
                        f"timeout alone; got {_given(blocking)} and timeout={timeout!r}")
    if type(blocking) in (int, float) and blocking == -1:
        return -1
    return _ns(blocking, f"{method} timeout")


def _deadline(ns: int) -> float | None:
    """The monotonic time a wait of ``ns`` (as _ns gives it) ends; None: never."""
    return None if ns < 0 else time.monotonic() + ns / 1e9


def _check_name(name: object, signature: str) -> None:
    if name is not None and not isinstance(name, str):
        raise TypeError(f"{signature}: name is a str or None, not {type(name).__name__}"
                        + (" (the numbers are keyword arguments)"
                           if isinstance(name, int) else ""))


def _check_int(value: object, cls: str, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{cls}: {param} is an int, not {type(value).__name__}")
    return value


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

    async def _wait_native(self, deadline: float | None) -> int | None:
        """One asynchronous wait on this object (an event, semaphore or mutex), on
        the native Waiting (Linux: a thread that signals an eventfd; Windows: a
        RegisterWaitForSingleObject that sets an Event of its own, which the
        proactor waits for) -> its result (WaitResult.OBJECT_0, or ABANDONED
        for a mutex whose owner died), or None at the deadline.  Cancelled, it leaves nothing behind:
        what the wait took on the caller's behalf (a count, an auto-reset
        signal) is given back."""
        _aio.check_loop()
        waiting = self._native.wait_start()
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

    def duplicate(self, into: int | _ProcessRef | None = None, access: int | None = None,
                  inheritable: bool = False, close_source: bool = False) -> int:
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
        value = _os.duplicate(self._native, type(self).__name__, into, acc, bool(inheritable),
                              bool(close_source))
        if close_source:
            self.close()
        return value
