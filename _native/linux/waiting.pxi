# Asynchronous waits (winipc/_aio.py): a thread waits, an eventfd tells the
# event loop.  (Part of _kernel.pyx; kernel_sync.h says how, and why a thread.)

cdef class Waiting:
    """One asynchronous wait: a thread that waits and an eventfd it signals.
    finish() or cancel() joins the thread and closes what it used; a mapping
    of its own keeps the object alive meanwhile."""
    cdef wipc_waiting w
    cdef int efd
    cdef pthread_t thread
    cdef bint running

    def __cinit__(self):
        self.efd = -1
        self.w.hdr = NULL
        self.w.efd = -1

    @staticmethod
    cdef Waiting start(KObject obj):
        cdef Waiting self = Waiting.__new__(Waiting)
        cdef void *p
        cdef int r, err
        cdef int src = obj.fd
        # A named object's mapping is made through an open file description
        # of its own, which holds no flock: closing the handle meanwhile
        # still removes the name (see KObject.map).
        own = -1
        if obj.path is not None:
            try:
                own = os.open(f"/proc/self/fd/{obj.fd}",
                              (os.O_RDWR if obj.writable else os.O_RDONLY) | os.O_CLOEXEC)
                src = own
            except OSError:
                own = -1
        p = mmap(NULL, sizeof(wipc_header), PROT_READ | (PROT_WRITE if obj.writable else 0),
                 MAP_SHARED, src, 0)
        err = _errno_now()
        if own >= 0:
            os.close(own)
        if p == MAP_FAILED:
            raise_errno(err, "mmap")
        self.w.hdr = <wipc_header *>p
        self.w.kind = obj.kind
        self.w.cancel = 0
        self.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
        if self.efd < 0:
            raise_errno(_errno_now(), "eventfd")
        self.w.efd = self.efd
        r = pthread_create(&self.thread, NULL, wipc_wait_thread, <void *>&self.w)
        if r:
            raise_errno(r, "pthread_create")
        self.running = True
        return self

    @property
    def handle(self):
        return self.efd

    cdef int join(self) except -1:
        if self.running:
            with nogil:
                pthread_join(self.thread, NULL)
            self.running = False
        return 0

    def finish(self):
        """Once handle is readable: WAIT_OBJECT_0 taken (a mutex: it was
        free), WAIT_ABANDONED a mutex whose owner died (made consistent);
        raises a failure."""
        self.join()
        r = self.w.result
        self.release()
        if r == WIPC_ABANDONED:
            return WAIT_ABANDONED
        if r:
            raise_errno(r, "futex_waitv")
        return WAIT_OBJECT_0

    def cancel(self):
        """Stop waiting; a count or an auto-reset signal the wait had taken
        already is given back."""
        cdef uint32_t previous
        if self.running:
            wipc_wait_cancel(&self.w)
        self.join()
        if self.w.result == 0 and self.w.hdr != NULL:
            if self.w.kind == WIPC_SEMAPHORE:
                wipc_semaphore_release(&self.w.hdr.u.semaphore, 1, &previous)
            elif self.w.kind == WIPC_EVENT and not self.w.hdr.u.event.manual:
                wipc_event_set(&self.w.hdr.u.event)
        self.release()

    cdef void release(self) noexcept:
        if self.efd >= 0:
            close(self.efd)
            self.efd = -1
        if self.w.hdr != NULL:
            munmap(self.w.hdr, sizeof(wipc_header))
            self.w.hdr = NULL

    def __dealloc__(self):
        if self.running:
            wipc_wait_cancel(&self.w)
            with nogil:
                pthread_join(self.thread, NULL)
        self.release()
