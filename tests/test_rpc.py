"""Process-memory RPC against a real server process, on every backend: round
trips, the facade, threads sharing a connection.  Errors: test_rpc_errors.py."""

from contextlib import closing
import ctypes
import os
import subprocess
import sys
import threading
import time

import pytest

import winipc
from server_main import PLUS_ONE
from conftest import slow_call_on_another_thread, unique_title
from structs import (MyInfo, Mixed, Small, WM_BUMP, WM_COMPARE, WM_COMPARE_CTYPES,
                     WM_COMPARE_NATIVE, WM_CALLER, WM_MIXED, WM_PID, WM_PYBUMP, WM_SLEEP,
                     WM_SMALL)


# ---------------------------------------------------------------- round trips

@pytest.mark.parametrize("msg", [WM_COMPARE, WM_COMPARE_NATIVE, WM_COMPARE_CTYPES],
                         ids=["python", "capsule", "ctypes"])
def test_call_computes_in_the_server(server, msg):
    with server.connect() as conn:
        out = conn.call(msg, MyInfo(3333, 20.01))
        assert isinstance(out, MyInfo)
        assert (out.red, out.blue) == (20.01 + 1, 3333 * 2)
        assert conn.pid == server.pid


def test_call_leaves_the_argument_untouched(server):
    arg = MyInfo(1.5, 2.5)
    with server.connect() as conn:
        out = conn.call(WM_COMPARE, arg)
    assert (arg.red, arg.blue) == (1.5, 2.5)
    assert (out.red, out.blue) == (3.5, 3.0)


def test_call_into_a_given_buffer(server):
    with server.connect() as conn:
        arg = MyInfo(1.5, 2.5)
        assert conn.call(WM_COMPARE, arg, out=arg) is arg
        assert (arg.red, arg.blue) == (3.5, 3.0)
        other = MyInfo()
        assert conn.call(WM_COMPARE, MyInfo(1, 2), out=other) is other
        assert (other.red, other.blue) == (3.0, 2.0)
        with pytest.raises(ValueError):
            conn.call(WM_COMPARE, MyInfo(1, 2), out=Small())


def test_call_reports_the_message_result(server):
    with server.connect() as conn:
        conn.call(WM_SMALL, Small(5))
        assert conn.last_result == 3
        conn.call(WM_PID, Small(0))
        assert conn.last_result == server.pid


def test_a_handler_knows_its_caller(server):
    """winipc.caller_pid() inside a handler: the calling process where the
    server can know it (Linux: every call; Windows: a doorbell's), None
    where it cannot (a Windows window message: anyone may send one), and
    None outside a handler."""
    doorbell = server.doorbell
    with server.connect() as conn:
        conn.call(WM_CALLER, Small(0))
        classic = sys.platform == "win32" and not doorbell
        assert conn.last_result == (-1 if classic else os.getpid())
        code = ("import os, sys, winipc\n"
                "sys.path.insert(0, sys.argv[2])\n"
                "from structs import Small, WM_CALLER\n"
                "with winipc.connect(sys.argv[1], **eval(sys.argv[3])) as c:\n"
                "    c.call(WM_CALLER, Small(0))\n"
                "    print(c.last_result, os.getpid())\n")
        child = subprocess.run([sys.executable, "-c", code, server.title,
                                os.path.dirname(os.path.abspath(__file__)), repr(doorbell)],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=60, cwd=os.path.dirname(os.path.abspath(__file__)))
        assert child.returncode == 0, child.stderr
        seen, pid = map(int, child.stdout.split())
        assert seen == (-1 if classic else pid)
    assert winipc.caller_pid() is None


def test_a_shared_buffer_leaves_the_connections_transport_as_it_was(server):
    """The transport is chosen at connect: a shared buffer allocated later
    (whose own calls ride the doorbell on Windows) leaves the connection's
    other calls where they went, as the caller a handler sees shows (a
    Windows window message has none)."""
    with server.connect() as conn:
        conn.call(WM_CALLER, Small(0))
        before = conn.last_result
        with conn.alloc(Small, shared=True) as buf:
            buf.write(Small(0))
            conn.call(WM_CALLER, Small(0))
            assert conn.last_result == before
            assert conn.send(WM_CALLER, buf) == os.getpid()     # (its own call: the doorbell)
        conn.call(WM_CALLER, Small(0))
        assert conn.last_result == before


def test_calls_from_two_threads_keep_to_the_connections_transport(server):
    """A send from one thread while another thread's call is in flight on
    the same connection waits for it and goes the same way: a doorbell's
    caller is known, a window message's is not (before, Windows sent it as
    a window message because the doorbell was busy)."""
    classic = sys.platform == "win32" and not server.doorbell
    # A buffer of its own: a shared one always rides the doorbell.
    with server.connect() as conn, conn.alloc(Small, shared=False) as buf:
        buf.write(Small(0))
        with slow_call_on_another_thread(conn):
            time.sleep(0.05)        # (its call is in flight by now)
            assert conn.send(WM_CALLER, buf) == (-1 if classic else os.getpid())


def test_several_struct_types(server):
    with server.connect() as conn:
        assert conn.call(WM_SMALL, Small(7)).value == 21
        m = conn.call(WM_MIXED, Mixed(41, 3.0, b"name", 1))
        assert (m.count, m.scale, m.name, m.flags) == (42, 1.5, b"NAME", 0x8001)
        assert conn.last_result == 42


@pytest.mark.parametrize("size", [8, 16, 40, 4096, 65536 + 3, 4 << 20])
@pytest.mark.parametrize("msg", [WM_BUMP, WM_PYBUMP], ids=["compiled", "python"])
def test_sizes_from_8_bytes_to_mebibytes(server, size, msg):
    data = bytearray(os.urandom(size))
    with server.connect(timeout=30) as conn:
        out = conn.call(msg, data)
        assert conn.last_result == size
    assert out == data.translate(PLUS_ONE)


def test_explicit_buffer_write_send_read(server):
    with server.connect() as conn:
        with conn.alloc(MyInfo) as buf:
            assert buf.size == ctypes.sizeof(MyInfo)
            buf.write(MyInfo(1, 2))
            assert conn.send(WM_COMPARE, buf) == 1
            res = buf.read()
            assert isinstance(res, MyInfo) and (res.red, res.blue) == (3.0, 2.0)
            raw = buf.read(8, offset=8)
            assert raw == bytes(ctypes.c_double(2.0))
            into = bytearray(16)
            buf.read_into(into)
            assert into == bytes(MyInfo(3, 2))


def test_concurrent_clients(server):
    errors = []

    def client(k):
        try:
            with server.connect() as conn:
                for i in range(50):
                    v = k * 1000 + i
                    assert conn.call(WM_SMALL, Small(v)).value == 3 * v
        except BaseException as e:   # reported below
            errors.append(e)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_concurrent_client_processes(server):
    code = ("import sys, winipc; sys.path.insert(0, sys.argv[2]); from structs import *;"
            "c = winipc.connect(sys.argv[1]);"
            "ok = all(c.call(WM_SMALL, Small(i)).value == 3 * i for i in range(100));"
            "c.close(); sys.exit(0 if ok else 1)")
    here = os.path.dirname(os.path.abspath(__file__))
    procs = [subprocess.Popen([sys.executable, "-P", "-c", code, server.title, here],
                              stdin=subprocess.DEVNULL) for _ in range(3)]
    assert [p.wait(120) for p in procs] == [0, 0, 0]


# --------------------------------------------------------------- the facade

def test_find_window(server):
    w = winipc.find_window(server.title)
    assert isinstance(w, winipc.Window)
    assert w.pid == server.pid and w.handle and w.tid


def test_local_server_with_statement():
    title = unique_title()
    server = winipc.Server(title)

    @server.handler(WM_SMALL, Small)
    def triple(s):
        s.value *= 3

    with server:
        assert server.window.pid == os.getpid()
        with winipc.connect(title) as conn:
            assert conn.call(WM_SMALL, Small(4)).value == 12
    with pytest.raises(winipc.WindowNotFound):
        winipc.find_window(title)


def test_an_exclusive_title_is_not_shared(server):
    """exclusive=True refuses a title another server serves, exclusive or
    not, in another process or this one; two exclusive servers never share
    one, and the title is free again once the first stops."""
    import errno
    with pytest.raises(winipc.WinIPCError) as e:
        winipc.Server(server.title, exclusive=True).start()
    assert e.value.winerror == winipc.WinError.ALREADY_EXISTS and e.value.errno == errno.EEXIST
    assert server.title in str(e.value)
    title = unique_title()
    first = winipc.Server(title, exclusive=True)
    first.handler(WM_SMALL, 8, native=winipc.sample_handlers()["bump"])
    with first:
        second = winipc.Server(title, exclusive=True)
        with pytest.raises(winipc.WinIPCError) as e:
            second.start()
        assert e.value.winerror == winipc.WinError.ALREADY_EXISTS
        second.close()
        with winipc.connect(title) as conn:
            assert conn.pid == os.getpid()
    again = winipc.Server(title, exclusive=True)
    with again:
        assert winipc.find_window(title).pid == os.getpid()
    with pytest.raises(TypeError, match="exclusive"):
        winipc.Server(title, exclusive=1)
    # by default a title may be taken again (new clients reach the newer server)
    with winipc.Server(server.title):
        pass


def test_handlers_are_registered_before_serving():
    server = winipc.Server(unique_title())
    with server:
        with pytest.raises(RuntimeError):
            server.handler(WM_SMALL, Small)(lambda s: 0)


def test_duplicate_handler_is_refused():
    server = winipc.Server(unique_title())
    server.handler(WM_SMALL, Small)(lambda s: 0)
    with pytest.raises(ValueError):
        server.handler(WM_SMALL, Small)(lambda s: 0)


def test_open_process_and_allocate(server):
    with winipc.open_process(server.pid) as proc:
        assert proc.access == winipc.Access.VM_OPERATION | winipc.Access.VM_READ \
            | winipc.Access.VM_WRITE
        with proc.allocate(64) as rb:
            rb.write(b"hello", offset=3)
            assert rb.read(5, offset=3) == b"hello"
            into = bytearray(8)
            rb.read_into(into)
            assert into == b"\0\0\0hello"


def test_close_twice_is_harmless(server):
    conn = server.connect()
    buf = conn.alloc(16)
    buf.close()
    buf.close()
    conn.close()
    conn.close()
    assert conn.closed and buf.closed


def test_unclosed_connection_warns(server):
    conn = server.connect()
    with pytest.warns(ResourceWarning):
        del conn
        import gc
        gc.collect()


def test_audit_hook_sees_reaching_into_processes(server):
    seen = []

    def hook(event, args):
        if event.startswith("winipc."):
            seen.append((event, args))
    sys.addaudithook(hook)
    with winipc.open_process(server.pid):
        pass
    assert ("winipc.open_process", (server.pid, int(winipc.Access.VM_OPERATION
                                                     | winipc.Access.VM_READ
                                                     | winipc.Access.VM_WRITE))) in seen
    with server.connect():
        pass
    assert ("winipc.connect", (server.title,)) in seen
    with closing(winipc.Event()) as ev:
        child = winipc.spawn([sys.executable, "-c", "pass"], inherit=[ev], pass_handles=None)
        child.wait(60)
        assert ("winipc.spawn", ([sys.executable, "-c", "pass"], [ev.handle])) in seen
        with winipc.open_process(os.getpid(), winipc.Access.DUP_HANDLE) as me:
            copy = ev.duplicate(into=me)
            assert any(e == "winipc.duplicate_handle" and a[0] == os.getpid() for e, a in seen)
            winipc.Event.from_handle(copy).close()


def test_threads_share_one_connection(server):
    errors = []
    with server.connect(timeout=30) as conn:
        def client(k):
            try:
                for i in range(100):
                    with conn.alloc(Small) as buf:
                        buf.write(Small(k * 1000 + i))
                        assert conn.send(WM_SMALL, buf) == 3
                        assert buf.read().value == 3 * (k * 1000 + i)
            except BaseException as e:   # reported below
                errors.append(e)
        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[0]


@pytest.mark.fresh_server
def test_close_during_a_call_on_another_thread(server):
    conn = server.connect(timeout=30)
    failure = []

    def slow_call():
        try:
            conn.call(WM_SLEEP, Small(1000))
        except Exception as e:
            failure.append(e)
    t = threading.Thread(target=slow_call)
    t.start()
    time.sleep(0.3)
    conn.process.close()                   # must not pull the handle from under the call
    t.join(30)
    assert not t.is_alive()
    conn.close()
    with pytest.raises(ValueError):
        conn.process._native.alloc(16, 1000)
    # Whatever the call got (its result or an error), the server serves on.
    assert not failure or isinstance(failure[0], winipc.WinIPCError)
    with server.connect(timeout=30) as other:
        assert other.call(WM_SMALL, Small(2)).value == 6


def test_compiled_handlers_are_checked_and_kept_alive(server_process):
    import gc
    title = unique_title()
    server = winipc.Server(title)
    with pytest.raises(TypeError, match="handler"):
        server.handler(WM_SMALL, Small, native=lambda s: 0)          # a Python function
    with pytest.raises(TypeError, match="int64_t"):
        server.handler(WM_SMALL, Small, native=ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(
            lambda x: 0))
    calls = []

    def triple(data, size):
        calls.append(size)
        Small.from_address(data).value *= 3
        return 7
    server.handler(WM_SMALL, Small, native=winipc.rpc.NATIVE_HANDLER(triple))
    gc.collect()              # only the server holds the function pointer now
    with server, winipc.connect(title) as conn:
        assert conn.call(WM_SMALL, Small(5)).value == 15
        assert conn.last_result == 7 and calls == [8]


@pytest.mark.fresh_server
def test_a_call_waiting_behind_another_threads_keeps_its_timeout(server):
    with server.connect(timeout=30) as conn:
        slow = threading.Thread(target=lambda: conn.call(WM_SLEEP, Small(2000)))
        slow.start()
        try:
            time.sleep(0.2)
            t0 = time.monotonic()
            with pytest.raises(winipc.CallTimeout):
                conn.call(WM_SMALL, Small(1), timeout=0.3)
            assert time.monotonic() - t0 < 0.3 + 0.5
        finally:
            slow.join(30)
        assert conn.call(WM_SMALL, Small(2)).value == 6


def test_send_on_a_closed_buffer_fails_here(server):
    with server.connect() as conn:
        buf = conn.alloc(Small)
        buf.close()
        with pytest.raises(ValueError, match="closed"):
            conn.send(WM_SMALL, buf)
