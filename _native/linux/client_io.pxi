# The client's work without the GIL: copies, the waits for its turn and for
# replies, one request and its reply (the doorbell's: client_bell.pxi).
# Each returns 0, or -1 with what failed in its Failure.  (Part of _rpc.pyx.)

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


cdef void buffer_note(int pid, Failure *f, uint64_t address, size_t size,
                      char *remote_copy) noexcept nogil:
    """A failed handler's note (``f`` a refusal) from the start of the buffer
    it ran on, when the doorbell page brought none: its first min(size,
    NOTE_MAX) bytes, read once (process_vm_readv, or a memcpy of a shared
    buffer mapped here at ``remote_copy``)."""
    cdef Failure ignored
    if not (f.win and f.code == ERROR_UNHANDLED_EXCEPTION) or has_note(f.note):
        return
    if remote_copy != NULL:
        take_note(f.note, remote_copy, size)
        return
    memset(f.note, 0, NOTE_MAX)
    if vm_copy(pid, f.note, address, size if size < NOTE_MAX else NOTE_MAX, False,
               &ignored) < 0:
        f.note[0] = 0       # unreadable: the refusal is said without it


cdef int wait_readable(int fd, int64_t deadline, const char *call, Failure *f) noexcept nogil:
    """Wait until ``fd`` has input (or hung up) or ``deadline`` passes
    (ERROR_TIMEOUT, naming ``call``); Ctrl+C interrupts it."""
    cdef pollfd pfd
    cdef int64_t left
    cdef int r
    pfd.fd = fd
    pfd.events = POLLIN
    while True:
        left = deadline - winipc_now_ns()
        if left <= 0:
            return fail(f, ERROR_TIMEOUT, True, call)
        # In slices: a signal that lands just before poll() does not
        # interrupt it, so the handlers are run at least every slice.
        r = poll(&pfd, 1, <int>min((left + 999999) // 1000000, SIGNAL_SLICE_MS))
        if r > 0:
            return 0
        if r < 0 and errno != EINTR:
            return fail(f, errno, False, "poll")
        if check_signals(f) < 0:
            return -1


cdef int take_turn(sem_t *turn, int64_t deadline, const char *call,
                   Failure *f) noexcept nogil:
    """Lock the connection for one request, waiting at most until
    ``deadline`` (ERROR_TIMEOUT, naming ``call``), Ctrl+C interrupting: a
    thread whose call waits behind another thread's keeps its own timeout."""
    cdef timespec until
    cdef int64_t left
    cdef int r
    while True:
        left = deadline - winipc_now_ns()
        if left <= 0:
            if sem_trywait(turn) == 0:
                return 0
            return fail(f, ERROR_TIMEOUT, True, call)
        if left > SIGNAL_SLICE_MS * 1000000:
            left = SIGNAL_SLICE_MS * 1000000
        clock_gettime(CLOCK_REALTIME, &until)        # timedlock's clock
        until.tv_sec += (until.tv_nsec + left) // 1000000000
        until.tv_nsec = (until.tv_nsec + left) % 1000000000
        if sem_timedwait(turn, &until) == 0:
            return 0
        if errno != ETIMEDOUT and errno != EINTR:
            return fail(f, errno, False, "sem_timedwait")
        if check_signals(f) < 0:
            return -1


cdef int take_notice(int fd, Failure *f) noexcept nogil:
    """After a send or a receive that found the connection shut or reset: a
    notice the server left before it hung up (it was full) fails with its
    code (-1); 0 when there is none.  Linux reports a reset ahead of the
    packets queued before it, and a server that turned this client away
    shuts off its sends (server_clients.pxi, turn_away)."""
    cdef Reply rep
    if recv_packet(fd, &rep, sizeof(Reply), NULL) != sizeof(Reply) or rep.seq != NOTICE_SEQ \
            or rep.error == 0:
        return 0
    return fail(f, rep.error, True, "connect")


cdef int read_reply(int fd, Reply *rep, int *keep, Failure *f) noexcept nogil:
    """Receive one reply packet (input is waiting): 1 done, 0 try again, -1
    failed.  A notice (the server is full) fails with its code."""
    cdef ssize_t n = recv_packet(fd, rep, sizeof(Reply), keep)
    cdef int err
    if n < 0:
        if errno == EINTR or errno == EAGAIN:
            return 0
        err = errno
        if err == ECONNRESET and take_notice(fd, f) < 0:
            return -1
        return fail(f, err, False, "recv")
    if n == 0:
        return fail(f, ECONNRESET, False, "recv")
    if n != sizeof(Reply):
        if keep != NULL and keep[0] >= 0:
            close(keep[0])
        return fail(f, EPROTO, False, "recv")
    if rep.seq == NOTICE_SEQ:
        if keep != NULL and keep[0] >= 0:
            close(keep[0])
        return fail(f, rep.error if rep.error else ECONNRESET, rep.error != 0, "connect")
    return 1


# A request that runs no handler kicks the server's standby thread when its
# reply has not come after this long (a handler may be running), and again
# every KICK_EVERY_NS.
cdef int64_t KICK_AFTER_NS = 1000000
cdef int64_t KICK_EVERY_NS = 5000000


cdef void send_kick(const char *path) noexcept nogil:
    """One datagram to the standby thread at ``path``; nothing is waited for."""
    cdef sockaddr_un addr
    cdef int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)
    if s < 0:
        return
    memset(&addr, 0, sizeof(addr))
    addr.sun_family = AF_UNIX
    strncpy(addr.sun_path, path, sizeof(addr.sun_path) - 1)
    sendto(s, b"k", 1, MSG_DONTWAIT | MSG_NOSIGNAL, <sockaddr *>&addr, sizeof(addr))
    close(s)


cdef int transact(int fd, Request *req, Reply *rep, int64_t deadline, int pass_fd,
                  int *got_fd, const char *kick, const char *call, Failure *f) noexcept nogil:
    """Send ``req`` and wait for its reply (and the fd it carries, into
    ``got_fd`` if not NULL), kicking the standby thread at ``kick`` (if not
    NULL) while it waits.  Stale replies (of calls that timed out earlier)
    and doorbell wake-ups are skipped by sequence number."""
    cdef int r, carried, err
    cdef int64_t next_kick = winipc_now_ns() + KICK_AFTER_NS if kick != NULL else INT64_MAX
    while send_packet(fd, req, sizeof(Request), pass_fd) < 0:
        if errno == EAGAIN:     # the socket is full of our rings: wait for room
            if wait_readable(fd, deadline, call, f) < 0:
                return -1
        elif errno != EINTR:
            err = errno
            if take_notice(fd, f) < 0:
                return -1
            return fail(f, err, False, "sendmsg")
    while True:
        if wait_readable(fd, min(deadline, next_kick), call, f) < 0:
            if f.code == ERROR_TIMEOUT and f.win and winipc_now_ns() < deadline:
                send_kick(kick)
                next_kick = winipc_now_ns() + KICK_EVERY_NS
                continue
            return -1
        r = read_reply(fd, rep, &carried, f)
        if r < 0:
            return -1
        if r == 0:
            continue
        if rep.seq != req.seq:
            if carried >= 0:
                close(carried)
            continue
        if rep.error:
            if carried >= 0:
                close(carried)
            return fail(f, rep.error, True, call)
        if got_fd != NULL:
            got_fd[0] = carried
        elif carried >= 0:
            close(carried)
        return 0


cdef void shared_copy(char *local, void *data, size_t size, bint to_remote) noexcept nogil:
    """A copy to or from a shared buffer mapped here at ``local``."""
    if to_remote:
        memcpy(local, data, size)
    else:
        memcpy(data, local, size)
