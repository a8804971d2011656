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
"""

from __future__ import annotations

import errno as _errno
import fcntl
import os
import stat as _stat
import sys
from typing import NoReturn
from urllib.parse import quote as _quote

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


def path_of(fd: int) -> str | None:
    """The name's file that `fd` holds, or None (unnamed, or its name is gone)."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    if (target.startswith(os.path.join(SHM_DIR, FILE_PREFIX))
            and not target.endswith(" (deleted)")):
        return target
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
