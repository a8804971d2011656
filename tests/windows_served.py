"""The Windows backend's suites on winipc._rpc directly (test_windows_bell.py,
test_windows_shared.py): a server process with a handler per message, and a
fixture that serves it with and without a spin.  Windows only."""

import ctypes
import struct
import subprocess
import sys

import pytest

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
WM_NONE = _win32.WM_USER + 99
OP_SHARED_ALLOC, OP_SHARED_ADDRESS, OP_SHARED_FREE, OP_BELL_OPEN, OP_BELL_CLOSE = 1, 2, 3, 4, 5
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

with server:
    print("ready", os.getpid(), flush=True)
    sys.stdin.read()
"""


class Served:
    def __init__(self, spin_us=50):
        self.title = unique_title("winipc-bell")
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER, self.title, str(spin_us)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "ready", line
        self.window, self.pid, _ = _rpc.find_window(self.title)

    def client(self, bell=None):
        p = _rpc.Process(self.pid, VM, self.window)
        if bell is not None:
            p.open_bell(bell, TIMEOUT)
        return p

    def stop(self):
        stop_server_child(self.proc)


@pytest.fixture(params=[50, 0], ids=["spin50", "spin0"])
def served(request):
    s = Served(request.param)
    yield s
    s.stop()


def compare(p, s, msg, address, red, blue):
    buf = bytearray(PAIR.pack(red, blue))
    rc = p.call(msg, address, buf, TIMEOUT)
    return PAIR.unpack(buf), rc
