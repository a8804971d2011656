"""winipc against plain C programs that follow the technique step by step
(tests/peers/*.c), built with MinGW-w64 by the test run."""

import os
import subprocess
import sys

import pytest

import children
import winipc
from structs import MyInfo, Small, WM_COMPARE, WM_COMPARE_NATIVE, WM_SMALL

pytestmark = pytest.mark.skipif(
    sys.platform != "win32",
    reason="the C peers follow the Windows technique (FindWindow, VirtualAllocEx, "
           "SendMessage) and are Windows programs")

ERROR_BASE = -(1 << 63)


def peer(name):
    folder = os.environ.get("WINIPC_PEERS_DIR")
    if not folder:
        pytest.fail("WINIPC_PEERS_DIR is not set: build tests/peers/*.c first "
                    "(scripts/windows/test.sh does)")
    return os.path.join(folder, name + ".exe")


def run_client(*args):
    out = children.run([peer("c_client"), *map(str, args)], 60, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.fixture
def server(server_process):
    """A winipc server; the C peers speak the classic messages, whatever the
    doorbell, so it runs once."""
    return server_process()


@pytest.mark.parametrize("msg", [WM_COMPARE, WM_COMPARE_NATIVE], ids=["python", "compiled"])
def test_c_client_gets_results_from_a_winipc_server(server, msg):
    red, blue, result = run_client("call", server.title, msg, 3333, 20.01)
    assert (float(red), float(blue)) == (20.01 + 1, 3333 * 2)
    assert int(result) == (1 if msg == WM_COMPARE else 0)


@pytest.mark.parametrize("wparam,lparam,code", [
    (16, 0, 487), (16, 0x10, 487), (1 << 40, 0x10000, 487), (16, -4096 & ((1 << 64) - 1), 487),
])
def test_winipc_server_refuses_bad_messages_from_any_process(server, wparam, lparam, code):
    (result,) = run_client("raw", server.title, WM_COMPARE, wparam, lparam)
    assert int(result) == ERROR_BASE + code
    with winipc.connect(server.title) as conn:       # still serving
        assert conn.call(WM_SMALL, Small(2)).value == 6


def test_winipc_server_refuses_a_short_wparam_from_any_process(server):
    (result,) = run_client("short", server.title, WM_COMPARE)
    assert int(result) == ERROR_BASE + 122
    with winipc.connect(server.title) as conn:
        assert conn.call(WM_SMALL, Small(2)).value == 6


def test_unknown_message_from_any_process(server):
    (result,) = run_client("raw", server.title, winipc.WM_USER + 999, 16, 0)
    assert int(result) == ERROR_BASE + 1002


@pytest.fixture
def c_server():
    from conftest import unique_title
    title = unique_title("c-server")
    proc = subprocess.Popen([peer("c_server"), title, str(WM_COMPARE)], stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        line = children.read_line(proc, proc.stdout, 60).split()
        assert line and line[0] == "ready", line
        yield title, int(line[1])
    finally:
        children.stop(proc)
        proc.stdout.close()


def test_winipc_client_gets_results_from_a_c_server(c_server):
    title, pid = c_server
    with winipc.connect(title) as conn:
        assert conn.pid == pid
        out = conn.call(WM_COMPARE, MyInfo(3333, 20.01))
        assert (out.red, out.blue, conn.last_result) == (21.01, 6666.0, 1)
        with conn.alloc(MyInfo) as buf:
            buf.write(MyInfo(1, 2))
            assert conn.send(WM_COMPARE, buf) == 1
            res = buf.read()
            assert (res.red, res.blue) == (3.0, 2.0)
        # The C server answers winipc's error convention too.
        with pytest.raises(winipc.BufferTooSmall):
            conn.call(WM_COMPARE, Small(1))
