"""The benchmark's idle-gap rows: one call after the client idled, to the
default server and to one in steady mode, beside the pipe and each peer that
sleeps when idle, with the share of a CPU each server's spinning burnt."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import winipc

from ._bench_machine import cpu_measurable
from ._bench_report import summarize
from ._bench_server import WM_PYBUMP, WM_THREAD_CPU

if TYPE_CHECKING:
    from .bench import Pipe


def thread_cpu_ns(conn: winipc.Connection) -> int:
    """The CPU time so far of the thread that serves ``conn``, in ns."""
    conn.call(WM_THREAD_CPU, bytes(8))
    assert conn.last_result is not None
    return conn.last_result


GAP_STEADY = "call, steady server"


def measure_gaps(conns: dict[str, winipc.Connection], pipe: Pipe, gaps_us: Sequence[int],
                 n: int, peers: dict[str, Any]) -> list[dict[str, Any]]:
    """One 16-byte call after each idle gap to a Python handler, interleaved
    call by call: conn.call (the default server), conn.call to a server in
    steady mode, the pipe and each peer that sleeps when idle.  Per gap and
    path: the latency, and for winipc's paths the share of a CPU that the
    serving thread burnt meanwhile (what its spin costs while the client
    idles)."""
    data = bytearray(16)

    def over_pipe() -> None:
        pipe.send_bytes(data)
        pipe.recv_bytes()

    default, steady = conns["default"], conns["steady"]
    serving = {"call": default, GAP_STEADY: steady}
    paths: dict[str, Callable[[], object]] = {
        "call": lambda: default.call(WM_PYBUMP, data),
        GAP_STEADY: lambda: steady.call(WM_PYBUMP, data),
        "pipe (peer)": over_pipe,
        **{row: functools.partial(peer.call, data) for row, peer in peers.items()
           if not hasattr(peer, "active")}}     # a peer that spins all along is no sleeper
    clock, sleep = time.perf_counter_ns, time.sleep
    out: list[dict[str, Any]] = []
    for gap in gaps_us:
        times: dict[str, list[int]] = {path: [] for path in paths}
        cpu0 = {path: thread_cpu_ns(c) for path, c in serving.items()}
        w0 = clock()
        for _ in range(n):
            for path, fn in paths.items():
                sleep(gap / 1e6)            # the client idles (other work, or none)
                t0 = clock()
                fn()
                times[path].append(clock() - t0)
        wall = clock() - w0
        # None: too little for a clock that counts in ticks (Windows).
        share = {path: (thread_cpu_ns(c) - cpu0[path]) / wall if cpu_measurable(wall) else None
                 for path, c in serving.items()}
        for path, ns in times.items():
            q = summarize(ns)
            out.append({"gap_us": gap, "path": path, "calls": len(ns), "p50_us": q["p50"],
                        "p99_us": q["p99"], "server_cpu_share": share.get(path)})
    return out
