import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
# Child processes run with -P (nothing prepended to sys.path), so that a
# checkout never shadows the installed winipc.
sys.path.insert(0, HERE)

import children  # noqa: E402  (tests/children.py)

# Wine is recognisable by an export of its ntdll.
UNDER_WINE = False
if sys.platform == "win32":
    import ctypes
    UNDER_WINE = hasattr(ctypes.WinDLL("ntdll"), "wine_get_version")

# Process starts that Wine failed and this run retried (reported at the end).
WINE_START_RETRIES = []
if UNDER_WINE:
    import _winapi

    _create_process = _winapi.CreateProcess

    def _create_process_under_wine(*args):
        """_winapi.CreateProcess, which subprocess (and so winipc.spawn)
        calls, retried once on ERROR_INTERNAL_ERROR.  Wine's
        NtCreateUserProcess reports STATUS_INTERNAL_ERROR when the new
        process's Unix side ends before it has finished starting, without an
        exit code: a loaded machine saw it once in thousands of starts, for
        a plain `python server_main.py`.  It says nothing about winipc or the
        test, so the start is made again, and the run's summary lists it;
        a second failure raises."""
        try:
            return _create_process(*args)
        except OSError as e:
            if e.winerror != 1359:      # ERROR_INTERNAL_ERROR
                raise
            WINE_START_RETRIES.append(f"{args[1]}: {e}")
            return _create_process(*args)

    _winapi.CreateProcess = _create_process_under_wine


def pytest_terminal_summary(terminalreporter):
    for start in WINE_START_RETRIES:
        terminalreporter.write_line(f"Wine failed a process start, retried: {start}")


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


@contextlib.contextmanager
def slow_call_on_another_thread(conn, ms=300):
    """``conn.call`` of a handler that sleeps ``ms`` ms, on a thread of its
    own that has started when the block runs; joined after the block."""
    from structs import Small, WM_SLEEP
    started = threading.Event()

    def slow():
        started.set()
        conn.call(WM_SLEEP, Small(ms))
    thread = threading.Thread(target=slow)
    thread.start()
    started.wait()
    try:
        yield
    finally:
        thread.join()


def unique_title(prefix="winipc-test"):
    return f"{prefix}-{uuid.uuid4()}"


# How long a test server may take to start (Wine: each start crosses its server).
START_TIMEOUT = 120 if UNDER_WINE else 30

# The ways a call can ring its server, each a set of connect() arguments:
# every behaviour test that takes the `server` fixture runs with each.
if sys.platform == "win32":
    # classic: write -> SendMessageTimeout -> read; the others ring a doorbell
    # in a section, spinning first or sleeping at once.
    DOORBELLS = {"classic": {}, "shared": {"shared": True},
                 "shared-sleep": {"shared": True, "spin": 0}}
else:
    DOORBELLS = {"socket": {"spin": 0}, "spin": {}, "shared": {"shared": True}}


@pytest.fixture(params=list(DOORBELLS))
def doorbell(request):
    """connect() arguments of one doorbell."""
    return DOORBELLS[request.param]


class ServerProcess:
    """tests/server_main.py in a child process; connect() connects to it
    with the doorbell it was started for.  Its "ready" line is read with a
    deadline, and stopping it waits a bounded time (tests/children.py)."""

    def __init__(self, title=None, doorbell=None, env=None):
        self.title = title or unique_title()
        self.doorbell = dict(doorbell or {})
        spin = self.doorbell.get("spin")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "server_main.py"), self.title,
             "" if spin is None else str(spin)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=None if env is None else {**os.environ, **env})
        try:
            line = children.read_line(self.proc, self.proc.stdout, START_TIMEOUT).split()
        except TimeoutError as e:
            raise RuntimeError(f"the server process did not start: {e}") from None
        if not line or line[0] != "ready":
            children.stop(self.proc)
            raise RuntimeError(f"the server process did not start: {line!r}")
        self.pid = int(line[1])

    def connect(self, **kwargs):
        import winipc
        return winipc.connect(self.title, **{**self.doorbell, **kwargs})

    def stop(self):
        stop_server_child(self.proc)


def stop_server_child(proc):
    """Ends a server child the way it expects (its stdin closes), killing
    it if it has not exited 30 s later."""
    if proc.poll() is None:
        proc.stdin.close()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            children.stop(proc)
    proc.stdout.close()
    if not proc.stdin.closed:
        proc.stdin.close()


@pytest.fixture
def server_process():
    started = []

    def start(title=None, doorbell=None, env=None):
        s = ServerProcess(title, doorbell, env)
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def module_servers():
    """The servers the tests of one module share, by doorbell; stopped when
    the module's tests are done."""
    servers = {}
    yield servers
    for s in servers.values():
        s.stop()


@pytest.fixture
def server(request, server_process, doorbell, module_servers):
    """A running test server, for each doorbell: its ServerProcess.

    The tests of a module share one server per doorbell (a server's start is
    most of a call test's time under Wine: 1-3 s), unless a test is marked
    ``fresh_server``: one that leaves its server busy (a handler still
    sleeping, a call that timed out), ends it, or counts what it holds.  A
    shared server that dies during a test fails that test at its teardown
    (nothing in a test that shares it should end it), and the next test
    gets a new one."""
    if request.node.get_closest_marker("fresh_server"):
        yield server_process(doorbell=doorbell)
        return
    key = tuple(sorted(doorbell.items()))
    s = module_servers.get(key)
    if s is None or s.proc.poll() is not None:
        s = module_servers[key] = ServerProcess(doorbell=doorbell)
    yield s
    if s.proc.poll() is not None:
        del module_servers[key]
        s.stop()
        pytest.fail(f"the server this module's tests share exited during this test "
                    f"(exit code {s.proc.returncode}); a test that ends its server is "
                    f"marked fresh_server")
