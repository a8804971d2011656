#!/usr/bin/env bash
# Cross-compiles one Cython module into a Windows extension (.pyd), x64 or x86 (WIN_ARCH), for the
# stable ABI (abi3, CPython >= 3.11):
#     scripts/windows/compile.sh MODULE SOURCE.pyx OUT.pyd [INCLUDE_DIR ...]
# e.g. scripts/windows/compile.sh winipc._rpc _native/windows/_rpc.pyx build/windows/pyd/winipc/_rpc.pyd
#
# Cython (host, limited-API mode) writes build/windows/src/MODULE.c; zig's
# clang (zigcc: why zig) compiles it for WIN_TARGET (WIN_ARCH: x64 by
# default, or x86) against a copy of the host CPython's headers with our
# Windows pyconfig.h, and links it to the Universal C Runtime and to
# python3.dll through an import library made from python3.def (the exports of
# CPython 3.11's python3.dll: the stable ABI the wheel is for) by zig's
# dlltool: its linker (lld) cannot link against a DLL itself.  The result
# must import nothing but python3.dll, the UCRT and Windows' own DLLs, and
# export its PyInit_ (pe_check.py check).  Include dirs: _native/common,
# _native/windows, then any given.  Run setup.sh first (build-wheel.sh does).
# This is the one recipe of the Windows wheel: build-wheel.sh here and the
# release workflow (.github/workflows/release.yml) both build with it.
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
if [ ! -f "$pyinc/Python.h" ] || ! cmp -s "$here/pyconfig.h" "$pyinc/pyconfig.h" \
        || ! cmp -s "$here/pyconfig-x64.h" "$pyinc/pyconfig-x64.h" \
        || ! cmp -s "$here/pyconfig-x86.h" "$pyinc/pyconfig-x86.h"; then
    host_inc="$("$HOST_PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    [ -f "$host_inc/Python.h" ] || { echo "compile.sh: no Python.h in $host_inc (the host CPython's headers)" >&2; exit 1; }
    rm -rf "$pyinc" "$pyinc.tmp"
    mkdir -p "$(dirname "$pyinc")"
    cp -r "$host_inc" "$pyinc.tmp"
    cp "$here/pyconfig.h" "$here/pyconfig-x64.h" "$here/pyconfig-x86.h" "$pyinc.tmp/"
    mv "$pyinc.tmp" "$pyinc"
fi

# The import library of python3.dll for this target (-m: dlltool's machine;
# for x86 it decorates each name with the leading underscore of the C
# calling convention there, as the linker expects).
case "$WIN_ARCH" in
    x64) dlltool_machine=i386:x86-64 ;;
    x86) dlltool_machine=i386 ;;
esac
# (Made anew each time: it takes milliseconds.)
implib="$WIN_BUILD/lib-$WIN_ARCH/python3.lib"
mkdir -p "$(dirname "$implib")"
"$HOST_PYTHON" -m ziglang dlltool -m "$dlltool_machine" -D python3.dll \
    -d "$here/python3.def" -l "$implib" \
    || { echo "compile.sh: zig dlltool could not make $implib from python3.def" >&2; exit 1; }

csrc="$WIN_BUILD/src/$module.c"
mkdir -p "$(dirname "$csrc")" "$(dirname "$out")"

echo "cython   $source -> ${csrc#"$WINIPC_ROOT"/}" >&2
cython_includes=(-I "$WINIPC_ROOT/_native/common" -I "$WINIPC_ROOT/_native/windows")
for d in "${extra_includes[@]}"; do cython_includes+=(-I "$d"); done
"$HOST_PYTHON" -m cython -3 -X embedsignature=True --module-name "$module" "${cython_includes[@]}" -o "$csrc" "$source"

echo "zig cc   ${csrc#"$WINIPC_ROOT"/} -> $out ($WIN_TARGET)" >&2
"$WIN_CC" "$WIN_TARGET" -O2 -g0 -fno-strict-aliasing -DNDEBUG \
    -DCYTHON_LIMITED_API=1 -DPy_LIMITED_API="$LIMITED_API" \
    -DUNICODE -D_UNICODE \
    -I"$pyinc" "${includes[@]}" \
    -shared -s \
    -o "$out" "$csrc" \
    "$implib" -luser32 -lkernel32 -ladvapi32
# (lld writes the module's own import library beside it: not part of a wheel.)
rm -f "${out%.pyd}.lib"

# The result must load with nothing but python3.dll, the UCRT and system
# DLLs, and export its PyInit_ function.
checked="$("$HOST_PYTHON" "$here/pe_check.py" check "$out" "PyInit_${module##*.}")" || exit 1
echo "ok       $out ($checked)" >&2
