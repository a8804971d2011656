# Python strings to and from the wide (UTF-16) strings of the W functions,
# for both Windows modules.

from libc.stddef cimport wchar_t
from cpython.unicode cimport PyUnicode_AsWideCharString, PyUnicode_FromWideChar


cdef inline wchar_t *wide(object text) except NULL:
    """``text`` as a NUL-terminated UTF-16 string; free with PyMem_Free."""
    return PyUnicode_AsWideCharString(text, NULL)


cdef inline str from_wide(wchar_t *w):
    """A NUL-terminated UTF-16 string (surrogate pairs joined)."""
    return PyUnicode_FromWideChar(w, -1)
