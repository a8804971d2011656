#!/usr/bin/env bash
# Sets up the native (Linux) environment: a venv in .venv with winipc built
# from this checkout and installed as a user would have it, plus the test
# and benchmark tools.  Safe to run again: it rebuilds winipc each time.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check "pytest>=7" "pytest-benchmark>=4" build
# A real install (not editable): the tests import what a user would get.
.venv/bin/python -m pip install -q --disable-pip-version-check --force-reinstall --no-deps .
