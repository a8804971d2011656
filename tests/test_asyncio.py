"""asyncio: Connection.acall/asend and the kernel objects' async waits, on
every backend and doorbell."""

from contextlib import closing
import asyncio
import contextlib
import gc
import subprocess
import sys
import threading
import time
import uuid

import pytest

import children
import winipc
from conftest import START_TIMEOUT, slow_call_on_another_thread
from procstats import stats
from structs import (MyInfo, Small, Stats, WM_COMPARE, WM_COUNT, WM_EXIT, WM_RAISE, WM_SLEEP,
                     WM_SMALL, WM_STATS, WM_UNHANDLED)

WINDOWS = sys.platform == "win32"


def run(coro):
    return asyncio.run(coro)


# ---------------------------------------------------------------- acall / asend

def test_100_concurrent_acalls_from_one_loop(server):
    async def main(conn):
        smalls = [conn.acall(WM_SMALL, Small(i)) for i in range(50)]
        infos = [conn.acall(WM_COMPARE, MyInfo(i, 0.5)) for i in range(50)]
        return await asyncio.gather(*smalls, *infos)

    with server.connect(timeout=30) as conn:
        results = run(main(conn))
        assert [r.value for r in results[:50]] == [3 * i for i in range(50)]
        assert [(r.red, r.blue) for r in results[50:]] == [(1.5, 2.0 * i) for i in range(50)]
        assert conn.call(WM_SMALL, Small(7)).value == 21      # the sync path still works


def test_acall_fills_out_and_takes_bytes(server):
    async def main(conn):
        s = Small(5)
        same = await conn.acall(WM_SMALL, s, out=s)
        raw = await conn.acall(WM_SMALL, bytes(Small(2)))
        return s, same, raw

    with server.connect() as conn:
        s, same, raw = run(main(conn))
        assert same is s and s.value == 15
        assert isinstance(raw, bytearray) and Small.from_buffer(raw).value == 6


@pytest.mark.parametrize("kind", ["ctypes", "bytes", "bytearray", "memoryview", "out=struct",
                                  "out=other"])
def test_acall_answers_every_kind_of_request_as_call_does(server, kind):
    # The first acall on a connection makes its buffer (the facade's path);
    # the next ones are one native step (begin_object): both answer alike,
    # and a slow answer (past the spin) too.
    def request(value):
        raw = bytes(Small(value))
        return {"ctypes": lambda: Small(value), "bytes": lambda: raw,
                "bytearray": lambda: bytearray(raw), "memoryview": lambda: memoryview(raw),
                "out=struct": lambda: Small(value), "out=other": lambda: Small(value)}[kind]()

    def value(answer):
        return Small.from_buffer_copy(answer).value

    async def main(conn, n):
        got = []
        for i in range(n):
            struct = request(i)
            if kind == "out=struct":
                answer = await conn.acall(WM_SMALL, struct, out=struct)
                assert answer is struct
            elif kind == "out=other":
                into = Small(99)
                answer = await conn.acall(WM_SMALL, struct, out=into)
                assert answer is into
            else:
                answer = await conn.acall(WM_SMALL, struct)
                assert type(answer) is (Small if kind == "ctypes" else bytearray)
            got.append((value(answer), conn.last_result))
        # One that sleeps past the spin, then quick ones again.
        assert value(await conn.acall(WM_SLEEP, Small(20))) == 2**64 - 20    # (-value)
        got.append((value(await conn.acall(WM_SMALL, request(7))), conn.last_result))
        return got

    with server.connect(timeout=30) as conn:
        expected = []
        for i in [*range(5), 7]:
            expected.append((value(conn.call(WM_SMALL, request(i))), conn.last_result))
        assert run(main(conn, 5)) == expected
        assert [v for v, _ in expected] == [3 * i for i in [*range(5), 7]]


def test_asend_on_a_remote_buffer(server):
    async def main(conn, buf):
        return await conn.asend(WM_SMALL, buf)

    with server.connect() as conn, conn.alloc(Small) as buf:
        buf.write(Small(4))
        rc = run(main(conn, buf))
        assert buf.read().value == 12
        buf.write(Small(4))
        assert conn.send(WM_SMALL, buf) == rc


def test_refusals_raise_and_the_connection_goes_on(server):
    async def main(conn):
        with pytest.raises(winipc.UnknownMessage):
            await conn.acall(WM_UNHANDLED, Small(1))
        with pytest.raises(winipc.HandlerFailed):
            await conn.acall(WM_RAISE, Small(1))
        return (await conn.acall(WM_SMALL, Small(3))).value

    with server.connect() as conn:
        assert run(main(conn)) == 9


@pytest.mark.fresh_server
def test_acall_timeout(server):
    async def main(conn):
        t0 = time.monotonic()
        with pytest.raises(winipc.CallTimeout):
            await conn.acall(WM_SLEEP, Small(1500), timeout=0.3)
        took = time.monotonic() - t0
        # The slow call is still running in the server: the next one waits
        # for it there, and gets its own answer.
        value = (await conn.acall(WM_SMALL, Small(2), timeout=30)).value
        return took, value

    with server.connect() as conn:
        took, value = run(main(conn))
        assert 0.25 <= took < 1.2
        assert value == 6


@pytest.mark.fresh_server
def test_a_call_waiting_its_turn_keeps_its_own_timeout(server):
    async def main(conn):
        slow = asyncio.ensure_future(conn.acall(WM_SLEEP, Small(1200), timeout=30))
        await asyncio.sleep(0.05)
        t0 = time.monotonic()
        with pytest.raises(winipc.CallTimeout):
            await conn.acall(WM_SMALL, Small(1), timeout=0.3)
        took = time.monotonic() - t0
        await slow
        return took

    with server.connect() as conn:
        assert 0.25 <= run(main(conn)) < 1.0


@pytest.mark.fresh_server
def test_a_timed_out_acall_says_whether_it_ever_runs(server):
    """An acall that times out while the server runs another client's
    handler is withdrawn: ``CallTimeout.started`` is False and it never runs
    (the counter it would bump stays put).  One that the server took and
    runs past the timeout says True.  (acalls always ring a doorbell.)"""
    with server.connect(timeout=10) as busy, server.connect(timeout=10) as conn:
        assert run(conn.acall(WM_COUNT, Small(0))) is not None and conn.last_result == 1
        blocker = threading.Thread(target=busy.call, args=(WM_SLEEP, Small(1200)))
        blocker.start()
        try:
            time.sleep(0.3)                         # the server runs busy's handler
            with pytest.raises(winipc.CallTimeout) as withdrawn:
                run(conn.acall(WM_COUNT, Small(0), timeout=0.3))
        finally:
            blocker.join(10)
        assert withdrawn.value.started is False
        run(conn.acall(WM_COUNT, Small(0)))
        assert conn.last_result == 2                # it never ran
        with pytest.raises(winipc.CallTimeout) as e:
            run(conn.acall(WM_SLEEP, Small(800), timeout=0.2))
        assert e.value.started is True
        # At once, while the server still runs it: the late answer of the
        # call given up never lands on this one's bytes.
        assert run(conn.acall(WM_SMALL, Small(3))).value == 9
        time.sleep(0.8)
        assert run(conn.acall(WM_SMALL, Small(2))).value == 6


@pytest.mark.fresh_server
def test_cancelling_acalls_leaves_nothing_behind(server):
    async def cancel_one(conn, msg, arg):
        task = asyncio.ensure_future(conn.acall(msg, arg, timeout=30))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async def main(conn):
        for _ in range(2):          # warm up: lazy imports, the proactor, the doorbell
            await cancel_one(conn, WM_SLEEP, Small(150))
            assert (await conn.acall(WM_SMALL, Small(1))).value == 3
        await asyncio.sleep(0.3)
        gc.collect()
        before = stats()[:2]
        for i in range(10):
            await cancel_one(conn, WM_SLEEP, Small(150))
            # one waiting for its turn behind a running call, cancelled too
            running = asyncio.ensure_future(conn.acall(WM_SLEEP, Small(100), timeout=30))
            await asyncio.sleep(0)
            await cancel_one(conn, WM_SMALL, Small(1))
            assert (await running).value != 100
            assert (await conn.acall(WM_SMALL, Small(i))).value == 3 * i
        await asyncio.sleep(0.3)
        gc.collect()
        return before, stats()[:2]

    with server.connect() as conn:
        before, after = run(main(conn))
        # fds or handles, and threads, of this process.  A shared buffer
        # given up keeps its mapping here (an fd or a section handle) until
        # the connection closes, as after a CallTimeout.
        if not conn.shared:
            assert after[0] <= before[0] + 2, (before, after)
        assert after[1] <= before[1], (before, after)
        assert conn.call(WM_SMALL, Small(5)).value == 15
        assert conn.call(WM_STATS, Stats()).threads > 0


# Calls that wait for the connection are made by the call that holds it:
# "queued" behind a slow call, or "together" (started in one step of the
# loop, as gather starts them: they queue whenever an answer takes longer
# than the spin).

async def _behind_a_slow_call(conn, make, ms=300):
    """The calls ``make()`` gives, queued behind a call that lasts ``ms``:
    the slow one's result and theirs."""
    slow = asyncio.ensure_future(conn.acall(WM_SLEEP, Small(ms), timeout=30))
    await asyncio.sleep(0)          # it has the connection, awaiting its answer
    results = await asyncio.gather(*make(), return_exceptions=True)
    return await slow, results


@pytest.mark.fresh_server
@pytest.mark.parametrize("how", ["queued", "together"])
def test_calls_made_for_each_other_run_in_order(server, how):
    async def main(conn):
        first = (await conn.acall(WM_COUNT, Small(0))).value

        def make():
            return [conn.acall(WM_COUNT, Small(0), timeout=30) for _ in range(20)]
        if how == "queued":
            _, results = await _behind_a_slow_call(conn, make)
        else:
            results = await asyncio.gather(*make())
        return first, [r.value if isinstance(r, Small) else r for r in results]

    with server.connect() as conn:
        first, counted = run(main(conn))
        # WM_COUNT returns how many it has run: each call's own answer, in
        # the order the calls were awaited.
        assert counted == list(range(first + 1, first + 21))
        assert conn.call(WM_COUNT, Small(0)).value == first + 21


@pytest.mark.parametrize("how", ["queued", "together"])
def test_an_error_in_calls_made_together_reaches_only_its_own_task(server, how):
    async def main(conn):
        def make():
            return [conn.acall(WM_SMALL, Small(1)), conn.acall(WM_RAISE, bytearray(64)),
                    conn.acall(WM_SMALL, Small(2)), conn.acall(WM_UNHANDLED, Small(0)),
                    conn.acall(WM_COMPARE, MyInfo(3, 0.5)), conn.acall(WM_RAISE, Small(1)),
                    conn.acall(WM_SMALL, Small(3))]
        if how == "queued":
            _, results = await _behind_a_slow_call(conn, make)
        else:
            results = await asyncio.gather(*make(), return_exceptions=True)
        return results

    with server.connect() as conn:
        r = run(main(conn))
        assert [r[0].value, r[2].value, r[6].value] == [3, 6, 9]
        assert (r[4].red, r[4].blue) == (1.5, 6.0)
        # each failure with the handler's own words (acall goes through a
        # doorbell, whose page carries them whole, even for a small struct)
        for failed in (r[1], r[5]):
            assert isinstance(failed, winipc.HandlerFailed) and failed.winerror == 574
            assert failed.handler_error == "RuntimeError: handler failure on purpose"
        assert isinstance(r[3], winipc.UnknownMessage)
        assert conn.call(WM_SMALL, Small(4)).value == 12


@pytest.mark.fresh_server
def test_a_queued_call_cancelled_before_its_turn_never_runs(server):
    async def main(conn):
        first = (await conn.acall(WM_COUNT, Small(0))).value
        slow = asyncio.ensure_future(conn.acall(WM_SLEEP, Small(400), timeout=30))
        await asyncio.sleep(0)
        tasks = [asyncio.ensure_future(conn.acall(WM_COUNT, Small(0), timeout=30))
                 for _ in range(6)]
        await asyncio.sleep(0.1)         # all queued behind the slow call
        for t in tasks[1::2]:
            t.cancel()
        await slow
        results = await asyncio.gather(*tasks, return_exceptions=True)
        return first, results

    with server.connect() as conn:
        first, results = run(main(conn))
        assert all(isinstance(r, asyncio.CancelledError) for r in results[1::2])
        # The cancelled ones never ran: the others counted on from first.
        assert [r.value for r in results[0::2]] == [first + 1, first + 2, first + 3]
        assert conn.call(WM_COUNT, Small(0)).value == first + 4


@pytest.mark.fresh_server
def test_a_queued_call_that_times_out_never_runs(server):
    async def main(conn):
        first = (await conn.acall(WM_COUNT, Small(0))).value
        slow = asyncio.ensure_future(conn.acall(WM_SLEEP, Small(600), timeout=30))
        await asyncio.sleep(0)
        late = asyncio.ensure_future(conn.acall(WM_COUNT, Small(0), timeout=30))
        with pytest.raises(winipc.CallTimeout) as e:
            await conn.acall(WM_COUNT, Small(0), timeout=0.1)
        assert not slow.done()          # it timed out while queued
        await slow
        return first, (await late).value, e.value

    with server.connect() as conn:
        first, late, error = run(main(conn))
        assert error.winerror == 1460 and "before this one" in str(error)
        assert late == first + 1            # the one that timed out never ran
        assert conn.call(WM_COUNT, Small(0)).value == first + 2


@pytest.mark.fresh_server
def test_calls_from_two_loops_in_two_threads_share_the_connection(server):
    n = 40
    results = {}
    errors = []

    def thread(name):
        async def main():
            out = []
            for _ in range(4):
                # slow calls now and then, so that the two loops' calls queue
                # behind each other's
                batch = [conn.acall(WM_SLEEP, Small(5), timeout=60)] + \
                        [conn.acall(WM_COUNT, Small(0), timeout=60) for _ in range(n // 4)]
                out += [r.value for r in (await asyncio.gather(*batch))[1:]]
            return out
        try:
            results[name] = asyncio.run(main())
        except BaseException as e:      # reported by the test below
            errors.append(e)

    with server.connect() as conn:
        first = conn.call(WM_COUNT, Small(0)).value
        threads = [threading.Thread(target=thread, args=(name,)) for name in "ab"]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        a, b = results["a"], results["b"]
        # each loop's calls in its own order, every call made exactly once
        assert a == sorted(a) and b == sorted(b)
        assert sorted(a + b) == list(range(first + 1, first + 2 * n + 1))
        assert conn.call(WM_COUNT, Small(0)).value == first + 2 * n + 1


def test_a_sync_call_on_another_thread_and_acalls_share_the_connection(server):
    async def main(conn):
        results = await asyncio.gather(*(conn.acall(WM_SMALL, Small(i), timeout=30)
                                         for i in range(5)))
        return [r.value for r in results]

    with server.connect() as conn, slow_call_on_another_thread(conn):
        assert run(main(conn)) == [0, 3, 6, 9, 12]


def test_only_the_send_in_flight_can_be_ended_or_cancelled(server):
    """The native split-phase sends refuse a sequence number that is not the
    one in flight, before any send and after it ended, and the connection
    keeps working."""
    with server.connect() as conn, conn.alloc(Small) as buf:
        native = conn._native
        for unknown in (0, 12345):
            with pytest.raises(RuntimeError, match="in flight"):
                native.end_send(unknown)
            with pytest.raises(RuntimeError, match="in flight"):
                native.cancel_send(unknown)
        buf.write(Small(5))
        seq = native.begin_send(WM_SMALL, buf.size, buf.address, 5000)
        assert seq
        with pytest.raises(RuntimeError, match="in flight"):
            native.end_send(seq + 1)
        deadline = time.monotonic() + 10
        result = native.end_send(seq, 1000)
        while result is None and time.monotonic() < deadline:
            time.sleep(0.001)
            result = native.end_send(seq)
        assert result == 3 and buf.read().value == 15
        with pytest.raises(RuntimeError, match="in flight"):
            native.cancel_send(seq)
        assert conn.call(WM_SMALL, Small(2)).value == 6
        assert run(conn.acall(WM_SMALL, Small(3))).value == 9


@pytest.mark.fresh_server
def test_a_server_that_dies_mid_acall_is_server_gone(server):
    async def main(conn):
        with pytest.raises(winipc.ServerGone):
            await conn.acall(WM_EXIT, Small(0), timeout=30)

    with server.connect() as conn:
        run(main(conn))


@pytest.mark.skipif(not WINDOWS, reason="the selector loop is Windows' non-proactor loop")
def test_a_selector_loop_on_windows_says_to_use_the_proactor(server):
    loop = asyncio.SelectorEventLoop()
    try:
        with server.connect() as conn:
            with pytest.raises(winipc.NotSupported, match="ProactorEventLoop"):
                loop.run_until_complete(conn.acall(WM_SMALL, Small(1)))
            assert conn.call(WM_SMALL, Small(1)).value == 3
    finally:
        loop.close()


# ---------------------------------------------------------------- kernel objects

def _name(kind):
    return f"Local\\winipc-test-aio-{kind}-{uuid.uuid4()}"


# The other process: opens the object by name, says so on stdout, waits a
# little, then signals it (a mutex: holds it that long first).
CHILD = r"""
import sys, time, winipc
kind, name, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
if kind == "mutex":
    m = winipc.Mutex.open(name)
    m.acquire()
    print("ready", flush=True)
    time.sleep(delay)
    m.release()
else:
    obj = (winipc.Event if kind == "event" else winipc.Semaphore).open(name)
    print("ready", flush=True)
    time.sleep(delay)
    obj.set() if kind == "event" else obj.release()
obj = None
"""


def _other_process(kind, name, delay):
    proc = subprocess.Popen([sys.executable, "-P", "-c", CHILD, kind, name, str(delay)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    assert children.read_line(proc, proc.stdout, START_TIMEOUT).strip() == "ready"
    return proc


def _finish(proc):
    assert proc.wait(60) == 0
    proc.stdout.close()


@pytest.mark.parametrize("manual", [False, True])
def test_event_wait_async_woken_by_another_process(manual):
    name = _name("event")
    with closing(winipc.Event(name, manual_reset=manual)) as ev:
        proc = _other_process("event", name, 0.3)

        async def main():
            t0 = time.monotonic()
            ok = await ev.wait_async(60)
            return ok, time.monotonic() - t0
        ok, took = run(main())
        _finish(proc)
        assert ok and took < 30
        assert ev.wait(0) is manual          # an auto-reset event was reset by the wait


def test_event_wait_async_woken_by_a_thread_and_its_timeout():
    with closing(winipc.Event()) as ev:
        async def main():
            t0 = time.monotonic()
            assert await ev.wait_async(0.3) is False
            timed_out = time.monotonic() - t0
            threading.Timer(0.2, ev.set).start()
            woken = await ev.wait_async(30)
            # many waiters, one set of a manual-reset event wakes them all
            return timed_out, woken

        timed_out, woken = run(main())
        assert 0.25 <= timed_out < 1.5 and woken
    with closing(winipc.Event(manual_reset=True)) as ev:
        async def many():
            waits = [asyncio.ensure_future(ev.wait_async(30)) for _ in range(20)]
            await asyncio.sleep(0.1)
            ev.set()
            return await asyncio.gather(*waits)
        assert run(many()) == [True] * 20


def test_semaphore_acquire_async_from_another_process_and_timeout():
    name = _name("semaphore")
    with contextlib.closing(winipc.Semaphore(name, initial=0, maximum=2)) as sem:     # `with sem` would take a count
        proc = _other_process("semaphore", name, 0.3)

        async def main():
            got = await sem.acquire_async(60)
            t0 = time.monotonic()
            late = await sem.acquire_async(0.3)
            return got, late, time.monotonic() - t0
        got, late, took = run(main())
        _finish(proc)
        assert got and not late and 0.25 <= took < 1.5
        assert sem.acquire(0) is False       # the one count was taken once


def test_mutex_acquire_async_from_another_process_and_timeout():
    name = _name("mutex")
    with contextlib.closing(winipc.Mutex(name)) as m:
        proc = _other_process("mutex", name, 0.8)

        async def main():
            t0 = time.monotonic()
            early = await m.acquire_async(0.2)
            took = time.monotonic() - t0
            got = await m.acquire_async(60)
            m.release()                      # the loop's thread owns it
            return early, took, got
        early, took, got = run(main())
        _finish(proc)
        assert not early and 0.15 <= took < 1.0 and got
        with pytest.raises(winipc.NotOwner):
            m.release()


def test_mutex_acquire_async_held_by_a_thread():
    m = winipc.Mutex()
    held, let_go = threading.Event(), threading.Event()

    def holder():
        with m:
            held.set()
            let_go.wait(30)
    t = threading.Thread(target=holder)
    t.start()
    held.wait(30)

    async def main():
        asyncio.get_running_loop().call_later(0.2, let_go.set)
        ok = await m.acquire_async(30)
        again = await m.acquire_async(0)     # recursive, as acquire()
        m.release()
        m.release()
        return ok, again
    try:
        assert run(main()) == (True, True)
    finally:
        let_go.set()
        t.join()
        m.close()


def test_cancelled_waits_leave_nothing_behind_and_give_back_what_they_took():
    ev, sem, m = winipc.Event(), winipc.Semaphore(initial=0, maximum=5), winipc.Mutex()
    other, held = threading.Event(), threading.Event()

    def holder():
        with m:
            held.set()
            other.wait(60)
    t = threading.Thread(target=holder)
    t.start()
    held.wait(30)

    async def cancel_each():
        tasks = [asyncio.ensure_future(ev.wait_async()), asyncio.ensure_future(sem.acquire_async()),
                 asyncio.ensure_future(m.acquire_async())]
        await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with pytest.raises(asyncio.CancelledError):
                await task

    async def main():
        await cancel_each()                  # warm up
        await asyncio.sleep(0.2)
        gc.collect()
        before = stats()[:2]
        for _ in range(10):
            await cancel_each()
        await asyncio.sleep(0.2)
        gc.collect()
        return before, stats()[:2]
    try:
        before, after = run(main())
        assert after[0] <= before[0] + 1, (before, after)     # fds or handles
        assert after[1] <= before[1], (before, after)         # threads
        # nothing was taken by the cancelled waits
        sem.release()
        assert sem.acquire(0) and not sem.acquire(0)
        ev.set()
        assert ev.wait(0) and not ev.wait(0)
    finally:
        other.set()
        t.join()
        for obj in (ev, sem, m):
            obj.close()


# ---------------------------------------------------------------- import cost

def test_asyncio_is_imported_only_when_used():
    """``import winipc`` and synchronous use (a server, a call, a kernel
    object) leave asyncio unloaded: it is most of the import's time.  The
    first asynchronous call works without anything imported beforehand."""
    code = """if True:
        import ctypes, sys, uuid
        import winipc

        def loaded():
            return sorted(m for m in sys.modules if m.split(".")[0] == "asyncio")

        class N(ctypes.Structure):
            _fields_ = [("value", ctypes.c_int64)]

        after_import = loaded()
        title = f"winipc-test-{uuid.uuid4()}"
        server = winipc.Server(title)

        @server.handler(winipc.WM_USER + 1, N)
        def bump(v):
            v.value += 1

        with server, winipc.connect(title, timeout=30) as conn:
            assert conn.call(winipc.WM_USER + 1, N(41)).value == 42
            ev = winipc.Event()
            ev.set()
            assert ev.wait(0)
            ev.close()
            after_use = loaded()
            import asyncio
            out = asyncio.run(conn.acall(winipc.WM_USER + 1, N(1)))
            assert out.value == 2
        print(after_import, after_use)
    """
    r = subprocess.run([sys.executable, "-P", "-c", code], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=START_TIMEOUT * 2,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout
    assert r.stdout.split() == ["[]", "[]"], \
        f"asyncio modules loaded (after import, after synchronous use): {r.stdout}"
