"""Round-trip latency of process-memory RPC, against a server in a child
process, per struct size; printed as a table of p50 / p99 / mean.

    python benchmarks/roundtrip.py [--calls N] [--sizes 8,64,...] [--check]

Rows, for each size:
  winipc call    conn.call() from Python: write, send, read, as users call it
  call in place  conn.call(msg, data, out=data): the result read back into the argument
  compiled loop  the same round trip in a C loop (Connection.bench): the floor
  python handler conn.call() to a handler written in Python
  pipe (peer)    the same bytes there and back over a multiprocessing pipe
Targets are ratios within this one run (see TARGETS); --check exits 1 when
one is missed.
"""

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from multiprocessing.connection import Listener

import winipc

HERE = os.path.dirname(os.path.abspath(__file__))
WM_BUMP, WM_PYBUMP = winipc.WM_USER + 1, winipc.WM_USER + 2
SIZES = [8, 64, 512, 4096, 65536, 1 << 20]

# Ratios that must hold within one run, on p50: (row, baseline, sizes, max ratio).
TARGETS = [
    ("winipc call", "compiled loop", [8, 64, 512, 4096], 2.0),
    ("winipc call", "pipe (peer)", [65536, 1 << 20], 1.0),
]


def summarize(ns):
    ns = sorted(ns)
    return {"p50": ns[len(ns) // 2] / 1e3, "p99": ns[min(len(ns) - 1, len(ns) * 99 // 100)] / 1e3,
            "mean": statistics.fmean(ns) / 1e3}


def timed(fn, n):
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        fn()
        out.append(clock() - t0)
    return out


@contextlib.contextmanager
def bench_server():
    """bench_server.py in a child process: (a winipc connection, the pipe)."""
    title = f"winipc-bench-{uuid.uuid4()}"
    if os.name == "nt":
        address = rf"\\.\pipe\winipc-bench-{uuid.uuid4()}"
        listener = Listener(address, family="AF_PIPE")
    else:
        address = os.path.join(tempfile.mkdtemp(prefix="winipc-bench-"), "pipe")
        listener = Listener(address, family="AF_UNIX")
    child = subprocess.Popen([sys.executable, os.path.join(HERE, "bench_server.py"), title,
                              address], stdin=subprocess.DEVNULL)
    try:
        with listener.accept() as pipe:
            assert pipe.recv_bytes() == b"ready"
            with winipc.connect(title, timeout=30, wait=30) as conn:
                yield conn, pipe
    finally:
        listener.close()
        child.wait(60)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000, help="round trips per row and size")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    rows = {}
    with bench_server() as (conn, pipe):
        for size in sizes:
            n = max(50, args.calls if size <= 65536 else args.calls // 10)
            data = bytearray(os.urandom(size))
            expect = bytes(data).translate(bytes((i + 1) & 0xFF for i in range(256)))
            assert conn.call(WM_BUMP, data) == expect, "wrong result"
            conn.bench(WM_BUMP, data, n // 10)                        # warm up
            rows[("compiled loop", size)] = conn.bench(WM_BUMP, data, n)
            rows[("winipc call", size)] = timed(lambda: conn.call(WM_BUMP, data), n)
            rows[("call in place", size)] = timed(
                lambda: conn.call(WM_BUMP, data, out=data), n)
            rows[("python handler", size)] = timed(lambda: conn.call(WM_PYBUMP, data), n)

            def over_pipe():
                pipe.send_bytes(data)
                pipe.recv_bytes()
            rows[("pipe (peer)", size)] = timed(over_pipe, n)

    names = ["winipc call", "call in place", "compiled loop", "python handler", "pipe (peer)"]
    print(f"winipc {winipc.__version__} round trip, backend {winipc.BACKEND}, "
          f"Python {sys.version.split()[0]}, {args.calls} calls per row (1/10 above 64 KiB)")
    print(f"{'size':>9}  {'path':<15} {'p50 us':>9} {'p99 us':>9} {'mean us':>9}  vs compiled")
    for size in sizes:
        floor = summarize(rows[("compiled loop", size)])["p50"]
        for name in names:
            s = summarize(rows[(name, size)])
            print(f"{size:>9}  {name:<15} {s['p50']:>9.1f} {s['p99']:>9.1f} {s['mean']:>9.1f}"
                  f"  {s['p50'] / floor:>6.2f}x")
    missed = 0
    for row, base, target_sizes, limit in TARGETS:
        for size in target_sizes:
            if size not in sizes:
                continue
            ratio = summarize(rows[(row, size)])["p50"] / summarize(rows[(base, size)])["p50"]
            ok = ratio <= limit
            missed += not ok
            print(f"target  {row} / {base} at {size} B: {ratio:.2f} <= {limit}"
                  f"  {'ok' if ok else 'MISSED'}")
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
