"""Waiting for the kernel from asyncio, without a thread per wait.

Two primitives, one per platform, that the asynchronous calls and waits of
the facade are built on (a process's exit can use them too):

- :func:`readable` (Linux): until an fd is readable, with ``loop.add_reader``
  (epoll in the selector loop, or whatever loop the application runs).
- :func:`signalled` (Windows): until a handle is signalled, the way asyncio's
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
"""

from __future__ import annotations

import asyncio
import collections
import os
import sys
import threading
from typing import Optional

from ._errors import CallTimeout, NotSupported, error_from_winerror
from .constants import WinError
from ._timeouts import _left

__all__ = ["readable", "signalled", "drain_eventfd", "AsyncTurn"]


async def readable(fd: int, timeout: Optional[float] = None) -> bool:
    """Until ``fd`` is readable (or hung up): True, or False after ``timeout``."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

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


def drain_eventfd(fd: int) -> None:
    """Reset a non-blocking eventfd that :func:`readable` reported."""
    try:
        os.read(fd, 8)
    except BlockingIOError:
        pass


def proactor(loop: asyncio.AbstractEventLoop):
    """The loop's IOCP proactor, or NotSupported naming the loop."""
    p = getattr(loop, "_proactor", None)
    if p is None or not hasattr(p, "wait_for_handle"):
        raise error_from_winerror(
            WinError.NOT_SUPPORTED, "RegisterWaitForSingleObject",
            f"winipc's asyncio waits on Windows need asyncio's ProactorEventLoop (the default "
            f"there); this loop is a {type(loop).__name__}, which cannot wait on a handle "
            f"without a thread", cls=NotSupported)
    return p


async def signalled(handle: int, timeout: Optional[float] = None) -> bool:
    """Until ``handle`` is signalled: True, or False after ``timeout``.

    Use it only on handles that a wait does not change: a manual-reset
    Event, a process, or an auto-reset Event whose state the caller
    re-checks elsewhere (the doorbell's).  The result is a hint: an
    auto-reset Event's signal is taken by the pool's wait, so True may also
    come back as False; callers look at the state the handle stands for."""
    loop = asyncio.get_running_loop()
    ms = None if timeout is None else max(timeout, 0.0)
    return bool(await proactor(loop).wait_for_handle(handle, ms))


# The platform's choice, made once: ``wait_handle`` is the primitive of the
# platform's handles; ``check_loop()`` raises at once when the running loop
# cannot wait for them (Windows: a loop without a proactor); an asynchronous
# send looks every ``ALIVE_SLICE`` seconds whether the server's window
# still exists, as a synchronous one does between its waits (a dead server
# never sets the doorbell's Event; on Linux its socket hangs up).
if sys.platform == "win32":
    wait_handle = signalled
    ALIVE_SLICE: Optional[float] = 0.1

    def check_loop() -> None:
        proactor(asyncio.get_running_loop())
else:
    wait_handle = readable
    ALIVE_SLICE = None

    def check_loop() -> None:
        pass


class AsyncTurn:
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
