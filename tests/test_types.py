"""The types users get: the stubs of the compiled modules (winipc/_rpc.pyi,
winipc/_kernel.pyi, winipc/_win32.pyi) match the built modules (mypy.stubtest), and the
installed package itself and the examples type-check with ``mypy --strict``, with the
Linux and with the Windows view of the stubs and the facade (``--platform``
picks the branches of their ``sys.platform`` checks).  On every platform:
each one checks its own build of the modules.  mypy is in the test extra.

And pyright's type completeness of the installed package is 100%
(``basedpyright --verifytypes``, the same check with Node bundled; in the
test extra): every exported symbol's type is declared, none left for a type
checker to infer.  Not under Wine: scripts/windows/env.sh does not install
it there (the test skips)."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import UNDER_WINE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALLOWLIST = os.path.join(ROOT, "tests", "stubtest_allowlist.txt")
# What stubtest may not check on 3.11 only: the buffer protocol's Python names
# (PEP 688) are 3.12's.
ALLOWLIST_PY311 = os.path.join(ROOT, "tests", "stubtest_allowlist_py311.txt")
EXAMPLES = os.path.join(ROOT, "examples")

pytestmark = pytest.mark.skipif(not os.path.isdir(EXAMPLES),
                                reason="no source tree around the tests (examples/)")


def _mypy(args, tmp_path):
    """``python -m <args>`` from a scratch folder, so that `winipc` is the
    installed package, not this checkout's sources: (exit code, output)."""
    try:
        import mypy  # noqa: F401
    except ImportError:
        pytest.fail("no mypy: it is in the test extra (pip install 'winipc[test]')")
    config = tmp_path / "mypy.ini"
    # mypy's native parser is a Rust extension that imports
    # bcryptprimitives.dll and api-ms-win-core-synch-l1-2-0.dll, which Wine 8
    # does not have: under Wine mypy parses with its Python parser instead.
    config.write_text("[mypy]\n" + ("native_parser = False\n" if UNDER_WINE else ""))
    option = "--mypy-config-file" if args[0] == "mypy.stubtest" else "--config-file"
    r = subprocess.run([sys.executable, "-m", args[0], option, str(config), *args[1:]],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=600, stdin=subprocess.DEVNULL, cwd=tmp_path)
    return r.returncode, r.stdout


def test_stubs_match_the_built_modules(tmp_path):
    allowlists = [ALLOWLIST] + ([ALLOWLIST_PY311] if sys.version_info < (3, 12) else [])
    rc, out = _mypy(["mypy.stubtest", *(a for path in allowlists for a in ("--allowlist", path)),
                     "winipc._rpc", "winipc._kernel", "winipc._win32"], tmp_path)
    assert rc == 0, f"stubtest found differences between the stubs and the modules:\n{out}"


@pytest.mark.parametrize("platform", ["linux", "win32"])
def test_package_type_checks_strictly(tmp_path, platform):
    """winipc's own code, as installed: the facade against the stubs of the
    compiled modules, each platform's modules under its own platform checks."""
    rc, out = _mypy(["mypy", "--strict", "--platform", platform,
                     "--cache-dir", str(tmp_path / "cache"), "-p", "winipc"], tmp_path)
    assert rc == 0, f"mypy --strict --platform {platform} -p winipc failed:\n{out}"


@pytest.mark.parametrize("platform", ["linux", "win32"])
def test_examples_type_check_strictly(tmp_path, platform):
    rc, out = _mypy(["mypy", "--strict", "--platform", platform,
                     "--cache-dir", str(tmp_path / "cache"), EXAMPLES], tmp_path)
    assert rc == 0, f"mypy --strict --platform {platform} examples/ failed:\n{out}"


def test_package_type_completeness(tmp_path):
    """``basedpyright --verifytypes winipc``: no exported symbol (nor one
    they use) of ambiguous or unknown type."""
    if importlib.util.find_spec("basedpyright") is None:
        if UNDER_WINE:
            pytest.skip("basedpyright is not installed on the Windows side (not in "
                        "scripts/windows/env.sh's WIN_REQUIREMENTS): the Linux suite checks")
        pytest.fail("no basedpyright: it is in the test extra (pip install 'winipc[test]')")
    # pyright asks the `python` on PATH for the import paths: this one, so that
    # `winipc` is the package installed with it (and, from a scratch folder,
    # not this checkout's sources).
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep
               + os.environ.get("PATH", ""))
    env.pop("VIRTUAL_ENV", None)
    r = subprocess.run([sys.executable, "-m", "basedpyright", "--verifytypes", "winipc",
                        "--ignoreexternal", "--outputjson"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=600, stdin=subprocess.DEVNULL, cwd=tmp_path, env=env)
    try:
        report = json.loads(r.stdout)["typeCompleteness"]
    except (ValueError, KeyError):
        pytest.fail(f"basedpyright --verifytypes gave no report (exit {r.returncode}):\n"
                    f"{r.stdout}{r.stderr}")
    assert report["packageRootDirectory"], f"basedpyright found no installed winipc: {report}"
    problems = [f"{s['name']}: {d['message']}" for s in report["symbols"]
                for d in s["diagnostics"] if d["severity"] == "error"]
    assert report["completenessScore"] == 1.0, (
        f"type completeness {report['completenessScore']:.1%}, not 100%:\n"
        + "\n".join(problems))
