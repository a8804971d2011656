"""Bursts of back-to-back calls after the client idled: what a burst's calls
cost on average, a burst's first wake-up and any move to another CPU
included, against the same bursts over a multiprocessing pipe.

    python benchmarks/bursts.py [--gap-us G] [--bursts N] [--sizes 1,4,16,64,256]
                                [--placement os|split|same] [--no-pipe]

A 16-byte conn.call() to the round-trip benchmark's server (winipc.bench,
a compiled handler), in bursts of 1, 4, 16, 64 and 256 calls (``--sizes``), each after
the client slept ``--gap-us`` (longer than the server's 50 us spin: every
burst wakes it).  The paths take turns in rounds (winipc.bench's ROUNDS),
the burst sizes interleaved within each, the same number of bursts of each.
Per burst size: the mean per call (the total time of the bursts over their
calls), the p50 and p99 of single calls, the client's CPU per call, and the
mean against the pipe's.  ``--no-pipe`` leaves the pipe out: then nothing
but winipc's bursts wakes the server's process.

Why it is here: left to the scheduler, a wake-up places a thread beside its
waker, so a burst often begins with client and server on one CPU, and a
client moves off its server's CPU once its calls there have lost about as
much as a move costs, or at a burst's first call while most of its recent
bursts outlasted their move (client_bell.pxi).  A move is a wake-up of the other
CPU: on a virtual machine whose idle CPUs woke slowly it took 50 us to
milliseconds.  A client that moved after eight calls beside the server
whatever the burst (the rule before) paid about twice as much per call in
bursts of 4 calls one after another (``--no-pipe --sizes 4``: 23.8-29.3 us
against 11.9-13.8); bursts of 16, and all sizes in turn, came out the same
within the runs' noise (README, the doorbell).
"""

import argparse
import os
import sys
import time

import winipc
from winipc.bench import ROUNDS, WM_BUMP, bench_server, connections, summarize

BURSTS = (1, 4, 16, 64, 256)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gap-us", type=int, default=2000, help="idle before each burst (us)")
    ap.add_argument("--bursts", type=int, default=100,
                    help="bursts per size and path (default 100)")
    ap.add_argument("--placement", choices=("os", "split", "same"), default="os")
    ap.add_argument("--no-pipe", action="store_true", help="winipc's bursts alone")
    ap.add_argument("--sizes", default=",".join(map(str, BURSTS)),
                    help="calls per burst, comma-separated (one size: a burst of it after another)")
    args = ap.parse_args(argv)
    sizes = [int(n) for n in args.sizes.split(",")]
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if args.placement != "os" and len(cpus) < 2:
        sys.exit("bursts.py: pinning needs two CPUs (and Linux)")
    server_cpus = [] if args.placement == "os" else [cpus[1] if args.placement == "split"
                                                    else cpus[0]]
    print(f"winipc {winipc.__version__} bursts after {args.gap_us} us idle, 16 B conn.call "
          f"(compiled handler), placement {args.placement}")
    try:
        if server_cpus:
            os.sched_setaffinity(0, {cpus[0]})
        with bench_server(cpus=server_cpus, peer_size=16) as (title, pipe, _), \
                connections(title) as conns:
            call, data = conns["default"].call, bytearray(16)

            def over_pipe(_msg, data):
                pipe.send_bytes(data)
                pipe.recv_bytes()

            paths = {"call": call} if args.no_pipe else {"call": call, "pipe (peer)": over_pipe}
            for fn in paths.values():
                fn(WM_BUMP, data)
            time.sleep(0.2)         # (the spins that connecting began run out)
            clock, sleep, gap = time.perf_counter_ns, time.sleep, args.gap_us / 1e6
            single = {(p, n): [] for p in paths for n in sizes}
            total = dict.fromkeys(single, 0)
            cpu = dict.fromkeys(single, 0)
            # In rounds, each path's bursts of every size in a row: a pipe
            # call between two bursts would wake a thread of the server's
            # (the pipe's), and wake-ups are what place the pair (above).
            for _ in range(ROUNDS):
                for path, fn in paths.items():
                    for _ in range(max(1, args.bursts // ROUNDS)):
                        for n in sizes:
                            sleep(gap)
                            c0, b0 = time.thread_time_ns(), clock()
                            for _ in range(n):
                                t0 = clock()
                                fn(WM_BUMP, data)
                                single[path, n].append(clock() - t0)
                            total[path, n] += clock() - b0
                            cpu[path, n] += time.thread_time_ns() - c0
    finally:
        if server_cpus:         # (the client was pinned above)
            os.sched_setaffinity(0, cpus)
    print(f"{'burst':>6}  {'path':<12} {'mean us':>9} {'p50 us':>8} {'p99 us':>9} "
          f"{'cpu client':>10} {'vs pipe':>8}")
    for n in sizes:
        for path in paths:
            calls = len(single[path, n])
            q = summarize(single[path, n])
            mean = total[path, n] / calls / 1e3
            vs = "-" if args.no_pipe else f"{mean / (total['pipe (peer)', n] / calls / 1e3):.3f}x"
            print(f"{n:>6}  {path:<12} {mean:>9.2f} {q['p50']:>8.2f} {q['p99']:>9.2f} "
                  f"{cpu[path, n] / calls / 1e3:>10.2f} {vs:>8}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
