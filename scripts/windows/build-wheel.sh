#!/usr/bin/env bash
# Cross-builds winipc for 64-bit Windows and installs it for the Windows Python:
#   1. each _native/windows/<name>.pyx of setup.py's MODULES becomes
#      the extension winipc.<name> (compile.sh: Cython in limited-API mode +
#      MinGW-w64, abi3), in build/windows/pyd/winipc/<name>.pyd;
#   2. with the pure package (winipc/*.py, py.typed, *.pyi) it is packed into
#      dist/winipc-<version>-cp311-abi3-win_amd64.whl;
#   3. that wheel is installed into .cache/windows/site (host pip, --target,
#      for win_amd64 / CPython 3.13), replacing any earlier build.
# Runs setup.sh first (a no-op when done).  Everything it writes is under
# build/windows/, dist/ and .cache/windows/: nothing lands in winipc/ or _native/.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/env.sh"
cd "$WINIPC_ROOT"

"$here/setup.sh"

TAG=cp311-abi3-win_amd64     # follows from Py_LIMITED_API=0x030B0000 in compile.sh
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"

# The module list is setup.py's MODULES.
mapfile -t modules < <("$HOST_PYTHON" - setup.py <<'EOF'
import ast, sys
tree = ast.parse(open(sys.argv[1]).read())
for node in tree.body:
    if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "MODULES" for t in node.targets):
        for name in ast.literal_eval(node.value):
            print(name)
        break
else:
    sys.exit("build-wheel.sh: no MODULES = [...] in setup.py")
EOF
)

# Nothing stale stays installed: a failed build leaves no winipc to test.
rm -rf "$WIN_SITE"/winipc "$WIN_SITE"/winipc-*.dist-info

pyd_dir="$WIN_BUILD/pyd"
rm -rf "$pyd_dir" "$WIN_BUILD/src"
mkdir -p "$pyd_dir/winipc"

built=() failed=()
for name in "${modules[@]}"; do
    source="_native/windows/$name.pyx"
    if [ ! -f "$source" ]; then
        echo "missing  $source (setup.py lists winipc.$name)" >&2
        failed+=("$name")
        continue
    fi
    if "$here/compile.sh" "winipc.$name" "$source" "$pyd_dir/winipc/$name.pyd"; then
        built+=("$name")
    else
        failed+=("$name")
    fi
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "build-wheel.sh: failed to build: ${failed[*]/#/winipc.}" >&2
    exit 1
fi
[ "${#built[@]}" -gt 0 ] || echo "build-wheel.sh: no Windows extension module yet; the wheel holds the pure package only" >&2

# Only the Windows wheels of winipc are ours to replace in dist/.
rm -f dist/winipc-*-"$TAG".whl
wheel="$("$HOST_PYTHON" "$here/pack_wheel.py" "$WINIPC_ROOT" "$pyd_dir" "$WIN_BUILD/wheel" "$WINIPC_ROOT/dist" "$TAG")"
echo "wheel    ${wheel#"$WINIPC_ROOT"/}" >&2

# Install it for the Windows Python.
"$HOST_PYTHON" -m pip install -q --no-deps --upgrade --target "$WIN_SITE" \
    --platform win_amd64 --python-version 3.13 --implementation cp --only-binary=:all: \
    "$wheel" </dev/null
echo "install  ${wheel##*/} -> ${WIN_SITE#"$WINIPC_ROOT"/}" >&2
