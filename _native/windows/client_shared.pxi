# The client's shared sections: memory the server creates and maps, mapped
# here too, so that copies into it are memory copies.  (Part of _rpc.pyx:
# Process.alloc_shared and free_shared call these.)

cdef struct Region:
    size_t address      # the section's address in the server
    size_t size
    char *local         # where it is mapped here
    uint64_t token
    PyObject *mapping   # the mmap.mmap (a reference of ours)
    Py_buffer view      # held while registered: nobody can close it under a copy


cdef object alloc_shared_section(Process p, size_t size, UINT timeout_ms):
    cdef LRESULT token, address
    cdef HANDLE section
    cdef wchar_t *name = NULL
    cdef Region *r
    cdef DWORD server_pid = 0
    p.enter()
    try:
        if size == 0:
            raise ValueError("a shared buffer needs at least one byte")
        if not win32.GetWindowThreadProcessId(p._window, &server_pid):
            raise_winerror(win32.ERROR_INVALID_WINDOW_HANDLE, "GetWindowThreadProcessId",
                           detail=f"the server window {<size_t>p._window:#x} is gone")
        token = p.control(p._window, OP_SHARED_ALLOC, <LPARAM>size, timeout_ms,
                             f"a shared buffer of {size} bytes")
        try:
            address = p.control(p._window, OP_SHARED_ADDRESS, token, timeout_ms,
                                   "the address of a shared buffer")
            tagname = object_name(server_pid, token, "shm")
            # mmap(tagname=) would create the section if it did not exist:
            # open it first, and hold it while mmap opens it again.
            name = wide(tagname)
            section = memoryapi.OpenFileMappingW(
                memoryapi.FILE_MAP_READ | memoryapi.FILE_MAP_WRITE, win32.FALSE, name)
            if section == NULL:
                fail(win32.GetLastError(), "OpenFileMappingW", "a shared buffer")
            try:
                mapping = mmap.mmap(-1, size, tagname=tagname)
            finally:
                win32.CloseHandle(section)
            r = <Region *>PyMem_Malloc(sizeof(Region))
            if r == NULL:
                mapping.close()
                raise MemoryError()
            PyObject_GetBuffer(mapping, &r.view, PyBUF_WRITABLE)
            r.address = <size_t>address
            r.size = size
            r.local = <char *>r.view.buf
            r.token = <uint64_t>token
            r.mapping = <PyObject *>mapping
            Py_INCREF(mapping)
            try:
                p.add_region(r)
            except BaseException:
                p.drop_region(r)
                raise
        except BaseException:
            win32.PostMessageW(p._window, CONTROL_MESSAGE, OP_SHARED_FREE, token)
            raise
        return <size_t>address, mapping
    finally:
        PyMem_Free(name)
        p.leave()


cdef object free_shared_section(Process p, size_t address, UINT timeout_ms):
    cdef Region *r
    p.enter()
    try:
        # Off the list first: closing the mapping lets other threads run.
        r = p.take_region(address)
        if r == NULL:
            raise_winerror(bellapi.ERROR_INVALID_ADDRESS, "free_shared",
                           detail=f"no shared buffer of this process is at {address:#x}")
        mapping = <object>r.mapping
        PyBuffer_Release(&r.view)
        try:
            mapping.close()
        except BaseException:
            PyObject_GetBuffer(mapping, &r.view, PyBUF_WRITABLE)
            p.add_region(r)
            raise
        token = r.token
        p.drop_region(r)   # its view is released already: a second release is a no-op
        p.control(p._window, OP_SHARED_FREE, <LPARAM>token, timeout_ms,
                     f"freeing the shared buffer at {address:#x}")
    finally:
        p.leave()
