"""Free-threaded CPython (3.13t, 3.14t) cannot use winipc's abi3 modules:
pip there takes no abi3 wheel, setup.py refuses to build from the sdist, and
`import winipc` refuses, each saying why, instead of a compiler #error, a
module that is not found, or modules loaded with the wrong object layout.
No free-threaded CPython is at hand, so each test makes this one look like
one, in a child process, the way the check reads it."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# How a free-threaded build shows itself: "t" in sys.abiflags (POSIX, and
# Windows from 3.14), or sysconfig's Py_GIL_DISABLED (Windows 3.13 has no
# sys.abiflags).
AS_ABIFLAGS = "import sys; sys.abiflags = getattr(sys, 'abiflags', '') + 't'\n"
AS_SYSCONFIG = (
    "import sys, sysconfig\n"
    "if hasattr(sys, 'abiflags'): del sys.abiflags\n"
    "_get = sysconfig.get_config_var\n"
    "sysconfig.get_config_var = lambda n: 1 if n == 'Py_GIL_DISABLED' else _get(n)\n")


def _python(code, cwd, timeout=120, env=None):
    # -P and another folder: the installed winipc, never a checkout.
    return subprocess.run([sys.executable, "-P", "-c", code], cwd=cwd, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          stdin=subprocess.DEVNULL, env=env)


def test_a_regular_build_imports(tmp_path):
    r = _python("import winipc, winipc._rpc; print(winipc.BACKEND)", tmp_path)
    assert r.returncode == 0 and r.stdout.split()[-1] in ("linux", "windows"), r.stdout


@pytest.mark.parametrize("simulate", [AS_ABIFLAGS, AS_SYSCONFIG], ids=["abiflags", "sysconfig"])
def test_import_refuses_a_free_threaded_build(tmp_path, simulate):
    r = _python(simulate + "import winipc\n", tmp_path)
    if simulate is AS_SYSCONFIG and sys.version_info < (3, 13):
        # No free-threaded build exists before 3.13: a Python without
        # sys.abiflags there is an old Windows one, and it imports.
        assert r.returncode == 0, r.stdout
        return
    assert r.returncode != 0, f"winipc imported on a free-threaded build:\n{r.stdout}"
    assert "ImportError" in r.stdout and "free-threaded" in r.stdout \
        and "stable ABI" in r.stdout, r.stdout
    # It stops before any compiled module is loaded.
    r = _python(simulate + "import sys\ntry:\n    import winipc\nexcept ImportError:\n    pass\n"
                "print(sorted(m for m in sys.modules if m.startswith('winipc')))", tmp_path)
    assert r.stdout.strip().splitlines()[-1] == "[]", r.stdout


@pytest.mark.skipif(not os.path.isfile(os.path.join(ROOT, "setup.py")),
                    reason="no source tree around the tests (setup.py)")
def test_setup_py_refuses_to_build_for_a_free_threaded_build(tmp_path):
    """What pip on 3.13t meets with the sdist: setup.py says why, before
    setuptools or a compiler is involved."""
    code = AS_SYSCONFIG + (
        "import os, runpy\n"
        f"os.chdir({ROOT!r})\n"
        "sys.argv = ['setup.py', 'bdist_wheel']\n"
        "runpy.run_path('setup.py', run_name='__main__')\n")
    env = {k: v for k, v in os.environ.items() if k != "WINIPC_PREBUILT"}
    r = _python(code, tmp_path, env=env)
    assert r.returncode == 1, r.stdout
    assert "free-threaded" in r.stdout and "stable ABI" in r.stdout, r.stdout
