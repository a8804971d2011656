# Process-memory RPC on Linux (see _native/README.md for the contract).
#
# A server is a Unix seqpacket socket in a per-user directory, named by its
# dispatch thread's id; the title and the pid are symlinks to it.  The server
# maps buffers on a client's request and frees what a client still holds when
# it disconnects; the client copies requests and results with
# process_vm_writev/readv, and the socket only carries the small request.

# cython: cdivision=True

include "dispatch.pxi"

import hashlib
import os
import socket as _socket
import stat as _stat
import struct as _struct
import threading

from libc.errno cimport errno, EINTR, EAGAIN, EFAULT, EPERM, EPROTO, ECONNRESET, ETIMEDOUT
from libc.stdint cimport uint32_t, uint64_t, int64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memset
from posix.mman cimport mmap, munmap, PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS, MAP_FAILED
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
from posix.unistd cimport close, getpid, geteuid, write as c_write
from posix.uio cimport iovec
from cpython.exc cimport PyErr_CheckSignals
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE, PyBUF_WRITABLE

from posix_rpc cimport *

from winipc._errors import (raise_errno, raise_winerror, WindowNotFound, NoSuchProcess,
                            AccessDenied, ServerGone)

BACKEND = "linux"
WM_USER = 0x0400
PROCESS_VM_OPERATION = 0x0008
PROCESS_VM_READ = 0x0010
PROCESS_VM_WRITE = 0x0020
PROCESS_DUP_HANDLE = 0x0040
PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
SYNCHRONIZE = 0x00100000

cdef enum:
    OP_ALLOC = 1
    OP_FREE = 2
    OP_SEND = 3
    OP_DUP = 4

# Win32 codes, as the Windows backend reports them.
cdef enum:
    ERROR_ACCESS_DENIED = 5
    ERROR_TIMEOUT = 1460

# Bounds on what one client may hold in a server.
cdef enum:
    MAX_CLIENTS = 1024
    MAX_ALLOCS_PER_CLIENT = 4096
cdef uint64_t MAX_BYTES_PER_CLIENT = (<uint64_t>1) << 32

cdef struct Request:
    uint32_t op
    uint32_t msg
    uint64_t seq
    uint64_t wparam
    uint64_t lparam

cdef struct Reply:
    uint64_t seq
    int64_t result
    uint64_t value
    uint32_t error      # a Win32 code; 0 on success
    uint32_t pad

# What went wrong inside a block without the GIL, raised once it is back.
cdef struct Failure:
    int code
    bint win            # a Win32 code (else an errno value)
    const char *call


cdef object raise_failure(Failure *f, detail=None):
    call = f.call.decode()
    if f.win:
        raise_winerror(f.code, call, detail)
    if f.code == EPERM and call.startswith("process_vm"):
        detail = _ptrace_hint(_yama_scope())
    raise_errno(f.code, call, detail)


cdef inline int fail(Failure *f, int code, bint win, const char *call) noexcept nogil:
    f.code = code
    f.win = win
    f.call = call
    return -1


def _ptrace_hint(scope):
    """Why process_vm_* was refused, given the Yama ptrace scope (or None)."""
    if scope is not None and scope >= 2:
        return (f"kernel.yama.ptrace_scope is {scope}, which lets only privileged processes "
                "read or write another process's memory; set it to 1 "
                "(sysctl kernel.yama.ptrace_scope=1) or run with CAP_SYS_PTRACE")
    return "no ptrace access to the process (another user, or not dumpable)"


def _yama_scope():
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- endpoints

def endpoint_dir():
    """The per-user folder of server endpoints: $WINIPC_RUNTIME_DIR, else
    $XDG_RUNTIME_DIR/winipc, else /tmp/winipc-<uid>; created 0700 and refused
    unless it is ours and private."""
    path = os.environ.get("WINIPC_RUNTIME_DIR")
    if not path:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        path = os.path.join(xdg, "winipc") if xdg else f"/tmp/winipc-{os.geteuid()}"
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if (not _stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid()
            or st.st_mode & 0o077):
        raise_errno(1, "endpoint_dir", f"{path} must be a directory of this user with mode 0700",
                    cls=AccessDenied)
    return path


def _title_link(title):
    digest = hashlib.sha256(title.encode("utf-8")).hexdigest()[:40]
    return os.path.join(endpoint_dir(), "w-" + digest)


def _pid_link(pid):
    return os.path.join(endpoint_dir(), f"p-{pid}")


def _socket_path(tid):
    return os.path.join(endpoint_dir(), f"s-{tid}.sock")


def _connect(path, missing, detail):
    """Connect to the endpoint at ``path``: (socket, peer pid).  A missing or
    dead endpoint raises ``missing`` with ``detail``."""
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    try:
        s.connect(path)
    except (FileNotFoundError, ConnectionRefusedError) as e:
        s.close()
        raise_errno(e.errno, "connect", detail, cls=missing)
    except OSError as e:
        s.close()
        raise_errno(e.errno, "connect")
    pid, uid, gid = _struct.unpack("3i", s.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED,
                                                      _struct.calcsize("3i")))
    return s, pid


def find_window(title):
    """(handle, pid, tid) of the server titled ``title``; on Linux the handle
    is the dispatch thread's id."""
    link = _title_link(title)
    try:
        target = os.readlink(link)
    except FileNotFoundError:
        raise_errno(2, "readlink", f"no server window titled {title!r}", cls=WindowNotFound)
    s, pid = _connect(link, WindowNotFound, f"no server window titled {title!r}")
    s.close()
    tid = int(os.path.basename(target)[2:-5])
    return tid, pid, tid


# ------------------------------------------------------------------ client

cdef inline int64_t now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


cdef int vm_copy(int pid, char *local, uint64_t remote, size_t n, bint to_remote,
                 Failure *f) noexcept nogil:
    cdef iovec liov, riov
    cdef ssize_t r
    cdef size_t done = 0
    while done < n:
        liov.iov_base = local + done
        liov.iov_len = n - done
        riov.iov_base = <void *>(remote + done)
        riov.iov_len = n - done
        if to_remote:
            r = process_vm_writev(pid, &liov, 1, &riov, 1, 0)
        else:
            r = process_vm_readv(pid, &liov, 1, &riov, 1, 0)
        if r < 0:
            if errno == EINTR:
                continue
            return fail(f, errno, False, "process_vm_writev" if to_remote else "process_vm_readv")
        if r == 0:
            return fail(f, EFAULT, False, "process_vm_writev" if to_remote else "process_vm_readv")
        done += <size_t>r
    return 0


cdef int transact(int fd, Request *req, Reply *rep, int64_t timeout_ms, int pass_fd,
                  const char *call, Failure *f) noexcept nogil:
    """Send ``req`` and wait for its reply; stale replies (of calls that timed
    out earlier) are skipped by sequence number."""
    cdef msghdr mh
    cdef iovec iov
    cdef char control[64]
    cdef cmsghdr *c
    cdef pollfd pfd
    cdef ssize_t n
    cdef int r
    cdef int64_t deadline = now_ns() + timeout_ms * 1000000, left
    memset(&mh, 0, sizeof(mh))
    iov.iov_base = req
    iov.iov_len = sizeof(Request)
    mh.msg_iov = &iov
    mh.msg_iovlen = 1
    if pass_fd >= 0:
        memset(control, 0, sizeof(control))
        mh.msg_control = control
        mh.msg_controllen = CMSG_SPACE(sizeof(int))
        c = CMSG_FIRSTHDR(&mh)
        c.cmsg_level = SOL_SOCKET
        c.cmsg_type = SCM_RIGHTS
        c.cmsg_len = CMSG_LEN(sizeof(int))
        (<int *>CMSG_DATA(c))[0] = pass_fd
    while sendmsg(fd, &mh, MSG_NOSIGNAL) < 0:
        if errno != EINTR:
            return fail(f, errno, False, "sendmsg")
    pfd.fd = fd
    pfd.events = POLLIN
    while True:
        left = (deadline - now_ns()) // 1000000
        if left <= 0:
            return fail(f, ERROR_TIMEOUT, True, call)
        r = poll(&pfd, 1, <int>min(left, 1 << 30))
        if r < 0:
            if errno == EINTR:
                continue
            return fail(f, errno, False, "poll")
        if r == 0:
            continue
        n = recv(fd, rep, sizeof(Reply), 0)
        if n < 0:
            if errno == EINTR or errno == EAGAIN:
                continue
            return fail(f, errno, False, "recv")
        if n == 0:
            return fail(f, ECONNRESET, False, "recv")
        if n != sizeof(Reply):
            return fail(f, EPROTO, False, "recv")
        if rep.seq != req.seq:
            continue
        if rep.error:
            return fail(f, rep.error, True, call)
        return 0


cdef class Process:
    """A process opened for memory access: a pidfd, and on first need a
    connection to its winipc endpoint (allocation and messages go there).
    Threads may share it: requests on the connection take turns."""
    cdef readonly int pid
    cdef readonly unsigned long access
    cdef readonly uint64_t window
    cdef int pidfd
    cdef int sock
    cdef uint64_t seq
    cdef pthread_mutex_t turn   # one request at a time on the connection
    cdef int busy               # calls using the fds without the GIL
    cdef bint closed
    cdef object connecting      # a lock: one thread connects the endpoint

    def __cinit__(self):
        self.connecting = threading.Lock()
        self.pidfd = -1
        self.sock = -1
        self.closed = True
        pthread_mutex_init(&self.turn, NULL)

    def __init__(self, int pid, unsigned long access, uint64_t window=0):
        cdef long fd
        if pid <= 0:
            raise_errno(3, "pidfd_open", f"no process with id {pid}", cls=NoSuchProcess)
        fd = syscall(SYS_pidfd_open, pid, 0)
        if fd < 0:
            raise_errno(errno, "pidfd_open", f"process {pid}: {os.strerror(errno)}")
        self.pidfd = <int>fd
        self.closed = False
        self.pid = pid
        self.access = access
        self.window = window

    @property
    def handle(self):
        return -1 if self.closed else self.pidfd

    def close(self):
        """Close now, or, while another thread's call is in flight, wake it
        (it fails) and close when it is done: an fd number is never reused
        under a call."""
        self.closed = True
        if self.busy:
            if self.sock >= 0:
                shutdown(self.sock, SHUT_RDWR)
        else:
            self.release()

    cdef void release(self) noexcept:
        if self.sock >= 0:
            close(self.sock)
            self.sock = -1
        if self.pidfd >= 0:
            close(self.pidfd)
            self.pidfd = -1

    def __dealloc__(self):
        self.release()
        pthread_mutex_destroy(&self.turn)

    cdef enter(self, unsigned long right, call):
        """Check the handle and its rights; the caller leave()s after."""
        if self.closed:
            raise ValueError(f"the handle to process {self.pid} is closed")
        if self.access & right != right:
            raise_winerror(ERROR_ACCESS_DENIED, call,
                           f"the handle was opened without access {right:#x}")
        self.busy += 1

    cdef void leave(self) noexcept:
        self.busy -= 1
        if self.closed and self.busy == 0:
            self.release()

    cdef int endpoint(self) except -1:
        if self.sock < 0:
            with self.connecting:       # connect() lets other threads run meanwhile
                if self.sock < 0:
                    self.connect()
        return self.sock

    cdef connect(self):
        path = _socket_path(self.window) if self.window else _pid_link(self.pid)
        s, peer = _connect(path, ServerGone if self.window else NoSuchProcess,
                           f"process {self.pid} runs no winipc server here, and on "
                           "Linux only a winipc server can hold remote buffers")
        if peer != self.pid:
            s.close()
            raise_errno(3, "connect", f"the endpoint at {path} belongs to process {peer}",
                        cls=NoSuchProcess)
        self.sock = s.detach()

    cdef Reply request(self, unsigned long right, uint32_t op, uint32_t msg, uint64_t wparam,
                       uint64_t lparam, int64_t timeout_ms, int pass_fd, const char *call):
        cdef Request req
        cdef Reply rep
        cdef Failure f
        cdef int fd, rc
        self.enter(right, call.decode())
        try:
            fd = self.endpoint()
            req.op, req.msg, req.wparam, req.lparam = op, msg, wparam, lparam
            with nogil:
                pthread_mutex_lock(&self.turn)
                self.seq += 1
                req.seq = self.seq
                rc = transact(fd, &req, &rep, timeout_ms, pass_fd, call, &f)
                pthread_mutex_unlock(&self.turn)
            if rc < 0:
                raise_failure(&f)
            return rep
        finally:
            self.leave()

    def alloc(self, size_t size, int64_t timeout_ms=5000):
        return self.request(PROCESS_VM_OPERATION, OP_ALLOC, 0, size, 0, timeout_ms, -1,
                            "VirtualAllocEx (server ALLOC)").value

    def free(self, uint64_t address, int64_t timeout_ms=5000):
        self.request(PROCESS_VM_OPERATION, OP_FREE, 0, 0, address, timeout_ms, -1,
                     "VirtualFreeEx (server FREE)")

    def push_fd(self, int fd, int64_t timeout_ms=5000):
        """Send ``fd`` (SCM_RIGHTS) to the server; the number it has there."""
        return <int>self.request(PROCESS_DUP_HANDLE, OP_DUP, 0, 0, 0, timeout_ms, fd,
                                 "DuplicateHandle (server DUP)").value

    def write(self, uint64_t address, data):
        self.copy(address, data, True)

    def read_into(self, uint64_t address, buffer):
        self.copy(address, buffer, False)

    cdef copy(self, uint64_t address, obj, bint to_remote):
        cdef Py_buffer view
        cdef Failure f
        cdef int rc
        if to_remote:
            self.enter(PROCESS_VM_WRITE, "process_vm_writev")
        else:
            self.enter(PROCESS_VM_READ, "process_vm_readv")
        try:
            PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE if to_remote else PyBUF_WRITABLE)
            try:
                with nogil:
                    rc = vm_copy(self.pid, <char *>view.buf, address, view.len, to_remote, &f)
                if rc < 0:
                    raise_failure(&f)
            finally:
                PyBuffer_Release(&view)
        finally:
            self.leave()

    def send(self, uint64_t window, uint32_t msg, uint64_t wparam, uint64_t lparam,
             int64_t timeout_ms):
        return self.request(0, OP_SEND, msg, wparam, lparam, timeout_ms, -1,
                            "server SEND").result

    def call(self, uint64_t window, uint32_t msg, uint64_t address, buffer, int64_t timeout_ms):
        """Write ``buffer`` to ``address``, send, read the result back into it."""
        cdef list times = self._loop(msg, address, buffer, 1, timeout_ms, False)
        return times[0]

    def bench(self, uint64_t window, uint32_t msg, uint64_t address, buffer, Py_ssize_t n,
              int64_t timeout_ms):
        """``n`` calls in C; each one's duration in nanoseconds."""
        return self._loop(msg, address, buffer, n, timeout_ms, True)

    cdef list _loop(self, uint32_t msg, uint64_t address, buffer, Py_ssize_t n,
                    int64_t timeout_ms, bint timed):
        cdef Py_buffer view
        cdef Request req
        cdef Reply rep
        cdef Failure f
        cdef int rc = 0, fd, pid = self.pid
        cdef Py_ssize_t i
        cdef int64_t t0
        cdef int64_t *out
        self.enter(PROCESS_VM_READ | PROCESS_VM_WRITE, "process_vm_writev")
        cdef bint have_view = False
        out = NULL
        try:
            fd = self.endpoint()
            out = <int64_t *>malloc(max(n, 1) * sizeof(int64_t))
            if out == NULL:
                raise MemoryError()
            PyObject_GetBuffer(buffer, &view, PyBUF_WRITABLE)
            have_view = True
            req.op, req.msg, req.wparam, req.lparam = OP_SEND, msg, view.len, address
            with nogil:
                for i in range(n):
                    t0 = now_ns()
                    rc = vm_copy(pid, <char *>view.buf, address, view.len, True, &f)
                    if rc == 0:
                        pthread_mutex_lock(&self.turn)
                        self.seq += 1
                        req.seq = self.seq
                        rc = transact(fd, &req, &rep, timeout_ms, -1, "server SEND", &f)
                        pthread_mutex_unlock(&self.turn)
                    if rc == 0:
                        rc = vm_copy(pid, <char *>view.buf, address, view.len, False, &f)
                    if rc < 0:
                        break
                    out[i] = now_ns() - t0 if timed else rep.result
            if rc < 0:
                raise_failure(&f)
            return [out[i] for i in range(n)]
        finally:
            if have_view:
                PyBuffer_Release(&view)
            free(out)
            self.leave()


# ------------------------------------------------------------------ server

cdef struct Alloc:
    uint64_t addr
    uint64_t size

cdef struct Client:
    int fd
    int nallocs
    uint64_t total
    Alloc *allocs


cdef void drop_client(Client *c) noexcept nogil:
    cdef int i
    close(c.fd)
    for i in range(c.nallocs):
        munmap(<void *>c.allocs[i].addr, c.allocs[i].size)
    free(c.allocs)
    c.allocs = NULL
    c.nallocs = 0


cdef uint32_t do_alloc(Client *c, uint64_t size, uint64_t *addr) noexcept nogil:
    cdef void *p
    if size == 0:
        return WINIPC_E_INVALID_PARAMETER
    if (c.nallocs >= MAX_ALLOCS_PER_CLIENT or size > MAX_BYTES_PER_CLIENT
            or c.total + size > MAX_BYTES_PER_CLIENT):
        return WINIPC_E_NOT_ENOUGH_MEMORY
    if c.nallocs % 16 == 0:
        p = realloc(c.allocs, (c.nallocs + 16) * sizeof(Alloc))
        if p == NULL:
            return WINIPC_E_NOT_ENOUGH_MEMORY
        c.allocs = <Alloc *>p
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if p == MAP_FAILED:
        return WINIPC_E_NOT_ENOUGH_MEMORY
    c.allocs[c.nallocs].addr = <uint64_t>p
    c.allocs[c.nallocs].size = size
    c.nallocs += 1
    c.total += size
    addr[0] = <uint64_t>p
    return 0


cdef uint32_t do_free(Client *c, uint64_t addr) noexcept nogil:
    cdef int i
    for i in range(c.nallocs):
        if c.allocs[i].addr == addr:
            munmap(<void *>addr, c.allocs[i].size)
            c.total -= c.allocs[i].size
            c.nallocs -= 1
            c.allocs[i] = c.allocs[c.nallocs]
            return 0
    return WINIPC_E_INVALID_ADDRESS


cdef bint owns_range(Client *c, uint64_t addr, uint64_t size) noexcept nogil:
    """Is [addr, addr+size) inside one buffer this client was given?"""
    cdef int i
    cdef uint64_t start, end
    if size == 0:
        return False
    for i in range(c.nallocs):
        start = c.allocs[i].addr
        end = start + c.allocs[i].size
        if start <= addr < end and size <= end - addr:
            return True
    return False


cdef class ServerCore:
    """One endpoint and its dispatch thread (the thread that calls run())."""
    cdef readonly str title
    cdef readonly HandlerTable handlers
    cdef readonly long tid
    cdef int listen_fd
    cdef int wake_fd
    cdef bint stopping
    cdef Client *clients
    cdef int nclients
    cdef object pending     # raised by a signal handler while serving

    def __cinit__(self):
        self.listen_fd = -1
        self.wake_fd = -1

    def __init__(self, str title):
        self.title = title
        self.handlers = HandlerTable()
        self.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
        if self.wake_fd < 0:
            raise_errno(errno, "eventfd")

    @property
    def pid(self):
        return getpid()

    @property
    def window(self):
        return self.tid

    def stop(self):
        cdef uint64_t one = 1
        self.stopping = True
        if self.wake_fd >= 0:
            c_write(self.wake_fd, &one, sizeof(one))

    def __dealloc__(self):
        if self.wake_fd >= 0:
            close(self.wake_fd)

    def run(self, on_ready):
        cdef int rc, i
        cdef bint main
        if self.tid:
            raise RuntimeError("this server is already serving")
        self.tid = <long>syscall(SYS_gettid)
        if _yama_scope() == 1:
            # Scope 1 lets only ancestors attach; clients are not our ancestors.
            if prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0) < 0:
                raise_errno(errno, "prctl(PR_SET_PTRACER)")
        path = _socket_path(self.tid)
        links = [_title_link(self.title), _pid_link(getpid())]
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        try:
            try:
                os.unlink(path)          # left by a dead thread with our id
            except FileNotFoundError:
                pass
            sock.bind(path)
            os.chmod(path, 0o600)
            sock.listen(128)
            self.listen_fd = sock.detach()
            self._link(links[0], path, replace=True)
            self._link(links[1], path, replace=False)
            on_ready(self.tid, self.tid)
            main = threading.current_thread() is threading.main_thread()
            with nogil:
                rc = self.loop(main)
            if self.pending is not None:
                pending, self.pending = self.pending, None
                raise pending
            if rc < 0:
                raise_errno(-rc, "poll")
        finally:
            sock.close()
            for link in links:
                try:
                    if os.readlink(link) == os.path.basename(path):
                        os.unlink(link)
                except OSError:
                    pass
            if self.listen_fd >= 0:
                close(self.listen_fd)
                self.listen_fd = -1
                os.unlink(path)
            for i in range(self.nclients):
                drop_client(&self.clients[i])
            free(self.clients)
            self.clients = NULL
            self.nclients = 0
            self.tid = 0

    def _link(self, link, path, replace):
        """Point ``link`` at our socket: atomically, and only over a live
        endpoint when ``replace``."""
        if not replace and os.path.lexists(link):
            try:
                _connect(link, NoSuchProcess, None)[0].close()
                return
            except OSError:
                pass
        tmp = f"{link}.{self.tid}.tmp"
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.symlink(os.path.basename(path), tmp)
        os.replace(tmp, link)

    cdef int loop(self, bint main_thread) noexcept nogil:
        cdef pollfd *pfds = NULL
        cdef void *p
        cdef int i, n, r, fd
        cdef int result = 0
        cdef uint32_t euid = geteuid()
        cdef ucred cred
        cdef socklen_t credlen
        while not self.stopping:
            n = self.nclients + 2
            p = realloc(pfds, n * sizeof(pollfd))
            if p == NULL:
                result = -12
                break
            pfds = <pollfd *>p
            pfds[0].fd, pfds[0].events, pfds[0].revents = self.wake_fd, POLLIN, 0
            pfds[1].fd, pfds[1].events, pfds[1].revents = self.listen_fd, POLLIN, 0
            for i in range(self.nclients):
                pfds[i + 2].fd, pfds[i + 2].events, pfds[i + 2].revents = self.clients[i].fd, POLLIN, 0
            # On the main thread a signal that lands just before poll() would
            # not interrupt it: look for Python's signals every 100 ms too.
            r = poll(pfds, n, 100 if main_thread else -1)
            if r <= 0:
                if r == 0 or errno == EINTR:
                    if main_thread and self.check_signals() < 0:
                        break
                    continue
                result = -errno
                break
            if pfds[0].revents:
                break
            # Serve the clients polled (the array may shrink as they go).
            for i in range(n - 3, -1, -1):
                if pfds[i + 2].revents and self.serve(i) < 0:
                    drop_client(&self.clients[i])
                    self.nclients -= 1
                    self.clients[i] = self.clients[self.nclients]
            if pfds[1].revents & POLLIN:
                fd = accept4(self.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)
                if fd < 0:
                    continue
                credlen = sizeof(cred)
                if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) < 0
                        or (cred.uid != euid and cred.uid != 0)
                        or self.nclients >= MAX_CLIENTS):
                    close(fd)
                    continue
                if self.nclients % 16 == 0:
                    p = realloc(self.clients, (self.nclients + 16) * sizeof(Client))
                    if p == NULL:
                        close(fd)
                        continue
                    self.clients = <Client *>p
                memset(&self.clients[self.nclients], 0, sizeof(Client))
                self.clients[self.nclients].fd = fd
                self.nclients += 1
        free(pfds)
        return result

    cdef int check_signals(self) noexcept with gil:
        """Run Python's signal handlers (a server on the main thread must
        stop on Ctrl+C); -1 when one raised, kept for run() to raise."""
        try:
            PyErr_CheckSignals()
        except BaseException as e:
            self.pending = e
            return -1
        return 0

    cdef int serve(self, int index) noexcept nogil:
        """Answer one request of client ``index``; -1 drops the client."""
        cdef Client *c = &self.clients[index]
        cdef Request req
        cdef Reply rep
        cdef msghdr mh
        cdef iovec iov
        cdef char control[64]
        cdef cmsghdr *cm
        cdef ssize_t n
        cdef int got_fd = -1
        cdef Handler *h
        memset(&mh, 0, sizeof(mh))
        memset(&rep, 0, sizeof(rep))
        iov.iov_base = &req
        iov.iov_len = sizeof(req)
        mh.msg_iov = &iov
        mh.msg_iovlen = 1
        mh.msg_control = control
        mh.msg_controllen = sizeof(control)
        n = recvmsg(c.fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT)
        if n < 0:
            return 0 if errno == EAGAIN or errno == EINTR else -1
        cm = CMSG_FIRSTHDR(&mh)
        if (cm != NULL and cm.cmsg_level == SOL_SOCKET and cm.cmsg_type == SCM_RIGHTS
                and cm.cmsg_len >= CMSG_LEN(sizeof(int))):
            got_fd = (<int *>CMSG_DATA(cm))[0]
        if n != sizeof(req) or mh.msg_flags & MSG_TRUNC:
            # Not our protocol: nothing to answer with a sequence number.
            if got_fd >= 0:
                close(got_fd)
            return -1
        rep.seq = req.seq
        if req.op == OP_ALLOC:
            rep.error = do_alloc(c, req.wparam, &rep.value)
        elif req.op == OP_FREE:
            rep.error = do_free(c, req.lparam)
        elif req.op == OP_SEND:
            h = self.handlers.find(req.msg)
            if h == NULL:
                rep.error = WINIPC_E_INVALID_MESSAGE
            elif not owns_range(c, req.lparam, req.wparam):
                rep.error = WINIPC_E_INVALID_ADDRESS
            else:
                rep.error = run_handler(h, <void *>req.lparam, req.wparam, &rep.result)
        elif req.op == OP_DUP and got_fd >= 0:
            rep.value = <uint64_t>got_fd
            got_fd = -1       # it is ours now; whoever adopts it closes it
        else:
            rep.error = WINIPC_E_INVALID_PARAMETER
        if got_fd >= 0:
            close(got_fd)
        # A client that does not read its replies is dropped, never waited for.
        if send(c.fd, &rep, sizeof(rep), MSG_NOSIGNAL | MSG_DONTWAIT) != sizeof(rep):
            return -1
        return 0
