"""Kernel objects shared between processes: one behaviour suite for every
backend (Linux natively; Windows, also under Wine), with real child processes
(tests/kernel_child.py): names, the kinds of object, ownership.  Inheritance
and duplication: test_kernel_sharing.py."""

import gc
from contextlib import closing
import os
import subprocess
import sys
import threading
import time
import uuid
import warnings

import pytest

import children
import winipc
from kernel_helpers import k, CHILD, LINUX, TIMEOUT, unique, run_child, read_result, mapping_with


# --- names ---------------------------------------------------------------

KINDS = {
    "Mutex": lambda name: k.Mutex(name),
    "Event": lambda name: k.Event(name),
    "Semaphore": lambda name: k.Semaphore(name, initial=0, maximum=1),
    "FileMapping": lambda name: k.FileMapping(name, size=4096),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_create_reports_created_then_existing(kind, tmp_path):
    name = "Local\\" + unique()
    # closing(): `with` on a Mutex or Semaphore acquires and releases it.
    with closing(KINDS[kind](name)) as first:
        assert first.created is True
        with closing(KINDS[kind](name)) as second:
            assert second.created is False
            assert second.handle != first.handle
        assert run_child(tmp_path, "probe", kind, name) == "ok"
    # The last handle closed: the object, and its name, are gone.
    assert run_child(tmp_path, "probe", kind, name) == "ObjectNotFound"
    with closing(KINDS[kind](name)) as again:
        assert again.created is True


def test_open_missing_raises_file_not_found():
    name = "Local\\" + unique()
    for cls in (k.Mutex, k.Event, k.Semaphore, k.FileMapping):
        with pytest.raises(FileNotFoundError) as info:
            cls.open(name)
        assert isinstance(info.value, winipc.ObjectNotFound)
        assert info.value.winerror == 2             # ERROR_FILE_NOT_FOUND
        assert "Open" in str(info.value)


@pytest.mark.parametrize("holder", sorted(KINDS))
def test_name_of_another_type_is_wrong_object_type(holder, tmp_path):
    name = "Local\\" + unique()
    with closing(KINDS[holder](name)):
        for other in sorted(set(KINDS) - {holder}):
            with pytest.raises(winipc.WrongObjectType) as info:
                KINDS[other](name)
            assert info.value.winerror == 6         # ERROR_INVALID_HANDLE, as Win32 says
            with pytest.raises(winipc.WrongObjectType):
                getattr(k, other).open(name)
            assert run_child(tmp_path, "probe", other, name) == "WrongObjectType"


def test_bare_name_is_local_and_global_is_another_namespace(tmp_path):
    base = unique()
    with closing(k.Event("Local\\" + base)) as local:
        with closing(k.Event(base)) as bare:
            assert bare.created is False, "a name without prefix is in the Local\\ namespace"
        with closing(k.Event("Global\\" + base)) as glob:
            assert glob.created is True, "Global\\ is another namespace than Local\\"
            assert run_child(tmp_path, "probe", "Event", "Global\\" + base) == "ok"
            glob.set()
            assert not local.wait(0), "Global\\ and Local\\ objects must be distinct"


def test_single_instance_guard(tmp_path):
    guid = "{" + str(uuid.uuid4()).upper() + "}"
    with k.single_instance(guid) as inst:
        assert inst.already_running is False
        assert run_child(tmp_path, "guard", guid) == {"already_running": True}
    assert run_child(tmp_path, "guard", guid) == {"already_running": False}


def test_objects_share_one_shape_and_wrong_arguments_say_which():
    # `with` takes a kernel object: only a Mutex or a Semaphore can be taken.
    for make in (lambda: k.Event(), lambda: k.FileMapping(size=4096)):
        obj = make()
        with pytest.raises(TypeError, match="closing"):
            with obj:
                pass
        assert not obj.closed
        obj.close()
    # The name comes first everywhere; the numbers are keyword arguments.
    with pytest.raises(TypeError, match="name is a str or None, not int.*keyword"):
        k.Semaphore(2)
    with pytest.raises(TypeError, match="positional"):
        k.Semaphore(2, 3)
    with pytest.raises(TypeError, match="size"):
        k.FileMapping(4096)
    with pytest.raises(TypeError, match="name is a str or None, not int"):
        k.FileMapping(4096, size=4096)
    with pytest.raises(TypeError, match="initial is an int, not str"):
        k.Semaphore(initial="1")
    with pytest.raises(TypeError, match="size is an int, not float"):
        k.FileMapping(size=4096.0)
    with pytest.raises(TypeError, match="name is a str or None, not bytes"):
        k.Event(b"Local\\x")


def test_counts_and_offsets_are_ints_and_say_so():
    with closing(k.Semaphore(initial=0, maximum=2)) as sem:
        for bad in ("1", True, 1.0):
            with pytest.raises(TypeError, match=r"Semaphore.release\(\): count is an int, not "):
                sem.release(bad)
        assert sem.release(1) == 0
    with closing(k.FileMapping(size=4096)) as fm:
        with pytest.raises(TypeError, match=r"FileMapping.map\(\): offset is an int, not str"):
            fm.map("x")
        with pytest.raises(ValueError, match=r"offset and a length >= 0, not offset=-4096"):
            fm.map(-4096)
        with fm.map(0, 16) as view:
            assert len(view) == 16


def test_a_named_mapping_smaller_than_asked_is_refused():
    name = "Local\\" + unique()
    with closing(k.FileMapping(name, size=100)):
        with pytest.raises(winipc.BufferTooSmall) as e:
            k.FileMapping(name, size=1 << 20)
        assert "1048576" in str(e.value) and e.value.winerror == 122
        with closing(k.FileMapping.open(name)) as same:      # as it is
            assert same.size >= 100


def test_the_one_line_guard_keeps_guarding(tmp_path):
    guid = "{" + str(uuid.uuid4()).upper() + "}"
    if k.single_instance(guid).already_running:     # the object is dropped at once
        pytest.fail("no other instance runs")
    gc.collect()
    assert run_child(tmp_path, "guard", guid) == {"already_running": True}


# --- mutex ---------------------------------------------------------------

def test_mutex_with_acquires_and_releases_across_processes(tmp_path):
    name = "Local\\" + unique()
    m = k.Mutex(name)
    with m:                        # `with mutex` acquires and releases
        assert run_child(tmp_path, "try-acquire", name) is False
    assert run_child(tmp_path, "try-acquire", name) is True
    m.close()
    m.close()                      # twice is harmless
    assert m.closed


def test_mutex_is_recursive_and_owned_by_a_thread():
    m = k.Mutex()
    try:
        assert m.acquire(0) and m.acquire(0)
        got = []
        t = threading.Thread(target=lambda: got.append(m.acquire(0.05)))
        t.start()
        t.join()
        assert got == [False]
        errors = []

        def release_elsewhere():
            try:
                m.release()
            except Exception as e:
                errors.append(e)
        t = threading.Thread(target=release_elsewhere)
        t.start()
        t.join()
        assert len(errors) == 1 and isinstance(errors[0], winipc.WinIPCError)
        assert errors[0].winerror == 288          # ERROR_NOT_OWNER
        m.release()
        m.release()
        with pytest.raises(winipc.WinIPCError) as info:
            m.release()
        assert info.value.winerror == 288
    finally:
        m.close()


def test_initial_owner():
    name = "Local\\" + unique()
    with closing(k.Mutex(name, initial_owner=True)) as m:
        got = []
        t = threading.Thread(target=lambda: got.append(m.acquire(0)))
        t.start()
        t.join()
        assert got == [False]
        m.release()
        # initial_owner of an existing mutex is ignored (Win32 semantics)
        with closing(k.Mutex(name, initial_owner=True)) as again:
            assert again.created is False
            t = threading.Thread(target=lambda: got.append(m.acquire(0) and (m.release(), 1)))
            t.start()
            t.join()
            assert got[-1]


def test_abandoned_mutex_is_reported_and_owned(tmp_path):
    name, ready = "Local\\" + unique(), "Local\\" + unique()
    with closing(k.Mutex(name)) as m, closing(k.Event(ready)) as ev:
        proc = subprocess.Popen([sys.executable, CHILD, "die-holding",
                                 str(tmp_path / "die.json"), name, ready],
                                stdin=subprocess.DEVNULL)
        try:
            assert ev.wait(TIMEOUT)
            assert proc.wait(TIMEOUT) == 3
        finally:
            children.stop(proc)
        with pytest.raises(winipc.AbandonedMutex) as info:
            m.acquire(TIMEOUT)
        assert "WaitForSingleObject" in str(info.value)
        # The caller owns it now: another process cannot take it...
        assert run_child(tmp_path, "try-acquire", name) is False
        m.release()
        # ...and once released it is an ordinary mutex again.
        assert m.acquire(0) is True
        m.release()
        assert run_child(tmp_path, "try-acquire", name) is True


def test_mutex_timeout():
    m = k.Mutex()
    try:
        holder_has_it, done = threading.Event(), threading.Event()

        def hold():
            with m:
                holder_has_it.set()
                done.wait(10)
        t = threading.Thread(target=hold)
        t.start()
        holder_has_it.wait(10)
        start = time.monotonic()
        assert m.acquire(0.2) is False
        assert 0.15 <= time.monotonic() - start < 5
        done.set()
        t.join()
        assert m.acquire(5) is True
        m.release()
    finally:
        m.close()


# --- event and semaphore -------------------------------------------------

def test_auto_reset_event_releases_one_wait():
    with closing(k.Event(initial_state=True)) as ev:
        assert ev.wait(0) is True
        assert ev.wait(0) is False
        ev.set()
        assert ev.wait(0) is True
        start = time.monotonic()
        assert ev.wait(0.2) is False
        assert time.monotonic() - start >= 0.15


def test_manual_reset_event_stays_set_until_reset():
    with closing(k.Event(manual_reset=True)) as ev:
        assert ev.wait(0) is False
        ev.set()
        assert ev.wait(0) and ev.wait(0)
        ev.reset()
        assert ev.wait(0) is False


def test_event_wakes_a_waiter_in_another_process(tmp_path):
    go, back = "Local\\" + unique(), "Local\\" + unique()
    with closing(k.Event(go)) as ev_go, closing(k.Event(back)) as ev_back:
        result = str(tmp_path / "signal.json")
        proc = subprocess.Popen([sys.executable, CHILD, "signal", result, go, back],
                                stdin=subprocess.DEVNULL)
        try:
            assert ev_back.wait(0.3) is False
            ev_go.set()
            assert ev_back.wait(TIMEOUT) is True
            assert read_result(result) is True
            assert proc.wait(TIMEOUT) == 0
        finally:
            children.stop(proc)


def test_event_wait_releases_the_gil():
    with closing(k.Event()) as ev:
        threading.Timer(0.1, ev.set).start()
        assert ev.wait(10) is True


def test_semaphore_counts():
    with closing(k.Semaphore(initial=2, maximum=3)) as sem:
        assert sem.acquire(0) and sem.acquire(0)
        assert sem.acquire(0.05) is False
        assert sem.release() == 0
        assert sem.release(2) == 1
        with pytest.raises(winipc.TooManyPosts if hasattr(winipc, "TooManyPosts")
                           else ValueError) as info:
            sem.release()
        assert isinstance(info.value, ValueError)
        assert "ReleaseSemaphore" in str(info.value)
        # The failed release changed nothing: exactly three counts remain.
        assert sem.acquire(0) and sem.acquire(0) and sem.acquire(0)
        assert sem.acquire(0) is False
        assert sem.release() == 0
        with sem:                  # takes the count and gives it back
            assert sem.acquire(0) is False
        assert sem.acquire(0) is True
    with pytest.raises(ValueError):
        k.Semaphore(initial=2, maximum=1)


def test_semaphore_wakes_waiters():
    with closing(k.Semaphore(initial=0, maximum=10)) as sem:
        got = []
        threads = [threading.Thread(target=lambda: got.append(sem.acquire(10))) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.1)
        assert sem.release(3) == 0
        for t in threads:
            t.join()
        assert got == [True, True, True]


# --- file mapping --------------------------------------------------------

def test_named_mapping_is_shared(tmp_path):
    name = "Local\\" + unique()
    with closing(k.FileMapping(name, size=10000)) as fm:
        assert fm.size == 10000
        view = fm.map()
        assert len(view) == 10000
        view[:5] = b"hello"
        assert run_child(tmp_path, "mapping-roundtrip", name) == "hello"
        assert bytes(view[:10]) == b"helloworld"
        mv = memoryview(view)
        assert not mv.readonly
        mv.release()
    # A view outlives the mapping handle.
    assert bytes(view[:5]) == b"hello"
    view.close()


def test_existing_mapping_keeps_its_size():
    name = "Local\\" + unique()
    with closing(k.FileMapping(name, size=8192)) as a, closing(k.FileMapping(name, size=100)) as b:
        assert b.created is False and b.size == 8192 == a.size


def test_read_only_mapping_handle_cannot_write():
    with closing(mapping_with("ro")) as fm:
        ro = k.FileMapping.from_handle(fm.duplicate(access=k.FILE_MAP_READ))
        with closing(ro):
            with ro.map() as view:
                assert bytes(view[:2]) == b"ro"
                assert memoryview(view).readonly
                with pytest.raises(TypeError):
                    view[0:1] = b"X"
            with pytest.raises(PermissionError) as info:
                ro.map(write=True)
            assert isinstance(info.value, winipc.AccessDenied)
            assert "MapViewOfFile" in str(info.value)
            with pytest.raises(PermissionError):
                ro.duplicate(access=k.FILE_MAP_ALL_ACCESS) if LINUX else ro.map(write=True)


# --- ownership -------------------------------------------------------------

def test_unclosed_object_warns_and_closes():
    ev = k.Event()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del ev
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)


def test_closed_object_refuses_use():
    ev = k.Event()
    ev.close()
    with pytest.raises(ValueError):
        ev.set()
    with pytest.raises(ValueError):
        ev.handle


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
def test_forked_child_does_not_close_the_parents_object():
    name = "Local\\" + unique()
    ev = k.Event(name, manual_reset=True)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                del_ev = ev
                del_ev.__del__()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not ev.closed
    ev.set()
    with closing(k.Event.open(name)) as again:
        assert again.wait(0)
    ev.close()


def test_leak_count_sees_unclosed_objects():
    """The count the leak tests rely on (tests/procstats.py) really counts
    this process's handles (Linux: fds): 50 events left open raise it by at
    least 50, so a leak cannot pass unseen."""
    from procstats import stats
    before = stats()[0]
    events = [k.Event() for _ in range(50)]
    try:
        after = stats()[0]
    finally:
        for ev in events:
            ev.close()
    assert after - before >= 50, (before, after)
    assert stats()[0] - before < 50
