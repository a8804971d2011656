#!/usr/bin/env bash
# The whole test suite, from a fresh machine: the native suite on Linux,
# then the same suite with the official Windows CPython under Wine.
#     scripts/test.sh [pytest args]
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
set -e
scripts/setup.sh
set +e
echo "== native suite ($(uname -s)) =="
# pytest by its script, not `python -m`: the checkout must not shadow the
# installed package.
.venv/bin/pytest -p no:cacheprovider "$@"
native=$?
echo "== Windows suite under Wine =="
scripts/windows/test.sh "$@"
windows=$?
echo "native suite exit $native, Windows suite exit $windows"
[ "$native" -eq 0 ] && [ "$windows" -eq 0 ]
