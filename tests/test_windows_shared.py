"""The Windows backend's shared sections, tested through winipc._rpc directly
(the facade's shared=True builds on them).  The doorbell: test_windows_bell.py."""

import ctypes
import subprocess
import sys
import time

import pytest

if sys.platform != "win32":
    pytest.skip("the Windows backend's doorbell (window messages, sections, Events)",
                allow_module_level=True)

import winipc  # noqa: E402
from winipc import _rpc  # noqa: E402
from windows_served import (VM, WM_NATIVE, WM_PY, WM_BUMP, WM_HELD, OP_SHARED_ALLOC,
                            OP_SHARED_FREE, OP_BELL_OPEN, OP_BELL_CLOSE, CONTROL, TIMEOUT,
                            PAIR, RawBell, served, served_both, compare, wait_for)  # noqa: E402


# --- shared sections ------------------------------------------------------------

def test_shared_alloc_write_read_free(served):
    with_bell = served.client(bell=None)
    try:
        address, m = with_bell.alloc_shared(64, TIMEOUT)
        assert len(m) == 64 and memoryview(m).nbytes == 64
        with_bell.write(address + 8, b"\x01\x02\x03")
        assert m[8:11] == b"\x01\x02\x03"
        m[20:24] = b"abcd"
        out = bytearray(4)
        with_bell.read_into(address + 20, out)
        assert out == b"abcd"
        # the server computes in place in the section: classic and doorbell
        assert compare(with_bell, served, WM_NATIVE, address, 1.0, 2.0) == ((3.0, 2.0), 0)
        assert PAIR.unpack(m[:16]) == (3.0, 2.0)
        with_bell.open_transport(50, False, TIMEOUT)
        assert compare(with_bell, served, WM_PY, address + 16, 5.0, 6.0) == ((7.0, 10.0), 1)
        assert with_bell.call(WM_BUMP, address + 32, bytearray(b"\x00" * 32),
                              TIMEOUT) == 32
        assert m[32:64] == b"\x01" * 32
        # a span past the section's end is not the section's
        with pytest.raises(winipc.InvalidAddress):
            with_bell.send(WM_BUMP, 65, address, TIMEOUT)
        view = memoryview(m)
        with pytest.raises(BufferError):
            with_bell.free_shared(address, TIMEOUT)
        assert compare(with_bell, served, WM_NATIVE, address, 1.0, 2.0)[0] == (3.0, 2.0)
        view.release()
        with_bell.free_shared(address, TIMEOUT)
        assert m.closed
        with pytest.raises(winipc.InvalidAddress):
            with_bell.send(WM_BUMP, 16, address, TIMEOUT)
    finally:
        with_bell.close()


def test_shared_limits_and_hostile_ops(served_both):
    """Sections are asked for through a doorbell only, and bounded per
    client process: one process cannot take what others need."""
    raw = served_both.client()
    try:
        def op(code, arg):
            return raw.send(CONTROL, code, arg, TIMEOUT)
        # as a window message (anyone can send one) they are refused
        for code, arg in [(OP_SHARED_ALLOC, 4096), (OP_SHARED_FREE, 0x10000)]:
            with pytest.raises(winipc.WinIPCError) as e:
                op(code, arg)
            assert e.value.winerror == 5        # ERROR_ACCESS_DENIED
        with pytest.raises(winipc.WinIPCError) as e:
            raw.alloc_shared((1 << 30) + 1, TIMEOUT)
        assert e.value.winerror == 8
        sections = [raw.alloc_shared(4096, TIMEOUT) for _ in range(256)]
        assert len({a for a, _ in sections}) == 256
        with pytest.raises(winipc.WinIPCError) as e:
            raw.alloc_shared(4096, TIMEOUT)
        assert e.value.winerror == 8
        # another process still gets its own
        assert another_client(served_both, "a, m = p.alloc_shared(4096, 5000)\n"
                                           "m[:4] = b'abcd'\n"
                                           f"print(p.send({WM_BUMP}, 4, a, 5000), "
                                           "bytes(m[:4]))") == ["4", "b'bcde'"]
        for address, m in sections:
            raw.free_shared(address, TIMEOUT)
        # unknown tokens and ops are refused, nothing else happens
        for code, arg in [(OP_BELL_CLOSE, 99), (77, 0), (-1, -1)]:
            with pytest.raises(winipc.WinIPCError):
                op(code & 0xFFFFFFFFFFFFFFFF, arg)
        address, m = raw.alloc_shared(16, TIMEOUT)
        assert compare(raw, served_both, WM_NATIVE, address, 1.0, 2.0)[0] == (3.0, 2.0)
        raw.free_shared(address, TIMEOUT)
    finally:
        raw.close()


def another_client(s, code):
    """Runs ``code`` in a new client process with ``p``, its Process of
    server ``s`` -> the words it printed."""
    out = subprocess.run([sys.executable, "-c", "from winipc import _rpc\n"
                          f"p = _rpc.Process({s.pid}, {VM}, {s.window})\n" + code],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_bells_are_bounded_per_process(served_both):
    held = served_both.ask(WM_HELD)
    bells = [RawBell(served_both) for _ in range(32)]
    try:
        with pytest.raises(winipc.WinIPCError) as e:
            RawBell(served_both)
        assert e.value.winerror == 8
        # another process still gets one
        assert another_client(served_both, "p.open_transport(50, False, 5000)\n"
                                           "a = p.alloc(16, 5000)\n"
                                           f"print(p.send({WM_BUMP}, 4, a, 5000))") == ["4"]
        b = bells.pop()
        assert b.raw.send(CONTROL, OP_BELL_CLOSE, b.token, TIMEOUT) == 1
        b.close()
        legit = served_both.client(bell=50)      # the freed place is usable
        address = legit.alloc(16, TIMEOUT)
        assert compare(legit, served_both, WM_NATIVE, address, 1.0, 2.0)[0] == (3.0, 2.0)
        legit.close()
    finally:
        for b in bells:
            b.raw.send(CONTROL, OP_BELL_CLOSE, b.token, TIMEOUT)
            b.close()
    assert wait_for(lambda: served_both.ask(WM_HELD), held) == held


def test_a_pid_that_cannot_be_used_gets_nothing(served_both):
    """A doorbell for pid 0, for no process, or for a process that never
    claims it (a lie about who asks) is refused or taken back: nothing is
    held for it, and the named process keeps no handle."""
    from procstats import win_handles_of
    held = served_both.ask(WM_HELD)
    raw = served_both.client()
    victim = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                              stdin=subprocess.PIPE)
    try:
        for pid in (0, -1, 1 << 32, 0xFFFFFFF0):
            with pytest.raises(winipc.WinIPCError):
                raw.send(CONTROL, OP_BELL_OPEN, pid, TIMEOUT)
        assert served_both.ask(WM_HELD) == held
        time.sleep(0.5)     # the victim has started
        before = win_handles_of(victim.pid)
        for _ in range(32):     # lies, up to the named process's own bound
            RawBell(served_both, pid=victim.pid).close()
        assert win_handles_of(victim.pid) >= before + 3 * 32
        with pytest.raises(winipc.WinIPCError) as e:
            RawBell(served_both, pid=victim.pid)
        assert e.value.winerror == 8
        # never claimed: taken back, from the server and from the victim
        assert wait_for(lambda: served_both.ask(WM_HELD), held, 10) == held
        assert win_handles_of(victim.pid) == before
    finally:
        victim.stdin.close()
        victim.wait(30)
        raw.close()


def test_another_client_cannot_reach_a_section(served_both):
    """Only the process a section was made for can use it: another client
    that knows its address (anyone can find it) cannot have a handler run on
    it, free it or close its doorbell, by message or by doorbell."""
    owner = served_both.client(bell=50)
    try:
        address, m = owner.alloc_shared(64, TIMEOUT)
        m[:16] = bytes(16)
        code = ("import sys, winipc\n"
                "from winipc import _rpc\n"
                f"p = _rpc.Process({served_both.pid}, {VM}, {served_both.window})\n"
                f"address, token = {address}, {owner.bell[2]}\n"
                "import ctypes\n"
                f"CONTROL = ctypes.WinDLL('user32').RegisterWindowMessageW({_rpc.CONTROL_NAME!r})\n"
                "refused = 0\n"
                "def expect(f, *args):\n"
                "    global refused\n"
                "    try:\n"
                "        f(*args)\n"
                "    except winipc.WinIPCError as e:\n"
                "        refused += 1\n"
                "        return\n"
                "    print('NOT REFUSED', args, flush=True)\n"
                "expect(p.send, 0x%x, 16, address, 5000)\n"       # by message
                "expect(p.send, CONTROL, 3, address, 5000)\n"     # free by message
                "expect(p.send, CONTROL, 5, token ^ 1, 5000)\n"   # a guessed token
                "p.open_transport(50, False, 5000)\n"
                "expect(p.send, 0x%x, 16, address, 5000)\n"       # by doorbell
                "mine, _ = p.alloc_shared(64, 5000)\n"
                "expect(p.send, 0x%x, 16, address, 5000)\n"
                "print('refused', refused, flush=True)\n" % (WM_BUMP, WM_BUMP, WM_BUMP))
        out = subprocess.run([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=60)
        assert out.stdout.split() == ["refused", "5"], (out.stdout, out.stderr)
        # untouched, and still the owner's
        assert m[:16] == bytes(16)
        assert owner.send(WM_BUMP, 16, address, TIMEOUT) == 16
        assert m[:16] == b"\x01" * 16
        assert compare(owner, served_both, WM_NATIVE, address + 16, 1.0, 2.0)[0] == (3.0, 2.0)
        owner.free_shared(address, TIMEOUT)
    finally:
        owner.close()


@pytest.mark.parametrize("bell", [None, 50], ids=["classic", "doorbell"])
def test_a_reprotected_section_view_fails_only_its_call(served, bell):
    """A client holds PROCESS_VM_OPERATION on the server (the technique needs
    it), so it can re-protect the server's own view of its section
    (VirtualProtectEx).  The handler runs on a copy: the call fails with
    InvalidAddress, nothing faults, and the server serves on."""
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    protect = kernel32.VirtualProtectEx
    protect.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_ulong,
                        ctypes.POINTER(ctypes.c_ulong)]
    protect.restype = ctypes.c_int
    raw = served.client(bell=bell)
    try:
        address, m = raw.alloc_shared(4096, TIMEOUT)
        old = ctypes.c_ulong()
        assert protect(raw.handle, address, 4096, 0x01, ctypes.byref(old)), \
            ctypes.get_last_error()                             # PAGE_NOACCESS
        with pytest.raises(winipc.InvalidAddress):
            raw.send(WM_BUMP, 16, address, TIMEOUT)
        # Another client is served meanwhile, and this one once it restores it.
        other = served.client()
        try:
            buf = other.alloc(16, TIMEOUT)
            assert compare(other, served, WM_NATIVE, buf, 1.0, 2.0)[0] == (3.0, 2.0)
            other.free(buf, TIMEOUT)
        finally:
            other.close()
        assert protect(raw.handle, address, 4096, old.value, ctypes.byref(old))
        assert raw.send(WM_BUMP, 16, address, TIMEOUT) == 16
        assert m[:16] == b"\x01" * 16
    finally:
        raw.close()
