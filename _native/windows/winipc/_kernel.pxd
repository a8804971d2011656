# What the other native module uses of winipc._kernel on Windows, declared
# once: MappedView, a view of a file mapping (its methods: view.pxi, part of
# _kernel.pyx), which winipc._rpc hands out for a shared section too
# (cimported there: one type in both).  Found through the include path
# _native/windows under the module's full name.

cdef class MappedView:
    cdef char *base           # what MapViewOfFile returned
    cdef char *start          # the user's first byte
    cdef Py_ssize_t length
    cdef readonly bint readonly
    cdef int exports
