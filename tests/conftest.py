import os
import subprocess
import sys
import tempfile
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
# Child processes run with -P (nothing prepended to sys.path), so that a
# checkout never shadows the installed winipc.
sys.path.insert(0, HERE)

# Wine is recognisable by an export of its ntdll.
UNDER_WINE = False
if sys.platform == "win32":
    import ctypes
    UNDER_WINE = hasattr(ctypes.WinDLL("ntdll"), "wine_get_version")


@pytest.fixture(scope="session", autouse=True)
def private_endpoints():
    """On Linux, servers of this run publish their endpoints in a folder of
    their own (children inherit the variable)."""
    if sys.platform == "win32":
        yield
        return
    with tempfile.TemporaryDirectory(prefix="winipc-test-") as d:
        os.chmod(d, 0o700)
        old = os.environ.get("WINIPC_RUNTIME_DIR")
        os.environ["WINIPC_RUNTIME_DIR"] = d
        yield
        if old is None:
            del os.environ["WINIPC_RUNTIME_DIR"]
        else:
            os.environ["WINIPC_RUNTIME_DIR"] = old


def unique_title(prefix="winipc-test"):
    return f"{prefix}-{uuid.uuid4()}"


class ServerProcess:
    """tests/server_main.py in a child process."""

    def __init__(self, title=None):
        self.title = title or unique_title()
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "server_main.py"), self.title],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "ready":
            self.proc.kill()
            raise RuntimeError(f"the server process did not start: {line!r}")
        self.pid = int(line[1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        if not self.proc.stdin.closed:
            self.proc.stdin.close()


@pytest.fixture
def server_process():
    started = []

    def start(title=None):
        s = ServerProcess(title)
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


@pytest.fixture
def server(server_process):
    """A running test server: its ServerProcess."""
    return server_process()
