"""Prepared calls (Connection.prepare): one message bound to a buffer of its
own, called in place, on every backend and doorbell."""

import sys
import threading
import time

import pytest

import winipc
from structs import MyInfo, Small, WM_COMPARE, WM_COMPARE_NATIVE, WM_RAISE, WM_SLEEP, WM_SMALL


@pytest.mark.parametrize("msg", [WM_COMPARE, WM_COMPARE_NATIVE], ids=["python", "capsule"])
def test_a_prepared_call_computes_in_place(server, msg):
    with server.connect() as conn, conn.prepare(msg, MyInfo) as compare:
        assert isinstance(compare, winipc.PreparedCall)
        assert compare.size == 16 and compare.msg == msg and not compare.closed
        info = MyInfo(3333, 20.01)
        for i in range(3):
            want = conn.call(msg, info)
            assert compare(info) == conn.last_result
            assert (info.red, info.blue) == (want.red, want.blue)
        # The same result as the plain call, in a buffer of its own.
        assert compare.address != 0


def test_a_prepared_call_returns_the_result_and_takes_smaller_structs(server):
    with server.connect() as conn, conn.prepare(WM_SMALL, 64) as small:
        s = Small(5)
        assert small(s) == 3            # WM_SMALL's result, Small sent as its own size
        assert s.value == 15
        address = small.address
        with pytest.raises(ValueError, match="do not fit"):
            small(bytearray(65))
        assert small.address == address     # nothing was sent: the buffer is kept
        # In place, so it must be writable; each backend refuses a read-only
        # one as its read_into and call do (Windows: readinto()'s TypeError).
        with pytest.raises(TypeError if sys.platform == "win32" else BufferError):
            small(b"read-only bytes")


def test_a_failed_handler_is_explained(server):
    with server.connect() as conn, conn.prepare(WM_RAISE, 64) as boom:
        with pytest.raises(winipc.HandlerFailed) as e:
            boom(bytearray(64))
        assert e.value.winerror == 574
        assert e.value.handler_error == "RuntimeError: handler failure on purpose"
        # It still works afterwards, on the same buffer.
        with conn.prepare(WM_SMALL, Small) as small:
            assert small(Small(2)) == 3


@pytest.mark.fresh_server
def test_after_a_timeout_it_goes_on_with_a_new_buffer(server):
    with server.connect() as conn, conn.prepare(WM_SLEEP, Small, timeout=0.2) as slow:
        first = slow.address
        with pytest.raises(winipc.CallTimeout):
            slow(Small(1500))
        # The server may still write the old buffer: the next call uses another.
        assert slow.address not in (0, first)
        time.sleep(1.5)
        s = Small(10)
        assert slow(s) == 0 and s.value == 2**64 - 10    # the handler negates it


@pytest.mark.fresh_server
def test_one_call_at_a_time_per_prepared_call(server):
    with server.connect(timeout=10) as conn, conn.prepare(WM_SLEEP, Small) as slow:
        t = threading.Thread(target=slow, args=(Small(800),))
        t.start()
        time.sleep(0.3)
        try:
            with pytest.raises(RuntimeError, match="one call at a time"):
                slow(Small(1))
        finally:
            t.join(10)
        assert not t.is_alive()


def test_close_frees_and_is_harmless_twice(server):
    with server.connect() as conn:
        p = conn.prepare(WM_SMALL, Small)
        owner = p.owner
        p.close()
        p.close()
        assert p.closed and owner.closed
        with pytest.raises(ValueError, match="closed"):
            p(Small(1))
        # The connection goes on.
        assert conn.call(WM_SMALL, Small(2)).value == 6
