#!/usr/bin/env bash
# The whole test suite, from a fresh machine: the native suite on Linux,
# then a part of it on the very same wheel with each other CPython here
# (scripts/other-pythons.sh: 3.12, 3.13), then the same suite with the
# official Windows CPython 3.13 under Wine, then parts of it with the
# Windows CPython 3.11 (the oldest the cp311-abi3 wheel is for) and 3.12,
# on the very wheel file the 3.13 run built and tested.  Fails if any of
# them fails.
#     scripts/test.sh [pytest args]
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# A fresh set-up writes about 5 GB (the venvs, three Windows CPythons, the
# Wine prefix, the compiler): on a fuller disk it fails part way, with
# ENOSPC from whichever step came last, so the free space is said first.
free_kb=$(df -Pk . | awk 'NR == 2 { print $4 }')
echo "test.sh: $((free_kb / 1048576)) GB free on the checkout's disk"
if [ "$free_kb" -lt $((6 * 1048576)) ]; then
    echo "test.sh: warning: a set-up from scratch needs about 5 GB; steps may fail with 'No space left on device'" >&2
fi
set -e
scripts/setup.sh
set +e
# The Windows set-up of each CPython (mostly downloads, unpacking and the
# Wine prefix: minutes on a fresh machine, little CPU) runs meanwhile, in
# the background, with its output kept for after the native runs; the
# Windows runs below do it again, which takes no time once it is done (and
# redoes a step that failed, loudly).  No native test asserts a duration.
mkdir -p build
setup_log=build/windows-setup.log
# In a process group of its own (setsid), so that it goes, with all it
# started, when this script does: a background job ignores Ctrl+C.
setsid bash -c 'for version in 3.13 3.11 3.12; do
                    WIN_PY="$version" scripts/windows/setup.sh || exit
                done' >"$setup_log" 2>&1 </dev/null &
setup_pid=$!
trap 'kill -- "-$setup_pid" 2>/dev/null || true' EXIT
echo "== native suite ($(uname -s)) =="
# pytest by its script, not `python -m`: the checkout must not shadow the
# installed package.
.venv/bin/pytest -p no:cacheprovider "$@"
native=$?
scripts/other-pythons.sh "$@"
others=$?
wait "$setup_pid"
echo "== the Windows set-up, meanwhile (exit $?) =="
cat "$setup_log"
echo "== Windows suite under Wine (CPython 3.13) =="
WIN_PY=3.13 scripts/windows/test.sh "$@"
windows=$?

# The other Windows CPythons, on the very wheel file the 3.13 run built and
# tested: 3.11, the oldest the wheel is for, with calls and their failures
# (classic, and through both doorbells: each of these tests runs with each),
# kernel objects and asyncio, three to four minutes under Wine; 3.12 with
# the calls, a minute; or the tests the arguments name (a path or a node id).
smoke311=(tests/test_rpc.py tests/test_rpc_errors.py tests/test_kernel.py tests/test_asyncio.py)
smoke312=(tests/test_rpc.py)
for arg in "$@"; do
    case "$arg" in
        -*) ;;
        *) if [ -e "${arg%%::*}" ]; then smoke311=(); smoke312=(); break; fi ;;
    esac
done
shopt -s nullglob
wheels=(dist/winipc-*-cp311-abi3-win_amd64.whl)
shopt -u nullglob
windows_part() {    # windows_part VERSION [pytest args]
    local version="$1"
    shift
    echo "== Windows suite under Wine, a part of it (CPython $version) =="
    if [ "${#wheels[@]}" -ne 1 ]; then
        echo "test.sh: no Windows wheel in dist/ to test on $version (the 3.13 run builds it)" >&2
        return 1
    fi
    WIN_PY="$version" WIN_WHEEL="${wheels[0]}" scripts/windows/test.sh -q "$@"
}
windows_part 3.11 "${smoke311[@]}" "$@"
windows311=$?
windows_part 3.12 "${smoke312[@]}" "$@"
windows312=$?

echo "native suite exit $native (other Pythons $others), Windows suite exit $windows (3.13), $windows311 (3.11), $windows312 (3.12)"
[ "$native" -eq 0 ] && [ "$others" -eq 0 ] && [ "$windows" -eq 0 ] && [ "$windows311" -eq 0 ] \
    && [ "$windows312" -eq 0 ]
