"""ResourceWarning, as Python's files give it, on every backend: for every
winipc object collected unclosed, and for what is still open when the
interpreter exits (a Server never stopped above all); never for the parts
of an object that warns itself, nor for a single-instance guard, which is
meant to be held until the process exits."""

import gc
import re
import subprocess
import sys
import warnings
import pytest

import children
import winipc
from conftest import unique_title
from kernel_helpers import TIMEOUT, k, unique
from structs import Small, WM_SMALL

# Each test here gets a server of its own (what it holds, or a handler
# left running, is what these tests look at).
pytestmark = pytest.mark.fresh_server

OBJECTS = {
    "Mutex": lambda: k.Mutex(),
    "Event": lambda: k.Event(),
    "Semaphore": lambda: k.Semaphore(initial=0, maximum=1),
    "FileMapping": lambda: k.FileMapping(size=4096),
    "named Event": lambda: k.Event("Local\\" + unique()),
    "Server": lambda: winipc.Server(unique_title()),
}


@pytest.mark.parametrize("kind", sorted(OBJECTS))
def test_an_object_collected_open_warns(kind):
    obj = OBJECTS[kind]()
    with pytest.warns(ResourceWarning, match=r"unclosed <winipc\."):
        del obj
        gc.collect()


def _collected(make):
    """The ResourceWarnings of collecting what ``make()`` returns, unclosed."""
    obj = make()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del obj
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


def test_rpc_objects_collected_open_warn_once_each(server):
    """A connection warns for itself, not for the process and the scratch
    buffer it owns; a process and a buffer the caller opened warn."""
    def connection():
        conn = server.connect()
        assert conn.call(WM_SMALL, Small(2)).value == 6      # it has a scratch buffer now
        return conn
    said = _collected(connection)
    assert len(said) == 1 and said[0].startswith("unclosed <winipc.Connection"), said
    with server.connect() as conn:
        said = _collected(lambda: winipc.open_process(server.pid))
        assert len(said) == 1 and said[0].startswith("unclosed <winipc.Process"), said
        said = _collected(lambda: conn.alloc(Small))
        assert len(said) == 1 and said[0].startswith("unclosed <winipc.RemoteBuffer"), said


def _exit_warnings(code):
    """Runs ``code`` in a new interpreter that shows every ResourceWarning;
    the ones it gave at exit."""
    proc = children.run([sys.executable, "-P", "-W", "always::ResourceWarning", "-c", code],
                        TIMEOUT, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return [line.split("ResourceWarning: ", 1)[1] for line in proc.stderr.splitlines()
            if "ResourceWarning: " in line and "at exit" in line]


def test_a_server_never_stopped_warns_at_exit():
    said = _exit_warnings(
        "import winipc\n"
        f"server = winipc.Server({unique_title()!r})\n"
        "server.start()\n")
    assert len(said) == 1, said
    assert "<winipc.Server" in said[0] and "was never stopped" in said[0], said


def test_what_is_open_at_exit_warns_once_each():
    """A server never stopped, a connection (with its process and scratch
    buffer, which do not warn apart), kernel objects: one warning each; the
    single-instance guards none."""
    title = unique_title()
    said = _exit_warnings(
        "import winipc\n"
        f"server = winipc.Server({title!r})\n"
        "@server.handler(winipc.WM_USER + 5, 8)\n"
        "def five(view):\n"
        "    return 5\n"
        "server.start()\n"
        f"conn = winipc.connect({title!r})\n"
        "conn.call(winipc.WM_USER + 5, bytearray(8))\n"
        "assert conn.last_result == 5\n"
        "ev = winipc.Event()\n"
        f"m = winipc.Mutex({'Local' + chr(92) + unique()!r})\n"
        f"guard = winipc.single_instance({unique()!r})\n"
        f"forgotten = winipc.single_instance({unique()!r}).already_running\n")
    kinds = sorted(re.search(r"<winipc\.(\w+)", text).group(1) for text in said)
    assert kinds == ["Connection", "Event", "Mutex", "Server"], said
