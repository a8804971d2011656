"""Round-trip latency of process-memory RPC, against a server in a child
process, per struct size: p50 / p99 / mean, and the CPU time the client and
the server spend per call.

    python -m winipc bench [--calls N] [--sizes 16,64,...] [--check]
                           [--placement split|same|os] [--hog] [--gaps 100,1000,...]
                           [--no-peers] [--json FILE|-] [--plot FILE.png]

Paths, for each size (the paths of one size are measured interleaved, in
rounds, so that the machine's mood hits them alike):
  call              conn.call() from Python: write, ring, read, as users call it
                    (Windows: the classic WriteProcessMemory, SendMessageTimeout,
                    ReadProcessMemory; Linux: the doorbell, spinning)
  compiled          the same round trip in a C loop (Connection.bench): the floor
  compiled no spin  the compiled loop with spin=0 on both sides: every wait
                    sleeps in the kernel (Linux: the socket; Windows: Events)
  shared call       conn.call() on a shared buffer (connect(shared=True)):
                    memory copies, the doorbell, no process_vm / WPM / RPM
  shared prepared   a prepared call (conn.prepare) on a shared buffer: bound once,
                    in place, the per-call Python left is one method call
  shared compiled   the compiled loop on the shared buffer
  python handler    conn.call() to a handler written in Python
  acall             await conn.acall() to the Python handler, one at a time
  acall x8 in turn  eight acall()s one after another: time per call of each batch
  acall x8 tasks    eight tasks awaiting acall() on one connection: time per call
  x8 tasks, no call the same eight tasks calling nothing: asyncio's own cost per task
  pipe (peer)       the same bytes there and back over a multiprocessing pipe
  asyncio stream (peer)  the same bytes over an asyncio stream (Unix socket;
                    Windows: TCP loopback), the event loop's own floor
  sem+shm (peer)    POSIX semaphores and shared memory, a Python server
                    (winipc[peers]; not on Windows)
  zmq req/rep (peer)  pyzmq, REQ to REP over ipc:// (winipc[peers]; Windows: TCP
                    loopback)
  iceoryx2 (peer)   iceoryx2's request-response on its shared memory, an
                    iceoryx2 event each way to wake the other side (winipc[peers])
  python spin (peer)  pure Python on both sides, spinning on a shared-memory word
A peer whose library is missing is left out, the reason printed above the table.
cpu columns: the CPU time of the client and of the server process per call,
in µs: what spinning costs, next to the latency it buys.
Targets are ratios of p50 within this one run (TARGETS); --check exits 1
when one is missed.  Linux's ratios against the pipe hold split across two
CPUs, where a pipe pays a cross-CPU wake-up each way; in the other
placements the targets are against the semaphore peer, and call is at most
a pipe.

Progress goes to stderr (a bar per size and path with tqdm, the extra
winipc[bench]; otherwise a line per size), the table to stdout (to stderr
when --json writes to stdout).  --plot needs matplotlib (winipc[plot]).
"""
# The paths, the progress, the targets and the picture are _bench_report.py's.

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Client, Connection, Listener
from typing import Any, TextIO, TypeAlias

import winipc

from . import _bench_aio, _bench_peers, _bench_spin
from ._bench_report import (PLOT_EXTRA, ROWS, SPINNING, TAIL_LIMIT, TARGETS, Progress,
                            check_plotting, check_targets, make_progress, plot)
from ._bench_report import BarProgress as BarProgress, LineProgress as LineProgress
from ._bench_report import summarize as summarize
from ._bench_report import size_label as size_label
from ._bench_gaps import measure_gaps
from ._bench_machine import (COARSE_STEP_NS, CPU_STEPS, PLACEMENTS, cpu_cell, cpu_clock_step_ns,
                             cpu_hog, cpu_per_call, machine, placement_cpus)
from ._bench_server import PLUS_ONE, STEADY_US, WM_BUMP, WM_CPU, WM_PYBUMP

# The pipe to the benchmark's server: on Windows the listener's may be a named pipe.
# One declaration of the alias, so that every type checker reads the same type
# (on Linux the second half is Connection again).
if sys.platform == "win32":
    from multiprocessing.connection import PipeConnection as _PipeEnd
else:
    from multiprocessing.connection import Connection as _PipeEnd
Pipe: TypeAlias = Connection | _PipeEnd

__all__ = [
    "PLUS_ONE", "ROUNDS", "ROWS", "SIZES", "TARGETS", "WM_BUMP", "WM_CPU", "WM_PYBUMP",
    "bench_server", "connections", "main", "measure", "server_cpu_ns", "summarize", "timed",
]

SIZES = [16, 64, 512, 4096, 65536, 1 << 20]
# Idle gaps (µs) before the single calls of the gap rows.
GAPS_US = [100, 1000, 10000]
# Rounds per size: the rows take turns this many times.  Eight, the count the
# spread target is stated for (no round's p50 over 1.5 times the best's).
ROUNDS = 8
# The first calls of each round, counted apart in the slow calls of a row:
# a round begins after the other rows, some of which sleep (left to the
# scheduler, the wake-ups there may have put client and server on one CPU).
ROUND_START = 10
# Unrecorded passes over every path before the first row (seconds).
WARM_UP_MIN, WARM_UP_MAX = 1.0, 10.0
# Seconds the benchmark's server may take to start (under Wine, several).
START_TIMEOUT = 120


def timed(fn: Callable[..., object], n: int, *args: Any) -> list[int]:
    """The durations of ``n`` calls of ``fn(*args)``, in ns.  The call is
    made here, not through a wrapper of the row's: a lambda's frame in each
    sample would add its cost to every row's (most to the prepared call's
    margin over the compiled loop, which has none)."""
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        fn(*args)
        out.append(clock() - t0)
    return out


@contextlib.contextmanager
def bench_server(spins: Sequence[int] = (), cpus: Sequence[int] = (),
                 peer_size: int = 0) -> Iterator[tuple[str, Pipe, str]]:
    """The benchmark's server (winipc._bench_server) in a child process, with
    a window for each of ``spins`` too, pinned to ``cpus`` (if any), serving
    the other peers for requests up to ``peer_size`` bytes (if not 0):
    (its title, the pipe to its peer, the address of its asyncio stream)."""
    title = f"winipc-bench-{uuid.uuid4()}"
    # The platform's own kind of pipe (multiprocessing's default: a named
    # pipe on Windows, a Unix socket in a fresh temporary folder elsewhere).
    listener = Listener()
    address = listener.address
    # -P: the server imports the installed winipc, never a checkout in the
    # current folder.
    options = [f"--cpus={','.join(map(str, cpus))}"] if cpus else []
    if peer_size:
        options.append(f"--peer-size={peer_size}")
    child = subprocess.Popen([sys.executable, "-P", "-m", "winipc._bench_server", title,
                              address, *options, *map(str, spins)], stdin=subprocess.DEVNULL)
    accepted = threading.Event()

    def watch() -> None:
        # A server that dies (or hangs) before it connects must not leave
        # accept() waiting forever: end it, and connect in its place.
        deadline = time.monotonic() + START_TIMEOUT
        while not accepted.wait(0.1):
            if child.poll() is None and time.monotonic() < deadline:
                continue
            if child.poll() is None:
                child.kill()
            with contextlib.suppress(OSError):
                Client(address).close()
            return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with listener.accept() as pipe:
            accepted.set()
            try:
                hello = pipe.recv_bytes()
            except EOFError:
                hello = b""
            if not hello.startswith(b"ready "):
                raise RuntimeError(
                    f"the benchmark's server (python -m winipc._bench_server) did not start:"
                    f" exit code {child.poll()}, see its output above")
            yield title, pipe, hello[6:].decode()
    finally:
        accepted.set()
        watcher.join()
        listener.close()
        try:
            child.wait(60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(30)


@contextlib.contextmanager
def connections(title: str) -> Iterator[dict[str, winipc.Connection]]:
    """The connections the rows use, by name: default, nospin, shared, aio,
    steady (the server in steady mode)."""
    with contextlib.ExitStack() as stack:
        def conn(suffix: str = "", **kw: Any) -> winipc.Connection:
            c: winipc.Connection = stack.enter_context(
                winipc.connect(title + suffix, timeout=30, wait=30, **kw))
            return c
        yield {"default": conn(), "nospin": conn("-nospin", spin=0),
               "shared": conn(shared=True), "aio": conn(), "steady": conn("-steady")}


def server_cpu_ns(conn: winipc.Connection) -> int:
    """The server process's CPU time so far, in ns.  Linux: its CPU clock,
    read from here: a call to ask would wake a server that sleeps, and count
    among this process's bursts of calls (a client's move off its server's
    CPU goes by them, _native/linux/client_bell.pxi).  Windows: a WM_CPU
    call (no move rule there)."""
    if sys.platform == "linux":
        return time.clock_gettime_ns(_cpu_clock(conn.pid))
    conn.call(WM_CPU, bytes(8))
    assert conn.last_result is not None
    return conn.last_result


@functools.cache
def _cpu_clock(pid: int) -> int:
    """The CPU clock of process ``pid`` (clock_getcpuclockid(3), through
    ctypes: the time module has a thread's, pthread_getcpuclockid, but not
    another process's)."""
    import ctypes
    clock = ctypes.c_int()      # clockid_t
    err = ctypes.CDLL(None).clock_getcpuclockid(pid, ctypes.byref(clock))
    if err:
        raise OSError(err, f"clock_getcpuclockid({pid}): {os.strerror(err)}")
    return clock.value


# --- the measurement --------------------------------------------------------------

def measure(conns: dict[str, winipc.Connection], pipe: Pipe, size: int, n: int,
            progress: Progress | None = None, peers: dict[str, Any] | None = None,
            aio: _bench_aio.Rows | None = None,
            ) -> dict[str, tuple[list[int], float | None, float | None, list[float],
                                 list[int]]]:
    """{row: (durations in ns, client cpu ns per call, server cpu ns per call
    (None: too little to measure, cpu_per_call), each round's p50 in µs, the
    durations of each round's first ROUND_START calls)} of ``n`` calls per
    row (at least ROUNDS * 5), in ROUNDS interleaved rounds; ``peers``: the
    other peers' clients by row."""
    progress = progress or Progress()
    peers = peers or {}
    data = bytearray(os.urandom(size))
    expect = bytes(data).translate(PLUS_ONE)
    default, nospin, shared = conns["default"], conns["nospin"], conns["shared"]
    for c in conns.values():
        if c.call(WM_BUMP, data) != expect:
            raise AssertionError(f"wrong result from the server at {size} B")
        c.bench(WM_BUMP, data, max(20, n // 10))                     # warm up
    for row, peer in peers.items():
        with _awake(peer):
            if peer.call(data) != expect:
                raise AssertionError(f"wrong result from {row} at {size} B")
    if aio is not None:
        for row in _bench_aio.ROWS:
            if aio.call(row, data) != expect:
                raise AssertionError(f"wrong result from {row} at {size} B")

    def over_pipe() -> None:
        pipe.send_bytes(data)
        pipe.recv_bytes()

    # The prepared call bumps its bytes in place, call after call.
    prepared = shared.prepare(WM_BUMP, size)
    in_place = bytearray(data)
    if prepared(in_place) != size or in_place != expect:
        raise AssertionError(f"wrong result from a prepared call at {size} B")
    runs: dict[str, Callable[[int], list[int]]] = {
        "call": lambda k: timed(default.call, k, WM_BUMP, data),
        "compiled": lambda k: default.bench(WM_BUMP, data, k),
        "compiled no spin": lambda k: nospin.bench(WM_BUMP, data, k),
        "shared call": lambda k: timed(shared.call, k, WM_BUMP, data),
        "shared prepared": lambda k: timed(prepared, k, in_place),
        "shared compiled": lambda k: shared.bench(WM_BUMP, data, k),
        "python handler": lambda k: timed(default.call, k, WM_PYBUMP, data),
        "pipe (peer)": lambda k: timed(over_pipe, k),
    }
    for row, peer in peers.items():
        runs[row] = functools.partial(_peer_timed, peer, data)
    if aio is not None:
        for row in _bench_aio.ROWS:
            runs[row] = functools.partial(aio.timed, row, data)
    rows = [row for row in ROWS if row in runs] + list(peers)
    times: dict[str, list[int]] = {row: [] for row in rows}
    rounds: dict[str, list[float]] = {row: [] for row in rows}
    starts: dict[str, list[int]] = {row: [] for row in rows}
    cpu = {row: [0, 0, 0, 0] for row in rows}  # client ns, server ns, calls, wall ns
    per_round = max(5, -(-n // ROUNDS))      # (at least n calls in all)
    progress.start(size, per_round * ROUNDS, rows)
    for done in range(1, ROUNDS + 1):
        for row in rows:
            s0, c0 = server_cpu_ns(default), time.process_time_ns()
            w0 = time.perf_counter_ns()
            # The first call after the other rows' is slow whatever it
            # rings (about twice the rest here: cold caches, a peer that
            # slept meanwhile): untimed, its CPU counted with the rest (a
            # peer makes its own, within its awake time: _peer_timed).
            # Such a call is what the idle-gap rows measure, not
            # back-to-back calls.
            warm = 1 if row in peers else len(runs[row](1))
            got = runs[row](per_round)
            w1, c1, s1 = time.perf_counter_ns(), time.process_time_ns(), server_cpu_ns(default)
            times[row] += got
            rounds[row].append(summarize(got)["p50"])
            starts[row] += got[:ROUND_START]
            cpu[row][0] += c1 - c0
            cpu[row][1] += s1 - s0
            cpu[row][2] += warm + len(got)
            cpu[row][3] += w1 - w0
            progress.advance(row, per_round)
        progress.round_done(done, ROUNDS)
    progress.finish()
    prepared.close()
    return {row: (times[row], cpu_per_call(cpu[row][0], cpu[row][2], cpu[row][3]),
                  cpu_per_call(cpu[row][1], cpu[row][2], cpu[row][3]), rounds[row], starts[row])
            for row in rows}


def _awake(peer: Any) -> contextlib.AbstractContextManager[Any]:
    """While another library's peer is used: a spinning one spins only then."""
    return peer.active() if hasattr(peer, "active") else contextlib.nullcontext()


def _peer_timed(peer: Any, data: bytearray, n: int) -> list[int]:
    """``n`` timed calls of another library's peer."""
    with _awake(peer):
        peer.call(data)         # the first after idling wakes the peer
        return timed(peer.call, n, data)


def calls_for(size: int, calls: int) -> int:
    """Calls per row at ``size``: 1/10 above 64 KiB, at least 50."""
    return max(50, calls if size <= 65536 else calls // 10)


def run(sizes: Sequence[int], calls: int, progress: Progress, out: TextIO,
        placement: str = "os", hog: bool = False, gaps: Sequence[int] = (),
        peers: bool = True) -> dict[str, Any]:
    """Measures every size and path, printing the table to ``out`` as it
    goes; the results as a JSON-ready dict (without the targets)."""
    client_cpus, server_cpus = placement_cpus(placement)
    where = machine()               # before this process is pinned
    if client_cpus and sys.platform != "win32":   # (Windows: none, placement_cpus refuses)
        os.sched_setaffinity(0, client_cpus)
    why_not = (_bench_peers.missing() if peers
               else dict.fromkeys(_bench_peers.SERVED, "not asked for (--no-peers)"))
    served = [row for row, why in why_not.items() if why is None]
    peer_rows = [*served, *([_bench_peers.SPIN_ROW] if peers else [])]
    info = {
        "winipc": winipc.__version__, "backend": winipc.BACKEND,
        "python": sys.version.split()[0], "platform": sys.platform, **where,
        "placement": placement, "client_cpus": client_cpus, "server_cpus": server_cpus,
        "hog": hog, "calls": calls, "rounds": ROUNDS, "spin_us": winipc.rpc.DEFAULT_SPIN_US,
        "steady_us": winipc.rpc.STEADY_PER_SPIN * winipc.rpc.DEFAULT_SPIN_US,
        "sizes": list(sizes), "paths": [*ROWS, *peer_rows], "gaps_us": list(gaps),
    }
    load = "" if info["load"] is None else f", load {info['load'][0]:.2f}"
    print(f"winipc {info['winipc']} round trip, backend {info['backend']}, "
          f"Python {info['python']}, {calls} calls per row (1/10 above 64 KiB), "
          f"spin {info['spin_us']} us", file=out)
    print(f"machine: {info['cpus_online']} CPUs online, {info['cpus']} usable{load}; "
          f"placement {placement} ({PLACEMENTS[placement]})"
          f"{'; a third process burns a CPU' if hog else ''}; "
          f"import winipc {info['import_ms']} ms", file=out)
    for row, why in why_not.items():
        if why:
            print(f"peers left out: {row}: {why}", file=out)
    step = cpu_clock_step_ns()
    if step >= COARSE_STEP_NS:
        print(f"cpu: this machine's CPU clock counts in steps of {step / 1e6:.1f} ms; a row "
              f"timed for less than {CPU_STEPS} steps shows -", file=out)
    print(f"{'size':>9}  {'path':<17} {'p50 us':>9} {'p99 us':>9} {'mean us':>9} "
          f"{'vs pipe':>8}  {'cpu client':>10} {'cpu server':>10}", file=out, flush=True)
    results = []
    gap_rows: list[dict[str, Any]] = []
    with cpu_hog(hog), bench_server(cpus=server_cpus, peer_size=max(sizes) if served else 0) \
            as (title, pipe, stream), connections(title) as conns, contextlib.ExitStack() as stack:
        aio = _bench_aio.Rows(conns["aio"], WM_PYBUMP, stream)
        stack.callback(aio.close)
        info["title"] = title       # the names of the run's objects and files carry it
        # Where the server really runs, as the kernel says.
        if hasattr(os, "sched_getaffinity"):
            info["server_affinity"] = sorted(os.sched_getaffinity(conns["default"].pid))
        others: dict[str, Any] = {}
        for row in served:
            others[row] = _bench_peers.client(row, title, max(sizes))
            stack.callback(others[row].close)
        if peers:
            others[_bench_peers.SPIN_ROW] = _bench_spin.SpinClient(max(sizes), server_cpus)
            stack.callback(others[_bench_peers.SPIN_ROW].close)
        # A fresh pair of processes runs slowly until the scheduler has put
        # them on CPUs of their own, and every path (the pipe's peer, the
        # Python handler, the CPU probes) has a first time: one unrecorded
        # pass over every path before any row.  (With only a compiled warm-up
        # loop, whichever size came first had p99s of 15-18 us against 2-5
        # us for the others.)
        # The machine may take seconds to settle (the scheduler placing a
        # fresh pair of processes, a build's writeback just before): the
        # passes go on until two in a row keep every spinning row's tail
        # within the target, for at most WARM_UP_MAX seconds.
        progress.note("warming up")
        start, steady = time.monotonic(), 0
        while True:
            warm = measure(conns, pipe, sizes[0], max(ROUNDS * 20, calls // 4), peers=others,
                           aio=aio)
            tails = [summarize(warm[row][0]) for row in SPINNING]
            steady = steady + 1 if all(t["p99"] <= TAIL_LIMIT * t["p50"] for t in tails) else 0
            waited = time.monotonic() - start
            if (waited >= WARM_UP_MIN and steady >= 2) or waited >= WARM_UP_MAX:
                break
        for size in sizes:
            rows = measure(conns, pipe, size, calls_for(size, calls), progress, others, aio)
            pipe_p50 = summarize(rows["pipe (peer)"][0])["p50"]
            for row, (ns, client_cpu, server_cpu, round_p50s, first) in rows.items():
                s = summarize(ns)
                slow = TAIL_LIMIT * s["p50"] * 1e3
                results.append({
                    "size": size, "path": row, "calls": len(ns),
                    "p50_us": s["p50"], "p99_us": s["p99"], "mean_us": s["mean"],
                    "vs_pipe": s["p50"] / pipe_p50,
                    "cpu_client_us": None if client_cpu is None else client_cpu / 1e3,
                    "cpu_server_us": None if server_cpu is None else server_cpu / 1e3,
                    "round_p50_us": round_p50s,
                    # Calls over TAIL_LIMIT x p50, and how many of them came
                    # among the first ROUND_START of a round.
                    "slow_calls": sum(t > slow for t in ns),
                    "slow_at_round_start": sum(t > slow for t in first),
                })
                print(f"{size:>9}  {row:<17} {s['p50']:>9.2f} {s['p99']:>9.2f} "
                      f"{s['mean']:>9.2f} {s['p50'] / pipe_p50:>7.3f}x  "
                      f"{cpu_cell(client_cpu)} {cpu_cell(server_cpu)}", file=out, flush=True)
        if gaps:
            progress.note(f"one call after an idle gap: {', '.join(map(str, gaps))} us")
            gap_rows = measure_gaps(conns, pipe, gaps, max(20, calls // 20), others)
            print(f"\none 16 B call after the client idled, to a Python handler; server cpu: "
                  f"the share of a CPU its serving thread burnt meanwhile (spin "
                  f"{info['spin_us']} us, steady {info['steady_us']} us; the steady server: "
                  f"steady={STEADY_US} us)", file=out)
            print(f"{'gap us':>9}  {'path':<21} {'p50 us':>9} {'p99 us':>9} {'vs pipe':>8}  "
                  f"{'server cpu':>10}", file=out)
            pipes = {r["gap_us"]: r["p50_us"] for r in gap_rows if r["path"] == "pipe (peer)"}
            for r in gap_rows:
                share = r["server_cpu_share"]
                # (Blank: not winipc's; "-": too little for the CPU clock.)
                cell = ("" if not r["path"].startswith("call") else "-" if share is None
                        else f"{share * 100:9.1f}%")
                print(f"{r['gap_us']:>9}  {r['path']:<21} {r['p50_us']:>9.2f} {r['p99_us']:>9.2f} "
                      f"{r['p50_us'] / pipes[r['gap_us']]:>7.3f}x  {cell:>10}", file=out,
                      flush=True)
    return {**info, "results": results, "gaps": gap_rows}


# --- the command --------------------------------------------------------------------

def add_arguments(ap: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Adds the benchmark's options to ``ap``, and returns it."""
    ap.add_argument("--calls", type=int, default=2000,
                    help="round trips per path and size (1/10 above 64 KiB, at least 50)")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)),
                    help="struct sizes in bytes, comma-separated (default: %(default)s)")
    ap.add_argument("--placement", choices=list(PLACEMENTS), default="os",
                    help="where client and server run: " + "; ".join(
                        f"{k}: {v}" for k, v in PLACEMENTS.items()) + " (default: %(default)s)")
    ap.add_argument("--hog", action="store_true",
                    help="a third process burns one CPU while the run lasts")
    ap.add_argument("--gaps", default=",".join(map(str, GAPS_US)),
                    help="idle gaps (us) before single calls, comma-separated, '' for none "
                         "(default: %(default)s)")
    ap.add_argument("--no-peers", action="store_true",
                    help=f"leave out the other libraries' rows ({_bench_peers.PEERS_EXTRA})")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--json", metavar="FILE",
                    help="write the results as JSON to FILE ('-': stdout, and the table to stderr)")
    ap.add_argument("--plot", metavar="FILE.png",
                    help=f"draw latency against size to FILE (needs matplotlib: {PLOT_EXTRA})")
    ap.add_argument("--progress", choices=["auto", "bar", "lines", "none"], default="auto",
                    help="progress on stderr: tqdm bars (on a terminal, when installed), "
                         "a line per size (and every few seconds), or none (default: %(default)s)")
    return ap


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The benchmark's command-line parser, its help from this module's docstring."""
    paragraphs = (__doc__ or "\n\n\n\n").split("\n\n", 2)
    return add_arguments(argparse.ArgumentParser(
        prog=prog, description=paragraphs[0], epilog=paragraphs[2],
        formatter_class=argparse.RawDescriptionHelpFormatter))


def main(argv: Sequence[str] | None = None, args: argparse.Namespace | None = None) -> int:
    """The benchmark command; the exit status."""
    if args is None:
        args = parser().parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        raise SystemExit(f"winipc bench: --sizes wants integers, got {args.sizes!r}") from None
    if not sizes or min(sizes) < 1 or args.calls < 1:
        raise SystemExit("winipc bench: sizes and --calls must be positive")
    if args.plot:
        check_plotting()            # before minutes of measuring, not after
    out = sys.stderr if args.json == "-" else sys.stdout
    try:
        gaps = [int(g) for g in args.gaps.split(",") if g.strip()]
    except ValueError:
        raise SystemExit(f"winipc bench: --gaps wants integers, got {args.gaps!r}") from None
    report = run(sizes, args.calls, make_progress(args.progress), out, args.placement,
                 args.hog, gaps, not args.no_peers)
    report["targets"] = check_targets(report, out)
    report["ok"] = all(v["ok"] for v in report["targets"])
    if args.json:
        text = json.dumps(report, indent=1) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            with open(args.json, "w", encoding="utf-8") as f:
                f.write(text)
    if args.plot:
        plot(report, args.plot)
        print(f"bench: drew {args.plot}", file=sys.stderr)
    return 1 if (args.check and not report["ok"]) else 0


if __name__ == "__main__":
    sys.exit(main())
