"""What the benchmark shows and judges, beside its measurement (bench.py):
the paths (the table's rows), progress on stderr, the targets' verdicts on
a run, and the picture."""

from __future__ import annotations

import importlib
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any, Callable, Protocol, TextIO

import winipc

from ._bench_peers import SEM_ROW, SPIN_ROW


def summarize(ns: Sequence[int]) -> dict[str, float]:
    """p50, p99 and mean of durations in ns, in µs."""
    ns = sorted(ns)
    return {"p50": ns[len(ns) // 2] / 1e3, "p99": ns[min(len(ns) - 1, len(ns) * 99 // 100)] / 1e3,
            "mean": statistics.fmean(ns) / 1e3}


ROWS = ["call", "compiled", "compiled no spin", "shared call", "shared prepared",
        "shared compiled", "python handler", "acall", "acall x8 in turn", "acall x8 tasks",
        "x8 tasks, no call",
        "pipe (peer)",
        "asyncio stream (peer)"]
SPINNING = ["call", "compiled", "shared call", "shared compiled"]

# Ratios of p50 that must hold within one run, per backend: (row, baseline,
# sizes, most), and the rows whose tail is held (TAIL_LIMIT).  Linux's are
# against a pipe between two CPUs, which pays a cross-CPU wake-up each way:
# they hold in the split placement.  Sharing a CPU, a pipe's wake-up is a
# switch on that CPU; there the semaphore peer's targets (PEER_TARGETS)
# and PIPE_ANY_PLACEMENT hold instead.
_TARGETS: dict[str, list[tuple[str, str, list[int], float]]] = {
    "windows": [
        ("shared call", "call", [16], 1 / 100),    # the doorbell against SendMessage
        ("call", "compiled", [16, 64, 512, 4096], 2.0),
    ],
    "linux": [
        ("compiled", "pipe (peer)", [16], 1 / 5),
        ("call", "pipe (peer)", [16], 1 / 3),
        ("shared compiled", "pipe (peer)", [16], 1 / 50),
        ("shared call", "pipe (peer)", [16], 1 / 10),
        ("call", "pipe (peer)", [1 << 20], 1 / 3),
    ],
}
_SPINNING = {
    # No tail target on Windows: under Wine the serving thread's periodic
    # look at its message queue and the client's at the window cross the
    # Wine server (about 100 µs each), which real Windows does not.
    "windows": [],
    "linux": SPINNING,
}
TARGETS = _TARGETS[winipc.BACKEND]
# Placements the backend's TARGETS hold in (None: any).
TARGET_PLACEMENTS = {"windows": None, "linux": {"split"}}[winipc.BACKEND]
# In every placement, at 16 B: call at most this many times a pipe's p50.
PIPE_ANY_PLACEMENT = 1.0
SPINNING = _SPINNING[winipc.BACKEND]
# Against the semaphore peer at 16 B, in the run's placement: (row, most).
PEER_TARGETS = [("python handler", 1.0), ("shared call", 1 / 1.25)]
# A prepared call on a shared buffer: at most this many µs over the compiled
# loop (p50, 16 B).
PREPARED_OVER_US = 0.6
# Left to the scheduler: the slowest round's p50 of `call` at 16 B at most
# this many times the fastest's.
ROUND_SPREAD = 1.5
# Every spinning row: p99 at most this many times its own p50.
TAIL_LIMIT = 3.0

PLOT_EXTRA = "pip install 'winipc[plot]'"


def size_label(size: int) -> str:
    """``size`` bytes for people: "16 B", "4 KiB", "1 MiB"."""
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size} B"


# --- progress, on stderr ------------------------------------------------------

class Progress:
    """No progress at all; the base of the others."""

    def note(self, text: str) -> None:
        """Says what happens now."""

    def start(self, size: int, calls: int, rows: list[str]) -> None:
        """Paths ``rows`` of ``size`` start, ``calls`` calls each."""

    def advance(self, row: str, calls: int) -> None:
        """``row`` made ``calls`` more calls."""

    def round_done(self, done: int, rounds: int) -> None:
        """Every path made its calls of round ``done`` of ``rounds``."""

    def finish(self) -> None:
        """The paths of the size are measured (before its table rows print)."""


class LineProgress(Progress):
    """A line per size, and one every EVERY seconds while a size takes long:
    where tqdm is missing, or stderr is no terminal."""

    EVERY = 2.0

    stream: TextIO
    size: int
    calls: int
    # The paths of the size being measured, and when it started and last
    # said so (time.monotonic()): set by start().
    rows: list[str]
    t0: float
    said: float

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.size, self.calls = stream, 0, 0

    def note(self, text: str) -> None:
        """A line on the stream."""
        print(f"bench: {text}", file=self.stream, flush=True)

    def start(self, size: int, calls: int, rows: list[str]) -> None:
        """Notes the size, its calls per path and its paths, and the time."""
        self.size, self.calls, self.rows = size, calls, rows
        self.t0 = self.said = time.monotonic()

    def round_done(self, done: int, rounds: int) -> None:
        """A line when the size is done, and every EVERY seconds before."""
        if done < rounds and time.monotonic() - self.said < self.EVERY:
            return
        self.said = time.monotonic()
        took = f"{self.said - self.t0:.1f} s"
        if done == rounds:
            line = f"measured, {len(self.rows)} paths x {self.calls} calls in {took}"
        else:
            line = (f"round {done}/{rounds}, {self.calls * done // rounds} of {self.calls}"
                    f" calls per path, {took}")
        print(f"bench: {size_label(self.size)} {line}", file=self.stream, flush=True)


class _Bar(Protocol):
    """What BarProgress uses of a tqdm bar (tqdm is optional: the bench extra)."""

    def update(self, n: int) -> object: ...

    def close(self) -> None: ...


class BarProgress(LineProgress):
    """A tqdm bar per path of the size being measured; they go when it is done."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        # tqdm.tqdm, imported when the bars are asked for.
        self.tqdm: Callable[..., _Bar] = importlib.import_module("tqdm").tqdm
        self.bars: dict[str, _Bar] = {}

    def start(self, size: int, calls: int, rows: list[str]) -> None:
        """A bar per path of the size."""
        width = max(map(len, rows))
        self.bars = {row: self.tqdm(total=calls, desc=f"{size_label(size):>7}  {row:<{width}}",
                                    unit="call", position=i, leave=False, file=self.stream,
                                    dynamic_ncols=True, mininterval=0.2)
                     for i, row in enumerate(rows)}

    def advance(self, row: str, calls: int) -> None:
        """Moves ``row``'s bar on by ``calls``."""
        self.bars[row].update(calls)

    def round_done(self, done: int, rounds: int) -> None:
        """Nothing: the bars show the rounds."""

    def finish(self) -> None:
        """Closes the size's bars."""
        for bar in reversed(list(self.bars.values())):
            bar.close()
        self.bars = {}


def make_progress(kind: str, stream: TextIO = sys.stderr) -> Progress:
    """``kind``: auto (bars on a terminal when tqdm is installed, else lines),
    bar, lines or none."""
    if kind == "none":
        return Progress()
    if kind in ("auto", "bar"):
        try:
            importlib.import_module("tqdm")
        except ImportError:
            if kind == "bar":
                print("bench: no tqdm (pip install 'winipc[bench]'): a line per round instead",
                      file=stream)
        else:
            if kind == "bar" or stream.isatty():
                return BarProgress(stream)
    return LineProgress(stream)

# --- the verdicts -------------------------------------------------------------------

def check_targets(report: dict[str, Any], out: TextIO) -> list[dict[str, Any]]:
    """The targets' verdicts on a run, printed to ``out``."""
    by = {(r["path"], r["size"]): r for r in report["results"]}
    sizes = report["sizes"]
    verdicts = []
    placement = report.get("placement")
    held = TARGET_PLACEMENTS is None or (placement in TARGET_PLACEMENTS
                                         and not report.get("hog"))
    for row, base, target_sizes, limit in TARGETS if held else []:
        for size in target_sizes:
            if size not in sizes:
                continue
            ratio = by[(row, size)]["p50_us"] / by[(base, size)]["p50_us"]
            ok = ratio <= limit
            verdicts.append({"kind": "ratio", "path": row, "baseline": base, "size": size,
                             "value": ratio, "limit": limit, "ok": ok})
            print(f"target  {row} / {base} at {size} B: {ratio:.4f} <= {limit:.4f}"
                  f"  {'ok' if ok else 'MISSED'}", file=out)
    # Where users are: against the strongest peer in any placement, the
    # rounds' spread left to the scheduler, and single calls after idling.
    for row, limit in PEER_TARGETS:
        if (row, 16) in by and (SEM_ROW, 16) in by:
            ratio = by[(row, 16)]["p50_us"] / by[(SEM_ROW, 16)]["p50_us"]
            verdicts.append(_verdict(out, "ratio", row, SEM_ROW, 16, ratio, limit,
                                     f"{row} / {SEM_ROW} at 16 B ({report['placement']})"))
    # The Python left on a prepared call: µs over the compiled loop, and
    # against Python alone spinning on shared memory.
    if ("shared prepared", 16) in by:
        # Rounded to the ns the p50s were taken in: 1.6 - 1.0 is 0.6000000000000001,
        # and a clock of 100 ns ticks (Windows) lands on the bound itself often.
        over = round(by[("shared prepared", 16)]["p50_us"]
                     - by[("shared compiled", 16)]["p50_us"], 3)
        verdicts.append(_verdict(out, "difference", "shared prepared", "shared compiled", 16,
                                 over, PREPARED_OVER_US,
                                 "shared prepared - shared compiled at 16 B, us"))
        if (SPIN_ROW, 16) in by:
            verdicts.append(_verdict(
                out, "ratio", "shared prepared", SPIN_ROW, 16,
                by[("shared prepared", 16)]["p50_us"] / by[(SPIN_ROW, 16)]["p50_us"],
                1 / 1.5, f"shared prepared / {SPIN_ROW} at 16 B"))
    # asyncio: no slower than the event loop's own stream, and eight tasks at
    # once no slower per call than eight in turn (both timed per batch of
    # eight, so that both count the loop's work between calls), beyond what
    # asyncio itself costs per task (gather of eight tasks that call
    # nothing: it is the same for any library, and about as much as a call
    # here).
    if ("acall", 16) in by and ("asyncio stream (peer)", 16) in by:
        verdicts.append(_verdict(out, "ratio", "acall", "asyncio stream (peer)", 16,
                                 by[("acall", 16)]["p50_us"]
                                 / by[("asyncio stream (peer)", 16)]["p50_us"], 1.0,
                                 "acall / asyncio stream (peer) at 16 B"))
    if all((r, 16) in by for r in ("acall x8 tasks", "x8 tasks, no call", "acall x8 in turn")):
        verdicts.append(_verdict(out, "ratio", "acall x8 tasks", "acall x8 in turn", 16,
                                 (by[("acall x8 tasks", 16)]["p50_us"]
                                  - by[("x8 tasks, no call", 16)]["p50_us"])
                                 / by[("acall x8 in turn", 16)]["p50_us"], 1.0,
                                 "(acall x8 tasks - x8 tasks, no call) / acall x8 in turn at 16 B"))
    if report.get("placement") == "os" and ("call", 16) in by:
        p50s = by[("call", 16)]["round_p50_us"]
        verdicts.append(_verdict(out, "spread", "call", "call", 16, max(p50s) / min(p50s),
                                 ROUND_SPREAD, "call: slowest round p50 / fastest at 16 B",
                                 f"rounds {' '.join(f'{p:.2f}' for p in p50s)} us"))
    if not held and ("call", 16) in by and ("pipe (peer)", 16) in by:
        verdicts.append(_verdict(out, "ratio", "call", "pipe (peer)", 16,
                                 by[("call", 16)]["p50_us"] / by[("pipe (peer)", 16)]["p50_us"],
                                 PIPE_ANY_PLACEMENT,
                                 f"call / pipe (peer) at 16 B ({placement}"
                                 f"{', with a CPU hog' if report.get('hog') else ''})"))
    gaps = report.get("gaps") or []
    pipes = {r["gap_us"]: r["p50_us"] for r in gaps if r["path"] == "pipe (peer)"}
    for r in gaps:
        if r["path"] == "call":
            verdicts.append(_verdict(out, "gap", "call", "pipe (peer)", 16,
                                     r["p50_us"] / pipes[r["gap_us"]], 1.0,
                                     f"call / pipe (peer) after {r['gap_us']} us idle"))
    tails = 0
    for row in SPINNING:
        for size in sizes:
            if size > 4096:
                continue
            r = by[(row, size)]
            ratio = r["p99_us"] / r["p50_us"]
            ok = ratio <= TAIL_LIMIT
            verdicts.append({"kind": "tail", "path": row, "baseline": row, "size": size,
                             "value": ratio, "limit": TAIL_LIMIT, "ok": ok})
            if not ok:
                tails += 1
                where = ""
                if r.get("slow_calls"):
                    where = (f" ({r['slow_at_round_start']} of its {r['slow_calls']} calls"
                             f" over {TAIL_LIMIT} x p50 came first in a round)")
                print(f"target  {row} p99 / p50 at {size} B: {ratio:.2f} <= "
                      f"{TAIL_LIMIT}  MISSED{where}", file=out)
    print(f"target  p99 <= {TAIL_LIMIT} x p50 for every spinning row up to 4096 B"
          f"  {'ok' if not tails else 'MISSED'}", file=out, flush=True)
    return verdicts


def _verdict(out: TextIO, kind: str, row: str, base: str, size: int, value: float,
             limit: float, what: str, why: str = "") -> dict[str, Any]:
    """A target's verdict, printed; ``why``: what a miss shows too."""
    ok = value <= limit
    print(f"target  {what}: {value:.4f} <= {limit:.4f}  "
          f"{'ok' if ok else f'MISSED ({why})' if why else 'MISSED'}", file=out)
    return {"kind": kind, "path": row, "baseline": base, "size": size, "value": value,
            "limit": limit, "ok": ok}


# --- the picture --------------------------------------------------------------------

def check_plotting() -> None:
    """Raises SystemExit, saying what to install, when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SystemExit(f"winipc bench: --plot needs matplotlib: {PLOT_EXTRA}") from None


def plot(report: dict[str, Any], path: str) -> None:
    """Latency against struct size, log-log: a p50 line per path, with a band
    up to its p99."""
    check_plotting()
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, NullLocator

    sizes = report["sizes"]
    by = {(r["path"], r["size"]): r for r in report["results"]}
    fig = Figure(figsize=(11, 6), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    # A colour of its own for each of up to 20 rows (the default cycle has
    # ten, and a run has more rows than that); other libraries dashed.
    colors = matplotlib.colormaps["tab20"]      # (an int picks its nth colour)
    for i, row in enumerate(report["paths"]):
        p50 = [by[(row, s)]["p50_us"] for s in sizes]
        p99 = [by[(row, s)]["p99_us"] for s in sizes]
        color = colors(i % colors.N)
        ax.plot(sizes, p50, marker="o", markersize=4, label=row, color=color,
                linestyle="--" if row.endswith("(peer)") else "-")
        ax.fill_between(sizes, p50, p99, color=color, alpha=0.12, linewidth=0)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(FixedLocator(sizes))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([size_label(s) for s in sizes])
    ax.set_xlabel("struct size")
    ax.set_ylabel("round trip, µs (line: p50, band: p50 to p99)")
    ax.set_title(f"winipc {report['winipc']} round trip, {report['backend']}, Python "
                 f"{report['python']}, {report['cpus']} CPUs, {report['calls']} calls per path")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    fig.savefig(path)
