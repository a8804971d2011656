# Process-memory RPC on Linux (the contract: winipc/_rpc.pyi).
#
# A server is a Unix seqpacket socket in a per-user directory, named by its
# dispatch thread's id; the title and the pid are symlinks to it.  The server
# maps buffers on a client's request and frees what a client still holds when
# it disconnects; the client copies requests and results with
# process_vm_writev/readv (or plain memory copies into a shared buffer), and
# rings the doorbell page that the server gave its connection
# (common/doorbell.h).  The socket carries set-up, allocation, fd passing,
# the wake-ups of a side that sleeps, and liveness.
#
#   endpoint.pxi   where endpoints live and how a client finds one
#   client.pxi     Process: the connection, buffers, copies, sends and calls
#   client_io.pxi  the client's work without the GIL: copies, turns, requests
#   client_channel.pxi  _Channel: the connection to the endpoint, its turn
#   client_bell.pxi   _ClientBell: the client half of the doorbell
#   client_shared.pxi _SharedMaps: the shared buffers mapped here
#   server.pxi     ServerCore: the dispatch thread, its loop, handler dispatch
#   server_clients.pxi  what clients hold in a server: buffers, doorbells, pushed fds
#   standby.pxi    _Standby: the standby thread, for requests that wait while a handler runs

# cython: cdivision=True

include "dispatch.pxi"
include "answer.pxi"

import hashlib
import mmap as _mmap
import os
import socket as _socket
import stat as _stat
import struct as _struct
import threading
import time

from libc.errno cimport (errno, EINTR, EAGAIN, EFAULT, EPERM, EPROTO, ECONNRESET, ETIMEDOUT,
                         ENOENT, ECONNREFUSED)
from libc.stdint cimport uint32_t, uint64_t, int64_t, INT64_MAX
from libc.stdlib cimport malloc, calloc, realloc, free
from libc.string cimport memset, memcpy, strncpy
from posix.mman cimport (mmap, munmap, PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_SHARED,
                         MAP_ANONYMOUS, MAP_FAILED)
from posix.unistd cimport close, getpid, geteuid, read as c_read, write as c_write
from posix.uio cimport iovec
from posix.resource cimport getrlimit, rlimit, RLIMIT_NOFILE, RLIM_INFINITY
from cpython.exc cimport PyErr_CheckSignals
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE, PyBUF_WRITABLE

cimport cython
from posix_rpc cimport *
from doorbell cimport *
from win32_values cimport (ERROR_ACCESS_DENIED, ERROR_TIMEOUT, ERROR_CONNECTION_COUNT_LIMIT,
                           ERROR_NOT_ENOUGH_QUOTA, PROCESS_VM_OPERATION, PROCESS_VM_READ,
                           PROCESS_VM_WRITE, PROCESS_DUP_HANDLE)

BACKEND = "linux"
include "errors.pxi"
# Connections ring a doorbell unless told otherwise (connect(spin=0) still
# uses it, waking the server through the socket every time).
DOORBELL_BY_DEFAULT = True
# A closing connection makes the server free every buffer it holds.
FREES_ON_CLOSE = True

cdef enum:
    OP_ALLOC = 1        # msg: ALLOC_PRIVATE or ALLOC_SHARED; wparam: size
    OP_FREE = 2
    OP_SEND = 3
    OP_DUP = 4
    OP_BELL = 5         # the connection's doorbell page (its memfd comes with the reply)
    OP_RING = 6         # the doorbell rang while the server slept: no reply
    OP_RINGFD = 7       # the write end of the connection's ring (a pipe; with the
                        # reply): a client rings through it instead of sending OP_RING

cdef enum:
    ALLOC_PRIVATE = 0
    ALLOC_SHARED = 1    # a sealed memfd, sent with the reply

# A reply to nobody's request: the server says why it drops the connection
# (it is full).
cdef uint64_t NOTICE_SEQ = 0xFFFFFFFFFFFFFFFF

# A wait without the GIL wakes at least this often to run Python's signal
# handlers: Ctrl+C on the main thread is seen within it.
cdef enum:
    SIGNAL_SLICE_MS = 100

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
    int started         # a doorbell call given up: 0 withdrawn (it never runs),
                        # 1 the server had taken it; -1 unknown
    char note[NOTE_MAX] # a failed handler's note, from the doorbell page or the buffer
                        # (note[0] 0: none)
    uint32_t msg        # a refusal of a call on a buffer of the client's own: its
    int64_t sent        # message and size (raise_refusal); else sent is -1

# Failure.code when a signal handler raised (the exception is set).
cdef enum:
    SIGNALLED = -1


cdef extern from "Python.h":
    # Declared without an exception clause: the caller keeps the exception
    # set and raises it once it is back with the GIL (raise_failure).
    int check_signals_raw "PyErr_CheckSignals" () nogil


cdef int raise_pending() except -1:
    return -1           # the exception a signal handler set


cdef object raise_failure(Failure *f, detail=None):
    if f.code == SIGNALLED:
        raise_pending()
    call = f.call.decode()
    if f.win:
        if f.sent >= 0 or f.code == ERROR_UNHANDLED_EXCEPTION:
            raise_refusal(f.code, call, detail, f.msg, f.sent, f.note)
        error = native_error("winerror", f.code, call, detail, None)
        if f.started >= 0:
            error.started = bool(f.started)     # CallTimeout.started
        raise error
    raise_errno(f.code, call, detail)


cdef inline int fail(Failure *f, int code, bint win, const char *call) noexcept nogil:
    f.code = code
    f.win = win
    f.call = call
    f.started = -1
    f.note[0] = 0
    f.sent = -1
    return -1


cdef inline bint server_refused(Failure *f) noexcept nogil:
    """Whether the failure is the server's refusal that raise_refusal words
    for a call on the client's own buffer."""
    return f.win and (f.code == ERROR_UNHANDLED_EXCEPTION or f.code == ERROR_INSUFFICIENT_BUFFER)


cdef int check_signals(Failure *f) noexcept nogil:
    """Run Python's signal handlers: -1 (SIGNALLED) when one raised."""
    cdef int r
    with gil:
        r = check_signals_raw()
    if r < 0:
        return fail(f, SIGNALLED, False, "signal")
    return 0


cdef inline int64_t deadline_after(int64_t timeout_ms) noexcept nogil:
    """Now plus ``timeout_ms``, saturated (a timeout of 1e10 s is no overflow)."""
    cdef int64_t now = winipc_now_ns()
    if timeout_ms < 0:
        timeout_ms = 0
    if timeout_ms > (INT64_MAX - now) // 1000000:
        return INT64_MAX
    return now + timeout_ms * 1000000


cdef int take_fds(msghdr *mh, int *keep) noexcept nogil:
    """Close every fd that arrived with ``mh`` except the first, which goes
    to ``keep`` (closed too when ``keep`` is NULL).  A peer may send any
    number of fds with any message: none may stay open by accident."""
    cdef cmsghdr *c = CMSG_FIRSTHDR(mh)
    cdef size_t i, count
    cdef int *fds
    if keep != NULL:
        keep[0] = -1
    while c != NULL:
        if c.cmsg_level == SOL_SOCKET and c.cmsg_type == SCM_RIGHTS and c.cmsg_len >= CMSG_LEN(0):
            count = (c.cmsg_len - CMSG_LEN(0)) // sizeof(int)
            fds = <int *>CMSG_DATA(c)
            for i in range(count):
                if keep != NULL and keep[0] < 0:
                    keep[0] = fds[i]
                else:
                    close(fds[i])
        c = CMSG_NXTHDR(mh, c)
    return 0


cdef ssize_t recv_packet(int fd, void *buf, size_t size, int *keep) noexcept nogil:
    """One packet without waiting; its fds as take_fds() says."""
    cdef msghdr mh
    cdef iovec iov
    cdef uint64_t control[32]     # room for 60 fds; the kernel closes any beyond
    cdef ssize_t n
    memset(&mh, 0, sizeof(mh))
    iov.iov_base = buf
    iov.iov_len = size
    mh.msg_iov = &iov
    mh.msg_iovlen = 1
    mh.msg_control = control
    mh.msg_controllen = sizeof(control)
    n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT)
    if n < 0:
        if keep != NULL:
            keep[0] = -1
        return n
    take_fds(&mh, keep)
    if mh.msg_flags & MSG_TRUNC:
        if keep != NULL and keep[0] >= 0:
            close(keep[0])
            keep[0] = -1
        return <ssize_t>size + 1    # longer than any of our packets
    return n


cdef ssize_t send_packet(int fd, const void *buf, size_t size, int pass_fd) noexcept nogil:
    """One packet without waiting, with ``pass_fd`` (if >= 0) as SCM_RIGHTS."""
    cdef msghdr mh
    cdef iovec iov
    cdef uint64_t control[4]
    cdef cmsghdr *c
    memset(&mh, 0, sizeof(mh))
    iov.iov_base = <void *>buf
    iov.iov_len = size
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
    return sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT)


def ptrace_scope():
    """Yama's ptrace scope (kernel.yama.ptrace_scope), or None without Yama:
    a server lets its clients attach under scope 1, and the facade's hint
    for a refused process_vm_* call says what to change."""
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return None


cdef extern from *:
    """
    #include <signal.h>
    /* Whether a write to a pipe nobody reads any more fails with EPIPE
       alone: SIGPIPE is ignored (as CPython sets it at start-up).  A client
       rings through its pipe only then (client_bell.pxi). */
    static int winipc_sigpipe_ignored(void)
    {
        struct sigaction sa;
        return sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN;
    }
    """
    int winipc_sigpipe_ignored() nogil


include "endpoint.pxi"
include "client_io.pxi"
include "client_channel.pxi"
include "client_bell.pxi"
include "client_shared.pxi"
include "client.pxi"
include "prepared.pxi"
include "server_clients.pxi"
include "server.pxi"
include "standby.pxi"
