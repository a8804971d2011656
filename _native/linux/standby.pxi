# The standby thread of a Linux server (part of _rpc.pyx, after server.pxi):
# it holds the baton only while the dispatch thread runs a handler
# (standby.h), answers what runs no handler, accepts clients, keeps calls
# for the dispatch thread, and gives the baton back when asked.


cdef int64_t KICK_QUIET_NS = 1000000


cdef struct StandbyStart:
    void *standby           # the _Standby, kept alive by its server's run()
    uint32_t started


cdef void *standby_main(void *arg) noexcept nogil:
    cdef StandbyStart *start = <StandbyStart *>arg
    cdef void *standby = start.standby
    # This thread's malloc arena (glibc reserves 64 MiB of address space for
    # it) is made now, while the server starts, rather than at its first
    # takeover, when the server's mappings would grow under its clients.
    free(malloc(64))
    winipc_flag_raise(&start.started)       # start() goes on; *start is gone
    run_standby(standby)
    return NULL


cdef void run_standby(void *standby) noexcept with gil:
    cdef _Standby s = <_Standby>standby
    with nogil:
        s.loop()


@cython.final
cdef class _Standby:
    """A server's standby thread and what it shares with the dispatch
    thread: the baton, the eventfd that asks for it back, the socket
    clients kick.  Its ServerCore owns it, and lends it itself (``core``)
    from start() to stop() only: no lasting reference cycle."""
    cdef ServerCore core
    cdef uint32_t baton     # standby.h
    cdef int fd             # eventfd: give the baton back (or stop)
    cdef int kick_fd        # datagram socket clients kick (the core's run() owns it)
    cdef pthread_t thread
    cdef bint started

    def __cinit__(self):
        self.kick_fd = -1
        self.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
        if self.fd < 0:
            raise_errno(errno, "eventfd")

    def __dealloc__(self):
        if self.fd >= 0:
            close(self.fd)

    cdef void ask(self) noexcept nogil:
        """Ask for the baton back, or (the core is stopping) to end."""
        cdef uint64_t one = 1
        c_write(self.fd, &one, sizeof(one))

    cdef start(self, ServerCore core, int kick_fd):
        """Start the thread for ``core``'s run(), kicked through ``kick_fd``."""
        cdef StandbyStart start
        cdef int rc
        self.core, self.kick_fd = core, kick_fd
        start.standby = <void *>self
        start.started = 0
        rc = winipc_start_thread(&self.thread, standby_main, &start)
        if rc != 0:
            self.core, self.kick_fd = None, -1
            raise_errno(rc, "pthread_create")
        self.started = True
        with nogil:
            winipc_flag_wait(&start.started)

    cdef void stop(self) noexcept:
        """End the thread (the core is stopping: its ``stopping`` is set),
        and empty the eventfd: an ask seen here must not end the next run
        at once."""
        cdef uint64_t one
        if self.started:
            self.ask()
            with nogil:
                pthread_join(self.thread, NULL)
            self.started = False
        while c_read(self.fd, &one, sizeof(one)) > 0:
            pass
        self.core, self.kick_fd = None, -1

    cdef void loop(self) noexcept nogil:
        """Sleep until a client kicks; then, if a handler is running, take
        the baton and answer requests until the dispatch thread asks."""
        cdef pollfd pf[2]
        cdef char byte
        cdef uint64_t count
        cdef int64_t quiet_until = 0, left
        cdef int wait_ms
        while not self.core.stopping:
            pf[0].fd, pf[0].events, pf[0].revents = self.fd, POLLIN, 0
            pf[1].fd, pf[1].events, pf[1].revents = self.kick_fd, POLLIN, 0
            # After an empty kick the kicks wait (in the socket) for KICK_QUIET_NS:
            # a flood wakes this thread at most that often, and an honest kick
            # is answered at most that late.
            left = quiet_until - winipc_now_ns()
            wait_ms = <int>((left + 999999) // 1000000) if left > 0 else -1
            if poll(pf, 1 if left > 0 else 2, wait_ms) < 0:
                if errno == EINTR:
                    continue
                return
            if pf[0].revents:
                c_read(self.fd, &count, sizeof(count))   # stop, or a late ask
            if pf[1].revents:
                while recv(self.kick_fd, &byte, 1, MSG_DONTWAIT) >= 0:
                    pass
                # A kick is anyone's datagram: only one that finds a request
                # waiting makes the dispatch thread hand over and take back the
                # baton around its handler (a flood of empty kicks would slow
                # every honest call down).
                if self.core.stopping:
                    continue
                if not self.requests_waiting():
                    quiet_until = winipc_now_ns() + KICK_QUIET_NS
                elif winipc_baton_take(&self.baton):
                    self.serve()
                    winipc_baton_give_back(&self.baton)

    cdef bint requests_waiting(self) noexcept nogil:
        """Whether a client waits to connect, or a connection has a request
        that the dispatch thread has not kept yet (a look, no wait)."""
        cdef pollfd *pfds
        cdef int i, n = 1, r
        cdef Client *c
        pthread_mutex_lock(&self.core.table_lock)
        pfds = <pollfd *>malloc((self.core.nclients + 1) * sizeof(pollfd))
        if pfds == NULL:
            pthread_mutex_unlock(&self.core.table_lock)
            return True         # no memory to look: as before, take over
        pfds[0].fd, pfds[0].events, pfds[0].revents = self.core.listen_fd, POLLIN, 0
        for i in range(self.core.nclients):
            c = self.core.clients[i]
            if not c.dead and not c.stashed:
                pfds[n].fd, pfds[n].events, pfds[n].revents = c.fd, POLLIN, 0
                n += 1
        pthread_mutex_unlock(&self.core.table_lock)
        r = poll(pfds, n, 0)
        free(pfds)
        return r != 0           # ready, or an error: look closer while holding the baton

    cdef void serve(self) noexcept nogil:
        """Holding the baton: answer what runs no handler, keep calls for the
        dispatch thread, accept clients, until asked for the baton back."""
        cdef pollfd *pfds = NULL
        cdef void *p
        cdef int i, n, r, got_fd
        cdef uint64_t count
        cdef Client *c
        cdef Request req
        while not self.core.stopping:
            n = self.core.nclients + 2
            p = realloc(pfds, n * sizeof(pollfd))
            if p == NULL:
                break
            pfds = <pollfd *>p
            pfds[0].fd, pfds[0].events, pfds[0].revents = self.fd, POLLIN, 0
            pfds[1].fd, pfds[1].events, pfds[1].revents = self.core.listen_fd, POLLIN, 0
            for i in range(self.core.nclients):
                c = self.core.clients[i]
                # A negative fd is not polled: a client with a kept call
                # waits for the dispatch thread.
                pfds[i + 2].fd = -1 if c.dead or c.stashed else c.fd
                pfds[i + 2].events, pfds[i + 2].revents = POLLIN, 0
            r = poll(pfds, n, -1)
            if r < 0:
                if errno == EINTR:
                    continue
                break
            if pfds[0].revents:
                c_read(self.fd, &count, sizeof(count))
                break
            for i in range(n - 2):
                if not pfds[i + 2].revents:
                    continue
                c = self.core.clients[i]
                got_fd = -1
                r = take_request(c, &req, &got_fd)
                if r > 0 and req.op == OP_SEND:
                    if got_fd >= 0:
                        close(got_fd)
                    c.stash = req
                    c.stashed = True
                elif r > 0:
                    r = answer(c, &req, got_fd, self.core.freed_under_handler(c))
                if r < 0:
                    c.dead = True       # dropped by the dispatch thread
            if pfds[1].revents & POLLIN:
                self.core.accept_client()
        free(pfds)
