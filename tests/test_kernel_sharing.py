"""Kernel objects passed to other processes, by inheritance and by
duplication: the same suite for every backend (Linux natively; Windows, also
under Wine), with real child processes (tests/kernel_child.py)."""

from contextlib import closing
import json
import os
import subprocess
import sys
import time

import pytest

import children
import winipc
from kernel_helpers import (k, CHILD, WINDOWS, LINUX, TIMEOUT, unique, run_child, read_result,
                            spawn_child, mapping_with)


# --- inheritance -----------------------------------------------------------

def test_inheritable_flag_toggles():
    with closing(k.Event(inheritable=True)) as ev:
        assert ev.inheritable is True
        ev.inheritable = False
        assert ev.inheritable is False
        ev.inheritable = True
        assert ev.inheritable is True
    with closing(k.Event()) as ev:
        assert ev.inheritable is False


def test_inheritable_flag_decides_plain_inheritance(tmp_path):
    """A child started by the platform's plain inheriting spawn (subprocess with
    close_fds=False: bInheritHandles=TRUE / fork+exec) gets exactly the handles
    marked inheritable."""
    with closing(mapping_with("yes", inheritable=True)) as yes, \
            closing(mapping_with("no", inheritable=True)) as no, \
            closing(mapping_with("never")) as never:
        no.inheritable = False
        got = run_child(tmp_path, "values", yes.handle, no.handle, never.handle,
                        close_fds=False)
        assert got["tokens"][0] == "yes"
        assert got["tokens"][1] != "no" and got["tokens"][2] != "never"


@pytest.mark.parametrize("mode", ["default", "env", "argv", "message"])
def test_spawn_inherits_exactly_the_listed_handles(mode, tmp_path):
    control, go = "Local\\" + unique(), "Local\\" + unique()
    listed = mapping_with("listed")                       # not even inheritable
    other = mapping_with("unlisted", inheritable=True)    # inheritable, not listed
    how = {} if mode == "default" else {"pass_handles": mode}
    with closing(k.FileMapping(control, size=4096)) as ctl, \
            closing(k.Event(go, manual_reset=True)) as ev_go:
        child, result = spawn_child(tmp_path, "tokens", control, go, inherit=[listed], **how)
        listed_value = listed.handle
        listed.close()                                    # right after spawn
        later = mapping_with("later", inheritable=True)   # created after the spawn
        with ctl.map() as view:
            data = json.dumps([other.handle, later.handle]).encode()
            view[:len(data)] = data
        ev_go.set()
        try:
            got = read_result(result)
            assert child.wait(TIMEOUT) == 0
        finally:
            child.kill()
            child.wait(TIMEOUT)
            other.close()
            later.close()
    assert len(got["listed"]) == 1
    if LINUX:       # pass_fds keeps the number; Windows may pass a duplicate's value
        assert got["listed"] == [listed_value]
    assert got["tokens"] == ["listed"], got
    assert "unlisted" not in got["extra"] and "later" not in got["extra"], got


def test_spawn_without_passing_values(tmp_path):
    with closing(mapping_with("x")) as fm:
        child, result = spawn_child(tmp_path, "tokens", inherit=[fm], pass_handles=None)
        try:
            assert read_result(result)["listed"] == []
            assert child.wait(TIMEOUT) == 0
        finally:
            child.kill()
            child.wait(TIMEOUT)


def test_issue_scenario_child_keeps_inherited_named_mutex_alive(tmp_path):
    """A parent creates an inheritable named mutex, starts a child that inherits
    it and exits; a second run finds the name existing, because the child still
    holds it; once the child exits, a third run creates it anew."""
    name, stop = "Local\\" + unique(), "Local\\" + unique()
    hold = str(tmp_path / "hold.json")
    with closing(k.Event(stop, manual_reset=True)) as ev_stop:
        assert run_child(tmp_path, "scenario", name, stop, hold) == {"created": True}
        held = read_result(hold)
        assert "held" in held
        assert run_child(tmp_path, "scenario", name, stop, hold + "2") == {"created": False}
        k.Mutex.open(name).close()
        ev_stop.set()
        deadline = time.monotonic() + TIMEOUT
        while True:      # the holder exits on its own; the name goes with its handle
            try:
                k.Mutex.open(name).close()
            except winipc.ObjectNotFound:
                break
            assert time.monotonic() < deadline, "the name outlived every handle"
            time.sleep(0.05)
    # The third run starts a new holder: stop it again at the end.
    with closing(k.Event(stop, manual_reset=True)) as ev_stop:
        assert run_child(tmp_path, "scenario", name, stop, hold + "3") == {"created": True}
        read_result(hold + "3")
        ev_stop.set()


@pytest.mark.skipif(not LINUX, reason="HANDLE_FLAG_PROTECT_FROM_CLOSE exists on Windows; "
                    "this is the Linux refusal")
def test_protect_from_close_is_not_supported_on_linux():
    with closing(k.Event()) as ev:
        with pytest.raises(winipc.NotSupported) as info:
            ev.protect_from_close = True
        assert "PROTECT_FROM_CLOSE" in str(info.value)
        with pytest.raises(winipc.NotSupported):
            ev.protect_from_close


@pytest.mark.skipif(not WINDOWS, reason="Linux has no HANDLE_FLAG_PROTECT_FROM_CLOSE")
def test_protect_from_close_on_windows():
    ev = k.Event()
    assert ev.protect_from_close is False
    ev.protect_from_close = True
    assert ev.protect_from_close is True
    with pytest.raises(OSError):
        ev.close()
    ev.protect_from_close = False
    ev.close()
    assert ev.closed


# --- duplication -----------------------------------------------------------

def test_duplicate_in_this_process_and_close_source():
    with closing(k.Event(manual_reset=True)) as ev:
        dup = k.Event.from_handle(ev.duplicate())
        with closing(dup):
            assert dup.handle != ev.handle
            dup.set()
            assert ev.wait(0)
        moved = ev.duplicate(close_source=True)
        assert ev.closed
        with closing(k.Event.from_handle(moved)) as ev2:
            assert ev2.wait(0)


def test_from_handle_checks_the_type():
    with closing(k.Mutex()) as m:
        with pytest.raises(winipc.WrongObjectType):
            k.Event.from_handle(m.duplicate())


def test_event_synchronize_only_cannot_set():
    with closing(k.Event(manual_reset=True)) as ev:
        weak = k.Event.from_handle(ev.duplicate(access=k.SYNCHRONIZE))
        with closing(weak):
            assert weak.wait(0) is False
            with pytest.raises(PermissionError) as info:
                weak.set()
            assert isinstance(info.value, winipc.AccessDenied)
            assert "SetEvent" in str(info.value)
            ev.set()
            assert weak.wait(1) is True


@pytest.mark.skipif(not LINUX, reason="Linux only: a SYNCHRONIZE-only handle there "
                    "maps the object read-only, which cannot consume a signal")
def test_linux_reduced_handle_refuses_consuming_waits():
    with closing(k.Event()) as ev, \
            closing(k.Event.from_handle(ev.duplicate(access=k.SYNCHRONIZE))) as weak:
        with pytest.raises(winipc.NotSupported):
            weak.wait(0)


@pytest.mark.parametrize("what", ["event", "mapping"])
def test_duplicate_with_reduced_rights_into_another_process(what, tmp_path):
    """The value reaches the other process through winipc's process-memory RPC."""
    if not hasattr(winipc, "Server"):
        pytest.fail("winipc.Server is missing")
    from kernel_child import DupRequest, WM_DUP
    title, stop = unique("kernel-dup"), "Local\\" + unique()
    result = str(tmp_path / "dup.json")
    ev_stop = k.Event(stop, manual_reset=True)
    proc = subprocess.Popen([sys.executable, CHILD, "dup-server", result, title, stop],
                            stdin=subprocess.DEVNULL)
    try:
        with winipc.connect(title, timeout=TIMEOUT, wait=TIMEOUT) as conn, \
                winipc.open_process(conn.pid, winipc.Access.DUP_HANDLE) as target:
            if what == "event":
                obj = k.Event(manual_reset=True, initial_state=True)
                value = obj.duplicate(into=target, access=k.SYNCHRONIZE)
                req = conn.call(WM_DUP, DupRequest(value, 1))
                assert json.loads(req.text) == {"wait": True, "set": "AccessDenied"}
            else:
                obj = mapping_with("shared-bytes")
                value = obj.duplicate(into=target, access=k.FILE_MAP_READ)
                req = conn.call(WM_DUP, DupRequest(value, 2))
                assert json.loads(req.text) == {"read": "shared-bytes", "write": "TypeError",
                                                "map_write": "AccessDenied"}
                with obj.map() as view:
                    assert bytes(view[:12]) == b"shared-bytes"
            obj.close()
        ev_stop.set()
        assert proc.wait(TIMEOUT) == 0
        assert len(read_result(result)) == 1
    finally:
        ev_stop.set()
        ev_stop.close()
        children.stop(proc)


@pytest.mark.skipif(sys.platform == "win32",
                    reason="Windows DuplicateHandle pushes into any process it may open")
def test_a_push_into_a_linux_process_without_a_server_names_the_way_that_works():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with winipc.open_process(child.pid, winipc.Access.DUP_HANDLE) as target, \
                closing(k.Event()) as ev:
            with pytest.raises(winipc.NotSupported) as e:
                ev.duplicate(into=target)
            assert e.value.winerror == 50
            assert "runs no winipc Server" in str(e.value)
            assert f"Event.from_process({os.getpid()}, " in str(e.value)
    finally:
        children.stop(child)


def test_pull_a_handle_from_another_process(tmp_path):
    stop = "Local\\" + unique()
    with closing(k.Event(stop, manual_reset=True)) as ev_stop:
        result = str(tmp_path / "serve.json")
        proc = subprocess.Popen([sys.executable, CHILD, "serve-token", result, "pulled", stop],
                                stdin=subprocess.DEVNULL)
        try:
            info = read_result(result)
            with closing(k.FileMapping.from_process(info["pid"], info["value"],
                                            access=k.FILE_MAP_READ)) as fm:
                with fm.map() as view:
                    assert bytes(view[:6]) == b"pulled"
                with pytest.raises(PermissionError):
                    fm.map(write=True)
        finally:
            ev_stop.set()
            try:
                assert proc.wait(TIMEOUT) == 0
            finally:
                children.stop(proc)
