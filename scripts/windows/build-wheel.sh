#!/usr/bin/env bash
# Cross-builds winipc for Windows and installs it for the Windows Python:
#   1. each module of setup.py's MODULES (_native/windows/<name>.pyx, or
#      _native/common/<name>.pyx when both platforms share it) becomes
#      the extension winipc.<name> (compile.sh: Cython in limited-API mode +
#      zig's clang, abi3, linked to the UCRT), in
#      build/windows/pyd/winipc/<name>.pyd;
#   2. setuptools packs them with the pure package (winipc/*.py, py.typed,
#      *.pyi) and the metadata of pyproject.toml into
#      dist/winipc-<version>-cp311-abi3-win_amd64.whl: setup.py, told by
#      WINIPC_PREBUILT where the modules are, compiles nothing (a pip wheel
#      build, isolated like any other: setuptools and Cython from the index);
#   3. that wheel is installed into .cache/windows/site (host pip, --target,
#      for win_amd64 / CPython 3.13), replacing any earlier build.
# This is how the Windows wheels that ship are built too: the release
# workflow runs this script (with --no-install) on a Linux runner.
#     scripts/windows/build-wheel.sh --no-install
# builds the wheel only (steps 1 and 2): it needs the host venv alone
# (setup.sh --build-tools), neither Wine nor a Windows Python.  With
# WIN_ARCH=x86 (env.sh), the 32-bit wheel, ...-cp311-abi3-win32.whl, from
# build/windows/pyd-x86; it cannot be installed here (no 32-bit Windows
# CPython), so it needs --no-install.
# With WIN_PY=3.11 (env.sh) it builds against that CPython's python3.dll and
# installs into its site-packages, .cache/windows/site3.11.
#     scripts/windows/build-wheel.sh --install WHEEL
# builds nothing: it installs that wheel (one this script made before) for the
# Windows Python WIN_PY selects, so that another CPython tests the very file.
# Runs setup.sh first (a no-op when done).  Everything it writes is under
# build/windows/, dist/ and .cache/windows/ (and setuptools' winipc.egg-info):
# nothing lands in winipc/ or _native/.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/env.sh"
cd "$WINIPC_ROOT"

install=1
case "${1:-}" in
    --no-install) install=0 ;;
    --install|"") ;;
    *) echo "build-wheel.sh: usage: build-wheel.sh [--no-install | --install WHEEL]" >&2; exit 2 ;;
esac
if [ "$install" = 1 ] && [ "$WIN_ARCH" != x64 ]; then
    echo "build-wheel.sh: WIN_ARCH=$WIN_ARCH: no Windows Python here to install into: use --no-install" >&2
    exit 2
fi
if [ "$install" = 1 ]; then
    "$here/setup.sh"
else
    "$here/setup.sh" --build-tools
fi

export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# Installs the wheel $1 for the Windows Python, replacing any winipc there.
install_wheel() {
    rm -rf "$WIN_SITE"/winipc "$WIN_SITE"/winipc-*.dist-info
    "$HOST_PYTHON" -m pip install -q --no-deps --upgrade --target "$WIN_SITE" \
        --platform win_amd64 --python-version "$WIN_PY" --implementation cp --only-binary=:all: \
        "$1" </dev/null
    echo "install  ${1##*/} -> ${WIN_SITE#"$WINIPC_ROOT"/} (CPython $WIN_PY)" >&2
}

if [ "${1:-}" = "--install" ]; then
    wheel="${2:?build-wheel.sh --install: which wheel?}"
    case "$wheel" in
        *-cp311-abi3-win_amd64.whl) ;;
        *) echo "build-wheel.sh: $wheel is not a cp311-abi3-win_amd64 wheel" >&2; exit 1 ;;
    esac
    [ -f "$wheel" ] || { echo "build-wheel.sh: no $wheel" >&2; rm -rf "$WIN_SITE"/winipc "$WIN_SITE"/winipc-*.dist-info; exit 1; }
    install_wheel "$(realpath "$wheel")"
    exit 0
fi
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"

# The module list is setup.py's MODULES.
mapfile -t modules < <("$HOST_PYTHON" setup.py --list-modules)
[ "${#modules[@]}" -gt 0 ] || { echo "build-wheel.sh: setup.py --list-modules printed nothing" >&2; exit 1; }

# Nothing stale stays installed: a failed build leaves no winipc to test.
[ "$install" = 0 ] || rm -rf "$WIN_SITE"/winipc "$WIN_SITE"/winipc-*.dist-info

case "$WIN_ARCH" in
    x64) pyd_dir="$WIN_BUILD/pyd" ;;
    *) pyd_dir="$WIN_BUILD/pyd-$WIN_ARCH" ;;
esac
rm -rf "$pyd_dir" "$WIN_BUILD/src"
mkdir -p "$pyd_dir/winipc"

failed=()
for name in "${modules[@]}"; do
    source="$("$HOST_PYTHON" setup.py --source "$name")"
    if [ ! -f "$source" ]; then
        echo "missing  $source (setup.py lists winipc.$name)" >&2
        failed+=("$name")
        continue
    fi
    "$here/compile.sh" "winipc.$name" "$source" "$pyd_dir/winipc/$name.pyd" || failed+=("$name")
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "build-wheel.sh: failed to build: ${failed[*]/#/winipc.}" >&2
    exit 1
fi

# The wheel, by setuptools (bdist_wheel: win_amd64 or win32, cp311-abi3), from
# a clean build folder; only the winipc wheels of this platform are ours to
# replace in dist/.
rm -rf "$WIN_BUILD/setuptools" "$WIN_BUILD/wheel"
rm -f dist/winipc-*-"$WIN_PLAT".whl
WINIPC_PREBUILT="$pyd_dir" WINIPC_PREBUILT_PLAT="$WIN_PLAT" "$HOST_PYTHON" -m pip wheel -q --no-deps -w "$WIN_BUILD/wheel" . \
    </dev/null >"$WIN_BUILD/wheel.log" 2>&1 \
    || { tail -40 "$WIN_BUILD/wheel.log" >&2; echo "build-wheel.sh: the wheel build failed" >&2; exit 1; }
mkdir -p dist
made="$(ls "$WIN_BUILD"/wheel/winipc-*.whl)"
case "$made" in
    *-cp311-abi3-"$WIN_PLAT".whl) ;;
    *) echo "build-wheel.sh: setuptools made ${made##*/}, not a cp311-abi3-$WIN_PLAT wheel" >&2; exit 1 ;;
esac
wheel="$WINIPC_ROOT/dist/${made##*/}"
mv "$made" "$wheel"
echo "wheel    ${wheel#"$WINIPC_ROOT"/}" >&2

# Install it for the Windows Python.
[ "$install" = 0 ] || install_wheel "$wheel"
