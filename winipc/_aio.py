"""Waiting for the kernel from asyncio, without a thread per wait.

Two primitives, one per platform (each in its platform's module, chosen once
by ``_os.py``; here as ``wait_handle``), that the asynchronous calls and
waits of the facade are built on (a process's exit can use them too):

- ``readable`` (Linux, ``_os_linux.py``): until an fd is readable, with ``loop.add_reader``
  (epoll in the selector loop, or whatever loop the application runs).
- ``signalled`` (Windows, ``_os_windows.py``): until a handle is signalled, the way asyncio's
  ``ProactorEventLoop`` waits for a process (``loop._proactor.wait_for_handle``:
  ``RegisterWaitForSingleObject``, whose thread pool waits for many handles
  at once and posts to the loop's completion port).  Only a wait that has no
  effect on its object may go there (an Event, a process): the pool thread's
  wait, and the proactor's check after it, would otherwise take a semaphore
  count or a mutex.  The ``SelectorEventLoop`` has no proactor, and Windows
  offers no readiness a selector could watch for a handle: there these waits
  raise :class:`~winipc.NotSupported`, and the error says to use the
  proactor loop (asyncio's default on Windows).

Both return True when the fd or handle became ready, False when ``timeout``
(seconds, None: no end) passed first.  Cancelling the awaiting task removes
the reader or the registered wait: nothing is left behind.

:class:`AsyncTurn` puts the asynchronous calls of one connection in a row.

asyncio itself is imported by the code that runs in a loop (here and in the
platform modules), where it is loaded already: ``import winipc`` does not
load it, which is most of the import's time, for programs that never use it.
"""

from __future__ import annotations

import collections
import threading
from typing import TYPE_CHECKING, Optional

from ._errors import CallTimeout, error_from_winerror
from .constants import WinError
from ._os import ALIVE_SLICE, check_loop, wait_handle
from ._timeouts import _left

if TYPE_CHECKING:
    import asyncio

__all__ = ["wait_handle", "check_loop", "ALIVE_SLICE", "AsyncTurn"]


class AsyncTurn:
    """One asynchronous call at a time on a connection, first come first
    served, for tasks of any event loop (in any thread): a task that finds
    the turn taken waits on a future, which the call before it completes
    when it ends.  A waiter that is cancelled or times out after being
    handed the turn passes it on."""

    def __init__(self) -> None:
        # Held while the turn is taken, by whoever has it: try_acquire()
        # needs no other lock, because a turn with waiters is never let go
        # (release() hands it on), and _lock orders the waiters.
        self._busy = threading.Lock()
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        """Take the turn now if it is free (then no one waits for it):
        whether it did (else acquire() waits).  No coroutine: the usual case
        costs no step of one."""
        return self._busy.acquire(False)

    async def acquire(self, deadline: Optional[float]) -> None:
        import asyncio      # (loaded: this runs in a loop)

        with self._lock:
            if self._busy.acquire(False):
                return
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
        try:
            if deadline is None:
                await waiter        # (no timeout: spare the context manager)
            else:
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
                self._busy.release()
                return
            waiter = self._waiters.popleft()
        # The turn stays taken: it goes to the waiter, on its own loop (from
        # that loop's own thread at once, without a step of the loop's).
        import asyncio      # (loaded: a waiter is a future of a loop)

        loop = waiter.get_loop()
        if asyncio._get_running_loop() is loop:      # None outside a loop, never raises
            self._hand(waiter)          # its task wakes in the loop's next step
            return
        try:
            loop.call_soon_threadsafe(self._hand, waiter)
        except RuntimeError:        # its loop is closed: the next one
            self.release()

    def _hand(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done():           # cancelled before it got here
            self.release()
        else:
            waiter.set_result(None)
