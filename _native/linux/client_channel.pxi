# A client's connection to a server's endpoint (a seqpacket socket, made on
# first need), the turn its requests take, and their sequence numbers.
# Process owns one; its doorbell (client_bell.pxi) rings through the same
# socket and takes the same turn.  (Part of _rpc.pyx.)


@cython.final
cdef class _Channel:
    cdef int pid                # the server's process, and its window (0: found by pid)
    cdef uint64_t window
    cdef int sock               # -1 until connected
    cdef bytes kick             # the server's standby thread (transact), and its
    cdef const char *kick_path  # bytes
    cdef object connecting      # a lock: one thread connects
    cdef uint64_t seq           # the last request's number
    cdef sem_t turn             # one request at a time on the connection (a
                                # semaphore: an asynchronous call holds it
                                # across its event loop's steps)
    cdef int turn_fd            # eventfd: the turn was given back (try_take)
    cdef int turn_wanted        # an asynchronous call waits on turn_fd

    def __cinit__(self):
        self.connecting = threading.Lock()
        self.sock = -1
        self.turn_fd = -1
        sem_init(&self.turn, 0, 1)

    def __dealloc__(self):
        self.close()
        sem_destroy(&self.turn)

    cdef void close(self) noexcept:
        if self.turn_fd >= 0:
            close(self.turn_fd)
            self.turn_fd = -1
        if self.sock >= 0:
            close(self.sock)
            self.sock = -1

    cdef void hang_up(self) noexcept:
        """Wake the calls waiting on the socket (they fail); close() follows
        once they are out."""
        if self.sock >= 0:
            shutdown(self.sock, SHUT_RDWR)

    cdef int endpoint(self) except -1:
        """The socket, connected first if need be."""
        if self.sock < 0:
            with self.connecting:       # connect() lets other threads run meanwhile
                if self.sock < 0:
                    self.connect()
        return self.sock

    cdef connect(self):
        path = _socket_path(self.window) if self.window else _pid_link(self.pid)
        s, peer = _connect(path, "ServerGone" if self.window else "NoSuchProcess",
                           f"process {self.pid} runs no winipc server here, and on "
                           "Linux only a winipc server can hold remote buffers")
        if peer != self.pid:
            s.close()
            raise_errno(3, "connect", f"the endpoint at {path} belongs to process {peer}",
                        cls="NoSuchProcess")
        self.kick = os.fsencode(_kick_path(os.path.realpath(path)))
        self.kick_path = self.kick
        self.sock = s.detach()

    cdef inline int take(self, int64_t deadline, const char *call, Failure *f) noexcept nogil:
        return take_turn(&self.turn, deadline, call, f)

    cdef inline void give(self) noexcept nogil:
        sem_post(&self.turn)
        # Against try_take's "say so, then try": one of the two sees the other.
        winipc_fence()
        if self.turn_wanted:
            eventfd_write(self.turn_fd, 1)

    cdef bint try_take(self) except -1:
        """Take the turn if it is free; else False, and turn_fd becomes
        readable when it is given back (wait_fd)."""
        cdef uint64_t given
        if self.turn_fd < 0:
            self.turn_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
            if self.turn_fd < 0:
                raise_errno(errno, "eventfd")
        if self.turn_wanted:
            # The last try found the turn taken and the caller waited for
            # turn_fd: reset it (nothing to read: EAGAIN).
            if eventfd_read(self.turn_fd, &given) < 0 and errno != EAGAIN:
                raise_errno(errno, "eventfd_read")
        self.turn_wanted = 1
        winipc_fence()
        if sem_trywait(&self.turn) != 0:
            return False
        self.turn_wanted = 0
        return True

    cdef int wait_fd(self) noexcept:
        """What an asynchronous send waits to be readable: the socket, or
        after a try_take() that found the turn taken, turn_fd."""
        return self.turn_fd if self.turn_wanted else self.sock

    cdef inline uint32_t next_bell_seq(self) noexcept nogil:
        """The next request number (the caller holds the turn); never 0,
        the value of a page no request was posted in."""
        self.seq = winipc_bell_next_seq(<uint32_t>self.seq)
        return <uint32_t>self.seq

    cdef int transact(self, Request *req, Reply *rep, int64_t deadline, int pass_fd,
                      int *got_fd, bint kick, const char *call, Failure *f) noexcept nogil:
        """One request over the socket and its reply (the caller holds the
        turn); ``kick``: the server's standby thread may take it while a
        handler runs."""
        self.seq += 1
        req.seq = self.seq
        return transact(self.sock, req, rep, deadline, pass_fd, got_fd,
                        self.kick_path if kick else NULL, call, f)
