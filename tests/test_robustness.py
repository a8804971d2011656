"""Resources stay bounded and bad clients harm nothing."""

import os
import socket
import subprocess
import ctypes
import sys
import threading
import time

import pytest

import winipc
from procstats import cpu_seconds, stats
from structs import MyInfo, Small, Stats, WM_COMPARE_NATIVE, WM_SLEEP, WM_SMALL, WM_STATS

# Each test here gets a server of its own (what it holds, or a handler
# left running, is what these tests look at).
pytestmark = pytest.mark.fresh_server

LINUX = sys.platform.startswith("linux")


def server_stats(conn):
    s = conn.call(WM_STATS, Stats())
    return s.handles, s.threads, s.mapped


def test_no_leak_over_10000_calls_and_1000_connections(server):
    with server.connect() as conn:
        for _ in range(200):                     # warm up caches and lazy imports
            conn.call(WM_SMALL, Small(1))
        before_server, before_client = server_stats(conn), stats()
        for i in range(10_000):
            assert conn.call(WM_COMPARE_NATIVE, MyInfo(i, 1)).red == 2.0
        for i in range(1_000):
            with server.connect() as other, other.alloc(64) as buf:
                buf.write(b"x" * 64)
        after_client = stats()
        # A closing client's doorbell and sections go with messages the server
        # may not have handled yet (Windows): let it catch up, boundedly.
        deadline = time.monotonic() + 10
        after_server = server_stats(conn)
        while after_server[0] > before_server[0] + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            after_server = server_stats(conn)
    # Equal counts of fds/handles and threads; memory within the allocator's
    # slack, well under the 1,000 pages that one leaked buffer a cycle would be.
    for before, after in [(before_server, after_server), (before_client, after_client)]:
        assert after[0] <= before[0] + 2, (before, after)
        assert after[1] == before[1], (before, after)
        assert after[2] <= before[2] + (1 << 20), (before, after)


def test_client_that_vanishes_mid_call(server):
    code = ("import sys, winipc; sys.path.insert(0, sys.argv[2]); from structs import *;"
            "c = winipc.connect(sys.argv[1], timeout=30); print('calling', flush=True);"
            "c.call(WM_SLEEP, Small(500))")
    here = os.path.dirname(os.path.abspath(__file__))
    child = subprocess.Popen([sys.executable, "-P", "-c", code, server.title, here],
                             stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    assert child.stdout.readline().strip() == "calling"
    time.sleep(0.2)
    child.kill()
    child.wait()
    child.stdout.close()
    with server.connect(timeout=30) as conn:
        assert conn.call(WM_SMALL, Small(2)).value == 6


@pytest.mark.skipif(not LINUX, reason="the endpoint protocol is Linux's; on Windows any "
                                      "process's messages are tested with a C peer")
def test_garbage_on_the_endpoint_is_refused(server):
    from winipc import _rpc
    path = _rpc._title_link(server.title)
    for junk in [b"", b"x", os.urandom(23), os.urandom(4096)]:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(path)
        s.send(junk)
        s.settimeout(5)
        assert s.recv(64) == b""           # dropped, not answered, not hung
        s.close()
    # A well-formed request with an unknown operation gets an error reply.
    import struct
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    s.send(struct.pack("=IIQQQ", 99, 0, 7, 0, 0))
    s.settimeout(5)
    seq, result, value, error, pad = struct.unpack("=QqQII", s.recv(64))
    assert (seq, error) == (7, 87)
    s.close()
    with server.connect() as conn:
        assert conn.call(WM_SMALL, Small(3)).value == 9


@pytest.mark.skipif(not LINUX, reason="Yama is a Linux security module")
def test_ptrace_scope_hint_says_what_to_change():
    from winipc import _os_linux
    hint = _os_linux.ptrace_hint(2)
    assert "ptrace_scope is 2" in hint and "sysctl kernel.yama.ptrace_scope=1" in hint
    assert "ptrace_scope" not in _os_linux.ptrace_hint(None)
    message = _os_linux.errno_message(1, "process_vm_writev", "process_vm_writev failed")
    assert message.startswith("process_vm_writev failed (") and "ptrace" in message
    assert _os_linux.errno_message(1, "open", "open failed") == "open failed"


# ------------------------------------------------ what a client can make a server hold

def raw_endpoint(server):
    from winipc import _rpc
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(_rpc._title_link(server.title))
    s.settimeout(5)
    return s


REQUEST, REPLY = "=IIQQQ", "=QqQII"


@pytest.mark.skipif(not LINUX, reason="fds ride on the Linux endpoint's messages")
def test_every_fd_a_message_carries_is_closed_or_kept_bounded(server):
    import struct
    with server.connect() as conn:
        before = server_stats(conn)[0]
        s = raw_endpoint(server)
        fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(12)]
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("12i", *fds))]
        try:
            for op in (99, 1, 2, 3):                    # none of these keeps an fd
                for seq in range(25):
                    s.sendmsg([struct.pack(REQUEST, op, 0, seq, 16, 0)], rights)
                    s.recv(64)
            s.sendmsg([b"garbage"], rights)             # and a malformed one
            assert s.recv(64) == b""
            assert server_stats(conn)[0] == before
            # DUP keeps the first fd of each message, until adopted, up to a bound.
            s = raw_endpoint(server)
            kept = 0
            for seq in range(100):
                s.sendmsg([struct.pack(REQUEST, 4, 0, seq, 0, 0)], rights)
                _, _, value, error, _ = struct.unpack(REPLY, s.recv(64))
                if error:
                    assert error == 1816                 # ERROR_NOT_ENOUGH_QUOTA
                else:
                    kept += 1
            assert 0 < kept < 100
            assert server_stats(conn)[0] == before + 1 + kept
            s.close()                                    # leaving closes what it pushed
            deadline = time.monotonic() + 10
            while server_stats(conn)[0] > before and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server_stats(conn)[0] == before
        finally:
            for fd in fds:
                os.close(fd)
            s.close()


@pytest.mark.skipif(not LINUX, reason="a Linux server's clients are connections; a window "
                                      "has no connections to count")
def test_a_full_server_says_so_and_does_not_spin(server_process):
    # A server with 64 fds: the fd table fills long before MAX_CLIENTS.
    server = server_process(env={"WINIPC_TEST_NOFILE": "64"})
    with server.connect() as conn:
        held = []
        full = None
        for _ in range(100):
            try:
                held.append(server.connect())
            except winipc.ServerFull as e:
                full = e
                break
        assert full is not None and full.winerror == 1238
        assert "full" in str(full)
        # The server neither spins nor stops serving the clients it has.
        t0 = time.monotonic()
        cpu0 = cpu_seconds(server.pid)
        time.sleep(0.5)
        assert cpu_seconds(server.pid) - cpu0 < 0.25 * (time.monotonic() - t0)
        assert conn.call(WM_SMALL, Small(3)).value == 9
        for c in held:
            c.close()
        served_once_there_is_room(server)


def served_once_there_is_room(server):
    """A new client of ``server`` is served within 10 s (its full table
    empties as the clients it had leave)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            with server.connect() as again:
                assert again.call(WM_SMALL, Small(4)).value == 12
            return
        except winipc.ServerFull:
            assert time.monotonic() < deadline
            time.sleep(0.05)


@pytest.mark.skipif(not LINUX, reason="a Linux server turns clients away at accept(); a "
                                      "window has no connections to refuse")
def test_a_client_turned_away_at_the_door_hears_why(server_process):
    """A server out of fds accepts the next connection only to say it is
    full.  The client's request may be queued there already, or its send
    may find the connection shut: either way the notice must reach it, and
    then a real client's, with ServerFull."""
    import struct
    server = server_process(env={"WINIPC_TEST_NOFILE": "64"})
    held = []
    try:
        for _ in range(100):                  # a connection costs the server one fd
            s = raw_endpoint(server)
            try:
                s.send(struct.pack(REQUEST, 99, 0, 7, 0, 0))
            except BrokenPipeError:
                pass        # turned away before it spoke: the notice waits all the same
            seq, _, _, error, _ = struct.unpack(REPLY, s.recv(64))   # not ECONNRESET
            held.append(s)
            if seq != 7:
                break
        assert (seq, error) == (2**64 - 1, 1238)
        with pytest.raises(winipc.ServerFull) as e:
            with server.connect() as conn:
                conn.alloc(16)
        assert e.value.winerror == 1238
    finally:
        for s in held:
            s.close()
    served_once_there_is_room(server)


@pytest.mark.skipif(not LINUX, reason="Linux endpoints; the reset is Linux's")
def test_a_notice_behind_a_reset_is_read():
    """A server that sends its notice and closes the connection with the
    client's request unread makes Linux report ECONNRESET ahead of the
    notice: the client reads the notice after the reset, and says
    ServerFull."""
    import select
    import struct
    from winipc import _rpc
    title = f"winipc-test-reset-{os.getpid()}"
    tid = 4000000000 + os.getpid()
    path = _rpc._socket_path(tid)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen()
    link = _rpc._title_prefix(title) + f".1-{tid}"
    os.symlink(os.path.basename(path), link)
    resets = []

    def serve():
        while True:
            c, _ = listener.accept()
            with c:
                assert select.select([c], [], [], 10)[0]
                if c.recv(64, socket.MSG_PEEK) == b"":
                    continue                    # the finder's probe
                c.send(struct.pack(REPLY, 2**64 - 1, 0, 0, 1238, 0))
                resets.append(c.fileno())       # closed with the request unread
                return

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with pytest.raises(winipc.ServerFull) as e:
            with winipc.connect(title, timeout=5) as conn:
                conn.alloc(16)
        assert e.value.winerror == 1238 and resets
    finally:
        t.join(10)
        listener.close()
        os.unlink(link)
        os.unlink(path)


def test_alloc_and_close_honour_the_timeout_of_a_hung_server(server):
    with server.connect(timeout=30) as busy:
        conn = server.connect(timeout=0.5)
        t = threading.Thread(target=lambda: busy.call(WM_SLEEP, Small(2500)))
        t.start()
        try:
            time.sleep(0.2)
            t0 = time.monotonic()
            try:
                conn.alloc(16)     # allocation does not wait for a running handler...
            except winipc.CallTimeout:
                # ...except a Windows section: the server's window thread,
                # which runs the handler, makes it.
                assert not LINUX and conn.shared
            assert time.monotonic() - t0 < 0.5 + 0.5
            t0 = time.monotonic()
            conn.close()       # never waits for the hung server, never raises
            assert time.monotonic() - t0 < 0.5 + 0.5
        finally:
            t.join(30)


def test_other_clients_are_served_while_a_handler_runs(server):
    """A handler that runs long holds the server's dispatch thread: a new
    client still connects, allocates, writes, reads and frees meanwhile."""
    with server.connect(timeout=30) as busy:
        t = threading.Thread(target=lambda: busy.call(WM_SLEEP, Small(2000)))
        t.start()
        try:
            time.sleep(0.3)
            t0 = time.monotonic()
            # On Windows a section and a doorbell are made by the server's
            # window thread, which runs the handler: there only a classic
            # connection and private buffers are served meanwhile.
            if LINUX:
                other, kinds = server.connect(timeout=1.5), (False, True)
            else:
                other, kinds = winipc.connect(server.title, timeout=1.5), (False,)
            with other:
                for shared in kinds:
                    buf = other.alloc(Small, shared=shared)
                    buf.write(Small(41))
                    assert buf.read().value == 41
                    buf.close()
            assert time.monotonic() - t0 < 1.5
            assert t.is_alive()               # the handler was running all along
        finally:
            t.join(30)
        assert not t.is_alive()
        assert busy.call(WM_SMALL, Small(2)).value == 6


def test_a_buffer_freed_under_its_running_handler_harms_nothing(server):
    """The handler writes its buffer after sleeping; its client gives up and
    frees the buffer meanwhile.  The server neither faults nor loses its
    memory: the buffer goes once the handler is done."""
    with server.connect(timeout=30) as conn:
        before = conn.call(WM_STATS, Stats())
        buf = conn.alloc(Small, shared=False)
        buf.write(Small(800))
        with pytest.raises(winipc.CallTimeout):
            conn.send(WM_SLEEP, buf, timeout=0.2)
        # The facade never frees a buffer under a call; a raw client may.
        conn.process._native.free(buf.address, 2000)
        time.sleep(1.0)                                  # the handler writes, and returns
        assert conn.call(WM_SMALL, Small(2)).value == 6
        after = conn.call(WM_STATS, Stats())
        assert after.held_bytes <= before.held_bytes


@pytest.mark.skipif(not LINUX, reason="title links are Linux endpoint files")
def test_a_stray_title_link_is_window_not_found():
    from winipc import _rpc
    title = f"winipc-test-stray-{os.getpid()}"
    link = _rpc._title_prefix(title) + ".1-1"
    os.symlink("not-an-endpoint", link)
    try:
        with pytest.raises(winipc.WindowNotFound):
            winipc.find_window(title)
    finally:
        os.unlink(link)


@pytest.mark.skipif(not LINUX, reason="endpoint files are the Linux backend's")
def test_the_entries_of_a_killed_server_are_swept(server_process):
    from winipc import _rpc
    dead = server_process()
    tid = winipc.find_window(dead.title).handle
    folder = _rpc.endpoint_dir()

    def entries():
        return sorted(n for n in os.listdir(folder)
                      if n in (f"s-{tid}.sock", f"k-{tid}.sock", f"p-{dead.pid}")
                      or (n.startswith(os.path.basename(_rpc._title_prefix(dead.title)))))
    dead.proc.kill()
    dead.proc.wait()
    assert len(entries()) == 4, entries()        # a killed server cleans up nothing
    alive = server_process()                     # the next server to start sweeps
    assert entries() == []
    with alive.connect() as conn:
        assert conn.call(WM_SMALL, Small(2)).value == 6


def test_servers_sharing_a_title_the_newest_live_one_answers(server_process):
    older = server_process()
    newer = server_process(older.title)
    assert winipc.find_window(older.title).pid == newer.pid       # as FindWindow would
    newer.stop()
    assert winipc.find_window(older.title).pid == older.pid       # the older one is found
    with older.connect() as conn:
        assert conn.call(WM_SMALL, Small(2)).value == 6
    older.stop()
    with pytest.raises(winipc.WindowNotFound):
        winipc.find_window(older.title)


@pytest.mark.skipif(not LINUX, reason="the standby thread and the endpoint's accept queue "
                    "are the Linux server's")
def test_a_client_accepted_by_the_standby_thread_does_not_stall_dispatch(server_process):
    """The dispatch thread polls: a call on a connection's socket and a new
    connection are both waiting.  It runs the call's handler; meanwhile a
    kick makes the standby thread accept the new connection.  When the
    handler returns, the dispatch thread's poll result about the listening
    socket is stale: it must not wait in accept for a client that is gone,
    since every call would then time out."""
    from winipc import _rpc
    s = server_process(doorbell={"spin": 0})
    size = ctypes.sizeof(Small)
    from winipc._remote import VM_ACCESS
    window = winipc.find_window(s.title).handle
    # No doorbell: their calls go on their sockets.
    a, b = (_rpc.Process(s.pid, VM_ACCESS, window) for _ in range(2))
    with s.connect(timeout=10) as kicker:
        bufs = []
        for p in (a, b):
            address = p.alloc(size, 5000)
            p.write(address, Small(700))
            bufs.append(address)
        calls = [threading.Thread(target=p.send, args=(WM_SLEEP, size, address, 10000))
                 for p, address in zip((a, b), bufs)]
        calls[0].start()                    # handler 1: 0.7 s
        time.sleep(0.2)
        calls[1].start()                    # waits on b's socket
        queued = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        queued.connect(_rpc._title_link(s.title))   # waits in the accept queue
        time.sleep(0.8)                     # handler 2 runs now, from the same poll
        kicker.alloc(Small).close()         # the standby thread takes over, accepts
        for t in calls:
            t.join(10)
        assert not any(t.is_alive() for t in calls)
        queued.close()
        a.write(bufs[0], Small(5))
        a.send(WM_SMALL, size, bufs[0], 3000)      # CallTimeout while dispatch is stuck
        out = Small()
        a.read_into(bufs[0], out)
        assert out.value == 15
        assert kicker.call(WM_SMALL, Small(2)).value == 6
    for p, address in zip((a, b), bufs):
        p.free(address, 5000)
        p.close()


@pytest.mark.skipif(not LINUX, reason="Linux servers map every buffer (vm.max_map_count "
                    "bounds them); Windows' VirtualAllocEx needs no server")
def test_one_client_process_cannot_exhaust_the_servers_mappings(server):
    """However many connections one process opens, its buffers in the server
    are bounded together (4096), so the server's mappings last for others:
    another process still connects, allocates and calls; and freeing gives
    the room back."""
    conns = [server.connect() for _ in range(3)]
    held = []
    try:
        with pytest.raises(winipc.WinIPCError) as e:
            for i in range(3 * 4096):
                held.append(conns[i % 3].alloc(1, shared=i % 2 == 0))
        assert e.value.winerror == 8           # ERROR_NOT_ENOUGH_MEMORY
        assert len(held) == 4096
        code = ("import sys, winipc\n"
                f"with winipc.connect({server.title!r}) as c:\n"
                "    with c.alloc(16, shared=True) as b, c.alloc(16) as p:\n"
                "        b.write(b'x' * 16); p.write(b'y' * 16)\n"
                "        assert b.read() == b'x' * 16 and p.read() == b'y' * 16\n"
                f"    assert bytes(c.call({WM_SMALL}, (7).to_bytes(8, 'little')))"
                " == (21).to_bytes(8, 'little')\n"
                "print('ok')\n")
        r = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                           timeout=60)
        assert r.stdout.strip() == "ok", r.stderr[-2000:]
        for b in held[:10]:
            b.close()
        del held[:10]
        held.append(conns[0].alloc(1, shared=True))
    finally:
        for b in held:
            b.close()
        for c in conns:
            c.close()
