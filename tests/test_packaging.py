"""The source distribution: built from this checkout, it holds the sources of
every platform, and `pip install` of it alone, in a fresh venv, gives a
winipc that loads and answers a call.  The Linux wheel in dist/: it runs on
glibc 2.28 (`auditwheel show`), and it is what the suite tests."""

import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"),
                       reason="the sdist is built and installed on Linux (the Windows "
                              "wheel is cross-built there too); other platforms test wheels"),
    pytest.mark.skipif(not os.path.isfile(os.path.join(ROOT, "pyproject.toml")),
                       reason="no source tree around the tests (pyproject.toml)"),
]

# What every sdist must hold, beyond these patterns' matches below.
REQUIRED = [
    "pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE",
    "winipc/py.typed", "winipc/bench.py", "tests/conftest.py", "benchmarks/spin.py",
    "examples/rpc_compare.py", "CHANGELOG.md", "docs/conf.py", "docs/api.rst", "docs/pypi.md",
]
# Every source file of these kinds in the checkout must be in the sdist.
SOURCE_DIRS = {
    "_native/common": (".pyx", ".pxd", ".pxi", ".h"),
    "_native/linux": (".pyx", ".pxd", ".pxi", ".h"),
    "_native/windows": (".pyx", ".pxd", ".pxi", ".h"),
    "winipc": (".py", ".pyi", ".typed"),
}
# Generated files that must not be shipped as sources.
GENERATED = (".so", ".pyd", ".pyc")


def _copy_tree(dst):
    """The checkout's sources, without its venvs, caches and build output, so
    that building never writes into the checkout."""
    skip = {".git", ".venv", ".cache", "build", "dist", ".benchmarks", "__pycache__"}

    def ignore(folder, names):
        return [n for n in names if n in skip or n.endswith((".egg-info",) + GENERATED)
                or (folder.startswith(os.path.join(ROOT, "_native")) and n.endswith(".c"))]

    shutil.copytree(ROOT, dst, ignore=ignore)


def _run(argv, timeout, **kw):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    assert r.returncode == 0, f"{argv[:4]} exited with {r.returncode}:\n{r.stdout[-6000:]}"
    return r.stdout


def test_sdist_holds_both_platforms_and_installs(tmp_path):
    src, dist, venv = tmp_path / "src", tmp_path / "dist", tmp_path / "venv"
    _copy_tree(src)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    env.pop("PYTHONPATH", None)

    # 1. The sdist, with the `build` frontend (build isolation: setuptools and
    # Cython come from the package index).
    _run([sys.executable, "-m", "build", "--sdist", "--outdir", str(dist), str(src)],
         timeout=120, env=env)
    [sdist] = dist.glob("winipc-*.tar.gz")
    with tarfile.open(sdist) as tar:
        top = os.path.commonpath(tar.getnames())
        names = {os.path.relpath(n, top) for n in tar.getnames()}
    missing = [n for n in REQUIRED if n not in names]
    for folder, kinds in SOURCE_DIRS.items():
        for name in sorted(os.listdir(src / folder)):
            if name.endswith(kinds) and f"{folder}/{name}" not in names:
                missing.append(f"{folder}/{name}")
    assert not missing, f"the sdist lacks {missing}"
    for folder in ("_native/linux", "_native/windows"):
        assert any(n.startswith(folder + "/") and n.endswith(".pyx") for n in names), \
            f"no Cython sources of {folder}"
    shipped = [n for n in names if n.endswith(GENERATED)
               or (n.startswith("_native/") and n.endswith(".c"))]
    assert not shipped, f"the sdist ships generated files: {shipped}"

    # 2. A fresh venv, and the sdist installed there by pip: it builds the
    # wheel from the sdist alone.
    _run([sys.executable, "-m", "venv", str(venv)], timeout=120, env=env)
    python = str(venv / "bin" / "python")
    _run([python, "-m", "pip", "install", "-q", str(sdist)], timeout=240, env=env)

    # 3. The installed winipc (not this checkout: -P, and run from elsewhere)
    # loads its compiled modules and answers a call from another process.
    out = _run([python, "-P", "-c", "import winipc, winipc._rpc, winipc._kernel; "
                "from importlib.metadata import metadata as m; "
                "print(winipc.BACKEND, winipc.__file__, winipc.__version__, "
                "m('winipc')['Version'], m('winipc')['License-Expression'])"],
               timeout=60, env=env, cwd=tmp_path)
    backend, where, version, dist_version, license = out.split()
    assert backend == "linux" and where.startswith(str(venv)), out
    assert version == dist_version, "winipc.__version__ is not the distribution's version"
    assert license == "MIT", out
    out = _run([python, "-P", str(src / "examples" / "rpc_compare.py")],
               timeout=60, env=env, cwd=tmp_path)
    assert "red=21.01" in out, out


# The oldest glibc the Linux wheel may need: its tag is manylinux_2_28 or lower
# (scripts/setup.sh builds it for glibc 2.28 and repairs it to that tag).
MAX_GLIBC = (2, 28)


def _manylinux_tag(wheel):
    """The tag `auditwheel show` finds the wheel consistent with, from what
    its modules link to: (glibc major, minor), and auditwheel's report."""
    try:
        import auditwheel  # noqa: F401
    except ImportError:
        pytest.fail("no auditwheel: the test extra pulls it in (winipc[release])")
    out = _run([sys.executable, "-m", "auditwheel", "show", wheel], timeout=120)
    found = re.search(r'consistent with\s+the following platform tag:\s+"manylinux_(\d+)_(\d+)_',
                      out)
    assert found, f"no manylinux tag in auditwheel's report:\n{out}"
    return (int(found[1]), int(found[2])), out


def test_linux_wheel_needs_glibc_2_28_at_most():
    """The wheel in dist/ (the one the suite runs on, below) runs on glibc
    2.28 (RHEL/Alma 8, Debian 10, Ubuntu 20.04): `auditwheel show` judges it
    by the versions of the symbols its modules use, not by its file name."""
    wheels = glob.glob(os.path.join(ROOT, "dist", "winipc-*-manylinux*.whl"))
    assert len(wheels) == 1, f"not one Linux wheel in dist/ (scripts/setup.sh): {wheels}"
    (major, minor), out = _manylinux_tag(wheels[0])
    assert (major, minor) <= MAX_GLIBC, \
        f"the wheel needs glibc {major}.{minor}, newer than {MAX_GLIBC}:\n{out}"
    name_tag = re.search(r"-manylinux_(\d+)_(\d+)_", os.path.basename(wheels[0]))
    assert name_tag and (int(name_tag[1]), int(name_tag[2])) <= MAX_GLIBC, wheels[0]


def test_suite_runs_on_the_wheel_in_dist():
    """The winipc these tests import is that wheel, byte for byte: its
    compiled modules are the ones in dist/."""
    import winipc

    [wheel] = glob.glob(os.path.join(ROOT, "dist", "winipc-*-manylinux*.whl"))
    installed = os.path.dirname(os.path.abspath(winipc.__file__))
    with zipfile.ZipFile(wheel) as whl:
        modules = [n for n in whl.namelist() if n.startswith("winipc/") and n.endswith(".so")]
        assert modules, f"no compiled modules in {wheel}"
        for name in modules:
            with open(os.path.join(installed, os.path.basename(name)), "rb") as f:
                assert f.read() == whl.read(name), \
                    f"the installed {name} is not the one in {os.path.basename(wheel)}"


def test_one_zig_for_the_linux_and_the_windows_wheels():
    """scripts/setup.sh (the Linux wheel) and scripts/windows/env.sh (the
    Windows wheels) pin the same ziglang."""
    pins = []
    for path in (("scripts", "setup.sh"), ("scripts", "windows", "env.sh")):
        with open(os.path.join(ROOT, *path), encoding="utf-8") as f:
            found = re.findall(r"\bziglang==([0-9][0-9.]*)", f.read())
        assert len(found) == 1, f"{'/'.join(path)}: ziglang pinned {found}"
        pins += found
    assert pins[0] == pins[1], pins
