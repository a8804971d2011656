# Split-phase sends, for asyncio (winipc/_aio.py): begin_send() posts a
# request in the doorbell and keeps the connection's turn; end_send()
# looks for the answer without waiting and gives the turn back once it
# has it; in between the caller waits for wait_handle (the socket) to be
# readable: the page says the client sleeps, so the server's answer
# sends a wake-up packet (doorbell.h), and a server that dies hangs the
# socket up.  cancel_send() gives up: the server may still run the
# request, but its late answer carries its own sequence number, which no
# later request has.  (Part of _rpc.pyx: Process.begin_send and end_send
# call these.)


cdef object async_begin(Process p, uint32_t msg, uint64_t size, uint64_t address):
    cdef Reply stale
    cdef uint32_t seq
    cdef Request ring
    cdef int fd, err
    cdef uint64_t given
    cdef bint posted = False
    p.enter(0, "server SEND (doorbell)")
    try:
        fd = p.endpoint()
        if p.turn_fd < 0:
            p.turn_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
            if p.turn_fd < 0:
                raise_errno(errno, "eventfd")
        if p.turn_wanted:
            # The last try found the turn taken and the caller waited for
            # turn_fd: reset it (nothing to read: EAGAIN).
            if eventfd_read(p.turn_fd, &given) < 0 and errno != EAGAIN:
                raise_errno(errno, "eventfd_read")
        p.turn_wanted = 1
        winipc_fence()
        if sem_trywait(&p.turn) != 0:
            return 0
        p.turn_wanted = 0
        p.async_msg, p.async_size, p.async_address = msg, size, address
        # Wake-ups of requests that were given up, so that the socket's
        # readiness is about this one (a hang-up stays for end_send).
        while recv_packet(fd, &stale, sizeof(stale), NULL) > 0:
            pass
        seq = p.next_bell_seq()
        p.async_rang = winipc_bell_post(p.bell, seq, msg, size, address)
        if p.async_rang:
            memset(&ring, 0, sizeof(ring))
            ring.op = OP_RING
            ring.seq = seq
            if send_packet(fd, &ring, sizeof(ring), -1) < 0 and errno != EAGAIN:
                err = errno
                winipc_bell_client_wakes(p.bell)
                p.give_turn()
                raise_errno(err, "send (doorbell)")
        posted = True
        return seq
    finally:
        if not posted:
            p.leave()


cdef object async_end(Process p, uint32_t seq, int64_t spin_ns):
    cdef Reply wake
    cdef Failure f
    cdef int r
    cdef uint32_t error
    cdef int64_t result
    cdef winipc_bell *b = p.bell
    cdef bint done = True, rang = p.async_rang
    p.async_rang = False
    try:
        if spin_ns > 0 and not winipc_bell_answered(b, seq) and b.server_asleep == 0:
            # The first look waits as a synchronous call does (bell_send):
            # an awake server answers within the spin, and one that
            # begin_send woke is waited for; then the event loop is spared
            # a round of its own, and this thread a wake-up.
            with nogil:
                bell_first_look(b, p.sock, seq, rang, spin_ns, &p.wake_avg, INT64_MAX)
        # Wake-ups (this one's or stale ones); a hang-up or a notice fails.
        r = read_reply(p.sock, &wake, NULL, &f)
        while r > 0:
            r = read_reply(p.sock, &wake, NULL, &f)
        if r < 0:
            raise_failure(&f)
        if not winipc_bell_answered(b, seq):
            winipc_bell_client_sleeps(b)
            if not winipc_bell_answered(b, seq):
                done = False
                return None
        # A wake-up may still be on its way: later readers skip it.
        winipc_bell_client_wakes(b)
        error = b.error
        result = b.result
        if error:
            # Worded as a call's; the page's note is read while the turn is ours.
            fail(&f, error, True, "server SEND (doorbell)")
            if error == ERROR_UNHANDLED_EXCEPTION:
                memcpy(f.note, winipc_bell_note(b), NOTE_MAX)
            p.own_refusal(&f, p.async_msg, p.async_address, p.async_size)
            raise_failure(&f)
        return result
    finally:
        if done:
            p.give_turn()
            p.leave()
