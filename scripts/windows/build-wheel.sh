#!/usr/bin/env bash
# Cross-builds winipc for 64-bit Windows and installs it for the Windows Python:
#   1. each module of setup.py's MODULES (_native/windows/<name>.pyx, or
#      _native/common/<name>.pyx when both platforms share it) becomes
#      the extension winipc.<name> (compile.sh: Cython in limited-API mode +
#      MinGW-w64, abi3), in build/windows/pyd/winipc/<name>.pyd;
#   2. setuptools packs them with the pure package (winipc/*.py, py.typed,
#      *.pyi) and the metadata of pyproject.toml into
#      dist/winipc-<version>-cp311-abi3-win_amd64.whl: setup.py, told by
#      WINIPC_PREBUILT where the modules are, compiles nothing (a pip wheel
#      build, isolated like any other: setuptools and Cython from the index);
#   3. that wheel is installed into .cache/windows/site (host pip, --target,
#      for win_amd64 / CPython 3.13), replacing any earlier build.
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

"$here/setup.sh"

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
rm -rf "$WIN_SITE"/winipc "$WIN_SITE"/winipc-*.dist-info

pyd_dir="$WIN_BUILD/pyd"
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

# The wheel, by setuptools (bdist_wheel: win_amd64, cp311-abi3), from a clean
# build folder; only the Windows wheels of winipc are ours to replace in dist/.
rm -rf "$WIN_BUILD/setuptools" "$WIN_BUILD/wheel"
rm -f dist/winipc-*-win_amd64.whl
WINIPC_PREBUILT="$pyd_dir" "$HOST_PYTHON" -m pip wheel -q --no-deps -w "$WIN_BUILD/wheel" . \
    </dev/null >"$WIN_BUILD/wheel.log" 2>&1 \
    || { tail -40 "$WIN_BUILD/wheel.log" >&2; echo "build-wheel.sh: the wheel build failed" >&2; exit 1; }
mkdir -p dist
made="$(ls "$WIN_BUILD"/wheel/winipc-*.whl)"
case "$made" in
    *-cp311-abi3-win_amd64.whl) ;;
    *) echo "build-wheel.sh: setuptools made ${made##*/}, not a cp311-abi3-win_amd64 wheel" >&2; exit 1 ;;
esac
wheel="$WINIPC_ROOT/dist/${made##*/}"
mv "$made" "$wheel"
echo "wheel    ${wheel#"$WINIPC_ROOT"/}" >&2

# Install it for the Windows Python.
install_wheel "$wheel"
