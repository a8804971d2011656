# call()'s answer object for the usual kinds of request, decided here so that
# a call costs the facade no Python-level type checks: a new bytearray for
# bytes or a bytearray, a copy of a ctypes instance, or the struct itself
# (out=struct, in place).  None for anything else (another out=, another
# type): the facade's _result_for() decides those, with its checks and
# messages.  (Part of both backends' _rpc.pyx.)

import ctypes as _ctypes

from cpython.bytearray cimport PyByteArray_FromObject

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
