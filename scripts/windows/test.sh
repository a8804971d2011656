#!/usr/bin/env bash
# Builds winipc for Windows and runs the test suite with the Windows CPython
# under Wine:
#     scripts/windows/test.sh [pytest args]      e.g.  scripts/windows/test.sh -x -k rpc
# Steps: setup.sh (a no-op when done), build-wheel.sh (builds and installs the
# wheel into .cache/windows/site), the C test peers (every tests/peers/*.c into
# build/windows/peers/*.exe with MinGW-w64, -I _native/common, -luser32,
# -municode when it has wmain; the tests find them through WINIPC_PEERS_DIR, a
# Windows path), then `python -m pytest` on tests/.  The tests import the
# INSTALLED winipc: python313._pth keeps the repo root off sys.path and pytest
# runs with --import-mode=importlib.  No cache or bytecode is written into the
# source tree (-B, -p no:cacheprovider).  The exit code is pytest's.  The Wine
# server of the prefix is stopped at the end, so nothing lingers.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/env.sh"
cd "$WINIPC_ROOT"

"$here/setup.sh"

# One run at a time per checkout: runs share the prefix and site-packages, and
# each stops the Wine server when it ends.
exec 8>"$WIN_CACHE/test.lock"
if ! flock -n 8; then
    echo "test.sh: waiting for another test.sh of this checkout to finish" >&2
    flock -w "${WIN_LOCK_TIMEOUT:-3600}" 8 || { echo "test.sh: gave up waiting" >&2; exit 1; }
fi

"$here/build-wheel.sh"

# --- C test peers -------------------------------------------------------------
peers="$WIN_BUILD/peers"
peer_sources="${WIN_PEERS_SRC:-tests/peers}"
rm -rf "$peers"
mkdir -p "$peers"
shopt -s nullglob
for c in "$peer_sources"/*.c; do
    exe="$peers/$(basename "${c%.c}").exe"
    flags=()
    grep -qE '\b(wmain|wWinMain)\b' "$c" && flags+=(-municode)
    echo "peer     $c -> ${exe#"$WINIPC_ROOT"/}" >&2
    "$MINGW_CC" -O2 -Wall -DUNICODE -D_UNICODE -D_WIN32_WINNT=0x0A00 \
        -I_native/common "${flags[@]}" -static -s -Wl,--no-insert-timestamp \
        -o "$exe" "$c" -luser32 -ladvapi32
done
shopt -u nullglob
WINIPC_PEERS_DIR="$(winpath "$peers")"
export WINIPC_PEERS_DIR

# --- pytest under Wine ----------------------------------------------------------
stop_wine() { "$WINESERVER" -k 2>/dev/null || true; }
trap stop_wine EXIT

# Wine starts its desktop process (explorer.exe /desktop) when a process first
# creates a window, and that process inherits the creator's standard handles
# and outlives it: a test that reads a child's output to the end would wait
# forever.  Start the desktop first, with nothing to inherit.
"$WINE" explorer.exe /desktop </dev/null >/dev/null 2>&1 &
for _ in $(seq 100); do
    grep -qsa 'system32.explorer[.]exe' /proc/[0-9]*/cmdline && break
    sleep 0.1
done
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

export WIN_TIMEOUT="${WIN_TIMEOUT:-3600}"
set +e
"$here/python" -B -m pytest -p no:cacheprovider --import-mode=importlib --rootdir=. \
    "${targets[@]}" "$@"
rc=$?
set -e
exit "$rc"
