"""The API reference: Sphinx builds docs/ (autodoc on the installed
package's docstrings, MyST for the Markdown guides) with warnings as errors,
every public name of winipc is in it, and the guides and the changelog are
pages of it.  And the changelog's newest entry is this version."""

import os
import re
import shutil
import subprocess
import sys

import pytest

import winipc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"),
                       reason="the documentation is built by the Linux suite "
                              "(Sphinx comes with the docs extra there)"),
    pytest.mark.skipif(not os.path.isfile(os.path.join(DOCS, "conf.py")),
                       reason="no source tree around the tests (docs/conf.py)"),
]


def _sphinx(source, out):
    """`sphinx-build -W` of `source`, run with -P from elsewhere, so that
    autodoc imports the installed winipc rather than the checkout."""
    try:
        import myst_parser  # noqa: F401
        import sphinx  # noqa: F401
    except ImportError:
        pytest.fail("no Sphinx or MyST: the test extra pulls them in (winipc[docs])")
    return subprocess.run(
        [sys.executable, "-P", "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(out / ".doctrees"), str(source), str(out / "html")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
        stdin=subprocess.DEVNULL, cwd=out)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs")
    r = _sphinx(DOCS, out)
    assert r.returncode == 0, f"sphinx-build -W failed:\n{r.stdout[-8000:]}"
    return out / "html"


def _inventory(html):
    from sphinx.util.inventory import InventoryFile

    with open(html / "objects.inv", "rb") as f:
        inv = InventoryFile.load(f, "", os.path.join)
    # Sphinx 8.2+ returns an Inventory object, older ones a dict.
    data = getattr(inv, "data", inv)
    return {name for entries in data.values() for name in entries}


def test_the_reference_builds_without_warnings(built):
    assert (built / "api.html").is_file()


def test_every_public_name_is_documented(built):
    names = _inventory(built)
    missing = [n for n in winipc.__all__ if f"winipc.{n}" not in names]
    assert not missing, f"not in the API reference (docs/api.rst): {missing}"
    # The members too: Connection.call, for one, comes from its docstring.
    assert "winipc.Connection.call" in names and "winipc.Server.handler" in names


def test_the_guides_and_the_changelog_are_pages(built):
    index = (built / "index.html").read_text(encoding="utf-8")
    guides = [name[:-3] for name in os.listdir(DOCS)
              if name.endswith(".md") and name not in ("pypi.md", "changelog.md")]
    assert "kernel-objects" in guides and "from-pywin32" in guides, guides
    for page in ["api", "changelog", *guides]:
        assert (built / f"{page}.html").is_file(), page
        assert f'href="{page}.html"' in index, f"the index does not link {page}"
    # The changelog page is CHANGELOG.md itself.
    changelog = (built / "changelog.html").read_text(encoding="utf-8")
    assert f"{winipc.__version__}" in changelog


def test_a_warning_fails_the_build(tmp_path):
    """-W holds: a page that refers to a name winipc lacks breaks the build."""
    source = tmp_path / "src"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("*.png", "*.json"))
    with open(source / "api.rst", "a", encoding="utf-8") as f:
        f.write("\n.. autoclass:: winipc.NoSuchName\n")
    shutil.copy(os.path.join(ROOT, "CHANGELOG.md"), tmp_path)
    shutil.copytree(os.path.join(ROOT, "examples"), tmp_path / "examples")
    r = _sphinx(source, tmp_path)
    assert r.returncode != 0 and "NoSuchName" in r.stdout, r.stdout[-4000:]


def test_the_changelog_names_this_version_first():
    with open(os.path.join(ROOT, "CHANGELOG.md"), encoding="utf-8") as f:
        versions = re.findall(r"^## \[(\d+\.\d+\.\d+[^\]]*)\]", f.read(), flags=re.M)
    assert versions and versions[0] == winipc.__version__, \
        f"CHANGELOG.md's newest entry is {versions[:1]}, winipc is {winipc.__version__}"
