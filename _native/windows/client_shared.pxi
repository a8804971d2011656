# The client's shared sections: memory the server creates and maps, mapped
# here too, so that copies into it are memory copies.  _SharedSections holds
# a Process's, with the doorbell they live with: they are asked for and freed
# through it, the only channel that says which process asks (control.pxi),
# and the server releases them with it.  The server gives us a handle to
# each.  (Part of _rpc.pyx, after client_bell.pxi.)

cdef struct Region:
    size_t address      # the section's address in the server
    size_t size
    char *local         # where it is mapped here
    PyObject *mapping   # the MappedView (a reference of ours)
    Py_buffer view      # held while registered: nobody can close it under a copy


@cython.final
cdef class _SharedSections:
    """The shared sections allocated through the doorbell ``bell``."""

    cdef _ClientBell bell
    cdef Region **regions   # each on the heap: the array may move, a region does not
    cdef int count

    def __cinit__(self, _ClientBell bell not None):
        self.bell = bell

    def __dealloc__(self):
        self.drop_all()

    cdef Region *find(self, size_t address, size_t size) noexcept:
        """The section that [address, address + size) lies in, or NULL."""
        cdef int i
        cdef Region *r
        for i in range(self.count):
            r = self.regions[i]
            if (address >= r.address and address - r.address < r.size
                    and size <= r.size - (address - r.address)):
                return r
        return NULL

    cdef char *pin(self, size_t address, size_t size, Py_buffer *view) except? NULL:
        """Where [address, address + size) of the server is mapped here, if it
        lies in one of the sections, with that mapping pinned in ``view``
        (release it after the copy); else NULL."""
        cdef Region *r = self.find(address, size)
        if r == NULL:
            return NULL
        PyObject_GetBuffer(<object>r.mapping, view, PyBUF_SIMPLE)
        return r.local + (address - r.address)

    cdef int add(self, Region *r) except -1:
        cdef Region **regions = <Region **>PyMem_Realloc(
            self.regions, (self.count + 1) * sizeof(Region *))
        if regions == NULL:
            raise MemoryError()
        self.regions = regions
        self.regions[self.count] = r
        self.count += 1
        return 0

    cdef Region *take(self, size_t address) noexcept:
        """Remove the section that starts at ``address`` from the list -> it,
        or NULL."""
        cdef int i
        cdef Region *r
        for i in range(self.count):
            r = self.regions[i]
            if r.address == address:
                self.count -= 1
                self.regions[i] = self.regions[self.count]
                return r
        return NULL

    cdef void drop(self, Region *r) noexcept:
        PyBuffer_Release(&r.view)
        Py_XDECREF(r.mapping)
        PyMem_Free(r)

    cdef void drop_all(self) noexcept:
        """Our views of every section (the server releases the sections
        with the doorbell)."""
        cdef int i, n = self.count
        cdef Region **regions = self.regions
        self.regions = NULL     # detached first: dropping one may let other threads run
        self.count = 0
        for i in range(n):
            self.drop(regions[i])
        PyMem_Free(regions)

    cdef object alloc(self, size_t size, UINT timeout_ms, int spin_us):
        """A section of ``size`` bytes that the server creates and maps, also
        mapped here -> (its address in the server, a writable MappedView)."""
        cdef LRESULT address
        cdef HANDLE section
        cdef void *base
        cdef DWORD err
        cdef Region *r
        cdef MappedView mapping
        if size == 0:
            raise ValueError("a shared buffer needs at least one byte")
        address = self.bell.control_call(OP_SHARED_ALLOC, <LPARAM>size, timeout_ms, spin_us,
                                         f"a shared buffer of {size} bytes")
        # The server gave us a handle to it: ours to close once mapped.
        section = <HANDLE><size_t>grant_of(self.bell.page).extra
        base = memoryapi.MapViewOfFile(section, memoryapi.FILE_MAP_READ | memoryapi.FILE_MAP_WRITE,
                                       0, 0, size)
        err = win32.GetLastError()
        win32.CloseHandle(section)
        try:
            if base == NULL:
                fail(err, "MapViewOfFile", f"a shared buffer of {size} bytes")
            mapping = MappedView.__new__(MappedView)
            mapping.base = mapping.start = <char *>base
            mapping.length = <Py_ssize_t>size
            r = <Region *>PyMem_Malloc(sizeof(Region))
            if r == NULL:
                raise MemoryError()
            PyObject_GetBuffer(mapping, &r.view, PyBUF_WRITABLE)
            r.address = <size_t>address
            r.size = size
            r.local = <char *>base
            r.mapping = <PyObject *>mapping
            Py_INCREF(mapping)
            try:
                self.add(r)
            except BaseException:
                self.drop(r)
                raise
        except BaseException:
            if base != NULL and mapping is None:
                memoryapi.UnmapViewOfFile(base)
            self.free_on_server(<size_t>address, timeout_ms, spin_us)
            raise
        return <size_t>address, mapping

    cdef int free_on_server(self, size_t address, UINT timeout_ms, int spin_us) except -1:
        """Give back a section the server made for us that we could not take
        (while the error that stopped us propagates).  Best effort: a failure
        here costs nothing for long, since the server releases every section
        with the doorbell that allocated it (when the doorbell is closed, or
        this process exits), and raising it would hide the error that matters.
        Only the call's own failures (the OSErrors it raises: a timeout, a
        refusal, a server gone) are dropped; anything else, an interrupt
        (KeyboardInterrupt during the wait) or a bug, goes on up."""
        try:
            self.bell.control_call(OP_SHARED_FREE, <LPARAM>address, timeout_ms, spin_us,
                                   f"freeing the shared buffer at {address:#x}")
        except OSError:
            pass
        return 0

    cdef int free(self, size_t address, UINT timeout_ms, int spin_us) except -1:
        """Close our mapping of the section at ``address`` (BufferError while
        a view of it is exported, and then nothing else happens), then have
        the server unmap it."""
        cdef Region *r
        cdef MappedView mapping
        # Off the list first: closing the mapping lets other threads run.
        r = self.take(address)
        if r == NULL:
            raise_winerror(bellapi.ERROR_INVALID_ADDRESS, "free_shared",
                           detail=f"no shared buffer of this process is at {address:#x}")
        mapping = <MappedView>r.mapping
        PyBuffer_Release(&r.view)
        try:
            mapping.close()
        except BaseException:
            PyObject_GetBuffer(mapping, &r.view, PyBUF_WRITABLE)
            self.add(r)
            raise
        self.drop(r)   # its view is released already: a second release is a no-op
        self.bell.control_call(OP_SHARED_FREE, <LPARAM>address, timeout_ms, spin_us,
                               f"freeing the shared buffer at {address:#x}")
        return 0
