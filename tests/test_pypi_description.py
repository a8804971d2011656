"""The long description PyPI shows (pyproject.toml's `readme`,
docs/pypi.md): every link and the picture are absolute, so they work on
PyPI's page; links into the project point at its URL and at files that
exist; nothing refers to the checkout's scripts or venv; and the
distributions in dist/ carry it and pass `twine check --strict`."""

import glob
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"),
                       reason="the source tree's release files are checked by the Linux suite"),
    pytest.mark.skipif(not os.path.isfile(os.path.join(ROOT, "pyproject.toml")),
                       reason="no source tree around the tests (pyproject.toml)"),
]


def _project():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def _description():
    readme = _project()["readme"]
    assert readme == "docs/pypi.md", f"the long description is {readme!r}, not docs/pypi.md"
    with open(os.path.join(ROOT, readme), encoding="utf-8") as f:
        return f.read()


def _targets(text):
    """Every link and image target of a Markdown text: inline links and
    images, reference definitions, and HTML href/src."""
    code_free = re.sub(r"```.*?```", "", text, flags=re.S)
    code_free = re.sub(r"`[^`\n]*`", "", code_free)
    found = re.findall(r"\]\(\s*<?([^)\s>]+)", code_free)
    found += re.findall(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", code_free, flags=re.M)
    found += re.findall(r"""(?:href|src)\s*=\s*["']([^"']+)""", code_free)
    return found


def test_targets_are_found():
    """The link finder sees what it must reject (so the checks below can fail)."""
    sample = ("[a](docs/x.md) ![p](docs/p.png)\n[b]: ../y.md\n<img src=\"z.png\">\n"
              "`[not](a link)`\n```\n[nor](this)\n```\n")
    assert _targets(sample) == ["docs/x.md", "docs/p.png", "../y.md", "z.png"]


def test_every_link_and_picture_is_absolute():
    targets = _targets(_description())
    assert targets, "no links found in docs/pypi.md"
    relative = [t for t in targets if not re.match(r"https://", t)]
    assert not relative, f"links PyPI cannot follow (not absolute https): {relative}"
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)", _description())
    assert images and all(i.startswith("https://raw.githubusercontent.com/") for i in images), \
        f"the picture must be served as an image (raw.githubusercontent.com): {images}"


def test_links_into_the_project_point_at_its_url_and_at_files_that_exist():
    source = _project()["urls"]["Source"].rstrip("/")
    owner_repo = source.removeprefix("https://github.com/")
    for target in _targets(_description()):
        if "github.com" not in target and "githubusercontent.com" not in target:
            continue
        m = (re.match(rf"{re.escape(source)}/blob/main/([^#?]+)", target)
             or re.match(rf"https://raw\.githubusercontent\.com/{re.escape(owner_repo)}/main/([^#?]+)",
                         target))
        if m:
            assert os.path.isfile(os.path.join(ROOT, m[1])), f"{target}: no {m[1]} in the project"
        else:
            assert target.startswith(source), f"{target} is not under the project's URL {source}"


def test_no_word_of_the_checkout():
    """A user of the package has no scripts/ and no .venv of the project."""
    text = _description()
    for word in ("scripts/", ".venv", ".cache/"):
        assert word not in text, f"docs/pypi.md mentions {word}"


def _dists():
    sdists = glob.glob(os.path.join(ROOT, "dist", "winipc-*.tar.gz"))
    wheels = glob.glob(os.path.join(ROOT, "dist", "winipc-*-manylinux*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, \
        f"not one sdist and one Linux wheel in dist/ (scripts/setup.sh): {sdists + wheels}"
    return sdists[0], wheels[0]


def test_the_distributions_carry_it_as_markdown():
    sdist, wheel = _dists()
    with zipfile.ZipFile(wheel) as whl:
        [meta] = [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = whl.read(meta).decode()
    with tarfile.open(sdist) as tar:
        [pkg_info] = [m for m in tar.getmembers() if m.name.count("/") == 1
                      and m.name.endswith("/PKG-INFO")]
        sdist_metadata = tar.extractfile(pkg_info).read().decode()
    for what, text in (("wheel", metadata), ("sdist", sdist_metadata)):
        assert "Description-Content-Type: text/markdown" in text, what
        body = text.split("\n\n", 1)[1]
        assert body.strip() == _description().strip(), \
            f"the {what}'s long description is not docs/pypi.md (rebuild: scripts/setup.sh)"


def test_twine_check_strict():
    try:
        import twine  # noqa: F401
    except ImportError:
        pytest.fail("no twine: the test extra pulls it in (winipc[release])")
    r = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *_dists()],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and r.stdout.count("PASSED") == 2, r.stdout


def test_classifiers_name_only_pythons_the_suite_runs_on():
    """A `Programming Language :: Python :: 3.x` classifier promises a
    tested Python: the minimum of requires-python (the native suite's here),
    the Windows CPythons of the Wine suite (scripts/windows/env.sh), or the
    Python running this suite."""
    project = _project()
    versions = {c.rsplit(":: ", 1)[1] for c in project["classifiers"]
                if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)}
    minimum = re.fullmatch(r">=\s*(3\.\d+)", project["requires-python"])
    assert minimum, project["requires-python"]
    with open(os.path.join(ROOT, "scripts", "windows", "env.sh"), encoding="utf-8") as f:
        wine = {m for line in f if re.match(r"\s*export PYTHON_EMBED_VERSIONS?=", line)
                for m in re.findall(r"\b(3\.\d+)\.\d+\b", line)}
    assert wine, "no PYTHON_EMBED_VERSION in scripts/windows/env.sh"
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert {minimum[1]} | wine <= versions, \
        f"tested Pythons without a classifier: {({minimum[1]} | wine) - versions}"
    untested = versions - {minimum[1], running} - wine
    assert not untested, f"classifiers for Pythons the suite does not run on: {untested}"
