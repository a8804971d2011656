"""One timeout rule for every wait, on every backend (README, "Timeouts"):
seconds, 0 polls, math.inf has no end, a bool is refused; None is "not
given" (a call: the connection's timeout; a kernel object: no end); Mutex
and Semaphore take threading's acquire(blocking=True, timeout=-1)."""

import asyncio
import math
import sys
import threading
from contextlib import closing

import pytest

import winipc
from kernel_helpers import k
from structs import Small, WM_SLEEP, WM_SMALL

# Each test here gets a server of its own (what it holds, or a handler
# left running, is what these tests look at).
pytestmark = pytest.mark.fresh_server

# Longer than the one second that acquire(True) once meant.
PAST_ONE_SECOND = 1.5


def _holder(kind):
    """An object that another thread holds (Mutex) or that has no count
    (Semaphore), and what gives it back."""
    if kind == "Mutex":
        m = k.Mutex()
        has_it, give_back = threading.Event(), threading.Event()

        def hold():
            with m:
                has_it.set()
                give_back.wait(60)
        t = threading.Thread(target=hold)
        t.start()
        assert has_it.wait(60)

        def release():
            give_back.set()
            t.join(60)
        return m, release
    sem = k.Semaphore(initial=0, maximum=1)
    return sem, sem.release


@pytest.mark.parametrize("kind", ["Mutex", "Semaphore"])
def test_acquire_true_blocks_until_acquired_as_threading_does(kind):
    """acquire(True) is threading's "block": it waits past one second (once
    it was taken for a 1-second timeout and returned False), and returns
    True when the object is given back."""
    obj, give_back = _holder(kind)
    try:
        got = []

        def acquire():
            got.append(obj.acquire(True))
            if kind == "Mutex" and got[0]:
                obj.release()
        waiter = threading.Thread(target=acquire)
        waiter.start()
        waiter.join(PAST_ONE_SECOND)
        assert got == []                # still waiting
        give_back()
        waiter.join(60)
        assert got == [True]
    finally:
        if kind == "Mutex":
            give_back()
        obj.close()


@pytest.mark.parametrize("kind", ["Mutex", "Semaphore"])
def test_acquire_takes_threadings_arguments(kind):
    obj, give_back = _holder(kind)
    try:
        assert obj.acquire(False) is False
        assert obj.acquire(blocking=False) is False
        assert obj.acquire(True, 0) is False
        assert obj.acquire(timeout=0.05) is False
        assert obj.acquire(0.05) is False               # the timeout alone, as before
        with pytest.raises(ValueError, match="non-blocking acquire takes no timeout"):
            obj.acquire(False, 1)
        with pytest.raises(TypeError, match=r"not bool True: a bool is not a timeout"):
            obj.acquire(timeout=True)
        with pytest.raises(TypeError, match="blocking .* then timeout"):
            obj.acquire(0.5, 2)
        with pytest.raises(TypeError, match="not str '1'"):
            obj.acquire("1")
        give_back()
        # timeout=-1 is threading's "no end"; acquire() and acquire(None) too.
        assert obj.acquire(timeout=-1) is True
        obj.release()
        assert obj.acquire(True, -1) is True
        obj.release()
        assert obj.acquire(None) is True
        obj.release()
    finally:
        obj.close()


@pytest.mark.parametrize("kind", ["Mutex", "Semaphore"])
def test_acquire_async_takes_the_same_arguments(kind):
    obj, give_back = _holder(kind)

    async def main():
        assert await obj.acquire_async(False) is False
        assert await obj.acquire_async(timeout=0.05) is False
        with pytest.raises(TypeError, match="a bool is not a timeout"):
            await obj.acquire_async(timeout=True)
        with pytest.raises(ValueError, match="non-blocking"):
            await obj.acquire_async(False, 1)
    try:
        asyncio.run(main())
    finally:
        give_back()
        obj.close()


def test_event_wait_refuses_what_is_not_seconds():
    with closing(k.Event()) as ev:
        for bad, error, text in [(True, TypeError, "Event.wait.. timeout .* not bool True"),
                                 ("1", TypeError, "Event.wait.. timeout .* not str '1'"),
                                 (-1, ValueError, ">= 0"),
                                 (math.nan, ValueError, ">= 0")]:
            with pytest.raises(error, match=text):
                ev.wait(bad)
        with pytest.raises(TypeError, match="a bool is not a timeout"):
            asyncio.run(ev.wait_async(True))
        assert ev.wait(0) is False


def test_math_inf_waits_without_end():
    with closing(k.Event()) as ev, closing(k.Semaphore(initial=0, maximum=1)) as sem:
        threading.Timer(0.1, ev.set).start()
        assert ev.wait(math.inf) is True
        threading.Timer(0.1, sem.release).start()
        assert sem.acquire(math.inf) is True
        threading.Timer(0.1, ev.set).start()
        assert asyncio.run(ev.wait_async(math.inf)) is True


def test_spawn_and_child_refuse_a_bool_for_seconds():
    with pytest.raises(TypeError, match="spawn.. timeout .* not bool True"):
        winipc.spawn([sys.executable, "-c", "pass"], timeout=True)
    child = winipc.spawn([sys.executable, "-c", "pass"])
    try:
        with pytest.raises(TypeError, match="Child.wait.. timeout .* not bool True"):
            child.wait(True)
    finally:
        assert child.wait(60) == 0


def test_one_call_may_wait_without_end(server):
    """A connection's timeout is every call's default (timeout=None); one
    call may still wait without end (math.inf), and a bool is refused."""
    with server.connect(timeout=0.2) as conn:
        assert conn.call(WM_SLEEP, Small(600), timeout=math.inf).value == 2**64 - 600
        with pytest.raises(TypeError, match="not bool True"):
            conn.call(WM_SMALL, Small(1), timeout=True)
        with pytest.raises(winipc.CallTimeout):
            conn.call(WM_SLEEP, Small(600))             # the connection's 0.2 s
    with server.connect(timeout=math.inf) as conn:
        assert conn.call(WM_SMALL, Small(2)).value == 6
        assert conn.call(WM_SLEEP, Small(300), timeout=None).value == 2**64 - 300


def test_asynchronous_calls_follow_the_same_rule(server):
    async def main():
        with server.connect(timeout=0.2) as conn:
            out = await conn.acall(WM_SLEEP, Small(600), timeout=math.inf)
            assert out.value == 2**64 - 600
            with pytest.raises(TypeError, match="not bool True"):
                await conn.acall(WM_SMALL, Small(1), timeout=True)
    asyncio.run(main())
