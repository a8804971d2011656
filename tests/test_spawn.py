"""winipc.spawn gives a subprocess.Popen (winipc.Child) whose child inherits
exactly the listed handles and learns their values; one suite for every
backend.  (Which handles a child inherits, mode by mode, is in
tests/test_kernel_sharing.py.)"""

import gc
import json
import os
import subprocess
import sys
import time
import uuid
import warnings
from contextlib import closing

import pytest

import children
import winipc
from kernel_helpers import CHILD, LINUX, TIMEOUT, WINDOWS, mapping_with, read_result

# -P: a child started in a checkout imports the installed winipc, not the sources.
PY = [sys.executable, "-P", "-c"]

# The child of the pipe tests: sets the event it inherited, echoes its input in
# capitals, and says on stderr how many handles it got.
ECHO = """
import sys, winipc
from contextlib import closing
values = winipc.inherited_handles()
with closing(winipc.Event.from_handle(values[0])) as ev:
    ev.set()
print(sys.stdin.read().upper())
print("handles", len(values), file=sys.stderr)
"""
SLEEP = "import time; time.sleep(600)"


def test_spawn_returns_a_popen_with_its_exit_code():
    with closing(winipc.Event()) as ev:
        child = winipc.spawn(PY + ["import sys; sys.exit(7)"], inherit=[ev],
                             stdin=subprocess.DEVNULL)
    assert isinstance(child, subprocess.Popen)
    assert isinstance(child, winipc.Child)
    assert child.wait(TIMEOUT) == 7
    assert child.returncode == 7
    assert child.poll() == 7
    assert child.wait() == 7                      # again: the same code, at once


@pytest.mark.parametrize("mode", ["env", "argv", "message"])
def test_pipes_and_communicate(mode):
    with closing(winipc.Event(manual_reset=True)) as ev:
        child = winipc.spawn(PY + [ECHO], inherit=[ev], pass_handles=mode,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        out, err = child.communicate("hello child", timeout=TIMEOUT)
        assert ev.wait(0), "the child did not set the inherited event"
    assert child.returncode == 0, err
    assert out.strip() == "HELLO CHILD"
    assert err.split() == ["handles", "1"]


def test_stdout_pipe_and_context_manager():
    child = winipc.spawn(PY + ["import sys; print('ready', flush=True); sys.stdin.read()"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    with child:
        assert children.read_line(child, child.stdout, TIMEOUT).strip() == "ready"
        child.stdin.close()                       # the child reads to the end and exits
    assert child.returncode == 0                  # `with` waited
    assert child.stdout.closed                    # and closed the pipes


def test_a_raising_with_block_kills_the_child():
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="boom"):
        with winipc.spawn(PY + [SLEEP], stdin=subprocess.DEVNULL) as child:
            raise RuntimeError("boom")
    assert child.returncode not in (None, 0)      # killed, not waited for 600 s
    assert time.monotonic() - t0 < TIMEOUT


def test_wait_with_timeout_raises_timeout_expired():
    child = winipc.spawn(PY + [SLEEP], stdin=subprocess.DEVNULL)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(0.2)
        assert child.poll() is None
        assert child.returncode is None
    finally:
        child.kill()
    code = child.wait(TIMEOUT)
    assert code != 0
    assert child.returncode == code


def test_nothing_to_close_after_wait():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        child = winipc.spawn(PY + ["pass"], stdin=subprocess.DEVNULL)
        assert child.handle > 0                   # a process handle / pidfd while it runs
        assert child.wait(TIMEOUT) == 0
        del child
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)], \
        [str(w.message) for w in caught]


@pytest.mark.skipif(not LINUX, reason="Linux: the pidfd is closed once the child was "
                    "waited for; a Windows process handle lives as long as the object")
def test_linux_pidfd_closes_on_wait():
    child = winipc.spawn(PY + ["pass"], stdin=subprocess.DEVNULL)
    fd = child.handle
    os.fstat(fd)
    child.wait(TIMEOUT)
    with pytest.raises(ValueError, match="waited for"):
        child.handle
    with pytest.raises(OSError):
        os.fstat(fd)


@pytest.mark.skipif(not WINDOWS, reason="Windows: the process handle stays valid after "
                    "wait, as subprocess keeps it; Linux closes its pidfd then")
def test_windows_process_handle_outlives_wait():
    child = winipc.spawn(PY + ["pass"], stdin=subprocess.DEVNULL)
    handle = child.handle
    child.wait(TIMEOUT)
    assert child.handle == handle


def test_default_leaves_an_argparse_command_line_alone(tmp_path):
    """The issue's child: `spawn([python, "child.py", "--name", "job1"], inherit=[ev])`
    must not add anything argparse would refuse."""
    result = str(tmp_path / f"argparse-{uuid.uuid4().hex}.json")
    with closing(mapping_with("listed")) as fm:
        child = winipc.spawn([sys.executable, CHILD, "argparse", result,
                              "--name", "job1", "--count", "3"], inherit=[fm],
                             stdin=subprocess.DEVNULL)
        try:
            assert child.wait(TIMEOUT) == 0, "argparse refused the child's command line"
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(TIMEOUT)
    assert read_result(result) == {"argv": ["--name", "job1", "--count", "3"],
                                   "name": "job1", "count": 3, "tokens": ["listed"]}


def test_argv_mode_appends_the_values():
    with closing(winipc.Event()) as ev:
        child = winipc.spawn(PY + ["import json, sys, winipc; "
                                   "print(json.dumps([sys.argv[1:], winipc.inherited_handles()]))"],
                             inherit=[ev], pass_handles="argv", stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, text=True)
        out, _ = child.communicate(timeout=TIMEOUT)
    assert child.returncode == 0
    args, values = json.loads(out)
    assert len(values) == 1
    assert args == [str(values[0])]


def test_env_and_cwd_go_to_popen(tmp_path):
    env = dict(os.environ, WINIPC_TEST_VALUE="from the parent")
    with closing(winipc.Event()) as ev:
        child = winipc.spawn(PY + ["import os, winipc; print(os.environ['WINIPC_TEST_VALUE']); "
                                   "print(os.getcwd()); print(len(winipc.inherited_handles()))"],
                             inherit=[ev], env=env, cwd=str(tmp_path),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        out, _ = child.communicate(timeout=TIMEOUT)
    lines = out.splitlines()
    assert lines[0] == "from the parent"
    assert os.path.samefile(lines[1], tmp_path)
    assert lines[2] == "1"


@pytest.mark.parametrize("argv", ["python3 -c pass", b"python3 -c pass"],
                         ids=["str", "bytes"])
def test_a_command_string_is_refused(argv):
    with pytest.raises(TypeError, match=r"spawn\(\) argv must be a list.*shlex.split"):
        winipc.spawn(argv)


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="argv is empty"):
        winipc.spawn([])
    with pytest.raises(TypeError, match=r"argv\[1\] must be str"):
        winipc.spawn([sys.executable, 3])
    with pytest.raises(TypeError, match="argv must be a list"):
        winipc.spawn(None)
    with pytest.raises(TypeError, match=r"spawn\(\) timeout is a number of seconds .* not str '5'"):
        winipc.spawn(PY + ["pass"], timeout="5")
    with pytest.raises(ValueError, match=r"spawn\(\) timeout must be .* >= 0"):
        winipc.spawn(PY + ["pass"], timeout=-1)
    with pytest.raises(ValueError, match="pass_handles"):
        winipc.spawn(PY + ["pass"], pass_handles="stdin")
    with pytest.raises(winipc.InvalidHandle, match=r"spawn failed: inherit\[1\] is 123456, "
                       r"which is not an open (fd|handle) of this process") as e:
        with closing(winipc.Event()) as ev:
            winipc.spawn(PY + ["pass"], inherit=[ev, 123456])
    assert e.value.winerror == 6 and isinstance(e.value, OSError)
    with pytest.raises(TypeError, match=r"inherit\[0\] is a winipc kernel object or a "
                       "handle value .* not str"):
        winipc.spawn(PY + ["pass"], inherit=["3"])
    for key, value in (("pass_fds", (3,)), ("close_fds", False), ("shell", True)):
        with pytest.raises(TypeError, match=f"no {key}="):
            winipc.spawn(PY + ["pass"], **{key: value})
