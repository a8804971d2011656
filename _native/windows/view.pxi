# MappedView: a view of a file mapping, what KObject.map returns and what a
# shared buffer is mapped as (winipc._rpc cimports it).  Its fields are
# declared in winipc/_kernel.pxd.  (Part of _kernel.pyx.)

cdef class MappedView:
    """A view of a file mapping (MapViewOfFile): the buffer protocol, slicing,
    ``len()``, ``close()`` (UnmapViewOfFile; refused while a memoryview of it
    is alive) and ``with``."""

    def __cinit__(self):
        self.base = NULL

    def __dealloc__(self):
        if self.base != NULL:
            UnmapViewOfFile(self.base)
            self.base = NULL

    def __getbuffer__(self, Py_buffer *buffer, int flags):
        if self.base == NULL:
            raise ValueError("the view is closed")
        PyBuffer_FillInfo(buffer, self, self.start, self.length, self.readonly, flags)
        self.exports += 1

    def __releasebuffer__(self, Py_buffer *buffer):
        self.exports -= 1

    @property
    def closed(self):
        return self.base == NULL

    @property
    def address(self):
        return <size_t>self.start

    def close(self):
        if self.base == NULL:
            return
        if self.exports:
            raise BufferError("cannot close a view while a memoryview of it exists")
        cdef char *base = self.base
        self.base = NULL
        if not UnmapViewOfFile(base):
            raise_winerror(win32.GetLastError(), "UnmapViewOfFile")

    def __len__(self):
        return self.length

    def __getitem__(self, key):
        with memoryview(self) as m:
            item = m[key]
            return item.tobytes() if isinstance(item, memoryview) else item

    def __setitem__(self, key, value):
        if self.readonly:
            raise TypeError("cannot modify a read-only view")
        with memoryview(self) as m:
            m[key] = value

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self.base == NULL else f"address={<size_t>self.start:#x}"
        return f"<winipc.MappedView {self.length} bytes {state} readonly={self.readonly}>"
