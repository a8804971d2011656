"""Kernel objects against other users and a tampered /dev/shm (Linux).

Named objects are files in /dev/shm, a folder every user may write in, and
unnamed objects are memfds whose fds can be reopened through /proc/self/fd.
These tests play the other user (a forked child that becomes ``nobody``,
as tests/test_access.py does) or a same-user process that damages a file,
and check that winipc refuses with its own errors instead of sharing state,
hanging or dying of SIGBUS."""

from contextlib import closing
import json
import os
import sys
import threading
import time
import uuid

import pytest

import winipc
import winipc.kernel

k = winipc if hasattr(winipc, "Mutex") else winipc.kernel
native = winipc.kernel._native

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="Linux names are files in /dev/shm; unnamed objects "
                                       "are memfds")
needs_root = pytest.mark.skipif(sys.platform.startswith("linux") and os.geteuid() != 0,
                                reason="starting a process as another user needs root")
NOBODY = 65534


def unique(prefix="winipc-hostile"):
    return f"{prefix}-{uuid.uuid4()}"


class Nobody:
    """A forked child running ``setup(*args)`` as user nobody.  Its JSON result
    is ``result``; it keeps whatever it opened until :meth:`stop`."""

    def __init__(self, setup, *args):
        r, w = os.pipe()
        hold_r, self._hold_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            try:
                os.close(r)
                os.close(self._hold_w)
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                os.umask(0)
                try:
                    kept = []
                    value = setup(kept, *args)
                except BaseException as e:
                    value = {"error": f"{type(e).__name__}: {e}"}
                os.write(w, json.dumps(value).encode())
                os.close(w)
                os.read(hold_r, 1)        # until the test is done with what we hold
                for obj in kept:
                    obj.close()
            finally:
                os._exit(0)
        os.close(w)
        os.close(hold_r)
        with os.fdopen(r) as fh:
            self.result = json.loads(fh.read() or "null")

    def stop(self):
        if self._hold_w is not None:
            os.close(self._hold_w)
            self._hold_w = None
            os.waitpid(self.pid, 0)


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# --- defect: Local\ names planted by another user ---------------------------

def _plant_link(kept, kind, own_name, victim_path):
    """nobody's own object, hard-linked to the victim's file name and opened to all."""
    kept.append(getattr(k, kind)(own_name))
    own = native.name_path(own_name)
    os.link(own, victim_path)
    os.chmod(own, 0o666)
    return "planted"


@needs_root
@pytest.mark.parametrize("how", ["Event", "single_instance"])
def test_local_name_planted_by_another_user_is_refused(how):
    guid = "{" + str(uuid.uuid4()).upper() + "}"
    victim = "Local\\" + guid
    path = native.name_path(victim)
    nobody = Nobody(_plant_link, "Event" if how == "Event" else "Mutex",
                    "Local\\" + unique(), path)
    try:
        assert nobody.result == "planted", nobody.result
        with pytest.raises(winipc.AccessDenied) as info:
            if how == "Event":
                k.Event(victim).close()
            else:
                k.single_instance(guid).close()
        assert info.value.winerror == 5
        assert ("CreateEvent" if how == "Event" else "CreateMutex") in str(info.value)
        assert "another user" in str(info.value)
        with pytest.raises(winipc.AccessDenied):
            k.Event.open(victim).close()
    finally:
        nobody.stop()
        _remove(path)


def _plant_global(kept, name):
    kept.append(k.Event(name))
    os.chmod(native.name_path(name), 0o666)
    return "planted"


@needs_root
def test_global_name_of_another_user_is_refused():
    """Global\\ names are machine-wide, but an object is trusted only when its
    file is this user's or root's: another user's file is AccessDenied, even
    when its mode would let us in."""
    name = "Global\\" + unique()
    nobody = Nobody(_plant_global, name)
    try:
        assert nobody.result == "planted", nobody.result
        with pytest.raises(winipc.AccessDenied) as info:
            k.Event.open(name).close()
        assert "OpenEvent" in str(info.value) and "another user" in str(info.value)
    finally:
        nobody.stop()
        _remove(native.name_path(name))


def test_hard_linked_object_file_is_refused():
    name, other = "Local\\" + unique(), "Local\\" + unique()
    with closing(k.Event(name)) as ev:
        os.link(native.name_path(name), native.name_path(other))
        try:
            with pytest.raises(winipc.AccessDenied) as info:
                k.Event.open(name).close()
            assert "links" in str(info.value)
            with pytest.raises(winipc.AccessDenied):
                k.Event(other).close()
        finally:
            _remove(native.name_path(other))
        ev.set()


def test_symlink_at_a_name_is_refused():
    name, target = "Local\\" + unique(), "Local\\" + unique()
    with closing(k.Event(target)):
        os.symlink(native.name_path(target), native.name_path(name))
        try:
            with pytest.raises(winipc.WrongObjectType) as info:
                k.Event.open(name).close()
            assert "OpenEvent" in str(info.value)
            with pytest.raises(winipc.WrongObjectType):
                k.Event(name).close()
        finally:
            _remove(native.name_path(name))


# --- defect: a planted FIFO hangs open() -------------------------------------

def _unblock_fifo(path, stop):
    """Opens the FIFO for writing as soon as a reader waits: a reader stuck in
    open() gets free, so the test fails instead of hanging."""
    while not stop.is_set():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            time.sleep(0.05)
            continue
        os.close(fd)
        return


def _opens_promptly(path, call):
    stop = threading.Event()
    helper = threading.Thread(target=lambda: (time.sleep(3), _unblock_fifo(path, stop)),
                              daemon=True)
    helper.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(winipc.WinIPCError) as info:
            call()
    finally:
        elapsed = time.monotonic() - t0
        stop.set()
        helper.join()
    assert elapsed < 2, f"open() waited {elapsed:.1f} s on a FIFO"
    return info.value


def _plant_fifo(kept, path):
    os.mkfifo(path, 0o666)
    return "planted"


@needs_root
def test_fifo_planted_by_another_user_does_not_hang_open():
    name = "Local\\" + unique()
    path = native.name_path(name)
    nobody = Nobody(_plant_fifo, path)
    try:
        assert nobody.result == "planted", nobody.result
        err = _opens_promptly(path, lambda: k.Event.open(name, access=k.SYNCHRONIZE))
        assert isinstance(err, (winipc.AccessDenied, winipc.WrongObjectType)), err
        assert "OpenEvent" in str(err)
    finally:
        nobody.stop()
        _remove(path)


def test_fifo_at_a_name_is_not_an_object():
    name = "Local\\" + unique()
    path = native.name_path(name)
    os.mkfifo(path, 0o600)
    try:
        err = _opens_promptly(path, lambda: k.Event.open(name, access=k.SYNCHRONIZE))
        assert isinstance(err, winipc.WrongObjectType) and "FIFO" in str(err), err
        err = _opens_promptly(path, lambda: k.Mutex(name))
        assert isinstance(err, winipc.WrongObjectType), err
    finally:
        _remove(path)


# --- truncated object files: an error, not SIGBUS ----------------------------

def test_truncated_mapping_file_is_refused_on_open_and_map():
    name = "Local\\" + unique()
    with closing(k.FileMapping(name, size=3 * native.PAGE)) as fm:
        os.truncate(native.name_path(name), native.PAGE)     # the header stays
        with pytest.raises(winipc.WrongObjectType) as info:
            k.FileMapping.open(name).close()
        assert "OpenFileMapping" in str(info.value) and "truncated" in str(info.value)
        with pytest.raises(winipc.WrongObjectType) as info:
            fm.map()
        assert "MapViewOfFile" in str(info.value)


@pytest.mark.parametrize("size", [0, 100])
def test_truncated_event_file_is_refused(size):
    name = "Local\\" + unique()
    with closing(k.Event(name)):
        os.truncate(native.name_path(name), size)
        with pytest.raises(winipc.WrongObjectType) as info:
            k.Event.open(name).close()
        assert "OpenEvent" in str(info.value)


def test_unnamed_objects_cannot_change_size():
    """memfds are sealed: whoever holds one cannot shrink it under another
    holder's mapping (nor grow it)."""
    with closing(k.FileMapping(size=4096)) as fm, closing(k.Event()) as ev:
        for obj in (fm, ev):
            for size in (0, 64 * 1024):
                with pytest.raises(PermissionError):
                    os.ftruncate(obj.handle, size)


# --- reduced rights and unnamed objects cannot be widened -------------------

def _widen(kept, values):
    got = {}
    for what, fd in values.items():
        try:
            os.close(os.open(f"/proc/self/fd/{fd}", os.O_RDWR))
            got[what] = "widened"
        except OSError as e:
            got[what] = f"refused {e.errno}"
    return got


@needs_root
def test_reduced_duplicates_cannot_be_widened_by_another_user():
    with closing(k.FileMapping(size=4096)) as fm, \
            closing(k.Event(manual_reset=True)) as ev, \
            closing(k.FileMapping("Local\\" + unique(), size=4096)) as named:
        values = {"mapping": fm.duplicate(access=k.FILE_MAP_READ),
                  "event": ev.duplicate(access=k.SYNCHRONIZE),
                  "named": named.duplicate(access=k.FILE_MAP_READ)}
        try:
            nobody = Nobody(_widen, values)
            nobody.stop()
        finally:
            for fd in values.values():
                os.close(fd)
        assert nobody.result == {w: "refused 13" for w in values}, nobody.result


def _widen_own(kept):
    fm = k.FileMapping(size=4096)
    ev = k.Event()
    kept += [fm, ev]
    return _widen(kept, {"mapping": fm.duplicate(access=k.FILE_MAP_READ),
                         "event": ev.duplicate(access=k.SYNCHRONIZE)})


@needs_root
def test_reduced_duplicates_of_unnamed_objects_cannot_be_widened_by_their_owner():
    """No one but root can reopen an unnamed object for writing, so a
    read-only duplicate stays read-only even in a process of the same user."""
    nobody = Nobody(_widen_own)
    nobody.stop()
    assert nobody.result == {"mapping": "refused 13", "event": "refused 13"}, nobody.result
