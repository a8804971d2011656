"""A test server process: python server_main.py TITLE [SPIN_US].  Prints "ready PID"
once its window exists, then serves until killed."""

import ctypes
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import winipc  # noqa: E402
from procstats import stats  # noqa: E402
from structs import (  # noqa: E402
    WM_BUMP, WM_CALLER, WM_COMPARE, WM_COMPARE_CTYPES, WM_COMPARE_NATIVE, WM_EXIT, WM_MIXED, WM_PID,
    WM_COUNT, WM_HELD, WM_PYBUMP, WM_RAISE, WM_RESULT_OF, WM_SLEEP, WM_SMALL, WM_STATS, WM_TALLY,
    WM_TALLY_READ, RESULTS, TALLY_SLOTS, Mixed, MyInfo, Small, Stats,
)

PLUS_ONE = bytes((i + 1) & 0xFF for i in range(256))
HANDLER = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, ctypes.c_size_t)


def capsule_pointer(capsule):
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return get(capsule, b"winipc.handler")


def build(title, spin=None):
    server = winipc.Server(title, spin=spin)
    samples = winipc.sample_handlers()

    @server.handler(WM_COMPARE, MyInfo)
    def compare(info):
        info.red, info.blue = info.blue + 1, info.red * 2
        return 1

    server.handler(WM_COMPARE_NATIVE, MyInfo, native=samples["compare"])
    # A ctypes function pointer to the compiled sample: no Python runs in it.
    server.handler(WM_COMPARE_CTYPES, MyInfo, native=HANDLER(capsule_pointer(samples["compare"])))
    server.handler(WM_BUMP, 1, native=samples["bump"])

    @server.handler(WM_PYBUMP)
    def pybump(view):
        view[:] = bytes(view).translate(PLUS_ONE)
        return len(view)

    @server.handler(WM_SMALL, Small)
    def small(s):
        s.value *= 3
        return 3

    @server.handler(WM_MIXED, Mixed)
    def mixed(m):
        m.count += 1
        m.scale *= 0.5
        m.name = m.name.upper()
        m.flags |= 0x8000
        return m.count

    @server.handler(WM_RAISE, Small)
    def boom(s):
        raise RuntimeError("handler failure on purpose")

    @server.handler(WM_SLEEP, Small)
    def sleep(s):
        time.sleep(s.value / 1000)
        s.value = -s.value          # the buffer is written after the sleep too
        return 0

    @server.handler(WM_EXIT, Small)
    def leave(s):
        os._exit(3)

    @server.handler(WM_STATS, Stats)
    def report(out):
        out.handles, out.threads, out.mapped = stats()
        out.held_handles, out.held_bytes = server.held
        return 0

    @server.handler(WM_HELD, Stats)
    def held(out):
        out.held_handles, out.held_bytes = server.held
        return 0

    @server.handler(WM_RESULT_OF, Small)
    def result_of(s):
        return RESULTS[s.value]

    @server.handler(WM_PID, Small)
    def pid(s):
        return os.getpid()

    @server.handler(WM_CALLER, Small)
    def caller(s):
        pid = winipc.caller_pid()
        return -1 if pid is None else pid

    counted = [0]

    @server.handler(WM_COUNT, Small)
    def count(s):
        counted[0] += 1
        s.value = counted[0]        # in the struct too: each caller sees its own
        return counted[0]

    # Each slot's runs (at most 255 between reads) and all runs together.
    tally, runs = bytearray(TALLY_SLOTS), [0]

    @server.handler(WM_TALLY, Small)
    def count_slot(s):
        slot, pause = s.value & 0xFFFFFFFF, s.value >> 32
        if slot >= TALLY_SLOTS:
            return -1
        if pause:
            end = time.perf_counter() + pause / 1e6
            while time.perf_counter() < end:
                pass
        tally[slot] = min(tally[slot] + 1, 255)
        runs[0] += 1
        return runs[0]

    @server.handler(WM_TALLY_READ)
    def read_slots(view):
        first = int.from_bytes(view[:8], "little")
        n = min(len(view) - 8, TALLY_SLOTS - first)
        if n < 0:
            return -1
        view[8:8 + n] = tally[first:first + n]
        tally[first:first + n] = bytes(n)
        return runs[0]

    return server


def main():
    nofile = os.environ.get("WINIPC_TEST_NOFILE")
    if nofile:          # a server short of fds, to see it turn clients away
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (int(nofile), int(nofile)))
    spin = sys.argv[2] if len(sys.argv) > 2 else ""
    server = build(sys.argv[1], int(spin) if spin else None)
    with server:
        print("ready", os.getpid(), flush=True)
        # Serve until the parent closes our stdin (or kills us).
        sys.stdin.read()


if __name__ == "__main__":
    main()
