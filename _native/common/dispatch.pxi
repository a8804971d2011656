# The handler table and the in-place dispatch, shared by every backend's
# _rpc.pyx (included, so that both compile the very same code).  The backend
# validates the address first; this part checks the size and runs the handler.

from libc.stdint cimport int64_t, uint32_t
from libc.string cimport memcpy
from doorbell cimport WINIPC_MAX_SPIN_US
from win32_values cimport (ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_ADDRESS,
                           ERROR_UNHANDLED_EXCEPTION, ERROR_INVALID_MESSAGE,
                           ERROR_NOT_ENOUGH_MEMORY, ERROR_INVALID_PARAMETER, WM_USER)
from cpython.ref cimport PyObject
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_New

cdef extern from "Python.h":
    void PyErr_SetInterrupt()
    object PyMemoryView_FromMemory(char *mem, Py_ssize_t size, int flags)
    int PyBUF_WRITE


def view_at(size_t address, Py_ssize_t size):
    """The ``size`` bytes at ``address`` in this process as a writable
    memoryview, for Python handlers (a tenth of what ctypes takes to make
    one; as unchecked as ctypes' from_address)."""
    if size < 0:
        raise ValueError("size must not be negative")
    return PyMemoryView_FromMemory(<char *>address, size, PyBUF_WRITE)

cdef extern from "winipc.h" nogil:
    ctypedef int64_t (*winipc_handler)(void *data, size_t size)
    int64_t WINIPC_ERROR_RESULT(uint32_t code)
    bint WINIPC_IS_ERROR(int64_t r)
    uint32_t WINIPC_ERROR_CODE(int64_t r)
    int64_t winipc_sample_compare(void *data, size_t size)
    int64_t winipc_sample_bump(void *data, size_t size)
    int64_t WINIPC_ERROR_BASE
    enum:
        WINIPC_ERROR_SPAN

cdef enum:
    MAX_HANDLERS = 256

#: The results the protocol keeps for errors (winipc.h): a handler's are outside.
RESERVED_RESULTS = range(WINIPC_ERROR_BASE, WINIPC_ERROR_BASE + WINIPC_ERROR_SPAN)

HANDLER_CAPSULE_NAME = "winipc.handler"

cdef struct Handler:
    unsigned int msg
    size_t size          # the handler's struct: wParam must be at least this
    winipc_handler fn    # a compiled handler, or NULL
    PyObject *pyfunc     # else pyfunc(address, size) -> int, called with the GIL

cdef class HandlerTable:
    """Handlers by message.  Filled before serving; read without the GIL."""
    cdef Handler entries[MAX_HANDLERS]
    cdef int count
    cdef list _refs      # keeps the Python handlers alive

    def __cinit__(self):
        self.count = 0
        self._refs = []

    def add(self, unsigned int msg, size_t size, pyfunc=None, size_t native=0):
        cdef int i
        for i in range(self.count):
            if self.entries[i].msg == msg:
                raise ValueError(f"message {msg:#x} already has a handler")
        if not WM_USER <= msg <= 0xBFFF:
            # Below WM_USER are the system's messages; from 0xC000 on are
            # RegisterWindowMessage's, where winipc's own control message lives.
            raise ValueError(f"message {msg:#x} is outside WM_USER..0xBFFF")
        if self.count >= MAX_HANDLERS:
            raise ValueError(f"a server holds at most {MAX_HANDLERS} handlers")
        if (pyfunc is None) == (native == 0):
            raise ValueError("give exactly one of a Python handler and a native address")
        self.entries[self.count].msg = msg
        self.entries[self.count].size = size
        self.entries[self.count].fn = <winipc_handler><void *>native
        self.entries[self.count].pyfunc = <PyObject *>pyfunc if pyfunc is not None else NULL
        if pyfunc is not None:
            self._refs.append(pyfunc)
        self.count += 1

    cdef Handler *find(self, unsigned int msg) noexcept nogil:
        cdef int i
        for i in range(self.count):
            if self.entries[i].msg == msg:
                return &self.entries[i]
        return NULL


cdef uint32_t run_handler(Handler *h, void *data, size_t size, int64_t *result,
                          unsigned long caller) noexcept nogil:
    """Run ``h`` on ``size`` validated bytes at ``data`` for process
    ``caller`` (0: unknown, as for a window message, which anyone can send);
    0 or a Win32 code.  A Python handler is called with (address, size,
    caller)."""
    if size < h.size:
        return ERROR_INSUFFICIENT_BUFFER
    if h.fn != NULL:
        result[0] = h.fn(data, size)
    else:
        with gil:
            try:
                result[0] = (<object>h.pyfunc)(<size_t>data, size, caller)
            except KeyboardInterrupt:
                # Ctrl+C landed in the handler: the sender is told the handler
                # failed, and the interrupt is raised again for the main
                # thread, which stops serving at its next look at signals.
                # (Set here, where no Python code runs before that look.)
                PyErr_SetInterrupt()
                return ERROR_UNHANDLED_EXCEPTION
            except BaseException:
                # The facade's wrapper has logged it; the server keeps serving.
                return ERROR_UNHANDLED_EXCEPTION
    if WINIPC_IS_ERROR(result[0]):   # a reserved value: refuse it, and say why
        write_note(data, size, b"a compiled handler returned a value in winipc's reserved "
                               b"error range (-2**63 to -2**63 + 0xFFFF)")
        return ERROR_UNHANDLED_EXCEPTION
    return 0


# A failed handler's buffer starts with this and a UTF-8 text saying why
# (NUL-terminated, at most NOTE_MAX bytes in all); the sender reads it back
# for HandlerFailed's message.  The facade's Python handlers write the same
# (winipc/_notes.py), with the tag and the limit exported here.
cdef const char *NOTE_MAGIC = b"winipc!"
cdef enum:
    NOTE_MAGIC_LEN = 7
    NOTE_MAX = 256
NOTE_TAG = NOTE_MAGIC[:NOTE_MAGIC_LEN]
NOTE_LIMIT = NOTE_MAX


cdef void write_note(void *data, size_t size, const char *text) noexcept nogil:
    cdef size_t n = 0, room
    cdef char *out = <char *>data
    if size > NOTE_MAX:
        size = NOTE_MAX
    if size < NOTE_MAGIC_LEN + 1:
        return
    room = size - NOTE_MAGIC_LEN - 1
    memcpy(out, NOTE_MAGIC, NOTE_MAGIC_LEN)
    while n < room and text[n] != 0:
        out[NOTE_MAGIC_LEN + n] = text[n]
        n += 1
    out[NOTE_MAGIC_LEN + n] = 0


def handler_address(obj):
    """The address of a compiled handler given as a PyCapsule named
    "winipc.handler" or as a ctypes function pointer."""
    import ctypes
    if isinstance(obj, ctypes._CFuncPtr):
        return ctypes.cast(obj, ctypes.c_void_p).value or 0
    return <size_t>PyCapsule_GetPointer(obj, "winipc.handler")


def sample_handlers():
    """The compiled sample handlers, as PyCapsules: ``compare`` (a struct of
    two doubles: red, blue = blue + 1, red * 2) and ``bump`` (adds one to
    every byte, returns the size)."""
    return {
        "compare": PyCapsule_New(<void *>winipc_sample_compare, "winipc.handler", NULL),
        "bump": PyCapsule_New(<void *>winipc_sample_bump, "winipc.handler", NULL),
    }


# The spin knob's range, checked in one place for both backends' setters.
MAX_SPIN_US = WINIPC_MAX_SPIN_US


cdef int checked_spin_us(long long value) except -1:
    if not 0 <= value <= WINIPC_MAX_SPIN_US:
        raise ValueError(f"spin_us must be within 0..{WINIPC_MAX_SPIN_US}, not {value}")
    return <int>value
