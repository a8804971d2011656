"""The README's runnable examples run, on every backend, and say what they
should."""

import os
import shutil
import subprocess
import sys

import pytest

import children

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


@pytest.mark.parametrize("args,expect", [
    (["rpc_compare.py"], ["red=21.01 blue=6666.0", "explicit buffer: rc=0 red=3.0 blue=2.0",
                          "refused:"]),
    (["kernel_names.py"], ["first created: True second created: False", "wrong type:",
                           "missing:", "mapping: b'hello'"]),
    (["kernel_inherit.py"], ["[env] child says: written by child",       # the default
                             "child printed 'child: done', exit code 0"]),
    (["kernel_inherit.py", "argv"], ["[argv] child says: written by child",
                                     "child printed 'child: done', exit code 0"]),
    (["kernel_inherit.py", "message"], ["[message] child says: written by child",
                                        "child printed 'child: done', exit code 0"]),
    (["kernel_duplicate.py"], ["server says: 'shared bytes'; read-only view; event: may not set"]),
    (["kernel_abandoned.py"], ["abandoned:", "we own it now"]),
], ids=lambda v: " ".join(v) if isinstance(v, list) and v[0].endswith(".py") else "")
def test_example(args, expect):
    out = children.run([sys.executable, "-P", os.path.join(EXAMPLES, args[0]), *args[1:]],
                       120, text=True)
    assert out.returncode == 0, out.stderr
    for text in expect:
        assert text in out.stdout, out.stdout


def test_compiled_handler_example(tmp_path):
    """examples/handler.c, built as the README says, serves through ctypes."""
    if sys.platform == "win32":
        # scripts/windows/test.sh builds it with zig beside the C peers.
        from test_peers import peer
        library = peer("handler")[:-len(".exe")] + ".dll"
    else:
        cc = shutil.which("cc") or shutil.which("gcc")
        assert cc, "a C compiler is needed to build winipc itself, and this example"
        library = str(tmp_path / "handler.so")
        subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", library,
                        os.path.join(EXAMPLES, "handler.c")], check=True, timeout=120)
    out = children.run([sys.executable, "-P", os.path.join(EXAMPLES, "compiled_handler.py"),
                        library], 120, text=True)
    assert out.returncode == 0, out.stderr
    assert "compiled compare: red=21.01 blue=6666.0 result=1" in out.stdout, out.stdout
    assert "compiled bump: b'IBM' result=3" in out.stdout, out.stdout
