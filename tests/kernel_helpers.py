"""What the kernel-object suites (test_kernel.py, test_kernel_sharing.py,
test_spawn.py) share: the module under test, the platform, and the child
processes of tests/kernel_child.py."""

import json
import os
import sys
import time
import uuid

import children
import winipc
import winipc.kernel
from conftest import UNDER_WINE as WINE

k = winipc if hasattr(winipc, "Mutex") else winipc.kernel

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernel_child.py")
WINDOWS = sys.platform == "win32"
LINUX = sys.platform.startswith("linux")
TIMEOUT = 120 if WINE else 30


def unique(prefix="winipc-test"):
    return f"{prefix}-{uuid.uuid4()}"


def run_child(tmp_path, command, *args, **popen):
    """Runs kernel_child.py COMMAND to completion; what it reported."""
    result = str(tmp_path / f"{command}-{uuid.uuid4().hex}.json")
    proc = children.run([sys.executable, CHILD, command, result, *map(str, args)],
                        TIMEOUT, text=True, merge_stderr=True, **popen)
    assert os.path.exists(result), f"{command} reported nothing:\n{proc.stdout}"
    return read_result(result)


def read_result(path, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"no result in {path}"
        time.sleep(0.02)
    with open(path) as f:
        return json.load(f)


def spawn_child(tmp_path, command, *args, **kw):
    """Starts kernel_child.py COMMAND with winipc.spawn; (child, result path)."""
    result = str(tmp_path / f"{command}-{uuid.uuid4().hex}.json")
    child = k.spawn([sys.executable, CHILD, command, result, *map(str, args)], **kw)
    return child, result


def mapping_with(token: str, **kw):
    fm = k.FileMapping(size=4096, **kw)
    with fm.map() as view:
        view[:len(token)] = token.encode()
    return fm
