# call()'s answer object for the usual kinds of request, decided here so that
# a call costs the facade no Python-level type checks: a new bytearray for
# bytes or a bytearray, a copy of a ctypes instance, or the struct itself
# (out=struct, in place).  None for anything else (another out=, another
# type): the facade's _result_for() decides those, with its checks and
# messages.  acall()'s first step for the same kinds (begin_object) is one
# native call too.  (Part of both backends' _rpc.pyx.)

import ctypes as _ctypes

from cpython.bytearray cimport PyByteArray_FromObject
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_WRITABLE

# The ctypes types whose instances are data a call copies (the facade's
# checks use the same tuple).
cdef tuple _ctypes_data = (_ctypes.Structure, _ctypes.Union, _ctypes.Array)
CTYPES_DATA = _ctypes_data


cdef object answer_for(object struct, object out):
    cdef type t
    if out is not None:
        return out if out is struct else None
    t = type(struct)
    if t is bytes or t is bytearray:
        return PyByteArray_FromObject(struct)
    if isinstance(struct, _ctypes_data):
        return t.from_buffer_copy(struct)
    return None


cdef Py_ssize_t answer_size(object answer, size_t capacity) except -2:
    """The size of ``answer`` (answer_for's) when acall()'s first native step
    (each backend's begin_object) can send it through a buffer of
    ``capacity`` bytes; -1 when it is None, read-only (out=struct: the
    facade says so) or larger: the facade's own path takes those."""
    cdef Py_buffer view
    cdef Py_ssize_t size
    if answer is None:
        return -1
    try:
        PyObject_GetBuffer(answer, &view, PyBUF_WRITABLE)
    except BufferError:
        return -1
    size = view.len
    PyBuffer_Release(&view)
    return size if <size_t>size <= capacity else -1
