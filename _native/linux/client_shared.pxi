# The shared buffers a client has mapped (alloc_shared: the server's sealed
# memfds): where each lies in the server, and its mmap here.  Copies and
# calls in one are plain memory copies.  A C array, so that a call finds its
# buffer without a Python lookup; changed and read only with the GIL.
# (Part of _rpc.pyx; Process owns one.)

cdef struct Shared:
    uint64_t address     # in the server
    uint64_t size
    void *mapping        # the mmap object (a reference held in _SharedMaps.mappings)


@cython.final
cdef class _SharedMaps:
    cdef Shared *table
    cdef int count
    cdef list mappings          # the mmap objects

    def __cinit__(self):
        self.mappings = []

    def __dealloc__(self):
        free(self.table)

    cdef int add(self, uint64_t address, uint64_t size, object mapping) except -1:
        cdef void *p = realloc(self.table, (self.count + 1) * sizeof(Shared))
        if p == NULL:
            raise MemoryError()
        self.table = <Shared *>p
        self.table[self.count].address = address
        self.table[self.count].size = size
        self.table[self.count].mapping = <void *>mapping
        self.count += 1
        self.mappings.append(mapping)
        return 0

    cdef object find(self, uint64_t address, size_t size, uint64_t *offset):
        """The mmap of the shared buffer holding [address, address+size),
        with where ``address`` lies in it in ``offset``; or None."""
        cdef int i
        cdef uint64_t start, length
        for i in range(self.count):
            start, length = self.table[i].address, self.table[i].size
            if start <= address and address - start <= length and size <= length - (address - start):
                offset[0] = address - start
                return <object>self.table[i].mapping
        return None

    cdef char *pin(self, uint64_t address, size_t size, Py_buffer *view) except? NULL:
        """Where [address, address + size) of the server is mapped here, if
        it lies in one of the shared buffers, with that mapping pinned in
        ``view`` (release it once done); else NULL."""
        cdef uint64_t offset = 0
        if not self.count:
            return NULL
        mapping = self.find(address, size, &offset)
        if mapping is None:
            return NULL
        PyObject_GetBuffer(mapping, view, PyBUF_WRITABLE)
        return <char *>view.buf + offset

    cdef unmap(self, uint64_t address):
        """Close the mmap of the buffer at ``address`` and forget it; a
        buffer whose mapping is still exported (BufferError) stays."""
        cdef int i
        cdef Shared entry
        for i in range(self.count):
            if self.table[i].address == address:
                # Off the table before anything that may let another thread
                # run (closing unmaps without the GIL): the table never
                # points at a mapping that is going.
                entry = self.table[i]
                self.count -= 1
                self.table[i] = self.table[self.count]
                break
        else:
            raise_winerror(ERROR_INVALID_ADDRESS, "VirtualFreeEx (shared)",
                           f"{address:#x} is not a shared buffer of this connection")
        mapping = <object>entry.mapping
        try:
            mapping.close()         # BufferError while a view is exported
        except BaseException:
            # Still in use: back on the table (the array only shrank).
            self.table[self.count] = entry
            self.count += 1
            raise
        self.mappings.remove(mapping)

    cdef void close(self) noexcept:
        """Forget every buffer and close its mmap (one still exported unmaps
        when its last view goes)."""
        self.count = 0
        for m in self.mappings or ():     # None once the GC cleared it
            try:
                m.close()
            except BufferError:
                pass
        self.mappings = []
