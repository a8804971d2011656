#!/usr/bin/env bash
# Builds the tests' C programs for Windows with zig's clang (zigcc), the one
# recipe of the Wine suite (test.sh) and of the release workflow, whose
# Windows jobs test the wheel against these very files:
#   - every tests/peers/*.c into OUT/peers/NAME.exe (x86_64-windows-gnu) and
#     OUT/peers32/NAME.exe (x86-windows-gnu), -I _native/common, -luser32
#     -ladvapi32, -municode when it has a wmain or wWinMain, stripped;
#   - examples/handler.c into OUT/peers/handler.dll (tests/test_examples.py
#     loads it).
#     scripts/windows/build-peers.sh [--no-32] [OUT]
# OUT is build/windows by default.  --no-32 leaves peers32/ empty (a machine
# that cannot run 32-bit programs).  The tests find the folders through
# WINIPC_PEERS_DIR and WINIPC_PEERS32_DIR (Windows paths).  Needs the host
# venv only (setup.sh --build-tools), no Wine; WIN_PEERS_SRC names another
# folder of sources.  Each compile is bounded (300 s).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/env.sh"
cd "$WINIPC_ROOT"

bits32=1
if [ "${1:-}" = --no-32 ]; then
    bits32=0
    shift
fi
[ $# -le 1 ] || { echo "build-peers.sh: usage: build-peers.sh [--no-32] [OUT]" >&2; exit 2; }
out_root="$(realpath -m "${1:-$WIN_BUILD}")"
"$here/setup.sh" --build-tools

compile() {     # compile WHAT TARGET [cc arguments]
    local what="$1" rc=0
    shift
    timeout -k 10 300 "$WIN_CC" "$@" </dev/null || rc=$?
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        echo "build-peers.sh: compiling $what did not finish within 300 s" >&2
    fi
    return "$rc"
}

peers="$out_root/peers"
peers32="$out_root/peers32"
peer_sources="${WIN_PEERS_SRC:-tests/peers}"
rm -rf "$peers" "$peers32"
mkdir -p "$peers" "$peers32"
targets=("$WIN_TARGET64")
[ "$bits32" = 0 ] || targets+=("$WIN_TARGET32")
shopt -s nullglob
for c in "$peer_sources"/*.c; do
    flags=()
    grep -qE '\b(wmain|wWinMain)\b' "$c" && flags+=(-municode)
    for target in "${targets[@]}"; do
        out="$peers"
        [ "$target" = "$WIN_TARGET64" ] || out="$peers32"
        exe="$out/$(basename "${c%.c}").exe"
        echo "peer     $c -> ${exe#"$WINIPC_ROOT"/}" >&2
        compile "$c ($target)" "$target" -O2 -Wall -DUNICODE -D_UNICODE \
            -I_native/common "${flags[@]}" -s -o "$exe" "$c" -luser32 -ladvapi32
    done
done
shopt -u nullglob
echo "peer     examples/handler.c -> ${peers#"$WINIPC_ROOT"/}/handler.dll" >&2
compile examples/handler.c "$WIN_TARGET64" -O2 -Wall -shared -s \
    -o "$peers/handler.dll" examples/handler.c
rm -f "$peers/handler.lib"
