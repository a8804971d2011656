#!/usr/bin/env bash
# The round-trip latency benchmark, from a fresh machine: builds and installs
# winipc (scripts/setup.sh), then prints the table of benchmarks/roundtrip.py.
#     scripts/bench.sh [roundtrip.py args]        e.g. --calls 5000 --check
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
    scripts/windows/python benchmarks/roundtrip.py "$@"
    exit
fi
scripts/setup.sh
cd benchmarks
../.venv/bin/python roundtrip.py "$@"
