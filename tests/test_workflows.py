"""The release workflows (.github/workflows/), which cannot run here, are
checked as far as they can be without running them: against the
GitHub-workflow schema that check-jsonschema ships (offline), by zizmor's
offline audits (no finding, or each accepted one in .github/zizmor.yml with
its reason), and for what the release relies on: every action pinned by a
commit, the token read-only except for publishing, no credentials left in a
checkout, and publishing by trusted publishing alone.  The tools come with
the `release` extra, which the `test` extra pulls in on Linux."""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GITHUB = os.path.join(ROOT, ".github")
WORKFLOWS = sorted(glob.glob(os.path.join(GITHUB, "workflows", "*.yml")))

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="the source tree's release files are checked by the Linux suite "
           "(the tools come with the release extra there)")


def _tool(name):
    """A console script of this Python's environment (the `release` extra)."""
    path = os.path.join(sysconfig.get_path("scripts"), name)
    if not os.path.exists(path):
        path = shutil.which(name)
    if not path:
        pytest.fail(f"no {name}: install the test extra (winipc[test] pulls in winipc[release])")
    return path


def _run(argv, timeout=120, stderr=subprocess.STDOUT):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=stderr, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL,
                          env=dict(os.environ, NO_COLOR="1"))


def _load(path):
    import yaml

    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _jobs():
    for path in WORKFLOWS:
        for name, job in _load(path)["jobs"].items():
            yield os.path.basename(path), name, job


def test_there_are_workflows():
    names = [os.path.basename(p) for p in WORKFLOWS]
    assert "release.yml" in names, names


# -- the schema ------------------------------------------------------------

def _schema_check(paths):
    return _run([_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                 "--no-cache", *paths])


def test_workflows_match_the_github_schema():
    r = _schema_check(WORKFLOWS)
    assert r.returncode == 0, r.stdout


def test_schema_check_rejects_a_broken_workflow(tmp_path):
    """The check can fail: a job without runs-on, a step that both runs and
    uses, is refused."""
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\non: push\njobs:\n  build:\n    steps:\n"
                   "      - run: echo\n        uses: actions/checkout@v4\n")
    r = _schema_check([str(bad)])
    assert r.returncode != 0 and "bad.yml" in r.stdout, r.stdout


# -- zizmor ----------------------------------------------------------------

def _zizmor(target, *extra):
    r = _run([_tool("zizmor"), "--offline", "--format", "json", "--no-progress", *extra,
              str(target)], stderr=subprocess.PIPE)
    try:
        findings = json.loads(r.stdout)
    except ValueError:
        pytest.fail(f"zizmor printed no findings list (exit {r.returncode}):\n"
                    f"{r.stdout}{r.stderr}")
    return r.returncode, findings


def test_zizmor_finds_nothing():
    """zizmor's offline audits, as a user would run them on .github/: no
    finding (any accepted one would be listed with its reason in
    .github/zizmor.yml, which zizmor reads)."""
    code, findings = _zizmor(GITHUB)
    assert not findings and code == 0, json.dumps(findings, indent=1)[:6000]


def test_zizmor_catches_an_unpinned_action(tmp_path):
    """The audit can fail: a workflow with a tag-pinned action, the default
    permissions and a checkout that keeps its credentials is reported."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "ci.yml").write_text(
        "name: ci\non: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n")
    code, findings = _zizmor(tmp_path / ".github")
    idents = {f["ident"] for f in findings}
    assert code != 0 and {"unpinned-uses", "artipacked"} <= idents, idents


# -- what the release relies on --------------------------------------------

PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def test_every_action_is_pinned_by_commit_with_its_version():
    for path in WORKFLOWS:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                m = re.match(r"\s*(?:-\s+)?uses:\s*(\S+)\s*(#.*)?$", line)
                if not m:
                    continue
                where = f"{os.path.basename(path)}:{number}"
                assert PINNED.match(m[1]), f"{where}: {m[1]} is not pinned by a commit"
                assert m[2] and re.search(r"v\d+\.\d+\.\d+", m[2]), \
                    f"{where}: no version comment beside the commit"


def test_permissions_are_least():
    for path in WORKFLOWS:
        assert _load(path).get("permissions") == {"contents": "read"}, \
            f"{os.path.basename(path)}: the top-level permissions are not contents: read"
    writers = {(wf, name): job["permissions"] for wf, name, job in _jobs()
               if "permissions" in job}
    assert writers == {("release.yml", "publish"): {"id-token": "write"}}, writers


def test_checkouts_keep_no_credentials():
    for wf, name, job in _jobs():
        for step in job.get("steps", []):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, \
                    f"{wf} {name}: a checkout keeps its credentials"


def test_publish_is_trusted_publishing_of_the_tested_files_on_a_tag():
    wf = _load(os.path.join(GITHUB, "workflows", "release.yml"))
    on = wf.get("on", wf.get(True))          # YAML 1.1 reads the key `on` as true
    assert "v*" in on["push"]["tags"], on
    jobs = wf["jobs"]
    publish = jobs["publish"]
    assert "refs/tags/v" in publish["if"], publish["if"]
    # It waits for every test of every artifact.
    assert {"linux-test", "windows-test", "sdist-test", "linux-wheel"} <= set(publish["needs"])
    uploads = [s for s in publish["steps"]
               if s.get("uses", "").startswith("pypa/gh-action-pypi-publish@")]
    assert len(uploads) == 1, publish["steps"]
    # No token: neither a password nor a secret anywhere in the job.
    assert "with" not in uploads[0] or "password" not in uploads[0]["with"], uploads[0]
    assert "secrets." not in json.dumps(publish), publish
    # What it uploads is what the jobs built: the artifacts they uploaded.
    built = {s["with"]["name"] for _, _, job in _jobs() for s in job.get("steps", [])
             if s.get("uses", "").startswith("actions/upload-artifact@")}
    [download] = [s for s in publish["steps"]
                  if s.get("uses", "").startswith("actions/download-artifact@")]
    assert download["with"]["pattern"] == "dist-*", download
    # Those it takes (the win32 wheel is built and tested, not published, and
    # the tests' C peers are test programs).
    import fnmatch
    taken = {name for name in built if fnmatch.fnmatch(name, download["with"]["pattern"])}
    assert taken == {"dist-linux", "dist-windows", "dist-sdist"}, built
    assert built - taken == {"win32-wheel", "test-peers"}, built
