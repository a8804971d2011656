# The client's shared sections: memory the server creates and maps, mapped
# here too, so that copies into it are memory copies.  Asked for and freed
# through the doorbell, the only channel that says which process asks
# (control.pxi); the server gives us a handle to each.  (Part of _rpc.pyx:
# Process.alloc_shared and free_shared call these.)

cdef struct Region:
    size_t address      # the section's address in the server
    size_t size
    char *local         # where it is mapped here
    PyObject *mapping   # the MappedView (a reference of ours)
    Py_buffer view      # held while registered: nobody can close it under a copy


cdef LRESULT bell_control_call(Process p, WPARAM op, LPARAM arg, UINT timeout_ms,
                               str what) except? -1:
    """A control request on the Process's doorbell (opened if needed) ->
    its positive answer; raises the server's refusal or the call's failure."""
    cdef ClientBell *bell = p.take_bell(CONTROL_MESSAGE, True, timeout_ms)
    cdef LRESULT result = 0
    cdef DWORD err
    try:
        with nogil:
            err = bell_round_trip(bell, CONTROL_MESSAGE, op, arg, timeout_ms, p._spin_us, &result)
        if err:
            round_trip_failed(err, STEP_BELL, CONTROL_MESSAGE, 0, 0, p.pid, bell.started)
    finally:
        p._bell_busy = False
    if WINIPC_IS_ERROR(result) or result <= 0:
        code = WINIPC_ERROR_CODE(result) if WINIPC_IS_ERROR(result) else bellapi.ERROR_INVALID_DATA
        raise_winerror(code, "the doorbell",
                       lambda words: f"the server refused {what}: {words}")
    return result


cdef object alloc_shared_section(Process p, size_t size, UINT timeout_ms):
    cdef LRESULT address
    cdef HANDLE section
    cdef void *base
    cdef DWORD err
    cdef Region *r
    cdef MappedView mapping
    p.enter()
    try:
        if size == 0:
            raise ValueError("a shared buffer needs at least one byte")
        address = bell_control_call(p, OP_SHARED_ALLOC, <LPARAM>size, timeout_ms,
                                    f"a shared buffer of {size} bytes")
        # The server gave us a handle to it: ours to close once mapped.
        section = <HANDLE><size_t>grant_of(p._bell.bell).extra
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
                p.add_region(r)
            except BaseException:
                p.drop_region(r)
                raise
        except BaseException:
            if base != NULL and mapping is None:
                memoryapi.UnmapViewOfFile(base)
            free_on_server(p, <size_t>address, timeout_ms)
            raise
        return <size_t>address, mapping
    finally:
        p.leave()


cdef void free_on_server(Process p, size_t address, UINT timeout_ms):
    """Give back a section the server made for us that we could not take
    (while the error that stopped us propagates).  Best effort: a failure
    here costs nothing for long, since the server releases every section
    with the doorbell that allocated it (when the doorbell is closed, or
    this process exits), and raising it would hide the error that matters.
    Only the call's own failures (the OSErrors it raises: a timeout, a
    refusal, a server gone) are dropped; anything else, an interrupt
    (KeyboardInterrupt during the wait) or a bug, goes on up."""
    try:
        bell_control_call(p, OP_SHARED_FREE, <LPARAM>address, timeout_ms,
                          f"freeing the shared buffer at {address:#x}")
    except OSError:
        pass


cdef object free_shared_section(Process p, size_t address, UINT timeout_ms):
    cdef Region *r
    cdef MappedView mapping
    p.enter()
    try:
        # Off the list first: closing the mapping lets other threads run.
        r = p.take_region(address)
        if r == NULL:
            raise_winerror(bellapi.ERROR_INVALID_ADDRESS, "free_shared",
                           detail=f"no shared buffer of this process is at {address:#x}")
        mapping = <MappedView>r.mapping
        PyBuffer_Release(&r.view)
        try:
            mapping.close()
        except BaseException:
            PyObject_GetBuffer(mapping, &r.view, PyBUF_WRITABLE)
            p.add_region(r)
            raise
        p.drop_region(r)   # its view is released already: a second release is a no-op
        bell_control_call(p, OP_SHARED_FREE, <LPARAM>address, timeout_ms,
                          f"freeing the shared buffer at {address:#x}")
    finally:
        p.leave()
