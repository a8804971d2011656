"""Nothing is left behind: a named object's file in /dev/shm goes with the
last handle (whatever else still maps it), with the process that exits
without closing it, and, for a process that was killed, at the next start
of a winipc process of the same user or with ``python -m winipc clean``;
``python -m winipc ls`` shows what is there and who holds it.

Linux only by nature: there a named object is a file in /dev/shm and a
server an endpoint file.  Windows removes an object and its name when its
last handle closes, also when a process ends, so nothing is left to find."""

import asyncio
import os
import signal
import subprocess
import sys
from contextlib import closing

import pytest

import children
from kernel_helpers import LINUX, TIMEOUT, k, unique

pytestmark = pytest.mark.skipif(
    not LINUX, reason="only Linux keeps named objects and endpoints as files; Windows "
    "removes an object with its last handle, also when its process ends")

if LINUX:
    from winipc._shm import name_path


def _python(code, **kw):
    return children.run([sys.executable, "-P", "-c", code], TIMEOUT, text=True, **kw)


def _winipc(*args):
    """python -m winipc ARGS: its output."""
    proc = children.run([sys.executable, "-P", "-m", "winipc", *args], TIMEOUT, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _names(n):
    return ["Local\\" + unique() for _ in range(n)]


# What a process makes and keeps: an event, a semaphore, a mutex it owns, a
# mapping with a view (the two cases a mapping outlives its handle).
MAKE = (
    "import sys, winipc\n"
    "ev, sem, mx, fm = sys.argv[1:5]\n"
    "objs = [winipc.Event(ev), winipc.Semaphore(sem, initial=1, maximum=1),\n"
    "        winipc.Mutex(mx), winipc.FileMapping(fm, size=1 << 20)]\n"
    "assert objs[2].acquire(0)\n"
    "view = objs[3].map()\n"
    "view[:5] = b'hello'\n")


def test_a_mutex_closed_while_owned_leaves_no_file():
    name = "Local\\" + unique()
    m = k.Mutex(name)
    assert m.acquire(0)
    m.close()
    assert not os.path.exists(name_path(name))
    with closing(k.Mutex(name)) as again:
        assert again.created                # the name is free again, as on Windows
    # Another handle keeps the name; its close then removes it.
    m, other = k.Mutex(name), None
    try:
        other = k.Mutex.open(name)
        assert m.acquire(0)
        m.close()
        assert os.path.exists(name_path(name))
    finally:
        other.close()
    assert not os.path.exists(name_path(name))


def test_a_thread_goes_on_after_closing_a_mutex_it_owns():
    """The owner's robust list still points into the closed mutex's memory:
    the thread keeps locking other mutexes, and ends, without a fault."""
    a, b = _names(2)
    code = ("import sys, threading, winipc\n"
            "def work():\n"
            "    m = winipc.Mutex(sys.argv[1])\n"
            "    assert m.acquire(0)\n"
            "    m.close()\n"
            "    other = winipc.Mutex(sys.argv[2])\n"
            "    for _ in range(100):\n"
            "        assert other.acquire(0)\n"
            "        other.release()\n"
            "    other.close()\n"
            "t = threading.Thread(target=work)\n"
            "t.start()\n"
            "t.join()\n"
            "print('done')\n")
    proc = children.run([sys.executable, "-P", "-c", code, a, b], TIMEOUT, text=True)
    assert proc.returncode == 0 and proc.stdout == "done\n", proc.stderr
    assert not os.path.exists(name_path(a)) and not os.path.exists(name_path(b))


def test_a_mapping_closed_before_its_view_leaves_no_file():
    name = "Local\\" + unique()
    fm = k.FileMapping(name, size=1 << 20)
    view = fm.map()
    view[:5] = b"hello"
    fm.close()
    assert not os.path.exists(name_path(name))
    assert bytes(view[:5]) == b"hello"          # the view keeps the memory
    view[:5] = b"world"
    view.close()
    # While another handle is open the name stays, and both see one memory.
    fm = k.FileMapping(name, size=4096)
    other = k.FileMapping.open(name)
    with fm.map() as view:
        fm.close()
        assert os.path.exists(name_path(name))
        view[:2] = b"ok"
        with other.map() as seen:
            assert bytes(seen[:2]) == b"ok"
        other.close()
        assert not os.path.exists(name_path(name))


def test_closing_a_handle_during_its_asynchronous_wait_removes_the_name():
    """The waiting thread's own mapping of the object keeps its memory, not
    its name."""
    name = "Local\\" + unique()
    ev = k.Event(name)

    async def main():
        waiting = asyncio.ensure_future(ev.wait_async(60))
        await asyncio.sleep(0.2)                # the waiting thread has mapped it
        assert not waiting.done()
        ev.close()
        gone = not os.path.exists(name_path(name))
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return gone
    assert asyncio.run(main())


def test_the_last_handle_removes_the_name_in_whichever_process_holds_it():
    """A child that inherited a named object and holds its last handle
    removes the name when it closes it (its fd names the unnamed file the
    object was built in, not the name)."""
    name = "Local\\" + unique()
    ev = k.Event(name)
    child = k.spawn([sys.executable, "-P", "-c",
                     "import os, sys, winipc\n"
                     "from winipc._shm import name_path\n"
                     "ev = winipc.Event.from_handle(winipc.inherited_handles()[0])\n"
                     "sys.stdin.readline()\n"
                     "ev.close()\n"
                     f"print(os.path.exists(name_path({name!r})), flush=True)\n"],
                    inherit=[ev], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    with child:
        ev.close()
        assert os.path.exists(name_path(name))          # the child holds it
        out, _ = child.communicate("closed\n", timeout=TIMEOUT)
    assert out == "False\n"
    assert not os.path.exists(name_path(name))


def test_objects_open_at_exit_leave_no_file():
    names = _names(4)
    proc = children.run([sys.executable, "-P", "-c", MAKE, *names], TIMEOUT, text=True)
    assert proc.returncode == 0, proc.stderr
    assert [n for n in names if os.path.exists(name_path(n))] == []


def test_what_a_killed_process_held_goes_at_the_next_start():
    names = _names(4)
    child = subprocess.Popen([sys.executable, "-P", "-c", MAKE + "print('ready', flush=True)\n"
                              "sys.stdin.read()\n", *names],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert children.read_line(child, child.stdout, TIMEOUT).strip() == "ready"
        listed = _winipc("ls")
        for name in names:
            line = next(line for line in listed.splitlines() if name in line)
            assert f"held by pid {child.pid}" in line, listed
        child.send_signal(signal.SIGKILL)
        child.wait(TIMEOUT)
        assert all(os.path.exists(name_path(n)) for n in names)
        listed = _winipc("ls")
        for name in names:
            line = next(line for line in listed.splitlines() if name in line)
            assert "unused" in line, listed
        # The next winipc process of this user to use a named object removes them.
        proc = _python("import winipc, uuid\n"
                       "winipc.Event('Local\\\\' + str(uuid.uuid4())).close()\n")
        assert proc.returncode == 0, proc.stderr
        assert [n for n in names if os.path.exists(name_path(n))] == []
    finally:
        children.stop(child)


def test_clean_removes_what_nothing_holds_and_nothing_else(server_process):
    dead, held = _names(4), "Local\\" + unique()
    with closing(k.Event(held)):
        # A killed server's endpoint, then a killed process's objects (a
        # server's start would have removed them).
        server = server_process()
        line = next(line for line in _winipc("ls").splitlines() if server.title in line)
        assert f"'{server.title}'" in line and f"pid {server.pid}" in line, line
        server.proc.kill()
        server.proc.wait(TIMEOUT)
        child = subprocess.Popen([sys.executable, "-P", "-c", MAKE + "import os, signal\n"
                                  "os.kill(os.getpid(), signal.SIGKILL)\n", *dead])
        assert child.wait(TIMEOUT) == -signal.SIGKILL
        line = next(line for line in _winipc("ls").splitlines() if server.title in line)
        assert f"pid {server.pid}" not in line and "gone: its thread" in line, line
        out = _winipc("clean")
        for name in dead:
            assert f"removed {name}\n" in out, out
            assert not os.path.exists(name_path(name))
        assert held not in out and os.path.exists(name_path(held))
        assert "removed the endpoint" in out, out
        assert server.title not in _winipc("ls")
    assert not os.path.exists(name_path(held))
