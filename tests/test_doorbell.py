"""The doorbell and shared buffers: what they promise beyond the behaviour
tests (which run with every doorbell through the `server` fixture)."""

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import winipc
from structs import (MyInfo, Small, Stats, RESULTS, WM_BUMP, WM_COMPARE, WM_COMPARE_NATIVE,
                     WM_EXIT, WM_RESULT_OF, WM_SLEEP, WM_SMALL, WM_STATS)
from conftest import DOORBELLS, unique_title
from procstats import cpu_seconds, running_on

LINUX = sys.platform.startswith("linux")
HERE = os.path.dirname(os.path.abspath(__file__))
# The longest spin, longer than the waits of the tests that use it: what
# happens while a side spins.
LONG_SPIN = winipc.rpc.MAX_SPIN_US


def server_stats(conn):
    s = conn.call(WM_STATS, Stats())
    return s.handles, s.threads, s.mapped


# ------------------------------------------------------------ shared buffers

def test_shared_buffer_is_memory_both_processes_map(server):
    with server.connect(shared=True) as conn, conn.alloc(MyInfo) as buf:
        assert buf.shared
        info = MyInfo.from_buffer(buf.view)      # the server's memory, here
        info.red, info.blue = 1.0, 2.0
        assert conn.send(WM_COMPARE_NATIVE, buf) == 0
        assert (info.red, info.blue) == (3.0, 2.0)   # no read: it is the same memory
        assert (buf.read().red, buf.read().blue) == (3.0, 2.0)
        del info
        buf.view.release()


def test_a_view_keeps_a_shared_buffer_from_closing(server):
    with server.connect() as conn:
        buf = conn.alloc(64, shared=True)
        view = buf.view
        with pytest.raises(BufferError):
            buf.close()
        assert not buf.closed
        view.release()
        buf.close()
        assert buf.closed


def test_private_and_shared_buffers_on_one_connection(server):
    with server.connect() as conn:
        with conn.alloc(16, shared=True) as a, conn.alloc(16, shared=False) as b:
            assert a.shared and not b.shared
            for buf in (a, b):
                buf.write(bytes(range(16)))
                assert conn.send(WM_BUMP, buf) == 16
                assert buf.read() == bytes(range(1, 17))
            with pytest.raises(ValueError):
                b.view


def as_nobody(run_dir, body):
    """Fork a child that becomes nobody and runs ``body()``; its pid."""
    pid = os.fork()
    if pid == 0:
        try:
            os.environ["WINIPC_RUNTIME_DIR"] = run_dir
            os.setgid(65534)
            os.setuid(65534)        # also leaves the process not dumpable
            body()
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            os._exit(0)
    return pid


@pytest.mark.skipif(not LINUX, reason="ptrace access (Yama, dumpable) is Linux's")
@pytest.mark.skipif(LINUX and os.geteuid() != 0,
                    reason="running both processes as another user needs root")
def test_shared_buffers_need_no_ptrace_access():
    """A server nobody may ptrace (not dumpable, as under Yama ptrace_scope
    2 or 3 for an unprivileged client) still serves shared buffers, and
    small calls (their bytes ride in the doorbell page), while calls that
    need process-memory copies are refused."""
    import shutil
    import tempfile
    run_dir = tempfile.mkdtemp(prefix="winipc-test-nobody-")    # 0700; /tmp is open to all
    os.chown(run_dir, 65534, 65534)
    title = "winipc-test-noptrace"
    ready_r, ready_w = os.pipe()
    stop_r, stop_w = os.pipe()

    def serve():
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)       # PR_SET_DUMPABLE 0
        s = winipc.Server(title)
        s.handler(WM_BUMP, 1, native=winipc.sample_handlers()["bump"])
        with s:
            os.write(ready_w, b"r")
            os.read(stop_r, 1)

    def call():
        os.close(out_r)
        answers = []
        with winipc.connect(title, shared=True) as c:
            answers.append(bytes(c.call(WM_BUMP, b"abc")).decode())
        with winipc.connect(title) as c:
            answers.append(bytes(c.call(WM_BUMP, b"abc")).decode())
            try:
                c.call(WM_BUMP, bytes(64 * 1024))
                answers.append("called")
            except winipc.AccessDenied as e:
                answers.append(f"denied {e.errno}")
        os.write(out_w, " ".join(answers).encode())

    server = as_nobody(run_dir, serve)
    os.close(ready_w)           # so that a server that failed reads as EOF
    try:
        assert os.read(ready_r, 1) == b"r"
        out_r, out_w = os.pipe()        # after the server's fork: it holds no end
        client = as_nobody(run_dir, call)
        os.close(out_w)
        with os.fdopen(out_r) as fh:
            answer = fh.read()
        os.waitpid(client, 0)
        assert answer == "bcd bcd denied 1"
    finally:
        os.write(stop_w, b"s")
        os.waitpid(server, 0)
        for fd in (ready_r, stop_r, stop_w):
            os.close(fd)
        shutil.rmtree(run_dir, ignore_errors=True)


# ------------------------------------------------- the spin and its bounds

def test_spin_is_a_knob(server):
    with server.connect(spin=0) as a, server.connect(spin=123) as b:
        assert (a.spin, b.spin) == (0, 123)
        assert a.call(WM_SMALL, Small(2)).value == b.call(WM_SMALL, Small(2)).value == 6
    with pytest.raises(ValueError):
        server.connect(spin=-1)
    with pytest.raises(ValueError):
        server.connect(spin=LONG_SPIN + 1)
    with pytest.raises(ValueError):
        winipc.Server("x", spin=-5)


@pytest.mark.fresh_server
def test_hung_handler_while_the_client_spins(server):
    with server.connect(spin=LONG_SPIN, timeout=0.5) as conn:
        t0 = time.monotonic()
        with pytest.raises(winipc.CallTimeout):
            conn.call(WM_SLEEP, Small(3000))
        assert time.monotonic() - t0 < 0.5 + 0.5
        # The spinning stopped with the call.
        cpu0, wall0 = time.process_time(), time.monotonic()
        time.sleep(0.3)
        assert time.process_time() - cpu0 < 0.1 * (time.monotonic() - wall0)


@pytest.mark.fresh_server
@pytest.mark.parametrize("spin", [0, LONG_SPIN], ids=["sleeping", "spinning"])
def test_server_killed_while_the_client_waits(server, spin):
    with server.connect(spin=spin, timeout=30) as conn:
        t0 = time.monotonic()
        with pytest.raises(winipc.ServerGone):
            conn.call(WM_EXIT, Small(0))
        assert time.monotonic() - t0 < 5


@pytest.mark.skipif(not LINUX, reason="SIGPIPE and the ring's pipe are Linux's; a Windows "
                    "client rings an Event")
@pytest.mark.parametrize("sigpipe", ["SIG_IGN", "SIG_DFL"])
def test_a_client_outlives_a_server_that_died_asleep(server_process, sigpipe):
    # The server sleeps (its spin is over) when it dies: the client's next
    # call rings it, which must fail, not kill the client, whatever SIGPIPE
    # does in that process (SIG_DFL: a command-line tool's usual choice).
    server = server_process()
    script = f"""
import signal, sys, time, winipc
sys.path.insert(0, {HERE!r})
from structs import Small, WM_SMALL
signal.signal(signal.SIGPIPE, signal.{sigpipe})
conn = winipc.connect({server.title!r}, timeout=10)
assert conn.call(WM_SMALL, Small(1)).value == 3
print("connected", flush=True)
sys.stdin.readline()            # the server is killed meanwhile
time.sleep(0.2)
try:
    conn.call(WM_SMALL, Small(2))
except OSError as e:
    print("refused", type(e).__name__, flush=True)
"""
    child = subprocess.Popen([sys.executable, "-P", "-c", script], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "connected"
        time.sleep(0.2)                         # asleep: past its spin and steady time
        os.kill(server.pid, signal.SIGKILL)
        server.proc.wait(10)
        child.stdin.write("go\n")
        child.stdin.flush()
        out, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, (child.returncode, out)
    assert out.startswith("refused "), out


def test_timeout_of_no_end_and_huge_timeouts(server):
    with server.connect(timeout=None) as conn:
        assert conn.call(WM_SMALL, Small(1)).value == 3
        assert conn.call(WM_SMALL, Small(2), timeout=1e10).value == 6
        with pytest.raises(ValueError):
            conn.call(WM_SMALL, Small(2), timeout=-1)


@pytest.mark.fresh_server
def test_a_timed_out_call_never_answers_a_later_one(server):
    with server.connect(timeout=5) as conn:
        with pytest.raises(winipc.CallTimeout):
            conn.call(WM_SLEEP, Small(600), timeout=0.2)
        # The late answer of the first call must not be taken for these.
        values = [conn.call(WM_SMALL, Small(i)).value for i in range(1, 50)]
        assert values == [3 * i for i in range(1, 50)]


# -------------------------------------------------------- results and errors

@pytest.mark.parametrize("index", range(len(RESULTS)), ids=[repr(r) for r in RESULTS])
def test_only_ints_are_results(server, index):
    with server.connect() as conn:
        value = RESULTS[index]
        if value is None or isinstance(value, int):
            conn.call(WM_RESULT_OF, Small(index))
            assert conn.last_result == (0 if value is None else int(value))
        else:
            with pytest.raises(winipc.HandlerFailed):
                conn.call(WM_RESULT_OF, Small(index))
        assert conn.call(WM_SMALL, Small(1)).value == 3


def test_mistaken_arguments_explain_themselves(server):
    with server.connect() as conn, conn.alloc(Small) as buf:
        with pytest.raises(TypeError, match="RemoteBuffer"):
            conn.send(buf, WM_SMALL)
        with pytest.raises(TypeError, match="instance"):
            conn.call(WM_SMALL, Small)


# ---------------------------------------------------- clients that vanish

@pytest.mark.fresh_server
@pytest.mark.parametrize("shared", [False, True], ids=["private", "shared"])
def test_buffers_of_a_killed_client_are_reclaimed(server, shared):
    if not LINUX:
        pytest.skip("Windows keeps VirtualAllocEx memory until the server exits and cannot "
                    "tell which sender a section was made for")
    code = ("import json, sys, winipc; kw = json.loads(sys.argv[2]);"
            "c = winipc.connect(sys.argv[1], **kw);"
            "bufs = [c.alloc(1 << 20) for _ in range(8)]; print('held', flush=True);"
            "sys.stdin.read()")
    kw = {**server.doorbell, "shared": shared}
    with server.connect() as conn:
        before = server_stats(conn)
        child = subprocess.Popen([sys.executable, "-P", "-c", code, server.title,
                                  json.dumps(kw)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "held"
        assert server_stats(conn)[2] >= before[2] + (8 << 20)
        child.kill()
        child.wait()
        child.stdin.close()
        child.stdout.close()
        deadline = time.monotonic() + 10
        while server_stats(conn)[:3:2] != before[:3:2] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server_stats(conn)[0] <= before[0] and server_stats(conn)[2] <= before[2]


@pytest.mark.fresh_server
@pytest.mark.parametrize("what", ["send", "call", "bench", "turn"])
def test_an_interrupt_ends_a_wait_for_a_busy_server(server, what):
    """Ctrl+C on the main thread ends a call that waits for a busy server
    within its signal slice, on every backend and doorbell.  The interrupt
    is _thread.interrupt_main(), which acts as Ctrl+C does on the main
    thread without a console (which the Windows test run has not)."""
    code = ("import _thread, json, sys, threading, time, winipc\n"
            "sys.path.insert(0, sys.argv[3])\n"
            "from structs import *\n"
            "c = winipc.connect(sys.argv[1], timeout=60, **json.loads(sys.argv[2]))\n"
            "buf = c.alloc(Small); buf.write(Small(2000))\n"
            "def turn():\n"      # wait for another thread's call on the connection
            "    threading.Thread(target=c.call, args=(WM_SLEEP, Small(2000))).start()\n"
            "    time.sleep(0.2); c.call(WM_SMALL, Small(1))\n"
            "run = {'send': lambda: c.send(WM_SLEEP, buf), 'call': lambda: c.call(WM_SLEEP, "
            "Small(2000)), 'bench': lambda: c.bench(WM_SLEEP, Small(2000), 1), "
            "'turn': turn}[sys.argv[4]]\n"
            "threading.Timer(0.5, _thread.interrupt_main).start()\n"
            "t0 = time.monotonic()\n"
            "try:\n"
            "    run()\n"
            "except KeyboardInterrupt:\n"
            "    print(f'interrupted {time.monotonic() - t0 - 0.5:.3f}', flush=True)\n")
    child = subprocess.run([sys.executable, "-P", "-c", code, server.title,
                            json.dumps(server.doorbell), HERE, what],
                           capture_output=True, text=True, timeout=60)
    words = child.stdout.split()
    assert words[:1] == ["interrupted"], child.stdout + child.stderr
    # The slice is 50 ms (Windows) or 100 ms (Linux); Wine adds its own delays.
    assert float(words[1]) < 0.5, f"the interrupt waited {words[1]} s for the call"
    with server.connect() as conn:         # and the server serves on
        assert conn.call(WM_SMALL, Small(2)).value == 6


@pytest.mark.fresh_server
@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT, a POSIX signal; on "
                                                   "Windows Ctrl+C needs a console")
def test_ctrl_c_interrupts_a_client_waiting_for_a_hung_server(server):
    code = ("import json, sys, winipc; sys.path.insert(0, sys.argv[3]); from structs import *;"
            "c = winipc.connect(sys.argv[1], timeout=60, **json.loads(sys.argv[2]));"
            "print('calling', flush=True); c.call(WM_SLEEP, Small(3000))")
    child = subprocess.Popen([sys.executable, "-P", "-c", code, server.title,
                              json.dumps(server.doorbell), HERE],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "calling"
    time.sleep(0.3)
    t0 = time.monotonic()
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=30)
    assert time.monotonic() - t0 < 1.0, "Ctrl+C waited for the call's end"
    assert "KeyboardInterrupt" in err


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT, a POSIX signal; on "
                                                   "Windows Ctrl+C needs a console")
def test_ctrl_c_in_a_python_handler_stops_the_server(doorbell):
    title = f"winipc-test-int-{os.getpid()}-{time.monotonic_ns()}"
    code = ("import sys, time, winipc; s = winipc.Server(sys.argv[1]);\n"
            "@s.handler(winipc.WM_USER, 8)\n"
            "def slow(view):\n"
            "    print('in handler', flush=True); time.sleep(30)\n"
            "print('serving', flush=True); s.serve_forever()")
    proc = subprocess.Popen([sys.executable, "-P", "-c", code, title], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "serving"
    with winipc.connect(title, wait=30, timeout=30, **doorbell) as conn:
        import threading
        failure = []

        def call():
            try:
                conn.call(winipc.WM_USER, bytes(8))
            except winipc.WinIPCError as e:
                failure.append(e)
        t = threading.Thread(target=call)
        t.start()
        assert proc.stdout.readline().strip() == "in handler"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        t.join(30)
    assert "KeyboardInterrupt" in err
    assert failure and isinstance(failure[0], (winipc.HandlerFailed, winipc.ServerGone))


@pytest.mark.skipif(not LINUX, reason="speaks the Linux endpoint's wire protocol; Windows "
                                      "has its own garbage-in-the-doorbell test "
                                      "(test_windows_bell.py)")
def test_garbage_in_a_doorbell_harms_only_its_writer(server):
    import mmap
    import socket
    import struct
    from winipc import _rpc
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(_rpc._title_link(server.title))
    s.settimeout(5)
    s.send(struct.pack("=IIQQQ", 5, 0, 1, 0, 0))                 # OP_BELL
    data, anc, _, _ = s.recvmsg(64, socket.CMSG_SPACE(4))
    fd = struct.unpack("i", anc[0][2][:4])[0]
    bell = mmap.mmap(fd, 4096)
    os.close(fd)
    with server.connect() as good:
        rng = __import__("random").Random(5)
        assert struct.unpack("=I", bell[88:92])[0] & 1            # the server offers inline data
        for seq in range(1, 200):
            # A plausible request at an address this client was never given,
            # its bytes in the page or not, of a size that fits the page's
            # data area or not...
            inline = rng.getrandbits(1)
            size = rng.choice([16, 3072, 3073, 1 << 40])
            bell[8:32] = struct.pack("=IIQQ", WM_BUMP, inline, size, rng.getrandbits(64))
            bell[1024:1024 + 64] = os.urandom(64)
            bell[0:4] = struct.pack("=I", seq)
            s.send(struct.pack("=IIQQQ", 6, 0, 0, 0, 0))         # OP_RING
            deadline = time.monotonic() + 5
            while struct.unpack("=I", bell[64:68])[0] != seq:
                assert time.monotonic() < deadline
            # ...is refused: too big for the page (87), else not its buffer (487)
            expected = 87 if inline and size > 3072 else 487
            assert struct.unpack("=I", bell[72:76])[0] == expected, (inline, size)
            # ...and random words anywhere do nothing but that.
            spot = rng.randrange(0, 4088)
            bell[spot:spot + 8] = os.urandom(8)
            assert good.call(WM_SMALL, Small(seq)).value == 3 * seq
    bell.close()
    s.close()


@pytest.mark.skipif(not LINUX, reason="the ring is the Linux server's pipe; a Windows client "
                    "rings the server's Event, which no client can close or fill")
def test_a_clients_ring_is_its_own_to_fill_or_close(server_process):
    import fcntl
    import mmap
    import socket
    import stat
    import struct
    from winipc import _rpc
    server = server_process()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(_rpc._title_link(server.title))
    s.settimeout(5)

    def request(op):
        s.send(struct.pack("=IIQQQ", op, 0, 1, 0, 0))
        data, anc, _, _ = s.recvmsg(64, socket.CMSG_SPACE(4))
        error = struct.unpack("=QqQII", data)[3]
        return error, (struct.unpack("i", anc[0][2][:4])[0] if anc else None)

    _, fd = request(5)                                          # OP_BELL: the page
    bell = mmap.mmap(fd, 4096)
    os.close(fd)
    error, ring = request(7)                                    # OP_RINGFD: the ring
    assert error == 0 and stat.S_ISFIFO(os.fstat(ring).st_mode)
    assert request(7) == (87, None)                             # one ring per doorbell
    with pytest.raises(OSError):
        os.read(ring, 1)                                        # its write end only
    with server.connect() as good:
        # Filled to the brim, and blocking from now on for its writer: the
        # server reads what it wants, when it wants, and goes on serving.
        written = 0
        while True:
            try:
                written += os.write(ring, b"x" * 4096)
            except BlockingIOError:
                break
        fcntl.fcntl(ring, fcntl.F_SETFL, fcntl.fcntl(ring, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        assert written > 0 and good.call(WM_SMALL, Small(2)).value == 6
        # Closed: the hung-up pipe would wake every poll() of the server, and
        # keep a CPU busy, were it not closed there too.
        os.close(ring)
        time.sleep(0.2)
        before = cpu_seconds(server.pid)
        time.sleep(1.0)
        assert cpu_seconds(server.pid) - before < 0.3
        assert good.call(WM_SMALL, Small(3)).value == 9
        # The client may still ring with packets: a request posted in its page
        # is answered (refused: no buffer of its own is at address 0).
        bell[8:32] = struct.pack("=IIQQ", WM_BUMP, 0, 16, 0)
        bell[0:4] = struct.pack("=I", 1)
        s.send(struct.pack("=IIQQQ", 6, 0, 0, 0, 0))             # OP_RING
        deadline = time.monotonic() + 5
        while struct.unpack("=I", bell[64:68])[0] != 1:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        assert struct.unpack("=I", bell[72:76])[0] == 487       # ERROR_INVALID_ADDRESS
    bell.close()
    s.close()


@pytest.mark.skipif(not LINUX, reason="the proof counts the serving thread's blocking, which "
                    "only Linux gives (/proc voluntary_ctxt_switches); Windows' serving loop "
                    "takes its spin from the same doorbell.h function, which the steady-mode "
                    "test covers there")
def test_the_default_server_stays_awake_across_short_pauses_between_bursts():
    """Bursts of eight calls, 4 ms apart, to servers with a 2 ms spin: by
    default (steady mode up to STEADY_PER_SPIN times the spin, 8 ms) the
    server learns the pause and spins across it (until 1.6 to 2 times the
    pause has passed), while one with ``steady=0`` sleeps in every pause,
    after its spin.  The client sleeps in the pauses, so the serving thread
    runs even if both share a CPU.  Load that takes the serving thread's
    CPU for longer than the margin makes it sleep too (its spin is over by
    the clock): the default server may sleep in a few pauses, not in most."""
    assert winipc.Server(unique_title()).steady == winipc.rpc.STEADY_PER_SPIN * 50 == 200
    assert winipc.Server(unique_title(), spin=0).steady == 0       # no spin: none learnt
    plain = winipc.Server(unique_title(), spin=2000, steady=0)
    default = winipc.Server(unique_title(), spin=2000)
    assert default.steady == 8000
    bursts = 40
    for s in (plain, default):
        s.handler(WM_BUMP, 1, native=winipc.sample_handlers()["bump"])
    with plain, default, winipc.connect(plain.title, wait=10) as to_plain, \
            winipc.connect(default.title, wait=10) as to_default:
        # Per server: the pauses (s) and whether the serving thread slept
        # in each, or in the burst after it.
        seen = {}
        for name, server, conn in (("plain", plain, to_plain), ("default", default, to_default)):
            for _ in range(3):      # (not counted: the doorbell's set-up, the first pauses)
                conn.call(WM_BUMP, b"a")
                time.sleep(0.004)
            seen[name] = []
            ended = time.monotonic()
            for _ in range(bursts):
                sleeps0 = thread_sleeps(server._thread)
                time.sleep(0.004)
                paused = time.monotonic() - ended       # since the last call's answer
                for _ in range(8):
                    assert conn.call(WM_BUMP, b"a") == b"b"
                ended = time.monotonic()
                seen[name].append((paused, thread_sleeps(server._thread) > sleeps0))
        # (Under load the plain server may not run until the client's pause
        # is over, and then finds the next request without sleeping.)
        assert sum(slept for _, slept in seen["plain"]) >= bursts // 4, seen["plain"]
        # A pause that load stretched towards 8 ms proves nothing, nor does
        # the one after a pause past 8 ms (which ended steady mode).
        runs = seen["default"]
        short = [slept for (before, _), (paused, slept) in zip(runs, runs[1:])
                 if before < 0.006 and paused < 0.006]
        assert len(short) >= bursts // 4 and sum(short) < len(short) // 4, seen["default"]


@pytest.mark.skipif(not LINUX, reason="the proof pins threads to one CPU (sched_setaffinity "
                    "of a thread) and counts the serving thread's blocking (/proc "
                    "voluntary_ctxt_switches), which only Linux gives; Windows' serving loop "
                    "takes the same step from doorbell.h (winipc_server_wait_step)")
def test_client_and_server_sharing_a_cpu_with_a_hog_sleep_instead_of_yielding():
    """Client, server and a CPU hog on one CPU.  Client and server wait for
    each other by yielding, and a yield may hand the hog a whole time slice
    while a request or an answer waits (once that made every call take one:
    the pair kept yielding, and neither ever blocked).  A side that finds
    the other's request or answer waited through its yield (its stamp in
    the page says so) sleeps instead for a while, and each side's wake-up,
    which preempts the hog, hands the CPU over.  So beside the hog the pair
    blocks about once per call, where without it, back-to-back calls on one
    CPU keep both yielding and they hardly block at all."""
    cpu = min(os.sched_getaffinity(0))
    server = winipc.Server(unique_title())
    server.handler(WM_BUMP, 1, native=winipc.sample_handlers()["bump"])

    def calls_and_sleeps(conn, seconds):
        """(calls, how often the serving and calling threads blocked)"""
        pair = (server._thread, threading.current_thread())
        data = bytearray(16)
        sleeps0, calls = sum(map(thread_sleeps, pair)), 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            conn.call(WM_BUMP, data)
            calls += 1
        return calls, sum(map(thread_sleeps, pair)) - sleeps0

    allowed = os.sched_getaffinity(0)
    with server, winipc.connect(server.title, wait=10, shared=True) as conn:
        os.sched_setaffinity(server._thread.native_id, {cpu})
        os.sched_setaffinity(0, {cpu})
        try:
            calls_and_sleeps(conn, 0.1)         # (both settle on the CPU)
            # The quietest of up to ten fifths of a second: another process
            # that runs on the CPU meanwhile (a test before this one still
            # ending), or a stall of the virtual machine, makes a yield come
            # back late as a hog does, and two of those within 50 ms stop
            # the yields for 100 ms: such blocks are not the pair's own.
            others = processes_cpu()
            quiet = None
            for _ in range(10):
                r = calls_and_sleeps(conn, 0.2)
                if quiet is None or r[1] * max(quiet[0], 1) < quiet[1] * max(r[0], 1):
                    quiet = r
                if quiet[1] <= quiet[0] // 10:
                    break
            others = busiest_since(others)
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                os.sched_setaffinity(hog.pid, {cpu})
                busy = calls_and_sleeps(conn, 1.0)
            finally:
                hog.kill()
                hog.wait()
        finally:
            os.sched_setaffinity(0, allowed)
    assert quiet[1] <= quiet[0] // 10, (quiet, _busy_threads(), others)
    assert busy[1] >= busy[0] // 2, busy


# The client's moves off its server's CPU: Linux only, with somewhere to go.
moves = pytest.mark.skipif(
    not LINUX, reason="the client moves itself with sched_setaffinity, and the proof reads "
    "the CPU a thread runs on from /proc; Windows' spin loops only yield to a server on "
    "their CPU (doorbell.h, winipc_wait_step)")
somewhere_to_move = pytest.mark.skipif(
    LINUX and len(os.sched_getaffinity(0)) < 2,
    reason="this process may run on one CPU only: there is nowhere to move")
spinning_kinds = pytest.mark.parametrize(
    "kind", [k for k, v in DOORBELLS.items() if v.get("spin") != 0])


@moves
@somewhere_to_move
@spinning_kinds
def test_a_spinning_client_beside_its_server_moves_to_another_cpu(kind):
    """A wake-up places a thread beside its waker, so a client and server
    left to the scheduler can end on one CPU while another idles, and there
    they take turns by yielding, several times slower than apart.  A
    spinning client that finds its server on its own CPU moves to another
    one it may use (once its calls there have cost about what a move
    costs, and only while no more threads are runnable than it has CPUs),
    and its affinity is its own again after.  Here the server's thread is pinned, so a client that
    slept instead would be woken on the idle CPU as well: this shows the
    client leaves and keeps its affinity; the benchmark's round spread left
    to the scheduler shows where moving matters."""
    allowed = os.sched_getaffinity(0)
    cpu = min(allowed)
    server = winipc.Server(unique_title())
    server.handler(WM_BUMP, 1, native=winipc.sample_handlers()["bump"])
    data = bytearray(16)
    with server, winipc.connect(server.title, wait=10, **DOORBELLS[kind]) as conn:
        os.sched_setaffinity(server._thread.native_id, {cpu})
        os.sched_setaffinity(0, {cpu})
        try:
            for _ in range(200):
                conn.call(WM_BUMP, data)
            assert running_on() == cpu
            os.sched_setaffinity(0, allowed)
            calls, room, t0 = 0, False, time.monotonic()
            while running_on() == cpu and time.monotonic() - t0 < 2:
                conn.call(WM_BUMP, data)
                calls += 1
                if calls % 64 == 0:     # (what the client looks at before it moves)
                    room = room or runnable_now() <= len(allowed)
            took = time.monotonic() - t0
            moved_to = running_on()
            assert os.sched_getaffinity(0) == allowed
        finally:
            os.sched_setaffinity(0, allowed)
    # Unless other threads kept every CPU busy all along.
    assert moved_to != cpu or not room, (calls, took, os.getloadavg())


def bursts_from(conn, server, here, allowed):
    """``burst(calls, server_cpu=here)``: after the server's spin ran out
    (it sleeps), its thread pinned meanwhile to ``server_cpu``, ``calls``
    calls from ``here``: how many ended there before the first that ended
    elsewhere (None: none did), whether there was room elsewhere, and how
    long the first call took (s).  The CPU this thread runs on is read at
    once (the C library's, through the vDSO): reading /proc between calls
    takes long enough on some machines to end a burst (the server's spin
    runs out)."""
    sched_getcpu = ctypes.CDLL(None, use_errno=True).sched_getcpu
    data = bytearray(16)

    def burst(calls, server_cpu=here):
        time.sleep(0.002)
        os.sched_setaffinity(server._thread.native_id, {server_cpu})
        os.sched_setaffinity(0, {here})
        os.sched_setaffinity(0, allowed)
        room = runnable_now() <= len(allowed)
        t0 = time.perf_counter()
        conn.call(WM_BUMP, data)
        took = time.perf_counter() - t0
        stayed = 0 if sched_getcpu() != here else None
        for i in range(1, calls):
            conn.call(WM_BUMP, data)
            if stayed is None and sched_getcpu() != here:
                stayed = i
        return stayed, room, took
    return burst


def teach_moving_at_once(burst):
    """Bursts that begin beside the server and go on long after their move
    (each moves, and stays apart), then short ones, until a short one leaves
    at once: in its first call, or its second when the server answered
    before the client looked (5 s at most).  Other processes can stop a
    burst from moving (no room), or mute the client's yields for
    WINIPC_YIELD_MUTE_NS (100 ms: its waits sleep meanwhile).  -> (whether
    one left at once, the bursts seen)."""
    seen, early, t0 = [], False, time.monotonic()
    while not early and time.monotonic() - t0 < 5:
        taught = [burst(2000) for _ in range(8)]
        time.sleep(0.15)            # (past a mute)
        tried = [burst(8) for _ in range(3)]
        early = any(stayed is not None and stayed <= 1 for stayed, _, _ in tried)
        seen += taught + tried
    return early, seen


@moves
@somewhere_to_move
@spinning_kinds
def test_a_client_whose_bursts_outlast_their_move_moves_at_once(kind):
    """A client whose bursts of calls (each after an idle gap longer than
    the server's spin, so each begins with a wake-up) went on long after
    their move leaves the server's CPU at a burst's first call there,
    instead of paying the calls beside it that a short burst would rather
    pay (client_bell.pxi).  The server's thread is pinned, and the client
    begins each burst on its CPU; a client that only rented would stay
    there for a move's worth of calls (at least 50 us of them: ten or more
    on a CPU they share).  (The move is in the first call, while the server
    it woke runs the request, or in the second when the server had taken it
    before the client looked.)"""
    allowed = os.sched_getaffinity(0)
    cpu = min(allowed)
    server = winipc.Server(unique_title())
    server.handler(WM_BUMP, 1, native=winipc.sample_handlers()["bump"])
    with server, winipc.connect(server.title, wait=10, **DOORBELLS[kind]) as conn:
        try:
            early, seen = teach_moving_at_once(bursts_from(conn, server, cpu, allowed))
            assert os.sched_getaffinity(0) == allowed
        finally:
            os.sched_setaffinity(0, allowed)
    # Unless other threads kept every CPU busy (then no burst moved).
    assert early or not all(room for _, room, _ in seen), (seen[-11:], len(seen))


@moves
@somewhere_to_move
@spinning_kinds
def test_a_call_that_woke_the_server_goes_by_the_cpu_it_woke_on(kind):
    """The page names the CPU the server ran on before it slept, and the
    scheduler may wake it on another, the very CPU a client would move to.
    A client whose bursts outlast their move leaves the server's CPU at a
    burst's first call (test above), by the CPU the server runs on once it
    has taken the request: a server that slept beside it and woke on the
    other CPU is left alone there, not joined.  (Joining it there, the pair
    stayed together for the millisecond a move holds.)  The server's thread
    is taught beside the client, then pinned to the other CPU while it
    sleeps.  The client spins long (1 ms: a call that woke the server
    yields for up to 500 us until the server has taken it), and only first
    calls shorter than that count: an idle CPU can take longer to wake, and
    a client that slept meanwhile is woken beside its waker, there, by the
    scheduler, not by a move."""
    allowed = os.sched_getaffinity(0)
    here, there = sorted(allowed)[:2]
    server = winipc.Server(unique_title())
    server.handler(WM_BUMP, 1, native=winipc.sample_handlers()["bump"])
    cold_spin_max = 0.0005      # (doorbell.h, WINIPC_COLD_SPIN_MAX_NS)
    with server, winipc.connect(server.title, wait=10, spin=1000, **DOORBELLS[kind]) as conn:
        try:
            burst = bursts_from(conn, server, here, allowed)
            taught, seen = teach_moving_at_once(burst)
            # Now it wakes on the other CPU: a client that moved by the page's
            # word would move there at its first call.
            tried = [burst(8, there) for _ in range(5)]
            assert os.sched_getaffinity(0) == allowed
        finally:
            os.sched_setaffinity(0, allowed)
    # Unless other threads kept every CPU busy (then no burst moved).
    assert taught or not all(room for _, room, _ in seen), (seen[-11:], len(seen))
    counted = [stayed for stayed, room, took in tried if room and took < cold_spin_max]
    assert counted, tried
    assert 0 not in counted, tried


def runnable_now():
    """How many threads of the machine are runnable now (Linux
    /proc/loadavg, proc(5)), this one included."""
    with open("/proc/loadavg") as fh:
        return int(fh.read().split()[3].split("/")[0])


def _busy_threads():
    """This process's threads and their CPU seconds (Linux /proc), and the
    load average: what else ran, for a failure's message."""
    ours = []
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/comm") as fh:
            ours.append((fh.read().strip(), cpu_seconds("self", tid)))
    return ours, os.getloadavg()


def processes_cpu():
    """{pid: (name, CPU seconds)} of every process there is (Linux /proc)."""
    seen = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as fh:
                name = fh.read().strip()
            seen[pid] = (name, cpu_seconds(pid))
        except OSError:         # gone meanwhile
            pass
    return seen


def busiest_since(before):
    """The three processes that used the most CPU since ``before``
    (processes_cpu()): (pid, name, seconds), for a failure's message."""
    used = [(cpu - before.get(pid, (name, 0))[1], pid, name)
            for pid, (name, cpu) in processes_cpu().items()]
    return [(pid, name, round(seconds, 2)) for seconds, pid, name in sorted(used)[-3:]]


def thread_sleeps(thread):
    """How often ``thread`` has blocked (Linux: its voluntary context
    switches).  A thread that spins does not block, even when it yields its
    CPU to others: this count does not depend on what else runs."""
    with open(f"/proc/self/task/{thread.native_id}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError(f"no voluntary_ctxt_switches in /proc for thread {thread.native_id}")


def serving_while_called(server, conn, calls):
    """(the share of a CPU this process's other threads take, how often
    ``server``'s serving thread blocks (Linux; else None)) while ``conn``
    calls it ``calls`` times, 2 ms apart."""
    thread = server._thread
    sleeps0 = thread_sleeps(thread) if LINUX else None
    cpu0, p0, wall0 = time.thread_time(), time.process_time(), time.monotonic()
    for _ in range(calls):
        assert conn.call(WM_BUMP, b"a") == b"b"
        time.sleep(0.002)
    wall = time.monotonic() - wall0
    share = (time.process_time() - p0 - (time.thread_time() - cpu0)) / wall
    return share, thread_sleeps(thread) - sleeps0 if LINUX else None


def test_steady_mode_spins_across_steady_gaps_and_stops_after(doorbell):
    """Calls 2 ms apart: a server in steady mode keeps its serving thread
    spinning between them (about a CPU, when the machine has one to spare),
    a plain one sleeps (its 50 µs spin is a few % of a CPU); once the calls
    stop, neither burns anything.  (Windows' classic path has no doorbell to
    spin over: its server sleeps in GetMessage whatever the mode.)

    Other load on the machine takes CPU from a spinning thread (and one
    whose client waits on the same CPU yields it at every step), so the
    steady server's share of a CPU is no proof by itself.  On Linux the
    proof is that its serving thread does not block between the calls,
    which load does not change.  Windows counts no such thing: there the
    two servers take turns, three times each, so that load weighs on both
    alike, and the steady one must take several times the plain one's
    share (less robust: heavy load can still starve it).  A sleeping
    server's share can only shrink under load: the plain one keeps a fixed
    bound everywhere."""
    plain = winipc.Server(unique_title(), steady=0)
    steady = winipc.Server(unique_title(), steady=50_000)
    for s, steady_us in ((plain, 0), (steady, 50_000)):
        s.handler(WM_BUMP, 1, native=winipc.sample_handlers()["bump"])
        assert s.steady == steady_us
    spins = sys.platform != "win32" or doorbell != DOORBELLS["classic"]
    calls, rounds = 50, 3
    with plain, steady, winipc.connect(plain.title, wait=10, **doorbell) as to_plain, \
            winipc.connect(steady.title, wait=10, **doorbell) as to_steady:
        # Not counted: the first call on a connection sets up its doorbell,
        # and the steady server learns the gap from the first few.
        for server, conn in ((plain, to_plain), (steady, to_steady)):
            serving_while_called(server, conn, 10)
        seen = {"plain": [], "steady": []}
        for _ in range(rounds):
            for name, server, conn in (("plain", plain, to_plain), ("steady", steady, to_steady)):
                # The other server's spin after its last call (twice the
                # gap, about 4 ms) is over long before.
                time.sleep(0.1)
                seen[name].append(serving_while_called(server, conn, calls))
        plain_share = sum(share for share, _ in seen["plain"]) / rounds
        steady_share = sum(share for share, _ in seen["steady"]) / rounds
        assert plain_share < 0.3, seen
        if not spins:
            assert steady_share < 0.3, seen
        elif LINUX:
            # Only the first call or two of a round, after the pause that
            # ended steady mode, find it asleep (a plain server: about every
            # call, and still many under load).
            assert sum(sleeps for _, sleeps in seen["steady"]) < calls * rounds // 10, seen
        else:
            # (A tenth of a CPU at least: the plain share may measure 0,
            # CPU times come in clock ticks here.)
            assert steady_share > max(4 * plain_share, 0.1), seen
        # A pause ends steady mode: nothing burns while nobody calls.
        time.sleep(0.3)
        p0, wall0 = time.process_time(), time.monotonic()
        time.sleep(0.5)
        assert time.process_time() - p0 < 0.1 * (time.monotonic() - wall0)
    with pytest.raises(ValueError, match="steady"):
        winipc.Server("x", steady=-1)
    with pytest.raises(TypeError, match="steady"):
        winipc.Server("x", steady=1.5)
