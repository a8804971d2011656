"""`python -m winipc bench`, the round-trip benchmark, run from the installed
package as a user would: short runs, checked for their JSON and their plot
(not for their timings)."""

import importlib
import importlib.util
import io
import json
import math
import os
import sys

import pytest

import children  # tests/children.py
from conftest import UNDER_WINE

# A short run: every path at every size still makes 50 calls.
RUN_TIMEOUT = 600 if UNDER_WINE else 180
# A CPU clock that counts in ticks (Windows) leaves fast rows' CPU unmeasured.
COARSE_CPU_CLOCK = sys.platform == "win32"
PATHS = ["call", "compiled", "compiled no spin", "shared call", "shared prepared",
         "shared compiled", "python handler", "acall", "acall x8 in turn", "acall x8 tasks",
        "x8 tasks, no call",
         "pipe (peer)", "asyncio stream (peer)"]
# Other libraries' rows: there when their library is (winipc[peers]), in
# this order; the module each needs (the spinning peer: Python alone).
PEERS = ["sem+shm (peer)", "zmq req/rep (peer)", "iceoryx2 (peer)", "python spin (peer)"]
PEER_MODULES = {"sem+shm (peer)": "posix_ipc", "zmq req/rep (peer)": "zmq",
                "iceoryx2 (peer)": "iceoryx2"}
KINDS = ("ratio", "tail", "difference", "spread", "gap")
SIZES = [16, 64, 512, 4096, 65536, 1 << 20]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def bench(*args, timeout=RUN_TIMEOUT):
    """python -P -m winipc bench ARGS (the installed package; -P keeps a
    checkout in the current folder off sys.path)."""
    return children.run([sys.executable, "-P", "-m", "winipc", "bench", *args], timeout,
                        text=True)


def installed(module):
    """Whether ``module`` imports here (a library that is there but fails to
    load, as a wheel for a newer glibc would, counts as missing)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def expected_peers():
    """The peer rows a run here has: those whose library is installed."""
    return [row for row in PEERS if row not in PEER_MODULES or installed(PEER_MODULES[row])]


def check_report(report, sizes):
    assert report["backend"] in ("linux", "windows")
    assert report["sizes"] == sizes
    assert report["paths"][:len(PATHS)] == PATHS
    assert report["paths"][len(PATHS):] == expected_peers()
    rows = {(r["path"], r["size"]): r for r in report["results"]}
    assert sorted(rows) == sorted((p, s) for p in report["paths"] for s in sizes)
    assert len(report["results"]) == len(rows)
    for (path, size), r in rows.items():
        assert r["calls"] >= 50, (path, size)
        for key in ("p50_us", "p99_us", "mean_us", "vs_pipe"):
            assert isinstance(r[key], (int, float)) and math.isfinite(r[key]), (path, size, key)
        assert 0 < r["p50_us"] <= r["p99_us"], (path, size)
        for key in ("cpu_client_us", "cpu_server_us"):
            # None: timed for under CPU_STEPS steps of a clock of ticks
            # (Windows); a clock of fine steps always measures.
            if COARSE_CPU_CLOCK and r[key] is None:
                continue
            assert isinstance(r[key], (int, float)) and 0 <= r[key] < math.inf, (path, size, key)
        assert 0 <= r["slow_at_round_start"] <= r["slow_calls"] <= r["calls"], (path, size)
        assert len(r["round_p50_us"]) == report["rounds"], (path, size)
        if path == "pipe (peer)":
            assert r["vs_pipe"] == 1.0
    gaps = {(g["gap_us"], g["path"]): g for g in report["gaps"]}
    assert {gap for gap, _ in gaps} == set(report["gaps_us"])
    for (gap, path), g in gaps.items():
        assert path in ("call", "call, steady server", "pipe (peer)",
                        *PEER_MODULES), path
        assert g["calls"] >= 20 and 0 < g["p50_us"] <= g["p99_us"], (gap, path)
        if path.startswith("call"):     # one serving thread: at most one CPU
            if not (COARSE_CPU_CLOCK and g["server_cpu_share"] is None):
                assert 0 <= g["server_cpu_share"] <= 1.1, (gap, path)
        else:
            assert g["server_cpu_share"] is None
    assert report["cpus"] >= 1 and report["cpus_online"] >= report["cpus"]
    assert report["import_ms"] > 0          # `import winipc` in a new interpreter
    assert report["targets"], "no target verdicts"
    for t in report["targets"]:
        assert t["kind"] in KINDS and isinstance(t["ok"], bool)
    assert report["ok"] == all(t["ok"] for t in report["targets"])


def test_bench_json_to_stdout():
    """--json -: stdout is the JSON alone (the table and the progress go to
    stderr), with a row for every size and path."""
    r = bench("--calls", "50", "--json", "-")
    assert r.returncode == 0, r.stderr[-4000:]
    report = json.loads(r.stdout)
    check_report(report, SIZES)
    assert report["calls"] == 50
    # The table went to stderr, a line per size and path, and the progress.
    for path in PATHS:
        assert f"  {path}" in r.stderr
    assert "p50 us" in r.stderr and "bench: 1 MiB" in r.stderr


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"),
                    reason="placements pin processes to CPUs (os.sched_setaffinity): not "
                           "on this platform")
@pytest.mark.parametrize("placement", ["same", "split"])
def test_bench_placement_pins_both_sides(placement):
    """--placement: the client and the server run where the run says (the
    server's affinity is read back from the kernel), with a CPU hog and the
    idle-gap rows; the header says where and how loaded."""
    if placement == "split" and len(os.sched_getaffinity(0)) < 2:
        pytest.skip("split needs two usable CPUs")
    r = bench("--calls", "50", "--sizes", "16", "--placement", placement, "--hog",
              "--gaps", "100,1000", "--json", "-", "--progress", "none")
    assert r.returncode == 0, r.stderr[-4000:]
    report = json.loads(r.stdout)
    check_report(report, [16])
    assert report["placement"] == placement and report["hog"] is True
    assert len(report["client_cpus"]) == len(report["server_cpus"]) == 1
    assert report["server_affinity"] == report["server_cpus"]
    same = report["client_cpus"] == report["server_cpus"]
    assert same == (placement == "same")
    assert f"placement {placement}" in r.stderr and "a third process burns a CPU" in r.stderr
    assert any(t["kind"] == "gap" for t in report["targets"])


def test_bench_peer_rows_or_why_not():
    """Each other library's row is in the table when its library is
    installed, its reason (and the extra to install) above the table when it
    is not; and a peer's server leaves no file behind: iceoryx2's folder and
    shared memory, zmq's socket, the semaphores' names."""
    r = bench("--calls", "50", "--sizes", "16", "--gaps", "100", "--json", "-",
              "--progress", "none")
    assert r.returncode == 0, r.stderr[-4000:]
    report = json.loads(r.stdout)
    check_report(report, [16])
    rows = {row.split("  ")[0] for row in (line[11:] for line in r.stderr.splitlines()
                                          if line.startswith("       16  "))}
    for row, module in PEER_MODULES.items():
        if installed(module):
            assert row in report["paths"] and row in rows, row
            assert any(g["path"] == row for g in report["gaps"]), row
            assert f"{row}: no " not in r.stderr, row
        else:
            assert row not in report["paths"], row
            assert f"{row}: no " in r.stderr and "winipc[peers]" in r.stderr, row
    assert not _leftovers(report["title"]), "the servers left files behind"


def test_bench_no_peers_says_why():
    """--no-peers: no other library's row, and the header says why."""
    r = bench("--calls", "50", "--sizes", "16", "--gaps", "", "--no-peers", "--json", "-",
              "--progress", "none")
    assert r.returncode == 0, r.stderr[-4000:]
    report = json.loads(r.stdout)
    assert report["paths"] == PATHS
    for row in PEER_MODULES:
        assert f"{row}: not asked for (--no-peers)" in r.stderr


def _leftovers(title):
    """What a run's servers left behind: the names in /dev/shm and in the
    temporary folder that carry its title's tag (every peer's do)."""
    import tempfile
    tag = title.rsplit("-", 1)[-1][:12]
    places = [tempfile.gettempdir()] + (["/dev/shm"] if os.path.isdir("/dev/shm") else [])
    return [os.path.join(p, n) for p in places for n in os.listdir(p) if tag in n]


def test_bench_table_and_json_file(tmp_path):
    """The table on stdout, the JSON in a file; --progress none is quiet."""
    out = tmp_path / "run.json"
    r = bench("--calls", "50", "--sizes", "16,4096", "--json", str(out), "--progress", "none")
    assert r.returncode == 0, r.stderr[-4000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    check_report(report, [16, 4096])
    table = [line.split() for line in r.stdout.splitlines()]
    assert sum(1 for t in table if t and t[0] in ("16", "4096")) == 2 * len(report["paths"])
    assert "target" in r.stdout
    assert "bench:" not in r.stderr


@pytest.mark.skipif(importlib.util.find_spec("tqdm") is None,
                    reason="tqdm is not installed (pip install 'winipc[bench]')")
def test_bench_progress_bars():
    """--progress bar: a tqdm bar per path of each size, on stderr only."""
    r = bench("--calls", "50", "--sizes", "16,4096", "--progress", "bar")
    assert r.returncode == 0, r.stderr[-4000:]
    for size in ("16 B", "4 KiB"):
        for path in PATHS:
            assert f"{size}  {path}" in r.stderr, (size, path)
    assert "call/s" in r.stderr
    assert "call/s" not in r.stdout and "%|" not in r.stdout


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                    reason="matplotlib is not installed (pip install 'winipc[plot]')")
def test_bench_plot(tmp_path):
    """--plot FILE.png draws a PNG."""
    png = tmp_path / "roundtrip.png"
    r = bench("--calls", "50", "--sizes", "16,4096,65536", "--plot", str(png))
    assert r.returncode == 0, r.stderr[-4000:]
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    assert "drew" in r.stderr


def test_bench_plot_without_matplotlib_says_which_extra(tmp_path):
    """Without matplotlib, --plot fails at once and names the extra."""
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from winipc.__main__ import main\n"
            f"sys.exit(main(['bench', '--plot', {str(tmp_path / 'x.png')!r}]))\n")
    r = children.run([sys.executable, "-P", "-c", code], 120, text=True)
    assert r.returncode != 0
    assert "winipc[plot]" in r.stderr and "matplotlib" in r.stderr
    assert "p50" not in r.stdout, "it measured before it failed"
    assert not os.path.exists(tmp_path / "x.png")


def test_module_and_version():
    r = children.run([sys.executable, "-P", "-m", "winipc", "--version"], 120, text=True)
    assert r.returncode == 0 and r.stdout.startswith("winipc ")
    r = children.run([sys.executable, "-P", "-m", "winipc"], 120, text=True)
    assert r.returncode == 2 and "bench" in r.stderr


def test_a_missed_spread_or_tail_says_what_the_rounds_showed():
    """A miss of the spread target lists the rounds' p50s; a missed tail
    (Linux: Windows has no tail target) says how many of the slow calls came
    first in a round, where a round begins after rows that sleep."""
    from winipc._bench_report import SPINNING, TAIL_LIMIT, TARGETS, check_targets

    def row(path, **kw):
        return {"path": path, "size": 16, "p50_us": 1.0, "p99_us": 2.0, "slow_calls": 3,
                "slow_at_round_start": 1, "round_p50_us": [1.0, 1.1], **kw}

    # (Windows' ratio targets hold in any placement: their rows are there.)
    rows = {p: row(p) for p in ["call", *SPINNING, *(p for t in TARGETS for p in t[:2])]}
    rows["call"].update(round_p50_us=[1.0, 1.25, 2.0])
    if SPINNING:
        rows[SPINNING[-1]].update(p99_us=TAIL_LIMIT * 1.5, slow_calls=30, slow_at_round_start=12)
    out = io.StringIO()
    verdicts = check_targets({"results": list(rows.values()), "sizes": [16], "placement": "os"},
                             out)
    lines = out.getvalue().splitlines()
    spread = [v for v in verdicts if v["kind"] == "spread"]
    assert [v["ok"] for v in spread] == [False] and spread[0]["value"] == 2.0
    assert any(line.endswith("MISSED (rounds 1.00 1.25 2.00 us)") for line in lines), lines
    tails = {v["path"]: v["ok"] for v in verdicts if v["kind"] == "tail"}
    assert tails == {p: p != SPINNING[-1] for p in SPINNING}
    if SPINNING:
        assert any(line.startswith(f"target  {SPINNING[-1]} p99 / p50 at 16 B: 4.50")
                   and line.endswith(f"MISSED (12 of its 30 calls over {TAIL_LIMIT} x p50 "
                                     "came first in a round)") for line in lines), lines


def test_cpu_per_call_is_left_out_where_the_clock_cannot_measure_it(monkeypatch):
    """A row's CPU time per call is None when the process CPU clock counts
    in ticks (Windows) and the row was timed for under CPU_STEPS of them,
    and the table's cell says "-"; the step is measured, positive and under
    1 s."""
    from winipc import _bench_machine as b
    step = b.cpu_clock_step_ns()
    assert 0 < step < 1_000_000_000
    # Windows (and Wine) count in clock ticks, Linux in ns.
    assert (step >= b.COARSE_STEP_NS) == COARSE_CPU_CLOCK, step
    monkeypatch.setattr(b, "cpu_clock_step_ns", lambda: 15_625_000)
    tick = 15_625_000
    assert b.cpu_per_call(tick, 100, b.CPU_STEPS * tick - 1) is None
    assert b.cpu_per_call(0, 100, b.CPU_STEPS * tick) == 0     # (under 1 % of a CPU)
    assert b.cpu_per_call(3 * tick, 100, b.CPU_STEPS * tick) == 3 * tick / 100
    monkeypatch.setattr(b, "cpu_clock_step_ns", lambda: 1500)     # a fine clock: all kept
    assert b.cpu_per_call(0, 50, 100) == 0 and b.cpu_per_call(1000, 50, 2000) == 20
    assert b.cpu_cell(None).strip() == "-" and b.cpu_cell(2500.0).strip() == "2.50"
