# The client's work without the GIL: copies, the waits for its turn and for
# replies, one request and its reply, and the client half of the doorbell.
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


cdef int read_reply(int fd, Reply *rep, int *keep, Failure *f) noexcept nogil:
    """Receive one reply packet (input is waiting): 1 done, 0 try again, -1
    failed.  A notice (the server is full) fails with its code."""
    cdef ssize_t n = recv_packet(fd, rep, sizeof(Reply), keep)
    if n < 0:
        if errno == EINTR or errno == EAGAIN:
            return 0
        return fail(f, errno, False, "recv")
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
    cdef int r, carried
    cdef int64_t next_kick = winipc_now_ns() + KICK_AFTER_NS if kick != NULL else INT64_MAX
    while send_packet(fd, req, sizeof(Request), pass_fd) < 0:
        if errno == EAGAIN:     # the socket is full of our rings: wait for room
            if wait_readable(fd, deadline, call, f) < 0:
                return -1
        elif errno != EINTR:
            return fail(f, errno, False, "sendmsg")
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


# A long spin looks at the socket this often, to notice a server that died.
cdef int64_t SPIN_LIVENESS_NS = 1000000


# A client that finds the server on its own CPU yields to it at every step
# (doorbell.h), and a thread that yields stays where it is: left to the
# scheduler, the pair could share one CPU for long while another idles.
# So, at most once per UNPAIR_NS and only where this process may run on
# another CPU, such a wait sleeps in the kernel instead: the scheduler
# places the thread again when the answer wakes it, on an idle CPU if there
# is one, and the calls after it no longer share.
cdef int64_t UNPAIR_NS = 10000000
cdef int64_t next_unpair = 0        # (threads race on it harmlessly)


cdef bint may_unpair() noexcept nogil:
    global next_unpair
    cdef cpu_set_t allowed
    cdef int64_t now = winipc_now_ns()
    if now < next_unpair:
        return False
    next_unpair = now + UNPAIR_NS
    return sched_getaffinity(0, sizeof(allowed), &allowed) == 0 and CPU_COUNT(&allowed) > 1


cdef int bell_spin(winipc_bell *b, int fd, uint32_t seq, bint cold, int64_t start,
                   int64_t until, int64_t deadline) noexcept nogil:
    """Spin until request ``seq`` is answered (or, ``cold``, taken by a
    server that was asleep, yielding at every step) or ``until``: 1 when it
    was, 0 when the spin ran out (or the server hung up, or this wait sleeps
    to leave the server's CPU: may_unpair)."""
    cdef pollfd pfd
    cdef int64_t now, next_look = start + SPIN_LIVENESS_NS
    cdef unsigned int i = 0
    cdef uint32_t mine = winipc_cpu()
    cdef uint32_t peer = winipc_bell_server_cpu(b)
    cdef unsigned int every = 8 if cold else 32     # a yield takes far longer than a pause
    while not (winipc_bell_taken(b, seq) if cold else winipc_bell_answered(b, seq)):
        if peer == mine and not cold and mine != 0 and may_unpair():
            return 0
        winipc_wait_step(mine, mine if cold else peer)
        i += 1
        if i % every == 0:
            now = winipc_now_ns()
            if now >= until or now >= deadline:
                return 0
            # The scheduler may have moved either of us.
            mine = winipc_cpu()
            winipc_bell_client_at(b, mine)
            peer = winipc_bell_server_cpu(b)
            if now >= next_look:
                # However long the spin, a server that is gone (the
                # socket hung up) is noticed within this.
                next_look = now + SPIN_LIVENESS_NS
                pfd.fd, pfd.events, pfd.revents = fd, POLLIN, 0
                if poll(&pfd, 1, 0) > 0 and pfd.revents & (POLLHUP | POLLERR):
                    return 0
    return 1


cdef void bell_first_look(winipc_bell *b, int fd, uint32_t seq, bint rang, int64_t spin_ns,
                          int64_t *wake_avg, int64_t deadline) noexcept nogil:
    """The spin before a wait for request ``seq`` sleeps: one that had to
    wake the server (``rang``) first yields until the server has taken it,
    for the budget its recent wake-ups earned (``wake_avg``, doorbell.h),
    then spins up to ``spin_ns`` for the answer; so a client that is still
    spinning when the answer comes spares it its own wake-up."""
    cdef int64_t start = winipc_now_ns(), now
    cdef int r = 1
    if rang:
        r = bell_spin(b, fd, seq, True, start,
                      start + winipc_cold_budget(spin_ns, wake_avg[0]), deadline)
        now = winipc_now_ns()
        winipc_cold_learn(wake_avg, now - start)
        start = now
    if r:
        bell_spin(b, fd, seq, False, start, start + spin_ns, deadline)


cdef int bell_send(winipc_bell *b, int fd, uint32_t seq, uint32_t msg, uint32_t flags,
                   uint64_t wparam, uint64_t lparam, int64_t deadline, int64_t spin_ns, int64_t *wake_avg,
                   int64_t *result, const char *call, Failure *f) noexcept nogil:
    """Post a request in the doorbell page and wait for its answer: spin up
    to ``spin_ns`` (pausing while the server runs on another CPU, yielding
    to it while it shares ours), then sleep until the server's wake-up
    packet.  A request that had to wake the server first waits for it to
    take the request, yielding, for a budget learnt in ``wake_avg``
    (doorbell.h)."""
    cdef Request ring
    cdef Reply wake
    cdef int r
    cdef bint rang
    cdef uint32_t error
    rang = winipc_bell_post_flags(b, seq, msg, flags, wparam, lparam)
    if rang:
        memset(&ring, 0, sizeof(ring))
        ring.op = OP_RING
        ring.seq = seq
        # EAGAIN: the socket already holds rings the server has not read yet.
        if send_packet(fd, &ring, sizeof(ring), -1) < 0 and errno != EAGAIN:
            return fail(f, errno, False, "send (doorbell)")
    if spin_ns > 0 and not winipc_bell_answered(b, seq):
        bell_first_look(b, fd, seq, rang, spin_ns, wake_avg, deadline)
    while not winipc_bell_answered(b, seq):
        winipc_bell_client_sleeps(b)
        if winipc_bell_answered(b, seq):
            if not winipc_bell_client_wakes(b):
                # The server took the flag: its wake-up packet is on its way.
                # Consume it now, so that packets never pile up.
                if wait_readable(fd, deadline, call, f) == 0:
                    read_reply(fd, &wake, NULL, f)
            break
        if wait_readable(fd, deadline, call, f) < 0:
            winipc_bell_client_wakes(b)   # a wake-up after this is a stale packet
            # Timed out or interrupted: withdraw it if the server has not
            # taken it yet, so that it never runs later (doorbell.h).
            f.started = 0 if winipc_bell_withdraw(b, seq) else 1
            return -1
        r = read_reply(fd, &wake, NULL, f)
        if r < 0:
            return -1
        # Our wake-up or a stale one: look at the bell again.
    error = b.error
    result[0] = b.result
    if error:
        return fail(f, error, True, call)
    return 0


cdef void shared_copy(Py_buffer *local, uint64_t offset, void *data, size_t size,
                      bint to_remote) noexcept nogil:
    if to_remote:
        memcpy(<char *>local.buf + offset, data, size)
    else:
        memcpy(data, <char *>local.buf + offset, size)
