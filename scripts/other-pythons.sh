#!/usr/bin/env bash
# The Linux wheel of dist/ (the one scripts/setup.sh built and the native
# suite tested) installed as it is into a fresh venv of each other CPython
# on this machine that it is for (3.12 and 3.13: pyenv's, or on PATH as
# python3.N), and a part of the suite run on each: calls through both
# doorbells, the native contract (the modules export what the stubs say on
# that Python), kernel objects; or the tests the arguments name
# (`tests/` is the whole suite), for which the wheel is installed with the
# extras the suite needs, test, bench, plot and peers (the type checkers,
# Sphinx, the release tools, matplotlib, the benchmark's peers), as
# scripts/setup.sh installs it into .venv and the release workflow into the
# venv of each Python.
#     scripts/other-pythons.sh [pytest args]
# A version this machine does not have is named, and is not a failure.  The
# venvs live in .cache/venvs/; pytest and pytest-benchmark are the versions
# of .venv, and so is every other package .venv has (its `pip freeze` as
# constraints), so every Python runs the suite alike.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
shopt -s nullglob
wheels=(dist/winipc-*-manylinux*.whl)
[ "${#wheels[@]}" -eq 1 ] || { echo "other-pythons.sh: no single Linux wheel in dist/ (scripts/setup.sh builds it)" >&2; exit 1; }
wheel="${wheels[0]}"
tests=(tests/test_rpc.py tests/test_contract.py tests/test_kernel.py)
extras=""
part="a part of it, "
for arg in "$@"; do
    case "$arg" in
        -*) ;;
        *) if [ -e "${arg%%::*}" ]; then tests=(); extras="[test,bench,plot,peers]"; part=""; break; fi ;;
    esac
done
# Whether a script in VENV/bin starts a Python other than VENV's own.
foreign_scripts() {
    local script line
    for script in "$1"/bin/*; do
        [ -f "$script" ] && [ ! -L "$script" ] || continue
        IFS= read -r line <"$script" 2>/dev/null || true
        case "$line" in
            "#!$root/$1/bin/"*) ;;
            "#!"*/bin/python*) return 0 ;;
        esac
    done
    return 1
}
pins="$(.venv/bin/python -m pip freeze | grep -iE '^(pytest|pytest-benchmark)==')"
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
.venv/bin/python -m pip freeze | grep -viE '^winipc([ =@]|$)' >"$constraints"
failed=0
for version in 3.12 3.13; do
    # pyenv's own install first (its shims on PATH answer only for the
    # versions it was told to use), then PATH; each must start.
    python=""
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python"$version" \
            "$(command -v "python$version" || true)"; do
        if [ -n "$candidate" ] && "$candidate" -c '' 2>/dev/null; then
            python="$candidate"
            break
        fi
    done
    if [ -z "$python" ]; then
        echo "== Python $version: not on this machine (no python$version on PATH, none in pyenv): not run =="
        continue
    fi
    echo "== native suite, ${part}on $("$python" -c 'import platform; print("CPython", platform.python_version())') ($python) =="
    venv=".cache/venvs/$version"
    # A venv whose Python is gone (a reinstalled pyenv) is made anew, and so
    # is one copied from another checkout: its scripts (pip, pytest) would
    # start that checkout's venv, and test what is installed there.
    if ! { [ -x "$venv/bin/python" ] && "$venv/bin/python" -c '' 2>/dev/null \
            && ! foreign_scripts "$venv"; }; then
        rm -rf "$venv"
        "$python" -m venv "$venv"
    fi
    # shellcheck disable=SC2086  # a list of requirements
    "$venv/bin/python" -m pip install -q --force-reinstall --no-deps "$wheel"
    "$venv/bin/python" -m pip install -q -c "$constraints" "$wheel$extras" $pins
    # -P: the checkout must not shadow the installed package.
    "$venv/bin/python" -P -m pytest -p no:cacheprovider -q "${tests[@]}" "$@" || failed=1
done
exit "$failed"
