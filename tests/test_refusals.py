"""A refused call's error is the native call's own, raised once: worded with
the message, the bytes sent and the failed handler's note, which the call
read itself; a send of any wParam and lParam reads nothing at lParam."""

import asyncio

import pytest

import winipc
from structs import MyInfo, Small, WM_COMPARE, WM_RAISE, WM_SMALL

REASON = "RuntimeError: handler failure on purpose"


def _raised_once(error):
    """The error the native call raised: no other exception behind it."""
    assert error.__context__ is None and error.__cause__ is None, repr(error.__context__)


def _asend(conn, msg, buf):
    async def send():
        return await conn.asend(msg, buf)
    return asyncio.run(send())


@pytest.mark.parametrize("how", ["call", "call_bytes", "send", "prepared", "acall", "asend"])
def test_a_failed_handler_is_worded_by_the_call(server, how):
    with server.connect() as conn:
        with pytest.raises(winipc.HandlerFailed) as e:
            if how == "call":
                conn.call(WM_RAISE, (Small * 8)())
            elif how == "call_bytes":
                conn.call(WM_RAISE, bytes(64))
            elif how == "send":
                with conn.alloc(64) as buf:
                    conn.send(WM_RAISE, buf)
            elif how == "acall":
                asyncio.run(conn.acall(WM_RAISE, (Small * 8)()))
            elif how == "asend":
                with conn.alloc(64) as buf:
                    _asend(conn, WM_RAISE, buf)
            else:
                with conn.prepare(WM_RAISE, 64) as prepared:
                    prepared(bytearray(64))
        _raised_once(e.value)
        assert e.value.winerror == 574 and e.value.handler_error == REASON
        assert f"{e.value.call} failed: the handler of message {WM_RAISE:#x} failed: {REASON}" \
            in str(e.value)
        assert conn.call(WM_SMALL, Small(4)).value == 12


@pytest.mark.parametrize("how", ["call", "send", "prepared", "acall", "asend"])
def test_a_struct_too_small_is_worded_with_the_bytes_sent(server, how):
    with server.connect() as conn:
        with pytest.raises(winipc.BufferTooSmall) as e:
            if how == "call":
                conn.call(WM_COMPARE, Small(1))
            elif how == "send":
                with conn.alloc(Small) as buf:
                    conn.send(WM_COMPARE, buf)
            elif how == "acall":
                asyncio.run(conn.acall(WM_COMPARE, Small(1)))
            elif how == "asend":
                with conn.alloc(Small) as buf:
                    _asend(conn, WM_COMPARE, buf)
            else:
                with conn.prepare(WM_COMPARE, MyInfo) as prepared:
                    prepared(bytearray(8))
        _raised_once(e.value)
        assert e.value.winerror == 122
        assert (f"{e.value.call} failed: the handler of message {WM_COMPARE:#x} needs more "
                f"than the 8 bytes sent (wParam 8)") in str(e.value)


def test_a_raw_send_reads_nothing_at_lparam(server):
    with server.connect() as conn, conn.alloc(64) as buf:
        with pytest.raises(winipc.HandlerFailed) as e:
            conn.send_raw(WM_RAISE, buf.size, buf.address)
        _raised_once(e.value)
        # The note is in the buffer, but lParam is any number to send_raw:
        # its refusal says what the server answered, and no more.
        assert buf.read(7) == b"winipc!"
        assert e.value.handler_error is None
        assert "the handler of message" not in str(e.value)
        with pytest.raises(winipc.BufferTooSmall) as e:
            conn.send_raw(WM_COMPARE, 8, buf.address)
        _raised_once(e.value)
        assert "bytes sent" not in str(e.value)
