#!/usr/bin/env bash
# Cross-compiles one Cython module into a Windows x64 extension (.pyd) for the
# stable ABI (abi3, CPython >= 3.11):
#     scripts/windows/compile.sh MODULE SOURCE.pyx OUT.pyd [INCLUDE_DIR ...]
# e.g. scripts/windows/compile.sh winipc._rpc _native/windows/_rpc.pyx build/windows/pyd/winipc/_rpc.pyd
#
# Cython (host, limited-API mode) writes build/windows/src/MODULE.c; MinGW-w64
# GCC compiles it against a copy of the host CPython's headers with our Windows
# pyconfig.h, and links it directly against python3.dll of the embeddable
# distribution, with libgcc linked statically: the .pyd needs only python3.dll
# and DLLs that every Windows has.  Include dirs: _native/common,
# _native/windows, then any given.  Run setup.sh first (build-wheel.sh does).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/env.sh"

if [ $# -lt 3 ]; then
    sed -n '2,4p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
module="$1" source="$2" out="$3"
shift 3
extra_includes=("$@")

# The stable ABI version built for (setup.py's LIMITED_API, as the Linux build);
# the wheel tag follows from it (cp311).
LIMITED_API="$("$HOST_PYTHON" "$WINIPC_ROOT/setup.py" --limited-api)"

includes=(-I"$WINIPC_ROOT/_native/common" -I"$WINIPC_ROOT/_native/windows")
for d in "${extra_includes[@]}"; do includes+=(-I"$d"); done

# The CPython headers, with our pyconfig.h beside Python.h (a copy: Python.h
# includes "pyconfig.h" with quotes, which finds the file beside it first).
pyinc="$WIN_BUILD/include/python"
if [ ! -f "$pyinc/Python.h" ] || ! cmp -s "$here/pyconfig.h" "$pyinc/pyconfig.h"; then
    host_inc="$("$HOST_PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    [ -f "$host_inc/Python.h" ] || { echo "compile.sh: no Python.h in $host_inc (the host CPython's headers)" >&2; exit 1; }
    rm -rf "$pyinc" "$pyinc.tmp"
    mkdir -p "$(dirname "$pyinc")"
    cp -r "$host_inc" "$pyinc.tmp"
    cp "$here/pyconfig.h" "$pyinc.tmp/pyconfig.h"
    mv "$pyinc.tmp" "$pyinc"
fi

csrc="$WIN_BUILD/src/$module.c"
mkdir -p "$(dirname "$csrc")" "$(dirname "$out")"

echo "cython   $source -> ${csrc#"$WINIPC_ROOT"/}" >&2
cython_includes=(-I "$WINIPC_ROOT/_native/common" -I "$WINIPC_ROOT/_native/windows")
for d in "${extra_includes[@]}"; do cython_includes+=(-I "$d"); done
"$HOST_PYTHON" -m cython -3 -X embedsignature=True --module-name "$module" "${cython_includes[@]}" -o "$csrc" "$source"

echo "mingw    ${csrc#"$WINIPC_ROOT"/} -> $out" >&2
"$MINGW_CC" -O2 -g0 -fno-strict-aliasing -DNDEBUG \
    -DCYTHON_LIMITED_API=1 -DPy_LIMITED_API="$LIMITED_API" \
    -DUNICODE -D_UNICODE -D_WIN32_WINNT=0x0A00 \
    -I"$pyinc" "${includes[@]}" \
    -shared -static-libgcc -s -Wl,--no-insert-timestamp \
    -o "$out" "$csrc" \
    "$WIN_PYTHON_DIR/python3.dll" -luser32 -lkernel32 -ladvapi32

# The result must load with nothing but python3.dll and system DLLs, and
# export its PyInit_ function.
headers="$("$MINGW_OBJDUMP" -p "$out")"
imports="$(printf '%s\n' "$headers" | sed -n 's/^[[:space:]]*DLL Name: //p' | sort -fu)"
bad="$(printf '%s\n' "$imports" | grep -viE '^(python3\.dll|kernel32\.dll|user32\.dll|advapi32\.dll|msvcrt\.dll|ntdll\.dll|api-ms-win-.*\.dll)$' || true)"
if [ -n "$bad" ]; then
    echo "compile.sh: $out needs DLLs that a Windows Python does not have: $bad" >&2
    exit 1
fi
init="PyInit_${module##*.}"
if ! printf '%s\n' "$headers" | grep -w "$init" >/dev/null; then
    echo "compile.sh: $out does not export $init" >&2
    exit 1
fi
echo "ok       $out (imports: $(echo $imports))" >&2
