#!/usr/bin/env bash
# The round-trip latency benchmark, from a fresh machine: builds and installs
# winipc (scripts/setup.sh, with the extras bench and plot), then runs
# `python -m winipc bench` from the installed package: progress on stderr,
# the table on stdout.
#     scripts/bench.sh [bench args]    e.g. --calls 5000 --check --json run.json --plot run.png
# With --windows first, it runs under Wine with the Windows CPython instead
# (there, compare only the ratios: every call crosses the Wine server).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ "${1:-}" = "--windows" ]; then
    shift
    scripts/windows/setup.sh
    scripts/windows/build-wheel.sh
    trap '/usr/lib/wine/wineserver -k 2>/dev/null || true' EXIT
    scripts/windows/python -m winipc bench "$@"
    exit
fi
scripts/setup.sh
# The build's dirty pages go to disk now, not during the first rows.
sync
# -P: the installed winipc, not the checkout's winipc/ folder.
.venv/bin/python -P -m winipc bench "$@"
