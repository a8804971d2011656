#!/usr/bin/env bash
# The whole test suite, from a fresh machine: the native suite on Linux,
# then a part of it on the very same wheel with each other CPython here
# (scripts/other-pythons.sh: 3.12, 3.13), then the same suite with the
# official Windows CPython 3.13 under Wine, then a part of it (calls,
# doorbells, kernel objects, asyncio) with the Windows CPython 3.11, the
# oldest the cp311-abi3 wheel is for, on the very wheel file the 3.13 run
# built and tested.  Fails if any of them fails.
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
scripts/other-pythons.sh "$@"
others=$?
echo "== Windows suite under Wine (CPython 3.13) =="
WIN_PY=3.13 scripts/windows/test.sh "$@"
windows=$?

echo "== Windows suite under Wine, a part of it (CPython 3.11) =="
# Calls and their failures (classic, and through both doorbells: each of
# these tests runs with each), kernel objects and asyncio, three to four
# minutes under Wine; unless the arguments name tests themselves (a path or
# a node id).
smoke=(tests/test_rpc.py tests/test_rpc_errors.py tests/test_kernel.py tests/test_asyncio.py)
for arg in "$@"; do
    case "$arg" in
        -*) ;;
        *) if [ -e "${arg%%::*}" ]; then smoke=(); break; fi ;;
    esac
done
shopt -s nullglob
wheels=(dist/winipc-*-cp311-abi3-win_amd64.whl)
shopt -u nullglob
if [ "${#wheels[@]}" -eq 1 ]; then
    WIN_PY=3.11 WIN_WHEEL="${wheels[0]}" scripts/windows/test.sh -q "${smoke[@]}" "$@"
    windows311=$?
else
    echo "test.sh: no Windows wheel in dist/ to test on 3.11 (the 3.13 run builds it)" >&2
    windows311=1
fi

echo "native suite exit $native (other Pythons $others), Windows suite exit $windows (3.13), $windows311 (3.11)"
[ "$native" -eq 0 ] && [ "$others" -eq 0 ] && [ "$windows" -eq 0 ] && [ "$windows311" -eq 0 ]
