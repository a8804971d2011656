# Kernel objects on Linux (the contract: _native/README.md; the user's view:
# docs/kernel-objects.md).
#
# A named object is a file in /dev/shm, an unnamed one a memfd.  Each starts
# with a wipc_header (kernel_sync.h) whose type tag makes a name held by
# another type fail as Win32 does.  A new object is built complete in an
# unnamed file (O_TMPFILE) and published with linkat, so nobody ever sees one
# half made, and two creators cannot both win.
#
# Lifetime follows Win32: a name lives while a handle to it is open anywhere.
# Every open file description holds a shared flock on its file (inherited,
# dup'ed and SCM_RIGHTS-passed fds share their description and so its lock).
# Whoever closes the last one (an exclusive flock then succeeds on a fresh
# descriptor) removes the name; a name whose holders all died without closing
# is found unlocked by the next create/open and treated as gone.
#
# Rights: a handle is the fd, and what it may do is what its open mode allows.
# A reduced-rights handle is the file reopened O_RDONLY: its header can only be
# mapped read-only, so it cannot set an event or write a mapping.  An fd can be
# reopened through /proc/self/fd/N, which checks the file's mode like any
# open(): a named object's file is 0600, an unnamed object's memfd 0444, so
# nobody but root can turn a read-only handle into a writable one (of a memfd,
# not even its owner).  memfds are also sealed against any change of size.
#
# Trust: /dev/shm is writable by every user, so a file found at a name is
# hostile until checked.  It is opened O_NOFOLLOW|O_NONBLOCK (a symlink fails,
# a FIFO does not block) and accepted only as a regular file with one link,
# owned by this user (Local\; Global\: this user or root), at least as long as
# its header says, before anything is locked or mapped (_vet_named, _check_kind).

# cython: cdivision=True

import errno as _errno
import fcntl
import mmap as _mmap
import os
import stat as _stat
import struct as _struct
from urllib.parse import quote as _quote

from libc.errno cimport errno, ETIMEDOUT, EINTR, EOVERFLOW, EPERM
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memset
from posix.mman cimport mmap, munmap, PROT_READ, PROT_WRITE, MAP_SHARED, MAP_FAILED
from posix.time cimport timespec, CLOCK_MONOTONIC, CLOCK_REALTIME
from posix.unistd cimport ftruncate, close
from cpython.exc cimport PyErr_CheckSignals

from kernel_sync cimport *

from win32_values cimport (ERROR_NOT_OWNER, ERROR_TOO_MANY_POSTS, ERROR_ACCESS_DENIED,
                           ERROR_INVALID_HANDLE, ERROR_NOT_SUPPORTED, WAIT_OBJECT_0,
                           WAIT_TIMEOUT, WAIT_ABANDONED)

from winipc._errors import (raise_errno, raise_winerror, error_from_errno, AccessDenied,
                            NotSupported, ObjectNotFound, WrongObjectType, InvalidHandle,
                            NoSuchProcess)

BACKEND = "linux"
SHM_DIR = "/dev/shm"
FILE_PREFIX = "winipc-"

MUTEX = WIPC_MUTEX
EVENT = WIPC_EVENT
SEMAPHORE = WIPC_SEMAPHORE
MAPPING = WIPC_MAPPING
KIND_NAMES = {WIPC_MUTEX: "Mutex", WIPC_EVENT: "Event", WIPC_SEMAPHORE: "Semaphore",
              WIPC_MAPPING: "FileMapping"}

# The page a mapping's bytes start at, recorded in each header.
PAGE = max(_mmap.PAGESIZE, 4096)
ALLOCATION_GRANULARITY = _mmap.ALLOCATIONGRANULARITY

_HEAD = _struct.Struct("<IIIIQ")      # magic, kind, version, data_offset, size


def _scope(str name):
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
        scope, rest = "global", name[7:]
    elif name.startswith("Local\\"):
        scope, rest = f"u{os.geteuid()}", name[6:]
    else:
        scope, rest = f"u{os.geteuid()}", name
    if not rest:
        raise ValueError(f"object name {name!r} has nothing after its namespace prefix")
    leaf = f"{FILE_PREFIX}{scope}-{_quote(rest, safe='{}-._~@+=,')}"
    if len(leaf.encode()) > 255:
        raise ValueError(f"object name {name!r} is too long for this platform "
                         "(its file name must fit 255 bytes)")
    return os.path.join(SHM_DIR, leaf)


cdef class KObject:
    """One handle (an fd) to a kernel object; the facade wraps it."""

    cdef int fd
    cdef readonly int kind
    cdef readonly bint writable
    cdef wipc_header *hdr          # sync objects: the header, mapped
    cdef object path               # the name's file, removed after the last close
    cdef object ident              # (st_dev, st_ino) of that file
    cdef readonly int owned        # mutex: acquisitions here not yet released
    cdef readonly uint64_t size    # mapping: the user's byte count
    cdef uint32_t data_offset

    def __cinit__(self):
        self.fd = -1
        self.hdr = NULL

    def __dealloc__(self):
        if self.fd >= 0:
            try:
                self.close()
            except BaseException:
                pass

    cdef _setup(self, int fd, int kind, bint writable, object path, wipc_header *mapped):
        self.fd = fd
        self.kind = kind
        self.writable = writable
        self.path = path
        if path is not None:
            st = os.fstat(fd)
            self.ident = (st.st_dev, st.st_ino)
        raw = os.pread(fd, _HEAD.size, 0)
        _, _, _, self.data_offset, self.size = _HEAD.unpack(raw)
        if kind == WIPC_MAPPING:
            return
        if mapped != NULL:
            self.hdr = mapped
            return
        cdef void *p = mmap(NULL, sizeof(wipc_header),
                            PROT_READ | (PROT_WRITE if writable else 0), MAP_SHARED, fd, 0)
        if p == MAP_FAILED:
            raise_errno(_errno_now(), "mmap")
        self.hdr = <wipc_header *>p

    @property
    def handle(self):
        return self.fd

    @property
    def closed(self):
        return self.fd < 0

    cdef int _fd(self) except -1:
        if self.fd < 0:
            raise ValueError(f"operation on a closed {KIND_NAMES[self.kind]}")
        return self.fd

    def close(self):
        """Closes the fd; after the last handle anywhere, removes the name."""
        if self.fd < 0:
            return
        fd, self.fd = self.fd, -1
        if self.hdr != NULL and self.owned == 0:
            # An owned mutex stays mapped: the thread's robust list points into
            # it, and the kernel marks it abandoned there if the thread dies.
            munmap(self.hdr, sizeof(wipc_header))
        self.hdr = NULL
        os.close(fd)
        if self.path is not None:
            _remove_if_unused(self.path, self.ident)

    # --- inheritance ---

    @property
    def inheritable(self):
        return os.get_inheritable(self._fd())

    @inheritable.setter
    def inheritable(self, bint value):
        os.set_inheritable(self._fd(), value)

    @property
    def protect_from_close(self):
        raise NotSupported(_errno_eopnotsupp(),
            "GetHandleInformation(HANDLE_FLAG_PROTECT_FROM_CLOSE) failed: Linux has no "
            "flag that makes close() of an fd fail", call="GetHandleInformation", winerror=ERROR_NOT_SUPPORTED)

    @protect_from_close.setter
    def protect_from_close(self, value):
        raise NotSupported(_errno_eopnotsupp(),
            "SetHandleInformation(HANDLE_FLAG_PROTECT_FROM_CLOSE) failed: Linux has no "
            "flag that makes close() of an fd fail", call="SetHandleInformation", winerror=ERROR_NOT_SUPPORTED)

    def duplicate(self, long access, bint inheritable):
        """A new fd for this object in this process (access -1: the same rights)."""
        fd = self._fd()
        cdef bint want_write = self.writable if access == -1 else _writable_for(self.kind, access)
        if want_write and not self.writable:
            raise_winerror(ERROR_ACCESS_DENIED, "DuplicateHandle",
                           "the source handle is read-only; a duplicate cannot have more rights")
        if self.writable and not want_write:
            new = _reopen_readonly(fd)
        else:
            new = os.dup(fd)
        if inheritable:
            os.set_inheritable(new, True)
        return new

    # --- mutex ---

    cdef pthread_mutex_t *_mutex(self) except NULL:
        self._fd()
        if not self.writable:
            raise NotSupported(_errno_eopnotsupp(),
                "pthread_mutex_timedlock failed: on Linux a mutex handle without write "
                "access maps the mutex read-only and cannot lock it", call="WaitForSingleObject", winerror=ERROR_NOT_SUPPORTED)
        return &self.hdr.u.mutex

    def mutex_acquire(self, long long ns):
        """0 acquired, 1 timed out, 2 acquired from an owner that died."""
        cdef pthread_mutex_t *m = self._mutex()
        cdef timespec final, part
        cdef timespec *fp
        cdef int r
        if ns == 0:
            with nogil:
                r = wipc_mutex_lock(m, NULL)
        else:
            fp = wipc_deadline(&final, CLOCK_REALTIME, ns)
            while True:
                # Slices of 100 ms, so that a signal (Ctrl+C) is seen while waiting.
                wipc_deadline(&part, CLOCK_REALTIME, 100000000)
                if fp != NULL and (part.tv_sec > final.tv_sec or (
                        part.tv_sec == final.tv_sec and part.tv_nsec > final.tv_nsec)):
                    part = final
                with nogil:
                    r = wipc_mutex_lock(m, &part)
                if r != ETIMEDOUT or (fp != NULL and wipc_passed(fp, CLOCK_REALTIME)):
                    break
                PyErr_CheckSignals()
        if r == 0:
            self.owned += 1
            return WAIT_OBJECT_0
        if r == ETIMEDOUT:
            return WAIT_TIMEOUT
        if r == WIPC_ABANDONED:
            self.owned += 1
            return WAIT_ABANDONED
        raise_errno(r, "pthread_mutex_timedlock")

    def mutex_release(self):
        cdef pthread_mutex_t *m = self._mutex()
        cdef int r = wipc_mutex_unlock(m)
        if r == EPERM:
            raise_winerror(ERROR_NOT_OWNER, "ReleaseMutex (pthread_mutex_unlock)")
        if r:
            raise_errno(r, "pthread_mutex_unlock")
        if self.owned > 0:
            self.owned -= 1

    # --- event ---

    def event_wait(self, long long ns):
        self._fd()
        cdef wipc_event *ev = &self.hdr.u.event
        if not self.writable and not ev.manual:
            raise NotSupported(_errno_eopnotsupp(),
                "WaitForSingleObject failed: waiting on an auto-reset event resets it, "
                "which on Linux needs a handle with EVENT_MODIFY_STATE (this one maps the "
                "event read-only)", call="WaitForSingleObject", winerror=ERROR_NOT_SUPPORTED)
        return self._wait(<uint32_t *>ev, 0, ns)

    def event_set(self):
        self._modify("SetEvent", "EVENT_MODIFY_STATE")
        cdef int r = wipc_event_set(&self.hdr.u.event)
        if r:
            raise_errno(r, "futex(FUTEX_WAKE)")

    def event_reset(self):
        self._modify("ResetEvent", "EVENT_MODIFY_STATE")
        wipc_event_reset(&self.hdr.u.event)

    @property
    def manual_reset(self):
        self._fd()
        return bool(self.hdr.u.event.manual)

    # --- semaphore ---

    def semaphore_wait(self, long long ns):
        self._fd()
        if not self.writable:
            raise NotSupported(_errno_eopnotsupp(),
                "WaitForSingleObject failed: waiting on a semaphore takes a count, which "
                "on Linux needs a handle with SEMAPHORE_MODIFY_STATE (this one maps the "
                "semaphore read-only)", call="WaitForSingleObject", winerror=ERROR_NOT_SUPPORTED)
        return self._wait(<uint32_t *>&self.hdr.u.semaphore, 1, ns)

    def semaphore_release(self, long count):
        self._modify("ReleaseSemaphore", "SEMAPHORE_MODIFY_STATE")
        if count < 1:
            raise ValueError("ReleaseSemaphore: count must be at least 1")
        cdef uint32_t previous = 0
        cdef int r = wipc_semaphore_release(&self.hdr.u.semaphore, <uint32_t>count, &previous)
        if r == EOVERFLOW:
            raise_winerror(ERROR_TOO_MANY_POSTS, "ReleaseSemaphore")
        if r:
            raise_errno(r, "futex(FUTEX_WAKE)")
        return previous

    @property
    def maximum(self):
        self._fd()
        return self.hdr.u.semaphore.maximum

    cdef _modify(self, str call, str right):
        self._fd()
        if not self.writable:
            raise_winerror(ERROR_ACCESS_DENIED, call,
                           f"the handle lacks {right} (its fd is read-only)")

    cdef _wait(self, uint32_t *word, bint semaphore, long long ns):
        cdef timespec dl
        cdef timespec *dp = wipc_deadline(&dl, CLOCK_MONOTONIC, ns)
        cdef int r
        while True:
            with nogil:
                if semaphore:
                    r = wipc_semaphore_wait(<wipc_semaphore *>word, dp)
                else:
                    r = wipc_event_wait(<wipc_event *>word, dp)
            if r != EINTR:
                break
            PyErr_CheckSignals()
        if r == 0:
            return True
        if r == ETIMEDOUT:
            return False
        raise_errno(r, "futex(FUTEX_WAIT_BITSET)")

    # --- asyncio ---

    def wait_start(self):
        """Start an asynchronous wait on this event, semaphore or mutex: a
        Waiting whose ``handle`` (an eventfd) becomes readable when it is
        done (kernel_sync.h says how, and why a thread)."""
        self._fd()
        if self.kind == WIPC_MAPPING:
            raise TypeError("a file mapping cannot be waited on")
        return Waiting.start(self)

    # --- mapping ---

    def map(self, uint64_t offset, uint64_t length, write):
        """A view (an mmap object) of `length` bytes at `offset`; 0 is to the end.
        write None: writable if this handle may write."""
        fd = self._fd()
        if write is None:
            write = self.writable
        if offset % ALLOCATION_GRANULARITY:
            raise ValueError(f"MapViewOfFile: offset {offset} is not a multiple of the "
                             f"allocation granularity ({ALLOCATION_GRANULARITY})")
        if offset > self.size or (length == 0 and offset == self.size):
            raise ValueError(f"MapViewOfFile: offset {offset} is past the mapping's "
                             f"{self.size} bytes")
        if length == 0:
            length = self.size - offset
        if offset + length > self.size:
            raise ValueError(f"MapViewOfFile: {length} bytes at offset {offset} pass the "
                             f"mapping's {self.size} bytes")
        if write and not self.writable:
            raise_winerror(ERROR_ACCESS_DENIED, "MapViewOfFile",
                           "a writable view needs FILE_MAP_WRITE (this handle is read-only)")
        # Whoever may write the file may also have shrunk it; pages past its
        # end would be SIGBUS at first touch, so look before mapping.
        need = self.data_offset + offset + length
        try:
            st = os.fstat(fd)
        except OSError as e:
            raise_errno(e.errno, "MapViewOfFile (fstat)")
        if st.st_size < need:
            raise_winerror(ERROR_INVALID_HANDLE, "MapViewOfFile",
                           f"the mapping's file was truncated to {st.st_size} bytes; "
                           f"this view needs {need}", cls=WrongObjectType)
        prot = _mmap.PROT_READ | (_mmap.PROT_WRITE if write else 0)
        try:
            return _mmap.mmap(fd, length, _mmap.MAP_SHARED, prot,
                              offset=self.data_offset + offset)
        except OSError as e:
            raise_errno(e.errno, "mmap")


cdef bint _writable_for(int kind, long access):
    # A mutex needs its memory writable for any use; the others need the right
    # that modifies them: EVENT_MODIFY_STATE, SEMAPHORE_MODIFY_STATE and
    # FILE_MAP_WRITE are all 0x2.
    return kind == WIPC_MUTEX or bool(access & 0x2)


def _reopen_readonly(int fd):
    try:
        new = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise_errno(e.errno, "open(/proc/self/fd/N, O_RDONLY)",
                    "reopening the object read-only for a reduced-rights handle")
    # A new open file description holds the name like every handle does.
    fcntl.flock(new, fcntl.LOCK_SH)
    return new


def _a(str noun):
    return ("an " if noun[0] in "AEIOU" else "a ") + noun


cdef inline int _errno_now() noexcept nogil:
    return errno

cdef inline int _errno_eacces():
    return _errno.EACCES

cdef inline int _errno_eopnotsupp():
    return _errno.EOPNOTSUPP


# --- names and lifetime ---

def _remove_if_unused(path, ident):
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


def _file_type(st):
    m = st.st_mode
    for test, what in ((_stat.S_ISFIFO, "FIFO"), (_stat.S_ISDIR, "directory"),
                       (_stat.S_ISSOCK, "socket"), (_stat.S_ISCHR, "character device"),
                       (_stat.S_ISBLK, "block device"), (_stat.S_ISLNK, "symbolic link")):
        if test(m):
            return what
    return "special file"


cdef _refuse_open(e, str call, str name, str path):
    """Raises the winipc error for a failed open() of a name's file."""
    if e.errno == _errno.ELOOP:
        raise_winerror(ERROR_INVALID_HANDLE, call,
                       f"{name!r} ({path}) is a symbolic link, not a winipc object",
                       cls=WrongObjectType)
    if e.errno == _errno.EISDIR:
        raise_winerror(ERROR_INVALID_HANDLE, call,
                       f"{name!r} ({path}) is a directory, not a winipc object",
                       cls=WrongObjectType)
    if e.errno in (_errno.EACCES, _errno.EPERM):
        raise_errno(e.errno, call,
                    f"{name!r} ({path}) belongs to another user or refuses this access")
    raise_errno(e.errno, call, f"open({path}): {e.strerror}")


def _regular_file(int fd, str call, str what):
    """fstat(fd), which must be a regular file (every winipc object is one):
    else WrongObjectType, saying what it is instead."""
    try:
        st = os.fstat(fd)
    except OSError as e:
        raise_errno(e.errno, call, f"fstat of {what}")
    if not _stat.S_ISREG(st.st_mode):
        raise_winerror(ERROR_INVALID_HANDLE, call,
                       f"{what} is a {_file_type(st)}, not a winipc object", cls=WrongObjectType)
    return st


cdef _vet_named(int fd, str call, str name, str path):
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


cdef _blocking(int fd):
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    if flags & os.O_NONBLOCK:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)


cdef object _attach(str path, bint writable, str call, str name):
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


def _check_kind(int fd, int kind, str what):
    """Raises WrongObjectType unless fd's header says `kind`; returns (writable, path)."""
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    except OSError as e:
        raise_errno(e.errno, what, f"{fd} is not an open fd in this process", cls=InvalidHandle)
    st = _regular_file(fd, what, f"fd {fd}")
    try:
        raw = os.pread(fd, _HEAD.size, 0)
    except OSError as e:
        raise_winerror(ERROR_INVALID_HANDLE, what,
                       f"fd {fd} cannot be read as a winipc object ({e.strerror})",
                       cls=WrongObjectType)
    if len(raw) < _HEAD.size or _HEAD.unpack(raw)[0] != WIPC_MAGIC:
        raise_winerror(ERROR_INVALID_HANDLE, what, f"fd {fd} is not a winipc kernel object",
                       cls=WrongObjectType)
    magic, found, version, data_offset, size = _HEAD.unpack(raw)
    if found != kind:
        raise_winerror(ERROR_INVALID_HANDLE, what,
                       f"the object is {_a(KIND_NAMES.get(found, str(found)))}, "
                       f"not {_a(KIND_NAMES[kind])}", cls=WrongObjectType)
    if version != WIPC_VERSION:
        raise_winerror(ERROR_INVALID_HANDLE, what,
                       f"the object was made by an incompatible winipc (layout {version})",
                       cls=WrongObjectType)
    # The header is hostile input too: its offset must be a page past the
    # header, and the file must hold what the header says before any of it is
    # mapped (a page past the end of a file is SIGBUS at first touch).
    if data_offset < sizeof(wipc_header) or data_offset % _mmap.PAGESIZE:
        raise_winerror(ERROR_INVALID_HANDLE, what,
                       f"the object's header is damaged (data offset {data_offset})",
                       cls=WrongObjectType)
    need = data_offset + (size if kind == WIPC_MAPPING else 0)
    if st.st_size < need:
        raise_winerror(ERROR_INVALID_HANDLE, what,
                       f"the object's file is {st.st_size} bytes, shorter than its header "
                       f"says ({need}): it was truncated", cls=WrongObjectType)
    return (flags & os.O_ACCMODE) == os.O_RDWR


def _path_of(int fd):
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    if (target.startswith(os.path.join(SHM_DIR, FILE_PREFIX))
            and not target.endswith(" (deleted)")):
        return target
    return None


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
        raise_winerror(2, call, f"no object is named {name!r}")
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


def adopt(int fd, int kind):
    """Takes ownership of `fd` (inherited, received or duplicated) as a `kind`."""
    writable = _check_kind(fd, kind, f"{KIND_NAMES[kind]}.from_handle")
    return _wrap(fd, kind, writable, _path_of(fd), 0, 0)


def fd_from_process(int pid, int value):
    """pidfd_getfd: a copy, in this process, of fd `value` of process `pid`."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError as e:
        raise_errno(e.errno, "pidfd_open", f"no process {pid}", cls=NoSuchProcess)
    cdef long r
    cdef int err
    try:
        r = syscall(SYS_pidfd_getfd, <int>pidfd, value, 0)
        err = _errno_now()
    finally:
        os.close(pidfd)
    if r < 0:
        if err == 9:   # EBADF
            raise_errno(err, "pidfd_getfd", f"process {pid} has no fd {value}",
                        cls=InvalidHandle)
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


cdef class Waiting:
    """One asynchronous wait: a thread that waits and an eventfd it signals.
    finish() or cancel() joins the thread and closes what it used; a mapping
    of its own keeps the object alive meanwhile."""
    cdef wipc_waiting w
    cdef int efd
    cdef pthread_t thread
    cdef bint running

    def __cinit__(self):
        self.efd = -1
        self.w.hdr = NULL
        self.w.efd = -1

    @staticmethod
    cdef Waiting start(KObject obj):
        cdef Waiting self = Waiting.__new__(Waiting)
        cdef void *p
        cdef int r
        p = mmap(NULL, sizeof(wipc_header), PROT_READ | (PROT_WRITE if obj.writable else 0),
                 MAP_SHARED, obj.fd, 0)
        if p == MAP_FAILED:
            raise_errno(_errno_now(), "mmap")
        self.w.hdr = <wipc_header *>p
        self.w.kind = obj.kind
        self.w.cancel = 0
        self.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
        if self.efd < 0:
            raise_errno(_errno_now(), "eventfd")
        self.w.efd = self.efd
        r = pthread_create(&self.thread, NULL, wipc_wait_thread, <void *>&self.w)
        if r:
            raise_errno(r, "pthread_create")
        self.running = True
        return self

    @property
    def handle(self):
        return self.efd

    cdef int join(self) except -1:
        if self.running:
            with nogil:
                pthread_join(self.thread, NULL)
            self.running = False
        return 0

    def finish(self):
        """Once handle is readable: WAIT_OBJECT_0 taken (a mutex: it was
        free), WAIT_ABANDONED a mutex whose owner died (made consistent);
        raises a failure."""
        self.join()
        r = self.w.result
        self.release()
        if r == WIPC_ABANDONED:
            return WAIT_ABANDONED
        if r:
            raise_errno(r, "futex_waitv")
        return WAIT_OBJECT_0

    def cancel(self):
        """Stop waiting; a count or an auto-reset signal the wait had taken
        already is given back."""
        cdef uint32_t previous
        if self.running:
            wipc_wait_cancel(&self.w)
        self.join()
        if self.w.result == 0 and self.w.hdr != NULL:
            if self.w.kind == WIPC_SEMAPHORE:
                wipc_semaphore_release(&self.w.hdr.u.semaphore, 1, &previous)
            elif self.w.kind == WIPC_EVENT and not self.w.hdr.u.event.manual:
                wipc_event_set(&self.w.hdr.u.event)
        self.release()

    cdef void release(self) noexcept:
        if self.efd >= 0:
            close(self.efd)
            self.efd = -1
        if self.w.hdr != NULL:
            munmap(self.w.hdr, sizeof(wipc_header))
            self.w.hdr = NULL

    def __dealloc__(self):
        if self.running:
            wipc_wait_cancel(&self.w)
            with nogil:
                pthread_join(self.thread, NULL)
        self.release()
