"""Where the Linux backend's named kernel objects live, and how a file found
at a name is trusted (winipc._kernel on Linux uses it; see the comment at
the top of ``_native/linux/_kernel.pyx`` for the whole design).

A named object is a file in /dev/shm.  /dev/shm is writable by every user,
so a file found at a name is hostile until checked: it is opened
O_NOFOLLOW|O_NONBLOCK (a symlink fails, a FIFO does not block) and accepted
only as a regular file with one link, owned by this user (Local\\; Global\\:
this user or root), before anything is locked or mapped.  The name lives
while some open file description holds a shared flock on its file; whoever
finds it unlocked (an exclusive flock succeeds) removes it.

What no process holds any more (every holder died, or exited without
closing) is removed by the next winipc process of the same user, once, at
its first named object (:func:`sweep_once`), and by ``python -m winipc
clean``; ``python -m winipc ls`` lists the files with the processes that
hold them (:func:`objects`).
"""

from __future__ import annotations

import errno as _errno
import fcntl
import os
import stat as _stat
import struct as _struct
import sys
from dataclasses import dataclass, field
from typing import NoReturn
from urllib.parse import quote as _quote, unquote as _unquote

from ._errors import WrongObjectType, raise_errno, raise_winerror
from .constants import WinError

# Linux only (its winipc._kernel imports it): type checkers skip the rest of
# the module for Windows.
assert sys.platform != "win32"

SHM_DIR = "/dev/shm"
FILE_PREFIX = "winipc-"


def scope(name: str) -> str:
    """'global' or 'local': the namespace of a Win32 object name."""
    return "global" if name.startswith("Global\\") else "local"


def name_path(name: str) -> str:
    """The file that holds the object named `name` (a Win32 object name).

    ``Local\\x`` (and a bare ``x``, as on Windows) is per user: the user id is
    part of the file name, so two users each have their own ``Local\\x``.
    ``Global\\x`` is one name for the whole machine.  Either file is mode 0600:
    as with the default security of a Win32 object, only its creator's user
    may open it.  The rest of the name is case-sensitive and percent-encoded.
    """
    if name.startswith("Global\\"):
        where, rest = "global", name[7:]
    elif name.startswith("Local\\"):
        where, rest = f"u{os.geteuid()}", name[6:]
    else:
        where, rest = f"u{os.geteuid()}", name
    if not rest:
        raise ValueError(f"object name {name!r} has nothing after its namespace prefix")
    leaf = f"{FILE_PREFIX}{where}-{_quote(rest, safe='{}-._~@+=,')}"
    if len(leaf.encode()) > 255:
        raise ValueError(f"object name {name!r} is too long for this platform "
                         "(its file name must fit 255 bytes)")
    return os.path.join(SHM_DIR, leaf)


def name_of(leaf: str) -> str | None:
    """The Win32 name whose file is ``leaf`` (a file name in /dev/shm), if it
    is one of this user's names or a Global\\ one; else None."""
    mine = f"{FILE_PREFIX}u{os.geteuid()}-"
    if leaf.startswith(mine):
        return "Local\\" + _unquote(leaf[len(mine):])
    if leaf.startswith(FILE_PREFIX + "global-"):
        return "Global\\" + _unquote(leaf[len(FILE_PREFIX) + 7:])
    return None


def path_of(fd: int) -> str | None:
    """The name's file that `fd` holds, or None (unnamed, or its name is gone).

    The fd of an object's creator (and every fd it was duplicated, passed or
    inherited into) names the unnamed file the object was built in
    (``/dev/shm/#N (deleted)``), not the name it was published under: that
    one is found among this user's names by its inode."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    if (target.startswith(os.path.join(SHM_DIR, FILE_PREFIX))
            and not target.endswith(" (deleted)")):
        return target
    if not target.startswith(SHM_DIR + "/"):
        return None         # a memfd: unnamed
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    if st.st_nlink == 0:
        return None         # its name is gone
    for _, path in _own_files():
        try:
            if os.path.samestat(os.stat(path, follow_symlinks=False), st):
                return path
        except OSError:
            continue
    return None


def reopen_readonly(fd: int) -> int:
    """A new, read-only fd of the object `fd` holds (a reduced-rights handle)."""
    try:
        new = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise_errno(e.errno or _errno.EIO, "open(/proc/self/fd/N, O_RDONLY)",
                    "reopening the object read-only for a reduced-rights handle")
    # A new open file description holds the name like every handle does.
    fcntl.flock(new, fcntl.LOCK_SH)
    return new


def remove_if_unused(path: str, ident: tuple[int, int]) -> None:
    """Removes the name if no handle anywhere still holds the file `ident`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != ident:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        # Nobody holds it, and nobody can start to while we hold the lock (an
        # opener that got in first sees st_nlink == 0 once it has its lock).
        os.unlink(path)
    except OSError:
        pass
    finally:
        os.close(fd)


def _file_type(st: os.stat_result) -> str:
    m = st.st_mode
    for test, what in ((_stat.S_ISFIFO, "FIFO"), (_stat.S_ISDIR, "directory"),
                       (_stat.S_ISSOCK, "socket"), (_stat.S_ISCHR, "character device"),
                       (_stat.S_ISBLK, "block device"), (_stat.S_ISLNK, "symbolic link")):
        if test(m):
            return what
    return "special file"


def _refuse_open(e: OSError, call: str, name: str, path: str) -> NoReturn:
    """Raises the winipc error for a failed open() of a name's file."""
    if e.errno == _errno.ELOOP:
        raise_winerror(WinError.INVALID_HANDLE, call,
                       f"{name!r} ({path}) is a symbolic link, not a winipc object",
                       cls=WrongObjectType)
    if e.errno == _errno.EISDIR:
        raise_winerror(WinError.INVALID_HANDLE, call,
                       f"{name!r} ({path}) is a directory, not a winipc object",
                       cls=WrongObjectType)
    if e.errno in (_errno.EACCES, _errno.EPERM):
        raise_errno(e.errno or _errno.EIO, call,
                    f"{name!r} ({path}) belongs to another user or refuses this access")
    raise_errno(e.errno or _errno.EIO, call, f"open({path}): {e.strerror}")


def regular_file(fd: int, call: str, what: str) -> os.stat_result:
    """fstat(fd), which must be a regular file (every winipc object is one):
    else WrongObjectType, saying what it is instead."""
    try:
        st = os.fstat(fd)
    except OSError as e:
        raise_errno(e.errno or _errno.EIO, call, f"fstat of {what}")
    if not _stat.S_ISREG(st.st_mode):
        raise_winerror(WinError.INVALID_HANDLE, call,
                       f"{what} is a {_file_type(st)}, not a winipc object", cls=WrongObjectType)
    return st


def _vet_named(fd: int, call: str, name: str, path: str) -> None:
    """Accepts the file at a name only if it can be an object of ours: a regular
    file with one link, owned by this user (Global\\: or root).  Runs before
    the file is locked or mapped."""
    st = regular_file(fd, call, f"{name!r} ({path})")
    me = os.geteuid()
    if st.st_uid != me and not (scope(name) == "global" and st.st_uid == 0):
        raise_errno(_errno.EACCES, call,
                    f"{name!r} ({path}) belongs to another user (uid {st.st_uid}); "
                    + ("a Global\\ object is trusted only if it is this user's or root's"
                       if scope(name) == "global" else "a Local\\ name is this user's own"))
    if st.st_nlink > 1:
        raise_errno(_errno.EACCES, call,
                    f"{name!r} ({path}) has {st.st_nlink} links; an object's file has "
                    "exactly one (another name shares it)")


def _blocking(fd: int) -> None:
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    if flags & os.O_NONBLOCK:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)


def attach(path: str, writable: bool, call: str, name: str) -> int | None:
    """An fd holding the existing object at `path`, or None if there is none.

    Whatever is found there is hostile until checked: it is opened without
    following a symlink or blocking on a FIFO, and refused with a winipc error
    unless _vet_named accepts it."""
    sweep_once()
    flags = ((os.O_RDWR if writable else os.O_RDONLY) | os.O_CLOEXEC | os.O_NOFOLLOW
             | os.O_NONBLOCK)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as e:
        _refuse_open(e, call, name, path)
    try:
        _vet_named(fd, call, name, path)
        _blocking(fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fcntl.flock(fd, fcntl.LOCK_SH)     # waits out a closer's brief exclusive lock
            nlink = os.fstat(fd).st_nlink
            if nlink == 0:                     # ... that then removed the name
                os.close(fd)
                return None
            if nlink > 1:
                raise_errno(_errno.EACCES, call,
                            f"{name!r} ({path}) has {nlink} links; an object's file has "
                            "exactly one (another name shares it)")
            return fd
        # Unlocked: every holder died without closing.  The object is gone, as
        # its Win32 counterpart would be; the name goes too.
        st = os.fstat(fd)
        try:
            if os.path.samestat(os.stat(path, follow_symlinks=False), st):
                os.unlink(path)
        except FileNotFoundError:
            pass
        os.close(fd)
        return None
    except BaseException:
        try:
            os.close(fd)
        except OSError:
            pass
        raise


# --- what is left behind: listing and sweeping ---------------------------

# The header every object's file starts with: magic, kind, layout, data
# offset, size (_native/linux/kernel_sync.h).
_HEAD = _struct.Struct("<IIIIQ")
_MAGIC = 0x43504957
_KINDS = {1: "Mutex", 2: "Event", 3: "Semaphore", 4: "FileMapping"}


@dataclass
class ObjectFile:
    """One named object's file of this user in /dev/shm."""
    name: str                   # the Win32 name (Local\\x, Global\\x)
    path: str
    kind: str                   # Mutex, Event, Semaphore, FileMapping; "?" if not ours
    size: int                   # the file's bytes
    in_use: bool                # some open file description holds its flock
    pids: list[int] = field(default_factory=list)   # processes with an fd or a view of it


def _own_files() -> list[tuple[str, str]]:
    """(name, path) of every file in /dev/shm that may be a named object of
    this user: its Local\\ names and the Global\\ ones."""
    try:
        leaves = os.listdir(SHM_DIR)
    except OSError:
        return []
    found = []
    for leaf in sorted(leaves):
        name = name_of(leaf)
        if name is not None:
            found.append((name, os.path.join(SHM_DIR, leaf)))
    return found


def _open_own(path: str) -> tuple[int, os.stat_result, str] | None:
    """An fd of ``path`` if it is an object file this user may remove (a
    regular file of this user with one link), its stat and its kind ("?"
    when its header is not a winipc object's); else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not _stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_nlink != 1:
            os.close(fd)
            return None
        raw = os.pread(fd, _HEAD.size, 0)
        kind = "?"
        if len(raw) == _HEAD.size:
            magic, tag = _HEAD.unpack(raw)[:2]
            if magic == _MAGIC:
                kind = _KINDS.get(tag, "?")
        return fd, st, kind
    except OSError:
        os.close(fd)
        return None


def _locked_inodes() -> set[tuple[int, int]]:
    """(major:minor, inode) of every file with a flock, from /proc/locks."""
    held: set[tuple[int, int]] = set()
    try:
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except OSError:
        return held
    for line in lines:
        parts = line.split()
        if "FLOCK" not in parts or "->" in parts:
            continue
        try:
            major, minor, inode = parts[parts.index("FLOCK") + 4].split(":")
            held.add((os.makedev(int(major, 16), int(minor, 16)), int(inode)))
        except (IndexError, ValueError):
            continue
    return held


def _holders() -> dict[tuple[int, int], set[int]]:
    """The processes (of this user; others' cannot be seen) that hold a file
    of /dev/shm, by its (st_dev, st_ino): by an fd, or by a mapping (a view,
    an owned mutex).  By inode, since the fd of a creator names the unnamed
    file it published (``/dev/shm/#N (deleted)``), not the name."""
    found: dict[tuple[int, int], set[int]] = {}
    shm = SHM_DIR + "/"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(shm):
                    st = os.stat(f"/proc/{pid}/fd/{fd}")
                    found.setdefault((st.st_dev, st.st_ino), set()).add(pid)
            except OSError:
                continue
        try:
            with open(f"/proc/{pid}/maps") as maps:
                for line in maps:
                    parts = line.split(None, 5)
                    if len(parts) == 6 and parts[5].startswith(shm):
                        major, minor = parts[3].split(":")
                        key = (os.makedev(int(major, 16), int(minor, 16)), int(parts[4]))
                        found.setdefault(key, set()).add(pid)
        except (OSError, ValueError):
            continue
    return found


def objects() -> list[ObjectFile]:
    """This user's named objects in /dev/shm, with the processes that hold
    each (``python -m winipc ls``)."""
    held = _locked_inodes()
    holders = _holders()
    out = []
    for name, path in _own_files():
        opened = _open_own(path)
        if opened is None:
            continue
        fd, st, kind = opened
        os.close(fd)
        ident = (st.st_dev, st.st_ino)
        out.append(ObjectFile(name, path, kind, st.st_size, ident in held,
                              sorted(holders.get(ident, ()))))
    return out


def sweep() -> list[str]:
    """Removes the files of this user's named objects that no process holds
    any more (no flock on them: every holder died, or exited without
    closing); the names removed.  A file is removed exactly as a closer or
    an opener removes an unlocked one (see the module's docstring), so a
    process opening it meanwhile finds the name free and creates it anew."""
    removed = []
    for name, path in _own_files():
        opened = _open_own(path)
        if opened is None:
            continue
        fd, st, kind = opened
        try:
            if kind == "?":
                continue        # not a winipc object: not ours to remove
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue        # held
            try:
                if os.path.samestat(os.stat(path, follow_symlinks=False), st):
                    os.unlink(path)
                    removed.append(name)
            except OSError:
                pass
        finally:
            os.close(fd)
    return removed


_swept = False


def sweep_once() -> None:
    """:func:`sweep`, once per process (at its first named object): what
    earlier processes of this user left behind goes.  Best effort."""
    global _swept
    if _swept:
        return
    _swept = True
    try:
        sweep()
    except OSError:
        pass
