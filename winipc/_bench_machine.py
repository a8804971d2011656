"""Where the benchmark runs: the machine's CPUs and load, and what
``import winipc`` costs (printed in the run's header, so that a busy machine
is not taken for a slow library); the placements that pin client and server
to CPUs; the optional process that burns a CPU meanwhile; and how finely
the process CPU clock counts (what the CPU columns can tell)."""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity, where there is one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


PLACEMENTS = {
    "split": "client and server pinned to two different CPUs",
    "same": "client and server pinned to one CPU, sharing it",
    "os": "left to the scheduler",
}


def placement_cpus(placement: str) -> tuple[list[int], list[int]]:
    """The CPUs (client, server) of a placement; empty: not pinned."""
    if placement == "os":
        return [], []
    if sys.platform == "win32" or not hasattr(os, "sched_setaffinity"):
        raise SystemExit(f"winipc bench: --placement {placement} needs CPU affinity "
                         f"(os.sched_setaffinity), which {sys.platform} lacks here")
    mine = sorted(os.sched_getaffinity(0))
    if placement == "split":
        if len(mine) < 2:
            raise SystemExit("winipc bench: --placement split needs two CPUs, "
                             f"this process may use {len(mine)}")
        return [mine[0]], [mine[1]]
    return [mine[0]], [mine[0]]


def machine() -> dict[str, Any]:
    """What else the machine is doing: CPUs and load, so that a busy machine
    is not taken for a slow library; and what `import winipc` costs."""
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {"cpus_online": os.cpu_count() or 1, "cpus": cpu_count(), "load": load,
            "import_ms": import_ms()}


def import_ms(runs: int = 3) -> float:
    """The wall time of `import winipc` in a new interpreter, in ms: the
    fastest of ``runs`` (the first may pay the file cache)."""
    code = ("import time; t = time.perf_counter(); import winipc; "
            "print(time.perf_counter() - t)")
    best = min(float(subprocess.run([sys.executable, "-P", "-c", code], check=True,
                                    capture_output=True, text=True).stdout)
               for _ in range(runs))
    return round(best * 1000, 1)


@contextlib.contextmanager
def cpu_hog(on: bool) -> Iterator[None]:
    """A process that burns one CPU, left to the scheduler, while the run lasts."""
    if not on:
        yield
        return
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                           stdin=subprocess.DEVNULL)
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


# CPU time is given only where the clock can tell it.  Windows counts it in
# clock ticks (15.6 ms by default; Wine in 10 ms), and a reading is off by
# up to one: a row timed for less than CPU_STEPS ticks of wall time (a fast
# row's whole run can be under one) is left out, since the error would be
# over a tenth of a CPU.  The step is measured: COARSE_STEP_NS or more is a
# clock of ticks.  (A fine clock's measured step is the time a reading
# takes, about a µs on Linux: its readings are all kept.)
CPU_STEPS = 10
COARSE_STEP_NS = 100_000


@functools.cache
def cpu_clock_step_ns() -> int:
    """The step of this process's CPU clock as it counts here, in ns (not the
    resolution it states: Windows states 100 ns and counts in clock ticks):
    the difference between the next two readings that differ, spinning for
    them (two ticks, 1 s at most)."""
    read, end = time.process_time_ns, time.perf_counter() + 1.0

    def next_reading(after: int) -> int:
        now = read()
        while now == after and time.perf_counter() < end:
            now = read()
        return now
    second = next_reading(read())
    return max(1, next_reading(second) - second)


def cpu_measurable(wall_ns: int) -> bool:
    """Whether CPU time read over ``wall_ns`` of wall time can be told
    (CPU_STEPS; another process's clock is taken to step as this one's
    does: the same machine)."""
    step = cpu_clock_step_ns()
    return step < COARSE_STEP_NS or wall_ns >= CPU_STEPS * step


def cpu_per_call(total_ns: int, calls: int, wall_ns: int) -> float | None:
    """CPU ns per call from a total over ``calls`` made in ``wall_ns``, or
    None when the clock cannot tell it (cpu_measurable)."""
    return total_ns / calls if cpu_measurable(wall_ns) else None


def cpu_cell(ns: float | None) -> str:
    """A CPU column's cell: µs per call, or "-" (too little to measure)."""
    return f"{'-':>10}" if ns is None else f"{ns / 1e3:>10.2f}"
