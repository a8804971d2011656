# A connection's doorbell, client side (common/doorbell.h): the page the
# server made for this connection, mapped here, and how this client posts
# requests in it and waits for their answers.  A byte in the connection's
# ring (a pipe the server made for it) wakes a sleeping server: cheaper for
# both sides than a packet (on one CPU with a CPU hog, a sleeping round trip
# took 7.0 us instead of 7.9, pure C).  The endpoint socket carries the
# server's wake-ups of a sleeping client.  Process owns one once
# open_transport() made it, and holds the turn around every use of it.
# (Part of _rpc.pyx.)

# A long spin looks at the socket this often, to notice a server that died.
cdef int64_t SPIN_LIVENESS_NS = 1000000


# A client that finds the server on its own CPU yields to it at every step
# (doorbell.h), and a thread that yields stays where it is: left to the
# scheduler, the pair could share one CPU for long while another idles (a
# wake-up places a thread beside its waker: the server woken by a ring, the
# client by an answer).  So, where this thread may run on another CPU, a
# client whose calls have waited beside the server for as long as a move
# costs moves the thread to another CPU (move_away), when there is room
# there; else it sleeps in the kernel (at most once per UNPAIR_NS), and the
# scheduler places the thread again when the answer wakes it.  A call beside
# the server costs about 3 us more than apart, and a move what the other CPU
# takes to wake up: 30 us on one machine, 50 us to milliseconds on another
# whose idle virtual CPUs woke slowly.  So the time beside the server is
# weighed against the cost of this process's last moves (move_cost, as
# renting against buying): a short burst of calls pays no move, a long one
# pays one once it has lost about as much beside the server.  A call that
# begins more than BURST_GAP_NS after the last answer begins a burst afresh:
# the server's spin ran out meanwhile, and the wake-up that the call rings
# puts the pair together whatever a move did.  (From the last answer, not
# the last call's start: a move, or a long handler, within a call splits
# no burst.)  A move after one that did not last MOVE_AFTER
# waits apart waits MOVE_NS.  A sleep alone often left the pair together:
# left to the scheduler on two idle CPUs, 9 of 12 benchmark runs had rounds
# of calls at 4-5 us instead of 0.9-1.3 (none of 12 with moves).  The
# server's CPU is its word in the page: a server that always claims ours
# makes this thread move at most once per MOVE_NS.
#
# Renting is the best bet when nothing is known of the burst to come (it
# never pays more than twice what knowing would have).  But a client whose
# bursts mostly outlast their move (a stream of calls after each idle gap)
# pays the rent in every one of them for nothing: so the bursts that met
# the server are counted, as an average over the last few (paid_share),
# as paid off when their move kept the pair apart for at least as long
# as the move cost, and as not when they ended beside it or soon met it
# again.  While more than half of them paid off, a burst moves at its
# first wait beside the server (leaving(): at its first call, while the
# server it woke runs the request): moving at once costs a move in
# every burst, renting two in a long one (the rent, then the move) and
# next to nothing in a short one, so moving at once costs less exactly
# when more than half of the bursts are long.  A burst that did not pay
# off brings the share down by an eighth of the way, so short bursts soon
# go back to renting.  Measured (benchmarks/bursts.py, bursts of 256 calls
# after 2 ms idle): a move at the first call instead of the 12th-28th,
# 2.2-2.3 us per call instead of 2.5; bursts of 4, or all sizes in turn,
# about the same as renting (README, the doorbell).
cdef enum:
    MOVE_AFTER = 8
cdef int64_t MOVE_NS = 1000000
cdef int64_t UNPAIR_NS = 10000000
cdef int64_t BURST_GAP_NS = WINIPC_DEFAULT_SPIN_US * 1000     # the server's spin, by default
cdef int64_t MOVE_COST_FIRST = 50000    # move_cost before this process moved
# (Process-wide, as threads share CPUs: they race on these harmlessly.)
cdef int64_t paired_since = 0   # when the calls beside the server began; 0: apart
cdef int64_t move_cost = MOVE_COST_FIRST    # what a move took lately (ns)
cdef int apart_waits = 0        # waits in a row begun apart since the last move
cdef bint judging = False       # a move that has not lasted MOVE_AFTER waits yet
cdef int64_t next_move = 0      # (after a move: held until it has lasted)
cdef int64_t next_sleep = 0
cdef int64_t answered_at = 0    # when the last call had its answer (a burst's end, so far)
# (The client's clock when it saw the answer, not the server's stamp in the
# page: a first call that moves at once sees its answer only after the
# move, 100-170 µs here, which the server answered during.  By the
# stamp, that burst's end would come before its move ended (never paid off)
# and its next call would begin a burst of its own.)
cdef int64_t burst_moved = 0    # when this burst's move ended; 0: none yet
cdef bint burst_met = False     # this burst waited beside the server
cdef bint burst_rejoined = False    # ... and again after its move
cdef int paid_share = 0         # of the last bursts that met the server, the share whose
                                # move paid off (an average, in 1/PAID_ONE)
cdef enum:
    PAID_ONE = 1024


cdef inline void begin_call(int64_t now) noexcept nogil:
    """A call is posted at ``now``: a burst begins when it comes more than
    BURST_GAP_NS after the last answer (the server's spin ran out), and the
    one before it is judged: whether its move paid off."""
    global paired_since, burst_moved, burst_met, burst_rejoined, paid_share
    if now - answered_at <= BURST_GAP_NS:
        return
    if burst_met:
        paid_share += ((PAID_ONE if burst_moved != 0 and not burst_rejoined
                        and answered_at - burst_moved >= move_cost else 0)
                       - paid_share) // 8
    burst_moved, burst_met, burst_rejoined = 0, False, False
    paired_since = 0


cdef inline void count_wait(bint beside, int64_t now) noexcept nogil:
    """A wait begins at ``now`` beside the server or apart: what leaving()
    goes by."""
    global paired_since, apart_waits, judging, next_move, burst_met, burst_rejoined
    if beside:
        burst_met = True
        if burst_moved != 0:
            burst_rejoined = True
        judging = False     # met again too soon: the next move waits next_move out
        if paired_since == 0:
            paired_since = now
    else:
        paired_since = 0
        if judging:
            apart_waits += 1
            if apart_waits >= MOVE_AFTER:      # it lasted: the next one need not wait
                judging = False
                next_move = 0


cdef inline bint leaving(uint32_t mine, uint32_t peer, int64_t now) noexcept nogil:
    """Whether a wait on CPU ``mine`` at ``now``, the server on CPU ``peer``,
    has been beside it for as long as a move costs (unpair's to decide)."""
    return peer == mine and mine != 0 and paired_since != 0 and \
        (now - paired_since >= move_cost or paid_share > PAID_ONE // 2) and now >= next_move


cdef int unpair(uint32_t mine, int64_t now) noexcept nogil:
    """Whether a wait beside the server on CPU ``mine`` leaves it (once
    leaving()): 1 when this thread moved (the wait goes on), -1 when it
    should sleep instead, 0 when it stays."""
    global paired_since, apart_waits, judging, next_move, next_sleep, burst_moved
    cdef cpu_set_t allowed
    paired_since = now          # (the next try: as long again beside it)
    if sched_getaffinity(0, sizeof(allowed), &allowed) != 0 or CPU_COUNT(&allowed) < 2:
        next_move = now + UNPAIR_NS     # (looked at again now and then)
        return 0
    next_move = now + MOVE_NS
    if move_away(mine, &allowed):
        judging, apart_waits = True, 0
        burst_moved = winipc_now_ns()
        return 1
    if now < next_sleep:
        return 0
    next_sleep = now + UNPAIR_NS
    return -1


cdef int runnable_now() noexcept nogil:
    """How many threads of the machine are runnable now (the fourth field of
    /proc/loadavg, proc(5)), this one included; -1 when unknown."""
    cdef char text[128]
    cdef ssize_t n
    cdef int fd = c_open(b"/proc/loadavg", O_RDONLY | O_CLOEXEC)
    cdef int i = 0, fields = 0, count = -1
    if fd < 0:
        return -1
    n = c_read(fd, text, sizeof(text) - 1)
    close(fd)
    if n <= 0:
        return -1
    while i < n and fields < 3:             # past "1.22 0.94 0.84 "
        if text[i] == c' ':
            fields += 1
        i += 1
    while i < n and c'0' <= text[i] <= c'9' and count < 1000000:
        count = (0 if count < 0 else count * 10) + (text[i] - c'0')
        i += 1
    return count


cdef bint move_away(uint32_t mine, cpu_set_t *allowed) noexcept nogil:
    """Move this thread off CPU ``mine`` (winipc_cpu's numbering) to
    another CPU it may run on, when there is room there: no more threads
    runnable on the machine than CPUs this one may use (beside a CPU hog,
    sharing the server's CPU costs less than sharing the hog's).  How: its
    affinity without that CPU, then its own affinity again (which moves it
    nowhere).  False when it stays (a failed call keeps the affinity it
    had).  Another thread that sets this one's affinity between the two
    calls has its mask replaced by the one this thread had; a cpuset that
    shrinks meanwhile can leave it without that one CPU (the second call
    fails): both rarer than any call this makes."""
    global move_cost
    cdef cpu_set_t away
    cdef int runnable = runnable_now()
    cdef int64_t start
    if runnable < 0 or runnable > CPU_COUNT(allowed):
        return False
    away = allowed[0]
    CPU_CLR(<int>mine - 1, &away)
    start = winipc_now_ns()
    if CPU_COUNT(&away) == 0 or sched_setaffinity(0, sizeof(away), &away) != 0:
        return False
    while sched_setaffinity(0, sizeof(allowed[0]), allowed) != 0 and errno == EINTR:
        pass
    # What it took (the first call returns on the other CPU), learnt as an
    # average that follows the last few moves, at most MOVE_NS.
    move_cost += (min(winipc_now_ns() - start, MOVE_NS) - move_cost) // 4
    return True


@cython.final
cdef class _ClientBell:
    """The doorbell page of one connection, mapped here, with the endpoint
    socket ``fd`` it rings through (Process's, closed by it)."""
    cdef winipc_bell *page
    cdef int fd
    cdef int ring_fd            # the connection's ring (ours to close), or -1: packets
    cdef int64_t wake_avg       # how long the server took to wake lately (doorbell.h)
    cdef uint32_t inline_owed   # an inline request given up after the server took it,
                                # until answered: no inline request meanwhile (doorbell.h)
    cdef bint rang              # post() woke the server: look()'s first wait is cold
    cdef uint32_t pending       # post()'s request until look() has its answer or
                                # withdraw(); 0: none
    cdef uint32_t msg           # post()'s request: message, buffer size and address,
    cdef uint64_t size, address
    cdef bint inline            # and whether its bytes ride in the page
    cdef bint maybe_stale       # a wake-up no wait consumed may be in the socket, or
                                # on its way (this side said it sleeps): post() drains

    @staticmethod
    cdef _ClientBell map(int page_fd, int fd):
        """The page the server sent as ``page_fd`` (closed here), mapped."""
        cdef _ClientBell bell
        cdef void *p = mmap(NULL, WINIPC_BELL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                            page_fd, 0)
        close(page_fd)
        if p == MAP_FAILED:
            raise_errno(errno, "mmap (doorbell)")
        bell = _ClientBell.__new__(_ClientBell)
        bell.page, bell.fd, bell.ring_fd = <winipc_bell *>p, fd, -1
        return bell

    cdef void unmap(self) noexcept:
        if self.page != NULL:
            munmap(self.page, WINIPC_BELL_SIZE)
            self.page = NULL
        if self.ring_fd >= 0:
            close(self.ring_fd)
            self.ring_fd = -1

    def __dealloc__(self):
        self.unmap()

    cdef int spin(self, uint32_t seq, bint cold, int64_t start, int64_t until,
                  int64_t deadline) noexcept nogil:
        """Spin until request ``seq`` is answered (or, ``cold``, taken by a
        server that was asleep, yielding at every step) or ``until``: 1 when
        it was, 0 when the spin ran out (or the server hung up, or this wait
        sleeps to leave the server's CPU: unpair, or because yields lose
        the CPU here: winipc_client_wait_step)."""
        cdef winipc_bell *b = self.page
        cdef pollfd pfd
        cdef int64_t now, next_look = start + SPIN_LIVENESS_NS
        cdef unsigned int i = 0
        cdef uint32_t mine = winipc_cpu()
        cdef uint32_t peer = winipc_bell_server_cpu(b)
        cdef unsigned int every = 8 if cold else 32     # a yield takes far longer than a pause
        cdef int moved
        now = start
        if not cold:
            count_wait(peer == mine and mine != 0, start)
        while not (winipc_bell_taken(b, seq) if cold else winipc_bell_answered(b, seq)):
            # Not while the server wakes (cold): its CPU in the page is where
            # it ran before it slept, and the scheduler may wake it anywhere,
            # the CPU this thread would move to included.  Once it has taken
            # the request, the page says where it runs: the warm spin goes by
            # that.  (Moving by the stale CPU, the benchmark's call rounds
            # after the other libraries' rows met the server again there, and
            # MOVE_NS held the pair together: 23 of 360 rounds of 200 calls at
            # 4.3-5.7 us a call instead of 1.0-1.9; none of 360 since.)
            if not cold and leaving(mine, peer, now):
                moved = unpair(mine, now)
                if moved < 0:
                    return 0
                if moved > 0:
                    mine = winipc_cpu()
                    winipc_bell_client_at(b, mine)
                    continue
            if not winipc_client_wait_step(b, seq, mine, mine if cold else peer,
                                           &yields_lost, &yields_muted_until):
                return 0        # a yield lost the CPU: sleep instead
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
                    pfd.fd, pfd.events, pfd.revents = self.fd, POLLIN, 0
                    if poll(&pfd, 1, 0) > 0 and pfd.revents & (POLLHUP | POLLERR):
                        return 0
        return 1

    cdef void first_look(self, uint32_t seq, bint rang, int64_t spin_ns,
                         int64_t deadline) noexcept nogil:
        """The spin before a wait for request ``seq`` sleeps: one that had
        to wake the server (``rang``) first yields until the server has
        taken it, for the budget its recent wake-ups earned (``wake_avg``,
        doorbell.h), then spins up to ``spin_ns`` for the answer; so a
        client that is still spinning when the answer comes spares it its
        own wake-up."""
        cdef int64_t start = winipc_now_ns(), now
        cdef int r = 1
        if rang:
            r = self.spin(seq, True, start,
                          start + winipc_cold_budget(spin_ns, self.wake_avg), deadline)
            now = winipc_now_ns()
            winipc_cold_learn(&self.wake_avg, now - start)
            start = now
        if r:
            self.spin(seq, False, start, start + spin_ns, deadline)

    cdef int ring(self, uint32_t seq, uint32_t msg, uint32_t flags, uint64_t wparam,
                  uint64_t lparam, bint *rang, Failure *f) noexcept nogil:
        """Post request ``seq`` in the page, and wake the server through the
        ring if it sleeps (``rang``)."""
        cdef char one = 1
        cdef Request packet
        cdef int64_t now = winipc_now_ns()      # (the post's stamp too: one clock read)
        begin_call(now)
        rang[0] = winipc_bell_post_at(self.page, seq, msg, flags, wparam, lparam, now)
        if not rang[0]:
            return 0
        # A pipe whose server has gone raises SIGPIPE, which kills a process
        # that gave it its default action (a command-line tool piped to
        # `head`, say), so only where it is ignored; else the packet, sent
        # with MSG_NOSIGNAL.  (One rt_sigaction per ring: it wakes a
        # sleeping server, which costs far more.)
        if self.ring_fd >= 0 and winipc_sigpipe_ignored():
            # EAGAIN: the ring is full of bytes the server's poll() sees already.
            if c_write(self.ring_fd, &one, 1) < 0 and errno != EAGAIN:
                return fail(f, errno, False, "write (doorbell ring)")
            return 0
        memset(&packet, 0, sizeof(packet))
        packet.op = OP_RING
        packet.seq = seq
        # EAGAIN: the socket already holds rings the server has not read yet.
        if send_packet(self.fd, &packet, sizeof(packet), -1) < 0 and errno != EAGAIN:
            return fail(f, errno, False, "send (doorbell)")
        return 0

    cdef int send(self, uint32_t seq, uint32_t msg, uint32_t flags, uint64_t wparam,
                  uint64_t lparam, int64_t deadline, int64_t spin_ns, int64_t *result,
                  const char *call, Failure *f) noexcept nogil:
        """Post a request in the page and wait for its answer: spin up to
        ``spin_ns`` (pausing while the server runs on another CPU, yielding
        to it while it shares ours), then sleep until the server's wake-up
        packet.  A request that had to wake the server first waits for it
        to take the request, yielding, for a budget learnt in ``wake_avg``
        (doorbell.h)."""
        global answered_at
        cdef winipc_bell *b = self.page
        cdef Reply wake
        cdef bint rang
        cdef uint32_t error
        if self.ring(seq, msg, flags, wparam, lparam, &rang, f) < 0:
            return -1
        if spin_ns > 0 and not winipc_bell_answered(b, seq):
            self.first_look(seq, rang, spin_ns, deadline)
        while not winipc_bell_answered(b, seq):
            winipc_bell_client_sleeps(b)
            self.maybe_stale = True     # (one that ends in an error leaves its wake-up)
            if winipc_bell_answered(b, seq):
                if not winipc_bell_client_wakes(b):
                    # The server took the flag: its wake-up packet is on its
                    # way.  Consume it now, so that packets never pile up.
                    if wait_readable(self.fd, deadline, call, f) == 0:
                        read_reply(self.fd, &wake, NULL, f)
                break
            if wait_readable(self.fd, deadline, call, f) < 0:
                winipc_bell_client_wakes(b)   # a wake-up after this is a stale packet
                # Timed out or interrupted: withdraw it if the server has
                # not taken it yet, so that it never runs later (doorbell.h).
                f.started = 0 if winipc_bell_withdraw(b, seq) else 1
                return -1
            if read_reply(self.fd, &wake, NULL, f) < 0:
                return -1
            # Our wake-up or a stale one: look at the bell again.
        answered_at = winipc_now_ns()
        error = b.error
        result[0] = b.result
        if error:
            return fail(f, error, True, call)
        return 0

    cdef inline bint inline_ok(self) noexcept nogil:
        """May this call's bytes go in the page? (the caller holds the turn)"""
        if not winipc_bell_offers_inline(self.page):
            return False
        if self.inline_owed != 0:
            if not winipc_bell_answered(self.page, self.inline_owed):
                return False
            self.inline_owed = 0
        return True

    cdef bint put_inline(self, const void *data, uint64_t size, bint private) noexcept nogil:
        """Put a request's ``size`` bytes at ``data`` in the page when they
        fit, its buffer is ``private`` (not a shared buffer) and the page
        takes them now (inline_ok, doorbell.h): whether it did; the request
        is then posted with WINIPC_FLAG_INLINE.  (The caller holds the turn.)
        Calls' and asynchronous sends' one rule."""
        if not private or size > WINIPC_BELL_DATA_MAX or not self.inline_ok():
            return False
        memcpy(winipc_bell_data(self.page), data, size)
        return True

    cdef int take_data(self, out) except -1:
        """The answer to an inline request, from the page into ``out``."""
        cdef Py_buffer view
        PyObject_GetBuffer(out, &view, PyBUF_WRITABLE)
        memcpy(view.buf, winipc_bell_data(self.page), min(<uint64_t>view.len, self.size))
        PyBuffer_Release(&view)
        return 0

    # Split-phase: post() a request of a buffer of the connection's; look()
    # for its answer without sleeping, as often as the caller's event loop
    # says the socket is readable; withdraw() it if the caller gives up.

    cdef int post(self, uint32_t seq, uint32_t msg, uint64_t size, uint64_t address,
                  bint inline) except -1:
        """``inline``: the caller put the request's bytes in the page."""
        cdef Failure f
        cdef Reply stale
        # Wake-ups of requests that were given up, or that came after their
        # answer was seen, so that the socket's readiness is about this one
        # (a hang-up stays for look()).  None can be there unless this side
        # said it slept since the last drain: then one syscall spared.  (One
        # still on its way after this is read by look() as a stale one.)
        if self.maybe_stale:
            self.maybe_stale = False
            while recv_packet(self.fd, &stale, sizeof(stale), NULL) > 0:
                pass
        self.msg, self.size, self.address, self.inline = msg, size, address, inline
        if self.ring(seq, msg, WINIPC_FLAG_INLINE if inline else 0, size, address, &self.rang,
                     &f) < 0:
            winipc_bell_client_wakes(self.page)
            self.maybe_stale = True
            raise_failure(&f)
        self.pending = seq
        return 0

    cdef int look(self, uint32_t seq, int64_t spin_ns, int64_t *result,
                  Failure *f) noexcept nogil:
        """1 when request ``seq`` is answered, with its ``result`` (a refusal:
        -1, with the page's note in ``f``), 0 when not yet: the page says the client sleeps, so
        the server's answer sends a wake-up.  With ``spin_ns``, an awake
        server's answer is first spun for that long (a server post() woke
        is waited for first): then the event loop is spared a round of its
        own, and this thread a wake-up."""
        global answered_at
        cdef winipc_bell *b = self.page
        cdef Reply wake
        cdef int r
        cdef bint rang = self.rang
        self.rang = False
        if spin_ns > 0 and not winipc_bell_answered(b, seq) and b.server_asleep == 0:
            self.first_look(seq, rang, spin_ns, INT64_MAX)
        # Wake-ups (this one's or stale ones); a hang-up or a notice fails.
        # An answer the spin saw, with no wake-up owed, needs no syscall:
        # a hang-up after it is the next wait's to see (as for call()).
        if self.maybe_stale or not winipc_bell_answered(b, seq):
            r = read_reply(self.fd, &wake, NULL, f)
            while r > 0:
                r = read_reply(self.fd, &wake, NULL, f)
            if r < 0:
                self.pending = 0
                return -1
        if not winipc_bell_answered(b, seq):
            winipc_bell_client_sleeps(b)
            self.maybe_stale = True
            if not winipc_bell_answered(b, seq):
                return 0
        self.pending = 0
        answered_at = winipc_now_ns()
        # A wake-up may still be on its way (if this request slept: then
        # maybe_stale says so already): later readers skip it.
        winipc_bell_client_wakes(b)
        if b.error:
            fail(f, b.error, True, "server SEND (doorbell)")      # worded as a call's
            self.page_note(f, self.size if self.inline else 0)
            return -1
        result[0] = b.result
        return 1

    cdef bint page_note(self, Failure *f, uint64_t inline_size=0) noexcept nogil:
        """When ``f`` is a failed handler's (ERROR_UNHANDLED_EXCEPTION), its
        note from the page, whole; else, for a request whose ``inline_size``
        bytes rode in the page, the note among them; whether it was.  The
        caller holds the connection's turn, so the page still holds that
        request's note."""
        if not (f.win and f.code == ERROR_UNHANDLED_EXCEPTION):
            return False
        memcpy(f.note, winipc_bell_note(self.page), NOTE_MAX)
        if inline_size and not has_note(f.note):
            take_note(f.note, winipc_bell_data(self.page), inline_size)
        return True

    cdef bint withdraw(self, uint32_t seq) noexcept nogil:
        """Give up request ``seq``: True when the server had not taken it
        yet (it never runs)."""
        cdef bint withdrawn = winipc_bell_withdraw(self.page, seq)
        winipc_bell_client_wakes(self.page)     # (maybe_stale, if it slept)
        self.pending = 0
        if self.inline and not withdrawn:
            # Taken: its answer will still be copied to the page (doorbell.h).
            self.inline_owed = seq
        return withdrawn
