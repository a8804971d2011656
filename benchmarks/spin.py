"""What a spin buys and what it costs: the 16-byte round trip of conn.call()
with the same spin on both sides, for several spins, with the CPU time
client and server spend per call; and how long a waiting side may spin
before a kernel wake-up would have been as cheap.

    python benchmarks/spin.py [--calls N] [--spins 0,5,20,50,100,200]

It uses the server and helpers of the round-trip benchmark (winipc.bench,
``python -m winipc bench``) from the installed package.

The rows are measured interleaved, in rounds.  "gap" is the pause between
calls (an application doing other work): a server whose spin is shorter
than the gap sleeps between calls and pays a wake-up on the next one."""

import argparse
import contextlib
import sys
import time

import winipc
from winipc._bench_machine import cpu_cell, cpu_per_call
from winipc.bench import ROUNDS, WM_BUMP, bench_server, server_cpu_ns, summarize


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=4000)
    ap.add_argument("--spins", default="0,5,20,50,100,200")
    ap.add_argument("--gaps", default="0,20,100", help="µs between calls")
    args = ap.parse_args(argv)
    spins = [int(s) for s in args.spins.split(",")]
    gaps = [int(g) for g in args.gaps.split(",")]
    data = bytearray(16)
    print(f"winipc {winipc.__version__} spin, backend {winipc.BACKEND}, 16 B conn.call, "
          f"{args.calls} calls per row")
    print(f"{'spin us':>8} {'gap us':>7} {'p50 us':>8} {'p99 us':>8}  "
          f"{'cpu client':>10} {'cpu server':>10}  (per call, us)", flush=True)
    with bench_server(spins) as (title, _, _), contextlib.ExitStack() as stack:
        conns = {s: stack.enter_context(winipc.connect(f"{title}-spin{s}", spin=s, wait=30,
                                                       shared=True)) for s in spins}
        probe = stack.enter_context(winipc.connect(title, wait=30))
        rows = {(s, g): [[], 0, 0, 0] for s in spins for g in gaps}   # ns, cpu, cpu, wall
        per_round = max(10, args.calls // ROUNDS)
        for _ in range(ROUNDS):
            for (s, g), row in rows.items():
                conn, call = conns[s], conns[s].call
                s0, c0 = server_cpu_ns(probe), time.process_time_ns()
                clock = time.perf_counter_ns
                w0 = clock()
                for _ in range(per_round):
                    if g:
                        until = clock() + g * 1000
                        while clock() < until:      # the application's own work
                            pass
                    t0 = clock()
                    call(WM_BUMP, data)
                    row[0].append(clock() - t0)
                w1, c1, s1 = clock(), time.process_time_ns(), server_cpu_ns(probe)
                row[1] += c1 - c0 - (g * 1000 * per_round)   # not the gap's own work
                row[2] += s1 - s0
                row[3] += w1 - w0
        for (s, g), (ns, client, server, wall) in rows.items():
            q = summarize(ns)
            print(f"{s:>8} {g:>7} {q['p50']:>8.2f} {q['p99']:>8.2f}  "
                  f"{cpu_cell(cpu_per_call(client, len(ns), wall))} "
                  f"{cpu_cell(cpu_per_call(server, len(ns), wall))}")


if __name__ == "__main__":
    sys.exit(main())
