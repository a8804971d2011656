# Creating, opening, adopting and pulling kernel objects: a handle comes to
# be.  (Part of _kernel.pyx; the names' files are names.pxi's.)

def _check_kind(int fd, int kind, str what):
    """Raises WrongObjectType unless fd's header says `kind`; returns (writable, path)."""
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    except OSError as e:
        raise_errno(e.errno, what, f"{fd} is not an open fd in this process", cls="InvalidHandle")
    st = _regular_file(fd, what, f"fd {fd}")
    try:
        raw = os.pread(fd, _HEAD.size, 0)
    except OSError as e:
        raise_winerror(ERROR_INVALID_HANDLE, what,
                       f"fd {fd} cannot be read as a winipc object ({e.strerror})",
                       cls="WrongObjectType")
    if len(raw) < _HEAD.size or _HEAD.unpack(raw)[0] != WIPC_MAGIC:
        raise_winerror(ERROR_INVALID_HANDLE, what, f"fd {fd} is not a winipc kernel object",
                       cls="WrongObjectType")
    magic, found, version, data_offset, size = _HEAD.unpack(raw)
    if found != kind:
        raise_winerror(ERROR_INVALID_HANDLE, what,
                       f"the object is {_a(KIND_NAMES.get(found, str(found)))}, "
                       f"not {_a(KIND_NAMES[kind])}", cls="WrongObjectType")
    if version != WIPC_VERSION:
        raise_winerror(ERROR_INVALID_HANDLE, what,
                       f"the object was made by an incompatible winipc (layout {version})",
                       cls="WrongObjectType")
    # The header is hostile input too: its offset must be a page past the
    # header, and the file must hold what the header says before any of it is
    # mapped (a page past the end of a file is SIGBUS at first touch).
    if data_offset < sizeof(wipc_header) or data_offset % _mmap.PAGESIZE:
        raise_winerror(ERROR_INVALID_HANDLE, what,
                       f"the object's header is damaged (data offset {data_offset})",
                       cls="WrongObjectType")
    need = data_offset + (size if kind == WIPC_MAPPING else 0)
    if st.st_size < need:
        raise_winerror(ERROR_INVALID_HANDLE, what,
                       f"the object's file is {st.st_size} bytes, shorter than its header "
                       f"says ({need}): it was truncated", cls="WrongObjectType")
    return (flags & os.O_ACCMODE) == os.O_RDWR


cdef object _build(int kind, object path, long a, long b, uint64_t size):
    """A new, complete, unpublished object: (fd, mapped header or 0, owned)."""
    if path is None:
        fd = os.memfd_create("winipc-" + KIND_NAMES[kind].lower(),
                             os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    else:
        fd = os.open(SHM_DIR, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    cdef uint64_t total = PAGE + size if kind == WIPC_MAPPING else PAGE
    cdef wipc_header *h
    cdef void *p
    cdef int r
    cdef int owned = 0
    try:
        if ftruncate(fd, total) != 0:
            raise_errno(_errno_now(), "ftruncate")
        p = mmap(NULL, sizeof(wipc_header), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        if p == MAP_FAILED:
            raise_errno(_errno_now(), "mmap")
        h = <wipc_header *>p
        h.kind = kind
        h.version = WIPC_VERSION
        h.data_offset = PAGE
        h.size = size
        if kind == WIPC_MUTEX:
            r = wipc_mutex_init(&h.u.mutex)
            if r:
                munmap(p, sizeof(wipc_header))
                raise_errno(r, "pthread_mutex_init")
            if a:   # initial owner: locked before anyone can see it
                wipc_mutex_lock(&h.u.mutex, NULL)
                owned = 1
        elif kind == WIPC_EVENT:
            h.u.event.manual = 1 if a else 0
            h.u.event.state = 1 if b else 0
        elif kind == WIPC_SEMAPHORE:
            h.u.semaphore.count = <uint32_t>a
            h.u.semaphore.maximum = <uint32_t>b
        h.magic = WIPC_MAGIC
        if kind == WIPC_MAPPING:
            munmap(p, sizeof(wipc_header))
            p = NULL
        if path is not None:
            fcntl.flock(fd, fcntl.LOCK_SH)
        else:
            # Only root may reopen it for writing (/proc/self/fd/N), and no
            # holder may change its size under another holder's mapping.
            os.fchmod(fd, 0o444)
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                        fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
    except BaseException:
        os.close(fd)
        raise
    return fd, <size_t>p, owned


cdef KObject _wrap(int fd, int kind, bint writable, object path, size_t mapped, int owned):
    cdef KObject obj = KObject.__new__(KObject)
    try:
        obj._setup(fd, kind, writable, path, <wipc_header *>mapped)
    except BaseException:
        obj.fd = -1
        os.close(fd)
        raise
    obj.owned = owned
    return obj


cdef _publish(int fd, str path):
    # linkat(AT_SYMLINK_FOLLOW) of the /proc magic link gives the unnamed file
    # a name, atomically; EEXIST if the name was taken meanwhile.
    src = f"/proc/self/fd/{fd}".encode()
    dst = os.fsencode(path)
    if linkat(AT_FDCWD, src, AT_FDCWD, dst, AT_SYMLINK_FOLLOW) != 0:
        err = _errno_now()
        raise OSError(err, os.strerror(err), path)


def create(int kind, name, bint inheritable, long a=0, long b=0, uint64_t size=0):
    """(KObject, created): the named object, made if it did not exist.

    a, b: mutex (initial_owner, -); event (manual_reset, initial_state);
    semaphore (initial, maximum).  size: mapping bytes.
    """
    call = "Create" + KIND_NAMES[kind]
    if not name:
        fd, mapped, owned = _build(kind, None, a, b, size)
        obj = _wrap(fd, kind, True, None, mapped, owned)
        obj.inheritable = inheritable
        return obj, True
    path = name_path(name)
    cdef size_t p
    for _ in range(1000):
        fd = _attach(path, True, call, name)
        if fd is not None:
            return _existing(fd, kind, True, path, inheritable, call), False
        fd, mapped, owned = _build(kind, path, a, b, size)
        try:
            _publish(fd, path)
        except FileExistsError:
            # Another creator won; ours was never visible.  Unlock an initial
            # owner's mutex before it is unmapped (the robust list points to it).
            p = mapped
            if owned:
                wipc_mutex_unlock(&(<wipc_header *>p).u.mutex)
            if p:
                munmap(<void *>p, sizeof(wipc_header))
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            raise
        obj = _wrap(fd, kind, True, path, mapped, owned)
        obj.inheritable = inheritable
        return obj, True
    raise_errno(_errno_eopnotsupp(), call, f"{path} keeps appearing and vanishing")


def open_object(int kind, str name, long access, bint inheritable):
    """The existing named object; ObjectNotFound if there is none."""
    call = "Open" + KIND_NAMES[kind]
    cdef bint writable = _writable_for(kind, access)
    path = name_path(name)
    fd = _attach(path, writable, call, name)
    if fd is None:
        raise_winerror(ERROR_FILE_NOT_FOUND, call, f"no object is named {name!r}")
    return _existing(fd, kind, writable, path, inheritable, call)


def _existing(fd, int kind, bint writable, path, bint inheritable, str call):
    """The object an attached `fd` holds, if it is a `kind` (else `fd` is closed)."""
    try:
        _check_kind(fd, kind, call)
    except BaseException:
        os.close(fd)
        raise
    obj = _wrap(fd, kind, writable, path, 0, 0)
    obj.inheritable = inheritable
    return obj


def adopt(int value, int kind):
    """Takes ownership of fd `value` (inherited, received or duplicated) as a `kind`."""
    writable = _check_kind(value, kind, f"{KIND_NAMES[kind]}.from_handle")
    return _wrap(value, kind, writable, _path_of(value), 0, 0)


def fd_from_process(int pid, int value):
    """pidfd_getfd: a copy, in this process, of fd `value` of process `pid`."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError as e:
        raise_errno(e.errno, "pidfd_open", f"no process {pid}", cls="NoSuchProcess")
    cdef long r
    cdef int err
    try:
        r = syscall(SYS_pidfd_getfd, <int>pidfd, value, 0)
        err = _errno_now()
    finally:
        os.close(pidfd)
    if r < 0:
        if err == _errno.EBADF:
            raise_errno(err, "pidfd_getfd", f"process {pid} has no fd {value}",
                        cls="InvalidHandle")
        raise_errno(err, "pidfd_getfd",
                    f"process {pid} refuses (pidfd_getfd needs ptrace access to it)")
    return <int>r


def pull(int pid, int value, int kind, long access):
    """fd `value` of process `pid`, copied here (read-only if `access` is reduced)."""
    fd = fd_from_process(pid, value)
    if access == -1 or _writable_for(kind, access):
        return fd
    if (fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE) != os.O_RDWR:
        return fd
    try:
        return _reopen_readonly(fd)
    finally:
        os.close(fd)
