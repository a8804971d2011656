"""The Windows backend's shared sections, tested through winipc._rpc directly
(the facade's shared=True builds on them).  The doorbell: test_windows_bell.py."""

import ctypes
import mmap
import os
import sys

import pytest

if sys.platform != "win32":
    pytest.skip("the Windows backend's doorbell (window messages, sections, Events)",
                allow_module_level=True)

import winipc  # noqa: E402
from winipc import _rpc  # noqa: E402
from windows_served import (WM_NATIVE, WM_PY, WM_BUMP, OP_SHARED_ALLOC,
                            OP_SHARED_ADDRESS, OP_SHARED_FREE, OP_BELL_OPEN,
                            OP_BELL_CLOSE, CONTROL, TIMEOUT, PAIR, served, compare)  # noqa: E402


# --- shared sections ------------------------------------------------------------

def test_shared_alloc_write_read_free(served):
    with_bell = served.client(bell=None)
    try:
        address, m = with_bell.alloc_shared(64, TIMEOUT)
        assert isinstance(m, mmap.mmap) and len(m) == 64
        with_bell.write(address + 8, b"\x01\x02\x03")
        assert m[8:11] == b"\x01\x02\x03"
        m[20:24] = b"abcd"
        out = bytearray(4)
        with_bell.read_into(address + 20, out)
        assert out == b"abcd"
        # the server computes in place in the section: classic and doorbell
        assert compare(with_bell, served, WM_NATIVE, address, 1.0, 2.0) == ((3.0, 2.0), 0)
        assert PAIR.unpack(m[:16]) == (3.0, 2.0)
        with_bell.open_bell(50, TIMEOUT)
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


def test_shared_limits_and_hostile_ops(served):
    raw = served.client()
    try:
        def op(code, arg):
            return raw.send(CONTROL, code, arg, TIMEOUT)
        with pytest.raises(winipc.WinIPCError) as e:
            op(OP_SHARED_ALLOC, 0)
        assert e.value.winerror == 87
        with pytest.raises(winipc.WinIPCError) as e:
            op(OP_SHARED_ALLOC, (4 << 30) + 1)
        assert e.value.winerror == 8
        tokens = [op(OP_SHARED_ALLOC, 4096) for _ in range(1024)]
        assert all(t > 0 for t in tokens) and len(set(tokens)) == 1024
        with pytest.raises(winipc.WinIPCError) as e:
            op(OP_SHARED_ALLOC, 4096)
        assert e.value.winerror == 8
        for t in tokens:
            assert op(OP_SHARED_FREE, t) == 1
        # unknown tokens, addresses and ops are refused, nothing else happens
        for code, arg in [(OP_SHARED_FREE, tokens[0]), (OP_SHARED_ADDRESS, 12345),
                          (OP_BELL_CLOSE, 99), (77, 0), (-1, -1)]:
            with pytest.raises(winipc.WinIPCError):
                op(code & 0xFFFFFFFFFFFFFFFF, arg)
        address, m = raw.alloc_shared(16, TIMEOUT)
        assert compare(raw, served, WM_NATIVE, address, 1.0, 2.0)[0] == (3.0, 2.0)
        raw.free_shared(address, TIMEOUT)
    finally:
        raw.close()


def test_bells_are_bounded(served):
    raw = served.client()
    try:
        tokens = [raw.send(CONTROL, OP_BELL_OPEN, os.getpid(), TIMEOUT)
                  for _ in range(256)]
        with pytest.raises(winipc.WinIPCError) as e:
            raw.send(CONTROL, OP_BELL_OPEN, os.getpid(), TIMEOUT)
        assert e.value.winerror == 8
        assert raw.send(CONTROL, OP_BELL_CLOSE, tokens.pop(), TIMEOUT) == 1
        legit = served.client(bell=50)      # the freed place is usable
        address = legit.alloc(16, TIMEOUT)
        assert compare(legit, served, WM_NATIVE, address, 1.0, 2.0)[0] == (3.0, 2.0)
        legit.close()
        for t in tokens:
            assert raw.send(CONTROL, OP_BELL_CLOSE, t, TIMEOUT) == 1
    finally:
        raw.close()


def test_a_name_the_server_gave_is_its_own(served):
    """The client finds the section the server made under the name it got,
    and mmap would not have to create it."""
    raw = served.client()
    try:
        token = raw.send(CONTROL, OP_SHARED_ALLOC, 32, TIMEOUT)
        name = _rpc.object_name(served.pid, token, "shm")
        k32 = ctypes.WinDLL("kernel32", use_last_error=True)
        k32.OpenFileMappingW.restype = ctypes.c_void_p
        h = k32.OpenFileMappingW(0x0004, False, name)
        assert h
        k32.CloseHandle(ctypes.c_void_p(h))
        assert not k32.OpenFileMappingW(0x0004, False, _rpc.object_name(served.pid, token ^ 1,
                                                                        "shm"))
        raw.send(CONTROL, OP_SHARED_FREE, token, TIMEOUT)
    finally:
        raw.close()


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
