# Where the named objects live, and how a file found at a name is trusted.
# (Part of _kernel.pyx; the design is at its top.  The facade's
# winipc/_shm.py lists them for `python -m winipc ls` and `clean`.)
#
# A named object is a file in /dev/shm.  /dev/shm is writable by every user,
# so a file found at a name is hostile until checked: it is opened
# O_NOFOLLOW|O_NONBLOCK (a symlink fails, a FIFO does not block) and accepted
# only as a regular file with one link, owned by this user (Local\; Global\:
# this user or root), before anything is locked or mapped.  The name lives
# while some open file description holds a shared flock on its file; whoever
# finds it unlocked (an exclusive flock succeeds) removes it.
#
# What no process holds any more (every holder died, or exited without
# closing) is removed by the next winipc process of the same user, once, at
# its first named object (sweep_once), and by `python -m winipc clean`.

SHM_DIR = "/dev/shm"
FILE_PREFIX = "winipc-"


cdef str _scope(str name):
    """'global' or 'local': the namespace of a Win32 object name."""
    return "global" if name.startswith("Global\\") else "local"


def name_path(str name):
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


cdef object _name_of(str leaf):
    """The Win32 name whose file is ``leaf`` (a file name in /dev/shm), if it
    is one of this user's names or a Global\\ one; else None."""
    mine = f"{FILE_PREFIX}u{os.geteuid()}-"
    if leaf.startswith(mine):
        return "Local\\" + _unquote(leaf[len(mine):])
    if leaf.startswith(FILE_PREFIX + "global-"):
        return "Global\\" + _unquote(leaf[len(FILE_PREFIX) + 7:])
    return None


cdef object _path_of(int fd):
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


cdef int _reopen_readonly(int fd) except -1:
    """A new, read-only fd of the object `fd` holds (a reduced-rights handle)."""
    try:
        new = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise_errno(e.errno or _errno.EIO, "open(/proc/self/fd/N, O_RDONLY)",
                    "reopening the object read-only for a reduced-rights handle")
    # A new open file description holds the name like every handle does.
    fcntl.flock(new, fcntl.LOCK_SH)
    return new


cdef _remove_if_unused(str path, tuple ident):
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


cdef str _file_type(st):
    m = st.st_mode
    for test, what in ((_stat.S_ISFIFO, "FIFO"), (_stat.S_ISDIR, "directory"),
                       (_stat.S_ISSOCK, "socket"), (_stat.S_ISCHR, "character device"),
                       (_stat.S_ISBLK, "block device"), (_stat.S_ISLNK, "symbolic link")):
        if test(m):
            return what
    return "special file"


cdef int _refuse_open(e, str call, str name, str path) except -1:
    """Raises the winipc error for a failed open() of a name's file."""
    if e.errno == _errno.ELOOP:
        raise_winerror(ERROR_INVALID_HANDLE, call,
                       f"{name!r} ({path}) is a symbolic link, not a winipc object",
                       cls="WrongObjectType")
    if e.errno == _errno.EISDIR:
        raise_winerror(ERROR_INVALID_HANDLE, call,
                       f"{name!r} ({path}) is a directory, not a winipc object",
                       cls="WrongObjectType")
    if e.errno in (_errno.EACCES, _errno.EPERM):
        raise_errno(e.errno or _errno.EIO, call,
                    f"{name!r} ({path}) belongs to another user or refuses this access")
    raise_errno(e.errno or _errno.EIO, call, f"open({path}): {e.strerror}")


cdef object _regular_file(int fd, str call, str what):
    """fstat(fd), which must be a regular file (every winipc object is one):
    else WrongObjectType, saying what it is instead."""
    try:
        st = os.fstat(fd)
    except OSError as e:
        raise_errno(e.errno or _errno.EIO, call, f"fstat of {what}")
    if not _stat.S_ISREG(st.st_mode):
        raise_winerror(ERROR_INVALID_HANDLE, call,
                       f"{what} is a {_file_type(st)}, not a winipc object",
                       cls="WrongObjectType")
    return st


cdef int _vet_named(int fd, str call, str name, str path) except -1:
    """Accepts the file at a name only if it can be an object of ours: a regular
    file with one link, owned by this user (Global\\: or root).  Runs before
    the file is locked or mapped."""
    st = _regular_file(fd, call, f"{name!r} ({path})")
    me = os.geteuid()
    if st.st_uid != me and not (_scope(name) == "global" and st.st_uid == 0):
        raise_errno(_errno.EACCES, call,
                    f"{name!r} ({path}) belongs to another user (uid {st.st_uid}); "
                    + ("a Global\\ object is trusted only if it is this user's or root's"
                       if _scope(name) == "global" else "a Local\\ name is this user's own"))
    if st.st_nlink > 1:
        raise_errno(_errno.EACCES, call,
                    f"{name!r} ({path}) has {st.st_nlink} links; an object's file has "
                    "exactly one (another name shares it)")
    return 0


cdef _blocking(int fd):
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    if flags & os.O_NONBLOCK:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)


cdef object _attach(str path, bint writable, str call, str name):
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

cdef list _own_files():
    """(name, path) of every file in /dev/shm that may be a named object of
    this user: its Local\\ names and the Global\\ ones."""
    try:
        leaves = os.listdir(SHM_DIR)
    except OSError:
        return []
    found = []
    for leaf in sorted(leaves):
        name = _name_of(leaf)
        if name is not None:
            found.append((name, os.path.join(SHM_DIR, leaf)))
    return found


cdef object _open_own(str path):
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
            if magic == WIPC_MAGIC:
                kind = KIND_NAMES.get(tag, "?")
        return fd, st, kind
    except OSError:
        os.close(fd)
        return None


def object_files():
    """This user's named objects' files in /dev/shm (those it may remove):
    a list of (name, path, kind, stat), kind "?" when the file is not a
    winipc object."""
    out = []
    for name, path in _own_files():
        opened = _open_own(path)
        if opened is None:
            continue
        fd, st, kind = opened
        os.close(fd)
        out.append((name, path, kind, st))
    return out


def sweep():
    """Removes the files of this user's named objects that no process holds
    any more (no flock on them: every holder died, or exited without
    closing); the names removed.  A file is removed exactly as a closer or
    an opener removes an unlocked one, so a process opening it meanwhile
    finds the name free and creates it anew."""
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


cdef bint _swept = False


def sweep_once():
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
