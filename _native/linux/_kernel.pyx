# Kernel objects on Linux (the contract: winipc/_kernel.pyi; the user's view:
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
# is found unlocked by the next create/open and treated as gone, and removed
# by the next winipc process of the user (names.pxi, sweep).  A mapping
# holds its open file description, and so the lock: what is mapped beyond its
# handle (a view, a mutex closed while owned, an asynchronous wait's object) is
# mapped through a description of its own that holds no lock, so the name goes
# with the last handle.
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
# its header says, before anything is locked or mapped (names.pxi, and
# create.pxi's _check_kind).
#
#   names.pxi        the names' files: where they are, which to trust, removal
#   create.pxi       create, open, adopt, pull: how a handle comes to be
#   waiting.pxi      asynchronous waits (asyncio)

# cython: cdivision=True

import errno as _errno
import fcntl
import mmap as _mmap
import os
import struct as _struct

import stat as _stat
from urllib.parse import quote as _quote, unquote as _unquote

from libc.errno cimport errno, ETIMEDOUT, EINTR, EOVERFLOW, EPERM
from libc.stdint cimport uint32_t, uint64_t
from posix.mman cimport mmap, munmap, PROT_READ, PROT_WRITE, MAP_SHARED, MAP_FIXED, MAP_FAILED
from posix.time cimport timespec, CLOCK_MONOTONIC, CLOCK_REALTIME
from posix.unistd cimport ftruncate, close
from cpython.exc cimport PyErr_CheckSignals

from kernel_sync cimport *

from win32_values cimport (ERROR_NOT_OWNER, ERROR_TOO_MANY_POSTS, ERROR_ACCESS_DENIED,
                           ERROR_INVALID_HANDLE, ERROR_NOT_SUPPORTED, ERROR_FILE_NOT_FOUND,
                           WAIT_OBJECT_0,
                           WAIT_TIMEOUT, WAIT_ABANDONED)

BACKEND = "linux"
include "errors.pxi"

MUTEX = WIPC_MUTEX
EVENT = WIPC_EVENT
SEMAPHORE = WIPC_SEMAPHORE
MAPPING = WIPC_MAPPING
include "kinds.pxi"

# The page a mapping's bytes start at, recorded in each header.
PAGE = max(_mmap.PAGESIZE, 4096)
ALLOCATION_GRANULARITY = _mmap.ALLOCATIONGRANULARITY

_HEAD = _struct.Struct("<IIIIQ")      # magic, kind, version, data_offset, size


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
            munmap(self.hdr, sizeof(wipc_header))
        elif self.hdr != NULL and self.path is not None:
            # An owned mutex stays mapped: the thread's robust list points into
            # it, and the kernel marks it abandoned there if the thread dies.
            # A mapping holds its open file description, and with it the flock
            # that keeps the name: mapped again in place through a description
            # of its own, it keeps the memory and not the name.
            _remap_unlocked(fd, self.hdr)
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
        unsupported("GetHandleInformation",
            "GetHandleInformation(HANDLE_FLAG_PROTECT_FROM_CLOSE) failed: Linux has no "
            "flag that makes close() of an fd fail")

    @protect_from_close.setter
    def protect_from_close(self, value):
        unsupported("SetHandleInformation",
            "SetHandleInformation(HANDLE_FLAG_PROTECT_FROM_CLOSE) failed: Linux has no "
            "flag that makes close() of an fd fail")

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
            unsupported("WaitForSingleObject",
                "pthread_mutex_timedlock failed: on Linux a mutex handle without write "
                "access maps the mutex read-only and cannot lock it")
        return &self.hdr.u.mutex

    def mutex_acquire(self, long long ns):
        """WAIT_OBJECT_0 acquired, WAIT_TIMEOUT, or WAIT_ABANDONED: acquired
        from an owner that died."""
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
            unsupported("WaitForSingleObject",
                "WaitForSingleObject failed: waiting on an auto-reset event resets it, "
                "which on Linux needs a handle with EVENT_MODIFY_STATE (this one maps the "
                "event read-only)")
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
            unsupported("WaitForSingleObject",
                "WaitForSingleObject failed: waiting on a semaphore takes a count, which "
                "on Linux needs a handle with SEMAPHORE_MODIFY_STATE (this one maps the "
                "semaphore read-only)")
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
                           f"this view needs {need}", cls="WrongObjectType")
        prot = _mmap.PROT_READ | (_mmap.PROT_WRITE if write else 0)
        # A view holds the open file description it was made from (mmap
        # keeps a dup of the fd), and the flock on it keeps the name: a named
        # object's view is made through a description of its own that holds
        # no lock, so that, as on Windows, the name goes with the last handle
        # and a view keeps only the memory.
        # (A handle this user may not reopen, one another user passed it, maps
        # through its own description: the view then keeps the name.)
        own = -1
        if self.path is not None:
            try:
                own = os.open(f"/proc/self/fd/{fd}",
                              (os.O_RDWR if write else os.O_RDONLY) | os.O_CLOEXEC)
            except OSError:
                own = -1
        try:
            return _mmap.mmap(fd if own < 0 else own, length, _mmap.MAP_SHARED, prot,
                              offset=self.data_offset + offset)
        except OSError as e:
            raise_errno(e.errno, "mmap")
        finally:
            if own >= 0:
                os.close(own)


cdef _remap_unlocked(int fd, wipc_header *hdr):
    """Maps the header at ``hdr`` again, in place (MAP_FIXED replaces the old
    mapping atomically, and the page is the same shared page), through a new
    open file description of fd's file that holds no flock."""
    cdef int other
    cdef void *p
    try:
        other = os.open(f"/proc/self/fd/{fd}", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return          # the name then lives as long as this mapping
    p = mmap(<void *>hdr, sizeof(wipc_header), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
             other, 0)
    if p == MAP_FAILED:
        # Whatever the failed call did to the range, it is the header again.
        mmap(<void *>hdr, sizeof(wipc_header), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
             fd, 0)
    os.close(other)


cdef bint _writable_for(int kind, long access):
    # A mutex needs its memory writable for any use; the others need the right
    # that modifies them: EVENT_MODIFY_STATE, SEMAPHORE_MODIFY_STATE and
    # FILE_MAP_WRITE are all 0x2.
    return kind == WIPC_MUTEX or bool(access & 0x2)


cdef inline int _errno_now() noexcept nogil:
    return errno

cdef inline int _errno_eopnotsupp():
    return _errno.EOPNOTSUPP


cdef int unsupported(str call, str message) except -1:
    """Raise NotSupported for what Linux cannot do of ``call``, said by
    ``message`` whole."""
    raise native_error("message", ERROR_NOT_SUPPORTED, call, message, "NotSupported")


include "names.pxi"
include "create.pxi"
include "waiting.pxi"
