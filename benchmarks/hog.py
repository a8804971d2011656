"""What the server's spin buys when a third process burns a CPU: the 16-byte
shared conn.call() to a server that spins 50 us after each call (the
default) and to one that sleeps at once (spin 0), with a CPU hog beside the
server, beside the client, left to the scheduler with both, or with all
three on one CPU (a one-CPU container with a busy neighbour).

    python benchmarks/hog.py [--calls N]

It uses the server and helpers of the round-trip benchmark (winipc.bench,
``python -m winipc bench``) from the installed package; Linux only (it pins
with sched_setaffinity).  The two servers' rows are measured interleaved, in
rounds.

What it showed on a 2-CPU machine: a spinning server that shares its CPU
with a hog still answers most calls within microseconds (it gets the CPU for
whole time slices), where a server that sleeps pays a wake-up that does not
preempt the hog at once (tens of microseconds at the median).  So a spinning
server that finds it lost its CPU keeps spinning: stopping was tried, and
its p50 and mean were no better.  A client beside the hog is another
matter: its yields (while a cold server wakes) gave the hog whole time
slices, and every call took one (4 ms), until a client whose yield lost the
CPU learnt to sleep instead (doorbell.h, winipc_client_wait_step).  With all
three on one CPU both sides' yields fed the hog (a mean of 1.4 ms a call),
until a side whose yields came back late with the other's stamped request or
answer waiting learnt to sleep there too (winipc_lost_yield): tens of µs."""

import argparse
import contextlib
import os
import subprocess
import sys
import time

import winipc
from winipc.bench import ROUNDS, WM_BUMP, bench_server, summarize

SPINS = (50, 0)


@contextlib.contextmanager
def hog(cpu):
    """A process that burns CPU ``cpu`` (None: any) until the block ends."""
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        if cpu is not None:
            os.sched_setaffinity(child.pid, {cpu})
        yield
    finally:
        child.kill()
        child.wait()


def placement(name, server_cpu, client_cpu, hog_cpu, calls):
    cpus = [server_cpu] if server_cpu is not None else []
    allowed = os.sched_getaffinity(0)
    try:
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})
        with bench_server(SPINS, cpus=cpus) as (title, _, _), hog(hog_cpu), \
                contextlib.ExitStack() as stack:
            conns = {s: stack.enter_context(winipc.connect(f"{title}-spin{s}", wait=30,
                                                           shared=True)) for s in SPINS}
            data = bytearray(16)
            rows = {s: [] for s in SPINS}
            clock = time.perf_counter_ns
            for _ in range(ROUNDS):
                for s, ns in rows.items():
                    call = conns[s].call
                    for _ in range(max(10, calls // ROUNDS)):
                        t0 = clock()
                        call(WM_BUMP, data)
                        ns.append(clock() - t0)
    finally:
        os.sched_setaffinity(0, allowed)
    for s, ns in rows.items():
        q = summarize(ns)
        mean = sum(ns) / len(ns) / 1e3
        print(f"{name:<24} {s:>7} {q['p50']:>8.2f} {q['p99']:>9.2f} {mean:>9.2f}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20000)
    args = ap.parse_args(argv)
    if not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2:
        sys.exit("hog.py: needs Linux and two CPUs to pin to")
    first, second = sorted(os.sched_getaffinity(0))[:2]
    print(f"winipc {winipc.__version__} hog, 16 B shared conn.call, {args.calls} calls per row")
    print(f"{'hog':<24} {'spin us':>7} {'p50 us':>8} {'p99 us':>9} {'mean us':>9}", flush=True)
    placement("beside the server", second, first, second, args.calls)
    placement("beside the client", second, first, first, args.calls)
    placement("left to the scheduler", None, None, None, args.calls)
    placement("all on one CPU", first, first, first, args.calls)


if __name__ == "__main__":
    sys.exit(main())
