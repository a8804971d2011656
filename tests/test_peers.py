"""winipc against plain C programs that follow the technique step by step
(tests/peers/*.c), built with zig's clang by scripts/windows/build-peers.sh: by the
Wine run (scripts/windows/test.sh), and for real Windows by the release workflow's
windows-wheel job, whose Windows jobs test against those files."""

import contextlib
import os
import subprocess
import sys
import tempfile

import pytest

import children
import winipc
from structs import MyInfo, Small, WM_COMPARE, WM_COMPARE_NATIVE, WM_SMALL

pytestmark = pytest.mark.skipif(
    sys.platform != "win32",
    reason="the C peers follow the Windows technique (FindWindow, VirtualAllocEx, "
           "SendMessage) and are Windows programs")

# winipc.h's refusals: INT32_MIN + code, the same at both bitnesses.
ERROR_BASE = -(1 << 31)
# The C peers are built twice: 64-bit, and 32-bit (i686) into a folder of
# their own; the 32-bit ones run as WoW64 processes beside the 64-bit winipc.
BITS = [64, 32]
PEER_DIRS = {64: "WINIPC_PEERS_DIR", 32: "WINIPC_PEERS32_DIR"}


def peer(name, bits=64):
    folder = os.environ.get(PEER_DIRS[bits])
    if not folder and bits == 32 and os.environ.get("WINIPC_NO_PEERS32"):
        pytest.skip("no 32-bit programs on this machine: " + os.environ["WINIPC_NO_PEERS32"])
    if not folder:
        pytest.fail(f"{PEER_DIRS[bits]} is not set: build tests/peers/*.c first "
                    "(scripts/windows/test.sh does)")
    return os.path.join(folder, name + ".exe")


def run_client(*args, bits=64):
    out = children.run([peer("c_client", bits), *map(str, args)], 60, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def refusal_seen_by(bits, code):
    """What a C client of ``bits`` prints for a winipc server's refusal:
    WINIPC_ERROR_RESULT(code), which reads the same truncated to a 32-bit
    LRESULT and sign-extended back."""
    return ERROR_BASE + code


def compare(red, blue, n=1):
    for _ in range(n):
        red, blue = blue + 1, red * 2
    return red, blue


@pytest.fixture
def server(server_process):
    """A winipc server; the C peers speak the classic messages, whatever the
    doorbell, so it runs once."""
    return server_process()


def serves_on(server):
    with winipc.connect(server.title) as conn:
        assert conn.call(WM_SMALL, Small(2)).value == 6


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("msg", [WM_COMPARE, WM_COMPARE_NATIVE], ids=["python", "compiled"])
def test_c_client_gets_results_from_a_winipc_server(server, msg, bits):
    red, blue, result, address = run_client("call", server.title, msg, 3333, 20.01, bits=bits)
    assert (float(red), float(blue)) == (20.01 + 1, 3333 * 2)
    assert int(result) == (1 if msg == WM_COMPARE else 0)
    assert int(address, 16) != 0


@pytest.mark.parametrize("bits", BITS)
def test_c_client_makes_200_calls_to_a_winipc_server(server, bits):
    red, blue, result, _ = run_client("call", server.title, WM_COMPARE_NATIVE, 3, 5, 200,
                                      bits=bits)
    assert (float(red), float(blue)) == compare(3.0, 5.0, 200)
    assert int(result) == 0


@pytest.mark.parametrize("bits", BITS)
def test_c_client_with_a_buffer_above_2_gib(server, bits):
    """A 32-bit sender's lParam of 0x80000000 or more arrives sign-extended
    (0xFFFFFFFF9...); the server serves the address it meant."""
    red, blue, result, address = run_client("high", server.title, WM_COMPARE, 3333, 20.01,
                                             bits=bits)
    assert 0x80000000 <= int(address, 16) < 1 << 32
    assert (float(red), float(blue)) == (20.01 + 1, 3333 * 2)
    assert int(result) == 1
    serves_on(server)


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("wparam,lparam,code", [
    (16, 0, 487), (16, 0x10, 487), (0xFFFFFFFF, 0x10000, 487),
    # 0xFFFFF000: a 32-bit sender's lParam arrives sign-extended
    # (0xFFFFFFFFFFFFF000), a 64-bit one's as it is; no user address either way.
    (16, 0xFFFFF000, 487), (16, 0x7FFFFFFF, 487), (16, 0x90000000, 487),
])
def test_winipc_server_refuses_bad_messages_from_any_process(server, wparam, lparam, code, bits):
    (result,) = run_client("raw", server.title, WM_COMPARE, wparam, lparam, bits=bits)
    assert int(result) == refusal_seen_by(bits, code)
    serves_on(server)


@pytest.mark.parametrize("wparam,lparam,code", [
    (1 << 40, 0x10000, 487), (16, -4096 & ((1 << 64) - 1), 487), (16, 1 << 32, 487),
])
def test_winipc_server_refuses_64_bit_values_from_any_process(server, wparam, lparam, code):
    (result,) = run_client("raw", server.title, WM_COMPARE, wparam, lparam)
    assert int(result) == ERROR_BASE + code
    serves_on(server)


@pytest.mark.parametrize("bits", BITS)
def test_winipc_server_refuses_a_short_wparam_from_any_process(server, bits):
    (result,) = run_client("short", server.title, WM_COMPARE, bits=bits)
    assert int(result) == refusal_seen_by(bits, 122)
    serves_on(server)


@pytest.mark.parametrize("bits", BITS)
def test_unknown_message_from_any_process(server, bits):
    (result,) = run_client("raw", server.title, winipc.WM_USER + 999, 16, 0, bits=bits)
    assert int(result) == refusal_seen_by(bits, 1002)
    serves_on(server)


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("value", [(1 << 40) + 5, -(1 << 40) - 3, 0x80000001])
def test_what_a_c_client_gets_of_a_64_bit_result(bits, value):
    """A handler's result reaches a 32-bit sender as its low 32 bits, read
    as a signed 32-bit LRESULT."""
    from conftest import unique_title
    title = unique_title("wide-result")
    server = winipc.Server(title)

    @server.handler(WM_COMPARE, MyInfo)
    def wide(info):
        return value
    with server:
        _, _, result, _ = run_client("call", title, WM_COMPARE, 1, 2, bits=bits)
    low = ((value & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
    assert int(result) == (value if bits == 64 else low)


@contextlib.contextmanager
def started_c_server(bits):
    from conftest import unique_title
    title = unique_title("c-server")
    # Its stderr in a file, shown if it does not start.  (Under Wine a 32-bit
    # process also prints that it found no 32-bit FreeType, to the Unix
    # stderr it inherited: no text is drawn here, fonts are not needed.)
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([peer("c_server", bits), title, str(WM_COMPARE)],
                                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                text=True)
        try:
            line = children.read_line(proc, proc.stdout, 60).split()
            if not line or line[0] != "ready":
                err.seek(0)
                pytest.fail(f"c_server did not start: {line}, stderr "
                            f"{err.read().decode(errors='replace')!r}")
            yield CServer(title, int(line[1]), bits, proc)
        finally:
            children.stop(proc)
            proc.stdout.close()


@pytest.fixture(params=BITS, ids=lambda b: f"{b}-bit")
def c_server(request):
    with started_c_server(request.param) as s:
        yield s


@pytest.fixture
def c_server32():
    with started_c_server(32) as s:
        yield s


class CServer:
    def __init__(self, title, pid, bits, proc):
        self.title, self.pid, self.bits, self.proc = title, pid, bits, proc


# tests/peers/c_server.c's other messages
C_SLEEP = WM_COMPARE + 1     # sleeps wParam ms, returns 2
C_EXIT = WM_COMPARE + 2      # the process ends mid-message
C_ECHO = WM_COMPARE + 3      # returns lParam


def test_winipc_client_gets_results_from_a_c_server(c_server):
    with winipc.connect(c_server.title) as conn:
        assert conn.pid == c_server.pid
        assert conn.server_is_32bit == (c_server.bits == 32)
        out = conn.call(WM_COMPARE, MyInfo(3333, 20.01))
        assert (out.red, out.blue, conn.last_result) == (21.01, 6666.0, 1)
        mine = MyInfo(7, 9)
        assert conn.call(WM_COMPARE, MyInfo(1, 2), out=mine) is mine
        assert (mine.red, mine.blue) == (3.0, 2.0)
        with conn.alloc(MyInfo) as buf:
            buf.write(MyInfo(1, 2))
            assert conn.send(WM_COMPARE, buf) == 1
            res = buf.read()
            assert (res.red, res.blue) == (3.0, 2.0)
            if c_server.bits == 32:
                # where a 32-bit process can address it, large-address-aware or not
                assert buf.address + buf.size <= 1 << 31
        # The C server answers winipc's error convention too, in its own
        # bitness's range.
        with pytest.raises(winipc.BufferTooSmall):
            conn.call(WM_COMPARE, Small(1))
        with pytest.raises(winipc.InvalidAddress):
            conn.send_raw(WM_COMPARE, 16, 0x10)


def test_winipc_client_makes_200_calls_to_a_c_server(c_server):
    with winipc.connect(c_server.title) as conn:
        info = MyInfo(3, 5)
        for _ in range(200):
            conn.call(WM_COMPARE, info, out=info)
        assert (info.red, info.blue) == compare(3.0, 5.0, 200)


def test_winipc_client_times_out_on_a_hung_c_server(c_server):
    with winipc.connect(c_server.title, timeout=0.5) as conn:
        with pytest.raises(winipc.CallTimeout):
            conn.send_raw(C_SLEEP, 3000, 0)
    # once the message is done, the server answers again
    with winipc.connect(c_server.title, timeout=30) as conn:
        assert conn.send_raw(C_SLEEP, 0, 0) == 2
        assert conn.call(WM_COMPARE, MyInfo(1, 2)).red == 3.0


def test_winipc_client_of_a_c_server_that_dies_mid_message(c_server):
    with winipc.connect(c_server.title, timeout=30) as conn:
        with pytest.raises(winipc.ServerGone):
            conn.send_raw(C_EXIT, 0, 0)
    c_server.proc.wait(30)
    with pytest.raises(winipc.WindowNotFound):
        winipc.connect(c_server.title)


@pytest.mark.parametrize("value", [0, 1, 0x7FFFFFFF, -1, -(1 << 31), 0xFFFFFFFF])
def test_results_of_a_c_server(c_server, value):
    """A 32-bit window's LRESULT reaches a 64-bit sender sign-extended: its
    results are the 32-bit signed values (0xFFFFFFFF comes back as -1)."""
    with winipc.connect(c_server.title) as conn:
        expected = value
        if c_server.bits == 32:
            expected = ((value & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
        if ERROR_BASE <= expected < ERROR_BASE + 0x10000:
            # winipc.h's refusal range (a handler's results there are reserved)
            with pytest.raises(winipc.WinIPCError) as e:
                conn.send_raw(C_ECHO, 0, value)
            assert e.value.winerror == expected - ERROR_BASE
        else:
            assert conn.send_raw(C_ECHO, 0, value) == expected


# --- a 64-bit client never sends a 32-bit server what it would truncate ------

def test_a_32_bit_server_is_never_sent_an_address_it_would_truncate(c_server):
    with winipc.connect(c_server.title) as conn:
        with conn.alloc(MyInfo) as buf:
            buf.write(MyInfo(1, 2))
            high = buf.address + (1 << 32)      # truncated to 32 bits: buf.address
            if c_server.bits == 64:
                with pytest.raises(winipc.InvalidAddress) as e:   # the server refuses it
                    conn.send_raw(WM_COMPARE, 16, high)
                assert "32-bit" not in str(e.value)
            else:
                with pytest.raises(winipc.InvalidAddress) as e:   # refused before sending
                    conn.send_raw(WM_COMPARE, 16, high)
                assert "32-bit process" in str(e.value)
                assert e.value.winerror == 487 and e.value.call == "SendMessageTimeoutW"
                # a wParam that does not fit in 32 bits (truncated: 16)
                with pytest.raises(winipc.WinIPCError) as e:
                    conn.send_raw(WM_COMPARE, (1 << 32) + 16, buf.address)
                assert "32-bit process" in str(e.value) and e.value.winerror == 87
                # nor an lParam below what 32 bits can carry
                with pytest.raises(winipc.InvalidAddress):
                    conn.send_raw(C_ECHO, 0, -(1 << 31) - 1)
            # the server computed on nothing
            res = buf.read()
            assert (res.red, res.blue) == (1.0, 2.0)
            assert conn.send(WM_COMPARE, buf) == 1


def test_calls_on_addresses_a_32_bit_server_cannot_take(c_server32):
    """call, bench and prepared calls take an address: refused unless all
    its bytes lie below 4 GiB (an address is never read as a signed value)."""
    with winipc.connect(c_server32.title) as conn:
        native = conn._native
        with conn.alloc(MyInfo) as buf:
            buf.write(MyInfo(1, 2))
            for address in (buf.address + (1 << 32), (1 << 64) - 4096, (1 << 32) - 8):
                with pytest.raises(winipc.InvalidAddress) as e:
                    native.call(WM_COMPARE, address, bytearray(16), 5000)
                # refused here, before sending (not the server's own refusal)
                assert "the server is a 32-bit process" in str(e.value)
                assert "beyond the 4 GiB" in str(e.value)
                with pytest.raises(winipc.InvalidAddress):
                    native.bench(WM_COMPARE, address, bytearray(16), 3, 5000)
            res = buf.read()
            assert (res.red, res.blue) == (1.0, 2.0)
        # a prepared call lives in a buffer below 2 GiB, and reads the
        # 32-bit server's refusals
        with conn.prepare(WM_COMPARE, MyInfo) as call:
            info = MyInfo(1, 2)
            assert call(info) == 1 and (info.red, info.blue) == (3.0, 2.0)
        with conn.prepare(WM_COMPARE, Small) as call:
            with pytest.raises(winipc.BufferTooSmall):
                call(Small(1))


def test_a_32_bit_server_is_not_asked_for_more_than_it_can_address(c_server32):
    with winipc.connect(c_server32.title) as conn:
        for size in (1 << 32, 5 << 30, 1 << 31):
            with pytest.raises(winipc.WinIPCError) as e:
                conn.alloc(size)
            assert "32-bit process" in str(e.value), e.value
            assert e.value.call in ("VirtualAllocEx", "NtAllocateVirtualMemory")
        with conn.alloc(1 << 20) as buf:
            assert buf.address + buf.size <= 1 << 31
