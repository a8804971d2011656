"""The Windows backend's doorbell and safe copies, tested through winipc._rpc
directly (the facade's options build on these).  Shared sections:
test_windows_shared.py."""

import ctypes
import os
import struct
import subprocess
import sys
import threading
import time

import pytest

if sys.platform != "win32":
    pytest.skip("the Windows backend's doorbell (window messages, sections, Events)",
                allow_module_level=True)

import winipc  # noqa: E402
from winipc import _rpc  # noqa: E402
from conftest import unique_title  # noqa: E402
from windows_served import (VM, WM_NATIVE, WM_PY, WM_SLOW, WM_EXIT, WM_RAISE,
                            WM_BUMP, WM_COUNT, WM_HELD, WM_HEALED, WM_NONE, OP_BELL_CLOSE,
                            CONTROL, TIMEOUT, RawBell, Served, served, served_both,
                            compare, wait_for)  # noqa: E402


# --- the doorbell ---------------------------------------------------------------

def test_bell_round_trips(served):
    p = served.client(bell=50)
    classic = served.client()
    try:
        window, _, token = p.bell
        assert window == served.window and token > 0
        private = p.alloc(16, TIMEOUT)
        for msg, rc in [(WM_NATIVE, 0), (WM_PY, 1)]:
            assert compare(p, served, msg, private, 3333.0, 20.01) == ((21.01, 6666.0), rc)
            assert compare(classic, served, msg, private, 1.0, 2.0) == ((3.0, 2.0), rc)
        for spin in (0, 50):
            p.spin_us = spin
            assert compare(p, served, WM_NATIVE, private, 1.5, 2.5) == ((3.5, 3.0), 0)
        # refusals come back as the same errors as from a message
        with pytest.raises(winipc.UnknownMessage):
            p.call(WM_NONE, private, bytearray(16), TIMEOUT)
        with pytest.raises(winipc.BufferTooSmall):
            p.call(WM_NATIVE, private, bytearray(8), TIMEOUT)
        with pytest.raises(winipc.InvalidAddress):
            p.send(WM_NATIVE, 16, 0x10000, TIMEOUT)
        with pytest.raises(winipc.HandlerFailed):
            p.call(WM_RAISE, private, bytearray(8), TIMEOUT)
        times = p.bench(WM_NATIVE, private, bytearray(16), 200, TIMEOUT)
        assert len(times) == 200 and all(t > 0 for t in times)
        assert compare(p, served, WM_PY, private, 1.0, 2.0) == ((3.0, 2.0), 1)
        # a second open keeps the doorbell, with its new spin; closing goes
        # back to messages
        p.open_transport(10, False, TIMEOUT)
        assert compare(p, served, WM_NATIVE, private, 1.0, 2.0) == ((3.0, 2.0), 0)
        p.free(private, TIMEOUT)
        p.close_bell()
        assert p.bell == (0, 0, 0)
        with pytest.raises(winipc.InvalidAddress):
            p.send(WM_NATIVE, 16, 0x10000, TIMEOUT)
    finally:
        p.close()
        classic.close()


def test_bell_threads_share_a_process(served):
    """Two threads calling through one Process: one rings, the other sends."""
    p = served.client(bell=50)
    errors = []

    def work(k):
        try:
            address = p.alloc(16, TIMEOUT)
            for i in range(200):
                out, _ = compare(p, served, WM_NATIVE, address, float(i), float(k))
                assert out == (k + 1.0, 2.0 * i)
            p.free(address, TIMEOUT)
        except BaseException as e:   # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    p.close()
    assert not errors


def test_garbage_in_a_bell_harms_only_its_client(served):
    rb = RawBell(served)
    raw, token, page = rb.raw, rb.token, rb.page
    # the hostile client aims at real handlers on buffers of its own (any
    # client that knows an address can have any handler run on it, by message
    # as by doorbell: Windows cannot tell senders apart)
    own_private = raw.alloc(4096, TIMEOUT)
    own_shared, _ = raw.alloc_shared(4096, TIMEOUT)
    legit = served.client(bell=50)
    shared, m = legit.alloc_shared(16, TIMEOUT)
    private = legit.alloc(16, TIMEOUT)
    stop = threading.Event()
    garbage = [0]
    wake_event = ctypes.c_void_p(rb.wake_event)

    def scribble():
        rnd = os.urandom
        k32 = ctypes.WinDLL("kernel32")
        while not stop.is_set():
            page[0:64] = rnd(64)            # req, msg, wparam, lparam: anything
            page[64:192] = rnd(128)         # and the server's half and grant too
            if garbage[0] % 3 == 0:         # aim at real handlers and buffers
                struct.pack_into("=IIIIQQ", page, 0, garbage[0], 1, WM_BUMP if garbage[0] & 1
                                 else WM_PY, 0, int.from_bytes(rnd(2), "little"),
                                 own_shared if garbage[0] & 2 else own_private)
            k32.SetEvent(wake_event)
            garbage[0] += 1
    t = threading.Thread(target=scribble)
    t.start()
    try:
        deadline = time.monotonic() + 3
        n = 0
        while time.monotonic() < deadline:
            for address in (shared, private):
                red, blue = float(n), float(n % 7)
                out, rc = compare(legit, served, WM_NATIVE, address, red, blue)
                assert out == (blue + 1.0, red * 2.0) and rc == 0
                out, rc = compare(legit, served, WM_PY, address, red, blue)
                assert out == (blue + 1.0, red * 2.0) and rc == 1
                n += 1
    finally:
        stop.set()
        t.join()
    assert n > 20 and garbage[0] > 100
    # the server still serves messages, and the hostile bell can be closed
    assert raw.send(CONTROL, OP_BELL_CLOSE, token, TIMEOUT) == 1
    assert compare(raw, served, WM_NATIVE, private, 1.0, 2.0)[0] == (3.0, 2.0)
    legit.close()
    del page
    rb.close()


@pytest.mark.parametrize("spin", [50, 2_000_000 // 2])
def test_hung_handler_times_out_and_resyncs(served, spin):
    p = served.client(bell=min(spin, 1_000_000))
    try:
        address = p.alloc(8, TIMEOUT)
        t0 = time.monotonic()
        with pytest.raises(winipc.CallTimeout):
            p.call(WM_SLOW, address, bytearray(struct.pack("=Q", 1500)), 300)
        assert time.monotonic() - t0 < 0.3 + 0.5
        # the late answer is ignored; the next call gets its own
        buf = bytearray(struct.pack("=Q", 1))
        assert p.call(WM_SLOW, address, buf, 10000) == 5
        assert struct.unpack("=Q", buf)[0] == 7
        assert p.send(WM_COUNT, 8, address, TIMEOUT) >= 1
    finally:
        p.close()


@pytest.mark.parametrize("spin", [0, 1_000_000], ids=["sleeping", "spinning"])
def test_ctrl_c_ends_a_bell_wait(served, spin):
    """A wait on the main thread runs Python's signal handlers every slice."""
    import _thread
    assert threading.current_thread() is threading.main_thread()
    p = served.client(bell=spin)
    try:
        address = p.alloc(8, TIMEOUT)
        threading.Timer(0.3, _thread.interrupt_main).start()
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            p.call(WM_SLOW, address, bytearray(struct.pack("=Q", 1500)), 20000)
        assert time.monotonic() - t0 < 0.3 + 0.2
        buf = bytearray(struct.pack("=Q", 1))
        assert p.call(WM_SLOW, address, buf, 10000) == 5
    finally:
        p.close()


@pytest.mark.parametrize("spin", [0, 1_000_000], ids=["sleeping", "spinning"])
def test_server_dies_during_a_bell_call(spin):
    s = Served(50)
    p = s.client(bell=spin)
    try:
        address = p.alloc(8, TIMEOUT)
        t0 = time.monotonic()
        with pytest.raises(winipc.ServerGone):
            p.call(WM_EXIT, address, bytearray(8), 20000)
        assert time.monotonic() - t0 < 2.0
    finally:
        p.close()
        s.stop()


def test_server_killed_while_a_client_waits():
    s = Served(50)
    p = s.client(bell=50)
    try:
        address = p.alloc(8, TIMEOUT)
        threading.Timer(0.3, s.proc.kill).start()
        t0 = time.monotonic()
        with pytest.raises(winipc.ServerGone):
            p.call(WM_SLOW, address, bytearray(struct.pack("=Q", 10000)), 20000)
        assert time.monotonic() - t0 < 2.0
    finally:
        p.close()
        s.stop()


def test_clients_that_exit_give_everything_back(served_both):
    """Whichever way the server serves (a thread, or serve_forever on the
    main thread, whose signal timer ends every wait first), a client that
    exits without a word gets its doorbells and sections released."""
    before = served_both.ask(WM_HELD)
    for _ in range(2):
        code = ("from winipc import _rpc\n"
                f"p = _rpc.Process({served_both.pid}, {VM}, {served_both.window})\n"
                "p.open_transport(50, False, 5000)\n"
                "p.alloc_shared(4096, 5000)\n"
                "p.alloc_shared(4096, 5000)\n"
                "p.begin_send(0x401, 16, p.alloc(16, 5000), 5000)\n"
                "import os; os._exit(0)\n")
        out = subprocess.run([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert wait_for(lambda: served_both.ask(WM_HELD), before) == before, \
            "a dead client's doorbells and sections were not reclaimed"


# --- a client that takes its buffer away while the handler runs (issue 8, 4) ------

@pytest.mark.parametrize("how", ["free", "protect"])
def test_buffer_pulled_under_the_handler(served, how):
    from test_peers import peer
    out = subprocess.run([peer("c_pull_rug"), how, served.title, str(WM_SLOW), "600", "150"],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = int(out.stdout.split()[0])
    # an error the client can tell from a result: ERROR_PARTIAL_COPY
    assert result == -0x80000000 + 299
    # the server still serves, Python handlers included, with its state intact
    p = served.client()
    try:
        address = p.alloc(16, TIMEOUT)
        assert compare(p, served, WM_PY, address, 1.0, 2.0) == ((3.0, 2.0), 1)
        assert compare(p, served, WM_NATIVE, address, 1.0, 2.0) == ((3.0, 2.0), 0)
        first = p.send(WM_COUNT, 8, address, TIMEOUT)
        assert p.send(WM_COUNT, 8, address, TIMEOUT) == first + 1
        buf = bytearray(struct.pack("=Q", 1))
        assert p.call(WM_SLOW, address, buf, TIMEOUT) == 5
        assert struct.unpack("=Q", buf)[0] == 7
    finally:
        p.close()


def test_a_window_that_is_not_a_winipc_server():
    from test_peers import peer
    title = unique_title("winipc-c-server")
    proc = subprocess.Popen([peer("c_server"), title, str(WM_NATIVE)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        proc.stdout.readline()
        window, pid, _ = _rpc.find_window(title)
        p = _rpc.Process(pid, VM, window)
        with pytest.raises(winipc.NotSupported):
            p.open_transport(50, False, TIMEOUT)
        with pytest.raises(winipc.NotSupported):
            p.alloc_shared(16, TIMEOUT)
        p.close()
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stdin.close()


MAIN_SERVER = r"""
import _thread, os, sys, threading, winipc
server = winipc.Server(sys.argv[1])
server.handler(winipc.WM_USER + 1, 16, native=winipc.sample_handlers()["compare"])
threading.Timer(float(sys.argv[2]), _thread.interrupt_main).start()
print("ready", os.getpid(), flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


@pytest.mark.parametrize("busy", [False, True], ids=["idle", "busy"])
def test_ctrl_c_stops_serve_forever_with_bells_open(busy):
    """The main thread's signal timer still runs while the server serves
    doorbells, whether it sleeps or spins from request to request."""
    title = unique_title("winipc-bell-main")
    proc = subprocess.Popen([sys.executable, "-c", MAIN_SERVER, title, "1.5"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline().split()[0] == "ready"
        deadline = time.monotonic() + 10
        while True:
            try:
                window, pid, _ = _rpc.find_window(title)
                break
            except winipc.WindowNotFound:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        p = _rpc.Process(pid, VM, window)
        p.open_transport(50, False, TIMEOUT)
        address, m = p.alloc_shared(16, TIMEOUT)
        t0 = time.monotonic()
        with pytest.raises(winipc.ServerGone):
            while time.monotonic() - t0 < 10:
                p.call(WM_NATIVE, address, bytearray(16), TIMEOUT)
                if not busy:
                    time.sleep(0.05)
        assert proc.stdout.readline().strip() == "interrupted"
        assert proc.wait(10) == 0
        assert time.monotonic() - t0 < 1.5 + 1.0
        p.close()     # gives up its hold on the mapping
        m.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


# --- a client that pulls the server's view of its doorbell page ---------------------

def server_view_of(served, p):
    """Where the server maps the doorbell page of ``p``: a page of its
    memory with the marker we put in ours (a client with VM_READ could read
    the server's tables just as well)."""
    k32 = ctypes.WinDLL("kernel32", use_last_error=True)
    k32.OpenProcess.restype = ctypes.c_void_p
    k32.VirtualQueryEx.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                   ctypes.c_size_t]
    k32.VirtualQueryEx.restype = ctypes.c_size_t
    k32.ReadProcessMemory.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                      ctypes.c_size_t, ctypes.c_void_p]

    class MBI(ctypes.Structure):
        _fields_ = [("BaseAddress", ctypes.c_void_p), ("AllocationBase", ctypes.c_void_p),
                    ("AllocationProtect", ctypes.c_ulong), ("PartitionId", ctypes.c_ushort),
                    ("RegionSize", ctypes.c_size_t), ("State", ctypes.c_ulong),
                    ("Protect", ctypes.c_ulong), ("Type", ctypes.c_ulong)]
    marker = os.urandom(16)
    ctypes.memmove(p.bell[1] + 2048, marker, 16)
    h = k32.OpenProcess(0x0400 | 0x0010, False, served.pid)   # QUERY_INFORMATION | VM_READ
    assert h, ctypes.get_last_error()
    try:
        info, address = MBI(), 0
        buf = ctypes.create_string_buffer(16)
        while k32.VirtualQueryEx(ctypes.c_void_p(h), ctypes.c_void_p(address), ctypes.byref(info),
                                 ctypes.sizeof(info)):
            base = info.BaseAddress or 0
            if (info.State == 0x1000 and info.Type == 0x40000 and info.RegionSize == 4096
                    and info.Protect == 0x04 and k32.ReadProcessMemory(
                        ctypes.c_void_p(h), ctypes.c_void_p(base + 2048), buf, 16, None)
                    and buf.raw == marker):
                return base
            address = base + info.RegionSize
    finally:
        k32.CloseHandle(ctypes.c_void_p(h))
    raise AssertionError("the server's view of the doorbell page was not found")


@pytest.mark.parametrize("how", ["protect", "unmap"])
def test_a_pulled_doorbell_page_is_restored(served_both, how):
    """A client holds PROCESS_VM_OPERATION on the server, so it can
    re-protect (VirtualProtectEx) or unmap (NtUnmapViewOfSection) the
    server's view of its doorbell page.  The server restores it at the
    first fault and serves on: this client, and the others."""
    k32 = ctypes.WinDLL("kernel32", use_last_error=True)
    k32.VirtualProtectEx.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                     ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong)]
    ntdll = ctypes.WinDLL("ntdll")
    ntdll.NtUnmapViewOfSection.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    p = served_both.client(bell=50)
    other = served_both.client(bell=50)
    try:
        private = p.alloc(16, TIMEOUT)
        assert compare(p, served_both, WM_NATIVE, private, 1.0, 2.0)[0] == (3.0, 2.0)
        theirs = server_view_of(served_both, p)
        for _ in range(3):
            if how == "protect":
                old = ctypes.c_ulong()
                assert k32.VirtualProtectEx(ctypes.c_void_p(p.handle), ctypes.c_void_p(theirs),
                                            4096, 0x01, ctypes.byref(old)), \
                    ctypes.get_last_error()
            else:
                assert ntdll.NtUnmapViewOfSection(ctypes.c_void_p(p.handle),
                                                  ctypes.c_void_p(theirs)) == 0
            for _ in range(5):
                assert compare(p, served_both, WM_NATIVE, private, 1.0, 2.0)[0] == (3.0, 2.0)
                assert compare(other, served_both, WM_PY, other.alloc(16, TIMEOUT),
                               1.0, 2.0) == ((3.0, 2.0), 1)
        assert served_both.ask(WM_HEALED) >= 3
    finally:
        p.close()
        other.close()
