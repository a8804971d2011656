# The server: one endpoint and its dispatch thread, its loop over the
# sockets and doorbells, and handler dispatch; what clients hold in it is
# server_clients.pxi's.  (Part of _rpc.pyx.)
#
# The dispatch thread does everything, except while it runs a handler: then
# a client whose allocation (or free, doorbell or pushed fd) waits kicks the
# standby thread, which takes the baton (standby.h) and answers such
# requests until the handler returns.  A call that arrives meanwhile is kept
# for the dispatch thread, and a buffer freed under the running handler is
# unmapped only after it.
#
# Everything a client sends or writes into its pages is hostile input: each
# word is read once into a local and checked, and every resource a client can
# make the server hold is bounded.

# While spinning over the doorbells, the sockets (new clients, allocation,
# hang-ups, stop()) are looked at this often.
cdef int64_t SOCKET_CHECK_NS = 200000


cdef class ServerCore:
    """One endpoint and its dispatch thread (the thread that calls run()),
    with a standby thread for requests that wait while a handler runs."""
    cdef readonly str title
    cdef readonly HandlerTable handlers
    cdef readonly long tid
    cdef int listen_fd
    cdef int wake_fd
    cdef int spare
    cdef bint stopping
    cdef Client **clients
    cdef int nclients
    cdef pthread_mutex_t table_lock   # the clients array, against held's reads
    cdef int64_t spin_ns
    cdef int64_t steady_ns  # steady mode: the longest gap it spins across
    cdef int64_t last_request, recent_gap
    cdef uint32_t cpu       # where the dispatch thread runs (doorbell.h: + 1)
    cdef bint beside        # a doorbell's client waits on that CPU too
    cdef int64_t yields_lost, yields_muted_until    # (winipc_lost_yield)
    cdef object pending     # raised by a signal handler while serving
    # Windows' opt-in for senders of a lower integrity level.  Linux has no
    # integrity levels: every process of this user (and root) may connect
    # to the endpoint, as if it were set, and setting it changes nothing.
    cdef public bint allow_lower_integrity
    cdef _Standby standby   # the standby thread, and the baton (standby.pxi)
    cdef Client *busy       # whose buffer the running handler has
    cdef Alloc busy_buffer  # .size set when its client freed it meanwhile
    cdef bint stashes       # the standby thread kept calls for dispatch

    def __cinit__(self):
        self.listen_fd = -1
        self.wake_fd = -1
        self.spare = -1
        pthread_mutex_init(&self.table_lock, NULL)

    def __init__(self, str title, int64_t spin_us):
        self.title = title
        self.spin_us = spin_us
        self.steady_us = default_steady_us(spin_us)
        self.handlers = HandlerTable()
        self.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
        if self.wake_fd < 0:
            raise_errno(errno, "eventfd")
        self.standby = _Standby()

    @property
    def pid(self):
        return getpid()

    @property
    def window(self):
        return self.tid

    @property
    def spin_us(self):
        """How long (µs) the serving thread spins over its doorbells for the
        next request after answering one; 0: it sleeps at once."""
        return self.spin_ns // 1000

    @spin_us.setter
    def spin_us(self, int64_t value):
        self.spin_ns = <int64_t>checked_spin_us(value) * 1000

    @property
    def steady_us(self):
        """Steady mode (0: off): while requests come at most this many µs
        apart, the serving thread spins until twice the recent longest gap
        has passed, burning its CPU meanwhile, so that it never sleeps
        between them; a longer pause ends it (winipc_steady_spin)."""
        return self.steady_ns // 1000

    @steady_us.setter
    def steady_us(self, int64_t value):
        self.steady_ns = <int64_t>checked_spin_us(value) * 1000

    @property
    def held(self):
        """(fds, bytes) this server holds for its clients right now: their
        connections and the fds they pushed, their buffers and doorbells;
        all of it goes when they do."""
        cdef int i
        cdef long fds
        cdef uint64_t size = 0
        with nogil:
            pthread_mutex_lock(&self.table_lock)
            fds = self.nclients + npushed
            for i in range(self.nclients):
                size += self.clients[i].total
                if self.clients[i].bell != NULL:
                    size += WINIPC_BELL_SIZE
            pthread_mutex_unlock(&self.table_lock)
        return fds, size

    def stop(self):
        cdef uint64_t one = 1
        self.stopping = True
        if self.wake_fd >= 0:
            c_write(self.wake_fd, &one, sizeof(one))
        if self.standby is not None:
            self.standby.ask()

    def __dealloc__(self):
        if self.wake_fd >= 0:
            close(self.wake_fd)
        pthread_mutex_destroy(&self.table_lock)

    def run(self, on_ready=None):
        cdef int rc, i
        cdef bint main
        cdef uint64_t one = 1
        if self.tid:
            raise RuntimeError("this server is already serving")
        self.tid = <long>syscall(SYS_gettid)
        self.stopping = False
        try:
            if ptrace_scope() == 1:
                # Scope 1 lets only ancestors attach; clients are not our ancestors.
                if prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0) < 0:
                    raise_errno(errno, "prctl(PR_SET_PTRACER)")
            try:
                _sweep()
            except OSError:
                pass        # only tidying: the endpoint folder is checked below
            files = _EndpointFiles(self.title, self.tid)
            # Non-blocking: the dispatch thread acts on a poll result that the
            # standby thread may have made stale by accepting the same client,
            # and a blocking accept4 on the empty queue would stall every client.
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET
                                  | _socket.SOCK_CLOEXEC | _socket.SOCK_NONBLOCK)
            kick = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC
                                  | _socket.SOCK_NONBLOCK)
        except BaseException:
            self.tid = 0        # not serving: a later run() may try again
            raise
        try:
            self.spare = spare_fd()
            if self.spare < 0:
                raise_errno(errno, "open(/dev/null)")
            files.bind(sock, kick)
            self.listen_fd = sock.detach()
            self.standby.start(self, kick.fileno())
            files.publish()
            if on_ready is not None:
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
            self.stopping = True        # (what ends the standby thread)
            self.standby.stop()
            # Empty the eventfd: a stop() seen here must not end the next
            # run() at once.
            while c_read(self.wake_fd, &one, sizeof(one)) > 0:
                pass
            kick.close()
            sock.close()
            files.remove()
            if self.listen_fd >= 0:
                close(self.listen_fd)
                self.listen_fd = -1
            if self.spare >= 0:
                close(self.spare)
                self.spare = -1
            with nogil:
                pthread_mutex_lock(&self.table_lock)
                for i in range(self.nclients):
                    drop_client(self.clients[i])
                free(self.clients)
                self.clients = NULL
                self.nclients = 0
                pthread_mutex_unlock(&self.table_lock)
            self.tid = 0

    cdef void arm_bells(self, bint asleep) noexcept nogil:
        cdef int i
        for i in range(self.nclients):
            if self.clients[i].bell != NULL:
                if asleep:
                    winipc_bell_server_sleeps(self.clients[i].bell)
                else:
                    winipc_bell_server_wakes(self.clients[i].bell)

    cdef bint bells_pending(self, int64_t posted_by=-1) noexcept nogil:
        """Whether a request waits in a doorbell (with ``posted_by``: one
        posted at or before then, winipc_bell_posted_by)."""
        cdef int i
        cdef Client *c
        for i in range(self.nclients):
            c = self.clients[i]
            if (c.bell != NULL and winipc_bell_untaken(winipc_bell_pending(c.bell), c.served)
                    and (posted_by < 0 or winipc_bell_posted_by(c.bell, posted_by))):
                return True
        return False

    cdef int loop(self, bint main_thread) noexcept nogil:
        cdef pollfd *pfds = NULL
        cdef int *owners = NULL
        cdef void *p
        cdef int i, m, n, r, wait_ms
        cdef int result = 0
        cdef bint armed
        cdef int64_t now, back, spin_until = 0, slice_end, next_signals = 0
        cdef unsigned int spins
        while not self.stopping:
            if self.stashes:
                self.serve_stashed()
            # Each client's socket, then the rings there are, each with its
            # client's index in owners.  (Only open fds: poll() refuses more
            # entries than RLIMIT_NOFILE, -1 ones too.)
            m = self.nclients
            p = realloc(pfds, (2 * m + 2) * sizeof(pollfd))
            if p != NULL:
                pfds = <pollfd *>p
                p = realloc(owners, (m + 1) * sizeof(int))
            if p == NULL:
                result = -12
                break
            owners = <int *>p
            pfds[0].fd, pfds[0].events, pfds[0].revents = self.wake_fd, POLLIN, 0
            pfds[1].fd, pfds[1].events, pfds[1].revents = self.listen_fd, POLLIN, 0
            n = m + 2
            for i in range(m):
                pfds[i + 2].fd, pfds[i + 2].events, pfds[i + 2].revents = self.clients[i].fd, POLLIN, 0
                if self.clients[i].ring_fd >= 0:
                    pfds[n].fd, pfds[n].events, pfds[n].revents = self.clients[i].ring_fd, POLLIN, 0
                    owners[n - m - 2] = i
                    n += 1
            # Sleep only when the spin is over and, with every doorbell
            # saying so, still no request is waiting (doorbell.h).
            armed = False
            wait_ms = 0
            if winipc_now_ns() >= spin_until and not self.stashes:
                armed = True
                self.arm_bells(True)
                winipc_fence()
                if not self.bells_pending():
                    # On the main thread a signal that lands just before
                    # poll() would not interrupt it: look every slice too.
                    wait_ms = SIGNAL_SLICE_MS if main_thread else -1
            r = poll(pfds, n, wait_ms)
            if armed:
                self.arm_bells(False)
            if r < 0 and errno != EINTR:
                result = -errno
                break
            now = winipc_now_ns()
            if main_thread and (r < 0 or now >= next_signals):
                next_signals = now + SIGNAL_SLICE_MS * 1000000
                if self.check_signals() < 0:
                    break
            if r > 0:
                if pfds[0].revents:
                    break
                # Serve the clients polled.  (Clients the standby thread
                # accepts meanwhile go after them, so the indices hold.)
                for i in range(m + 2, n):
                    if pfds[i].revents:
                        take_ring(self.clients[owners[i - m - 2]])
                for i in range(m - 1, -1, -1):
                    if pfds[i + 2].revents and self.serve(self.clients[i]) < 0:
                        self.clients[i].dead = True
                self.drop_dead()
                if pfds[1].revents & POLLIN:
                    self.accept_client()
            # The doorbells: serve, and keep spinning while requests come.
            slice_end = winipc_now_ns() + SOCKET_CHECK_NS
            spins = 0
            self.cpu = winipc_cpu()
            while not self.stopping:
                if self.serve_bells() > 0:
                    now = winipc_now_ns()
                    spin_until = now + winipc_steady_spin(now, &self.last_request,
                                                          &self.recent_gap, self.spin_ns,
                                                          self.steady_ns)
                now = winipc_now_ns()
                if now >= spin_until or now >= slice_end:
                    break
                if self.beside and now < self.yields_muted_until:
                    spin_until = now        # our yields lost the CPU lately: sleep
                    break
                # A client beside us on this CPU cannot post while we spin:
                # then each step yields to it, timed (doorbell.h).
                back = winipc_server_wait_step(self.cpu, self.beside)
                if back and self.bells_pending(back - WINIPC_YIELD_LOST_NS):
                    winipc_lost_yield(back, &self.yields_lost, &self.yields_muted_until)
                spins += 1
                if spins % 32 == 0:
                    self.cpu = winipc_cpu()
        free(pfds)
        free(owners)
        return result

    cdef void drop_dead(self) noexcept nogil:
        cdef int i
        cdef Client *c
        for i in range(self.nclients - 1, -1, -1):
            c = self.clients[i]
            if c.dead:
                pthread_mutex_lock(&self.table_lock)
                self.nclients -= 1
                self.clients[i] = self.clients[self.nclients]
                pthread_mutex_unlock(&self.table_lock)
                drop_client(c)

    cdef void accept_client(self) noexcept nogil:
        global client_serial
        cdef int fd
        cdef void *p
        cdef Client *c
        cdef uint32_t euid = geteuid()
        cdef ucred cred
        cdef socklen_t credlen
        fd = accept4(self.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)
        if fd < 0 and (errno == EMFILE or errno == ENFILE) and self.spare >= 0:
            close(self.spare)
            fd = accept4(self.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)
            if fd >= 0:
                turn_away(fd)
            self.spare = spare_fd()
            return
        if fd < 0:
            return
        credlen = sizeof(cred)
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) < 0
                or (cred.uid != euid and cred.uid != 0)):
            close(fd)
            return
        if self.nclients >= MAX_CLIENTS:
            turn_away(fd)
            return
        c = <Client *>calloc(1, sizeof(Client))
        if c == NULL:
            turn_away(fd)
            return
        if not peer_join(c, cred.pid):
            free(c)
            turn_away(fd)
            return
        if self.nclients % 16 == 0:
            pthread_mutex_lock(&self.table_lock)
            p = realloc(self.clients, (self.nclients + 16) * sizeof(Client *))
            if p != NULL:
                self.clients = <Client **>p
            pthread_mutex_unlock(&self.table_lock)
            if p == NULL:
                peer_leave(c)
                free(c)
                turn_away(fd)
                return
        c.fd = fd
        c.ring_fd = -1
        client_serial += 1
        c.serial = client_serial
        pthread_mutex_lock(&self.table_lock)
        self.clients[self.nclients] = c
        self.nclients += 1
        pthread_mutex_unlock(&self.table_lock)

    cdef int check_signals(self) noexcept with gil:
        """Run Python's signal handlers (a server on the main thread must
        stop on Ctrl+C); -1 when one raised, kept for run() to raise."""
        try:
            PyErr_CheckSignals()
        except BaseException as e:
            self.pending = e
            return -1
        return 0

    cdef uint32_t dispatch(self, Client *c, uint32_t msg, uint64_t wparam, uint64_t lparam,
                           int64_t *result, char *inline_data) noexcept nogil:
        """Run the handler of ``msg`` on client ``c``'s buffer, every
        argument checked first; with ``inline_data`` (a doorbell page's data
        area) the request's bytes come from there and the answer goes back
        there (doorbell.h).  The baton is put down while it runs."""
        cdef Handler *h = self.handlers.find(msg)
        cdef uint32_t error
        if h == NULL:
            return ERROR_INVALID_MESSAGE
        if inline_data != NULL and wparam > WINIPC_BELL_DATA_MAX:
            return ERROR_INVALID_PARAMETER
        self.busy_buffer.addr = owner_buffer(c, lparam, wparam)
        if self.busy_buffer.addr == 0:
            return ERROR_INVALID_ADDRESS
        self.busy_buffer.size = 0
        if inline_data != NULL:
            memcpy(<void *>lparam, inline_data, wparam)
        self.busy = c
        winipc_baton_put_down(&self.standby.baton)
        error = run_handler(h, <void *>lparam, wparam, result,
                            <unsigned long>c.peer.pid if c.peer != NULL else 0)
        if not winipc_baton_pick_up(&self.standby.baton):
            # The standby thread answered requests meanwhile: ask for the
            # baton back; calls it received wait in their clients' stash.
            self.standby.ask()
            winipc_baton_wait(&self.standby.baton)
            self.stashes = True
        if inline_data != NULL:         # (before a free under the handler unmaps it)
            memcpy(inline_data, <void *>lparam, wparam)
        if self.busy_buffer.size:       # its client freed it under the handler
            munmap(<void *>self.busy_buffer.addr, self.busy_buffer.size)
        self.busy = NULL
        return error

    cdef int serve_bells(self) noexcept nogil:
        """Answer every request waiting in a doorbell; how many.  Says in
        each page where this thread runs, and notes whether a client waits
        on the same CPU (``beside``)."""
        cdef int i, count = 0
        cdef Client *c
        cdef uint32_t seq, msg, error, flags
        cdef uint64_t wparam, lparam
        cdef int64_t result
        self.beside = False
        for i in range(self.nclients):
            c = self.clients[i]
            if c.bell == NULL or c.dead:
                continue
            # Both from our own memory: a pass reads no more of the pages.
            if c.told_cpu != self.cpu:
                c.told_cpu = self.cpu
                winipc_bell_server_at(c.bell, self.cpu)
            if c.client_cpu == self.cpu:
                self.beside = True
            seq = winipc_bell_pending(c.bell)
            # Taken atomically: a client that gave up first withdrew it.
            if not winipc_bell_untaken(seq, c.served) or not winipc_bell_take(c.bell, seq):
                continue
            c.served = seq
            c.client_cpu = winipc_bell_client_cpu(c.bell)   # only compared, never trusted
            if c.client_cpu == self.cpu:
                self.beside = True
            winipc_bell_request(c.bell, &msg, &wparam, &lparam)
            flags = winipc_bell_flags(c.bell)
            result = 0
            note_area_open(winipc_bell_note(c.bell))
            error = self.dispatch(c, msg, wparam, lparam, &result,
                                  winipc_bell_data(c.bell) if flags & WINIPC_FLAG_INLINE else NULL)
            note_area_close(error == ERROR_UNHANDLED_EXCEPTION)
            count += 1
            if winipc_bell_answer(c.bell, seq, error, 0 if error else result):
                if send_reply(c, seq, error, result) < 0:     # (its wake-up)
                    c.dead = True
        if count:
            self.drop_dead()
        return count

    cdef void serve_stashed(self) noexcept nogil:
        """Answer the calls the standby thread kept."""
        cdef int i
        self.stashes = False
        for i in range(self.nclients):
            if self.clients[i].stashed and self.serve(self.clients[i]) < 0:
                self.clients[i].dead = True
        self.drop_dead()

    cdef int serve(self, Client *c) noexcept nogil:
        """Answer one request of client ``c`` (its stashed call, or the next
        on its socket); -1 drops the client."""
        cdef Request req
        cdef int64_t result = 0
        cdef uint32_t error
        cdef int r, got_fd = -1
        if c.stashed:
            req = c.stash
            c.stashed = False
        else:
            r = take_request(c, &req, &got_fd)
            if r <= 0:
                return r
        if req.op == OP_SEND:
            error = self.dispatch(c, req.msg, req.wparam, req.lparam, &result, NULL)
            if got_fd >= 0:
                close(got_fd)
            return send_reply(c, req.seq, error, result)
        return answer(c, &req, got_fd, self.freed_under_handler(c))

    cdef inline Alloc *freed_under_handler(self, Client *c) noexcept nogil:
        """Where a free of client ``c``'s buffer under the running handler
        is noted for after it (answer), if the handler has ``c``'s buffer."""
        return &self.busy_buffer if c == self.busy else NULL
