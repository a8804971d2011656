# PreparedCall: one message on one buffer of a Process, bound once, so that
# each call does only the round trip (the per-call lookups of Process.call,
# and the facade's, are done when it is made).  (Part of _rpc.pyx.)

cdef class PreparedCall:
    """``msg`` on the ``size`` bytes at ``address`` in ``process``'s server:
    ``prepared(struct)`` writes ``struct`` there, sends, reads the answer
    back into ``struct`` (in place) and returns the message's result.
    ``on_error(prepared, error)``, if set, gives the exception to raise for
    a failed call (the facade explains it, and replaces a buffer the server
    may still be using)."""
    cdef readonly Process process
    cdef readonly UINT msg
    cdef readonly size_t address
    cdef readonly Py_ssize_t size
    cdef readonly UINT timeout_ms
    cdef public object on_error
    cdef public object owner        # what frees the buffer (the facade's RemoteBuffer)
    cdef Py_buffer pinned           # the shared section's mapping here, if it is one
    cdef char *local
    cdef bint busy                  # a thread is in a call (the buffer is one)

    def __init__(self, Process process not None, UINT msg, size_t address,
                 Py_ssize_t size, UINT timeout_ms, owner=None):
        self.process = process
        self.msg = msg
        self.timeout_ms = timeout_ms
        self.owner = owner
        self.bind(address, size)

    def bind(self, size_t address, Py_ssize_t size):
        """Use the ``size`` bytes at ``address`` from now on."""
        if size <= 0:
            raise ValueError("a prepared call needs a buffer of at least one byte")
        if self.process._server32:
            check_fits_32bit(self.process.pid, self.msg, <size_t>size, address,
                             <size_t>size)
        self.unbind()
        self.local = self.process._shared.pin(address, <size_t>size, &self.pinned)
        self.address = address
        self.size = size

    cdef void unbind(self) noexcept:
        if self.local != NULL:
            PyBuffer_Release(&self.pinned)
            self.local = NULL
        self.address = 0

    @property
    def closed(self):
        return self.address == 0

    def __call__(self, buffer):
        cdef Py_buffer view
        cdef Process p = self.process
        cdef HANDLE handle
        cdef int64_t result = 0
        if self.address == 0:
            raise ValueError("the prepared call is closed")
        if self.busy:
            raise RuntimeError("a prepared call runs one call at a time (its buffer is one); "
                               "prepare one per thread")
        get_buffer(buffer, &view, True)
        # Refused here, before on_error: nothing was sent, and on_error would
        # take the buffer for one the server may still be writing.
        if view.len > self.size:
            PyBuffer_Release(&view)
            raise ValueError(f"{view.len} bytes do not fit the prepared call's "
                             f"{self.size}-byte buffer")
        self.busy = True
        try:
            handle = p.enter()
            try:
                p.round_trips(handle, self.msg, self.address, self.local, view.buf,
                              <size_t>view.len, 1, self.timeout_ms, &result, False)
            finally:
                p.leave()
        except BaseException as e:
            if self.on_error is None:
                raise
            raise self.on_error(self, e)
        finally:
            self.busy = False
            PyBuffer_Release(&view)
        return result

    def close(self):
        """Stop using the buffer and free it (its owner's close()); harmless
        twice."""
        owner, self.owner = self.owner, None
        self.unbind()
        if owner is not None:
            owner.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __dealloc__(self):
        if self.local != NULL:
            PyBuffer_Release(&self.pinned)
