"""The Windows backend's suites on winipc._rpc directly (test_windows_bell.py,
test_windows_shared.py): a server process with a handler per message, a
fixture that serves it with and without a spin, one that serves it on a
thread and on the main thread (serve_forever), and a doorbell opened by hand
as any client could.  Windows only."""

import ctypes
import struct
import os
import subprocess
import sys
import time

import pytest

import winipc
from winipc import _rpc, _win32
from conftest import stop_server_child, unique_title

VM = _win32.PROCESS_VM_OPERATION | _win32.PROCESS_VM_READ | _win32.PROCESS_VM_WRITE
WM_NATIVE = _win32.WM_USER + 1      # compiled compare on two doubles
WM_PY = _win32.WM_USER + 2          # Python compare on two doubles
WM_SLOW = _win32.WM_USER + 3        # sleeps value ms, then value = 7; returns 5
WM_EXIT = _win32.WM_USER + 4        # the server process exits in the handler
WM_RAISE = _win32.WM_USER + 5
WM_BUMP = _win32.WM_USER + 6        # compiled: +1 on every byte, returns the size
WM_COUNT = _win32.WM_USER + 7       # Python: returns how many calls it has had
WM_HELD = _win32.WM_USER + 8        # Python: the handles the server holds for clients
WM_HEALED = _win32.WM_USER + 9      # Python: doorbell pages the server restored
WM_NONE = _win32.WM_USER + 99
OP_SHARED_ALLOC, OP_SHARED_FREE, OP_BELL_OPEN, OP_BELL_CLOSE = 1, 3, 4, 5
# The grant the server writes in a doorbell page (control.pxi's BellGrant)
GRANT = struct.Struct("=QQQIIQ")    # token, client Event, wake Event, claim, pad, extra
GRANT_AT = 128
CONTROL = ctypes.WinDLL("user32").RegisterWindowMessageW(_rpc.CONTROL_NAME)
TIMEOUT = 5000
PAIR = struct.Struct("=dd")

SERVER = r"""
import ctypes, os, sys, time
import winipc

class Info(ctypes.Structure):
    _fields_ = [("red", ctypes.c_double), ("blue", ctypes.c_double)]

class Small(ctypes.Structure):
    _fields_ = [("value", ctypes.c_uint64)]

U = winipc.WM_USER
server = winipc.Server(sys.argv[1])
main = sys.argv[3] == "main"
server._core.spin_us = int(sys.argv[2])
samples = winipc.sample_handlers()
server.handler(U + 1, Info, native=samples["compare"])
server.handler(U + 6, 1, native=samples["bump"])
calls = [0]

@server.handler(U + 2, Info)
def compare(info):
    info.red, info.blue = info.blue + 1, info.red * 2
    return 1

@server.handler(U + 3, Small)
def slow(s):
    time.sleep(s.value / 1000)
    s.value = 7
    return 5

@server.handler(U + 4, Small)
def leave(s):
    os._exit(3)

@server.handler(U + 5, Small)
def boom(s):
    raise RuntimeError("on purpose")

@server.handler(U + 7, Small)
def count(s):
    calls[0] += 1
    return calls[0]

@server.handler(U + 8, Small)
def held(s):
    return server._core.held[0]

@server.handler(U + 9, Small)
def healed(s):
    return server._core.healed

if main:
    import threading
    def until_stdin_ends():
        sys.stdin.read()
        server.stop()
    threading.Thread(target=until_stdin_ends, daemon=True).start()
    print("ready", os.getpid(), flush=True)
    server.serve_forever()
else:
    with server:
        print("ready", os.getpid(), flush=True)
        sys.stdin.read()
"""


class Served:
    def __init__(self, spin_us=50, serving="thread"):
        self.title = unique_title("winipc-bell")
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER, self.title, str(spin_us),
                                      serving],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "ready", line
        deadline = time.monotonic() + 10
        while True:     # serve_forever() makes its window after "ready"
            try:
                self.window, self.pid, _ = _rpc.find_window(self.title)
                break
            except winipc.WindowNotFound:
                assert time.monotonic() < deadline
                time.sleep(0.02)

    def client(self, bell=None):
        p = _rpc.Process(self.pid, VM, self.window)
        if bell is not None:
            p.open_transport(bell, False, TIMEOUT)
        return p

    def ask(self, msg):
        """A Python handler's answer about the server (WM_HELD, WM_HEALED)."""
        p = self.client()
        try:
            return p.call(msg, p.alloc(8, TIMEOUT), bytearray(8), TIMEOUT)
        finally:
            p.close()

    def stop(self):
        stop_server_child(self.proc)


@pytest.fixture(params=[50, 0], ids=["spin50", "spin0"])
def served(request):
    s = Served(request.param)
    yield s
    s.stop()


@pytest.fixture(params=["thread", "main"])
def served_both(request):
    """Served on a thread (``with server``) and on the main thread
    (``serve_forever``)."""
    s = Served(50, request.param)
    yield s
    s.stop()


_k32 = ctypes.WinDLL("kernel32", use_last_error=True)
_k32.MapViewOfFile.restype = ctypes.c_void_p
_k32.MapViewOfFile.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                               ctypes.c_size_t]
_k32.UnmapViewOfFile.argtypes = [ctypes.c_void_p]
_k32.CloseHandle.argtypes = [ctypes.c_void_p]


class RawBell:
    """A doorbell opened by hand, as any client could (OP_BELL_OPEN for a
    pid), its page mapped and claimed: ``page`` is writable memory."""

    def __init__(self, s, pid=None, claim=True):
        self.raw = s.client()
        self.handle = self.raw.send(CONTROL, OP_BELL_OPEN, os.getpid() if pid is None else pid,
                                    TIMEOUT)
        self.address = None
        if pid is not None and pid != os.getpid():
            return      # the handle is valid in that process only
        self.address = _k32.MapViewOfFile(self.handle, 0x0006, 0, 0, 4096)
        assert self.address, ctypes.get_last_error()
        self.page = (ctypes.c_char * 4096).from_address(self.address)
        if claim:
            struct.pack_into("=I", self.page, GRANT_AT + 24, 1)
        self.token, self.client_event, self.wake_event, self.claim, _, _ = \
            GRANT.unpack_from(self.page, GRANT_AT)

    def close(self):
        if self.address is not None:
            if self.claim == 1:     # ours: else the server takes them back
                for h in (self.handle, self.client_event, self.wake_event):
                    _k32.CloseHandle(h)
            del self.page
            _k32.UnmapViewOfFile(self.address)
            self.address = None
        self.raw.close()


def wait_for(what, want, seconds=5.0):
    """Poll ``what()`` until it returns ``want`` -> the last value."""
    deadline = time.monotonic() + seconds
    while True:
        got = what()
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def compare(p, s, msg, address, red, blue):
    buf = bytearray(PAIR.pack(red, blue))
    rc = p.call(msg, address, buf, TIMEOUT)
    return PAIR.unpack(buf), rc
