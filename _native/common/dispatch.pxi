# The handler table and the in-place dispatch, shared by every backend's
# _rpc.pyx (included, so that both compile the very same code).  The backend
# validates the address first; this part checks the size and runs the handler.

from libc.stdint cimport int64_t, uint32_t
from libc.string cimport memcpy, memcmp, memset
from doorbell cimport WINIPC_MAX_SPIN_US, WINIPC_DEFAULT_SPIN_US, WINIPC_STEADY_PER_SPIN
from win32_values cimport (ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_ADDRESS,
                           ERROR_UNHANDLED_EXCEPTION, ERROR_INVALID_MESSAGE,
                           ERROR_NOT_ENOUGH_MEMORY, ERROR_INVALID_PARAMETER, WM_USER)
from cpython.ref cimport PyObject
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_New

cdef extern from "Python.h":
    void PyErr_SetInterrupt()
    object PyMemoryView_FromMemory(char *mem, Py_ssize_t size, int flags)
    int PyBUF_WRITE


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
    PyObject *pyfunc     # else a Python function, called with the GIL on
    PyObject *ctype      # a ctypes instance of this type at the buffer, or NULL: a memoryview


# The process whose call the handler running on this thread serves (0: none
# or unknown), for caller_pid(): a C thread-local, set around each handler.
cdef extern from *:
    """
    #if defined(_MSC_VER)
    static __declspec(thread) unsigned long winipc_serving_caller;
    #else
    static __thread unsigned long winipc_serving_caller;
    #endif
    """
    unsigned long winipc_serving_caller


def serving_caller():
    """The process id run_handler() gave the handler running on this
    thread; 0 outside a handler, or when unknown."""
    return winipc_serving_caller


# What the facade does where a Python handler's call does not go plainly
# (set_handler_hooks): RESULT_OF(fn, result) -> an int from anything but
# None or an int (or raises why not), which checked_result() then checks
# as every result is; FAILED(fn, error, address, size) logs a handler's
# error and writes its note.  Hooks, so that this module imports nothing of
# the facade.
cdef object RESULT_OF = None
cdef object FAILED = None


def set_handler_hooks(result_of, failed):
    global RESULT_OF, FAILED
    RESULT_OF, FAILED = result_of, failed

cdef class HandlerTable:
    """Handlers by message.  Filled before serving; read without the GIL."""
    cdef Handler entries[MAX_HANDLERS]
    cdef int count
    cdef list _refs      # keeps the Python handlers alive

    def __cinit__(self):
        self.count = 0
        self._refs = []

    def add(self, unsigned int msg, size_t size, pyfunc=None, size_t native=0, ctype=None):
        """``pyfunc(view)``, with a memoryview of the request's bytes or a
        ``ctype`` instance at them, or the compiled handler at ``native``."""
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
        self.entries[self.count].ctype = <PyObject *>ctype if ctype is not None else NULL
        if pyfunc is not None:
            self._refs.append(pyfunc)
            self._refs.append(ctype)
        self.count += 1

    cdef Handler *find(self, unsigned int msg) noexcept nogil:
        cdef int i
        for i in range(self.count):
            if self.entries[i].msg == msg:
                return &self.entries[i]
        return NULL


# What a compiled handler's refused result says (the range is winipc.h's).
cdef bytes RESERVED_NOTE = ("a compiled handler returned a value in winipc's reserved error "
                            f"range (-2**31 to -2**31 + 0x{WINIPC_ERROR_SPAN - 1:X})").encode()
cdef const char *RESERVED_NOTE_TEXT = RESERVED_NOTE


cdef uint32_t run_handler(Handler *h, void *data, size_t size, int64_t *result,
                          unsigned long caller) noexcept nogil:
    """Run ``h`` on ``size`` validated bytes at ``data`` for process
    ``caller`` (0: unknown, as for a window message, which anyone can send);
    0 or a Win32 code."""
    if size < h.size:
        return ERROR_INSUFFICIENT_BUFFER
    if h.fn != NULL:
        result[0] = h.fn(data, size)
    elif run_python(h, data, size, result, caller) < 0:
        return ERROR_UNHANDLED_EXCEPTION
    if WINIPC_IS_ERROR(result[0]):   # a reserved value: refuse it, and say why
        write_note(data, size, RESERVED_NOTE_TEXT)
        return ERROR_UNHANDLED_EXCEPTION
    return 0


cdef int64_t checked_result(object fn, object value) except? -1:
    """``value``, an int that handler ``fn`` returned, as the message's
    result; else the error that says why not (the one check of a Python
    handler's result: the reserved range is winipc.h's)."""
    cdef int64_t result
    if fits_result(value, &result):
        return result
    if WINIPC_IS_ERROR(result):
        raise ValueError(f"handler {fn.__qualname__} returned {value:#x}, which is in the "
                         "range winipc keeps for errors (-2**31 to -2**31 + "
                         f"0x{WINIPC_ERROR_SPAN - 1:X})")
    raise OverflowError(f"handler {fn.__qualname__} returned {value:#x}, which does not "
                        "fit a message's result (a signed 64-bit int)")


cdef bint fits_result(object answer, int64_t *result) noexcept:
    """An int that is a message's result as it is: in int64, outside the
    reserved range."""
    try:
        result[0] = answer
    except OverflowError:
        result[0] = 0
        return False
    return not WINIPC_IS_ERROR(result[0])


cdef int run_python(Handler *h, void *data, size_t size, int64_t *result,
                    unsigned long caller) noexcept with gil:
    """A Python handler's call: its argument, its result (None is 0; an int
    outside the reserved range as it is; anything else through the facade's
    RESULT_OF), and on an error the facade's FAILED.  -1 when it failed."""
    global winipc_serving_caller
    cdef object fn = <object>h.pyfunc
    winipc_serving_caller = caller
    try:
        if h.ctype == NULL:
            answer = fn(PyMemoryView_FromMemory(<char *>data, size, PyBUF_WRITE))
        else:
            answer = fn((<object>h.ctype).from_address(<size_t>data))
        if answer is None:
            result[0] = 0
        elif type(answer) is int and fits_result(answer, result):
            pass
        else:
            result[0] = checked_result(fn, RESULT_OF(fn, answer))
        return 0
    except KeyboardInterrupt:
        # Ctrl+C landed in the handler: the sender is told the handler
        # failed, and the interrupt is raised again for the main thread,
        # which stops serving at its next look at signals.  (Set here, where
        # no Python code runs before that look.)
        PyErr_SetInterrupt()
        return -1
    except BaseException as e:
        try:
            FAILED(fn, e, <size_t>data, size)
        except BaseException:
            pass            # the sender still gets HandlerFailed; the server serves on
        return -1
    finally:
        winipc_serving_caller = 0


# A failed handler's buffer starts with this and a UTF-8 text saying why
# (NUL-terminated, at most NOTE_MAX bytes in all); the sender reads it back
# for HandlerFailed's message.  The facade's Python handlers write the same
# (winipc/_notes.py), with the tag and the limit exported here.
cdef const char *NOTE_MAGIC = b"winipc!"
cdef enum:
    NOTE_MAGIC_LEN = 7
    NOTE_MAX = 256
NOTE_LIMIT = NOTE_MAX


# A request that came through a doorbell also has its note in the page
# (WINIPC_BELL_NOTE, NOTE_MAX bytes), whole whatever the struct's size: the
# serving thread opens the page's note area around the handler.
cdef extern from *:
    """
    #if defined(_MSC_VER)
    static __declspec(thread) char *winipc_note_area;
    static __declspec(thread) int winipc_note_written;
    #else
    static __thread char *winipc_note_area;
    static __thread int winipc_note_written;
    #endif
    """
    char *winipc_note_area
    int winipc_note_written


cdef inline void note_area_open(char *area) noexcept nogil:
    global winipc_note_area, winipc_note_written
    winipc_note_area = area
    winipc_note_written = 0


cdef inline void note_area_close(bint failed) noexcept nogil:
    """After the handler: a failure that left no note clears the page's, so
    that an older note is never taken for this one's."""
    global winipc_note_area
    if failed and winipc_note_area != NULL and not winipc_note_written:
        winipc_note_area[0] = 0
    winipc_note_area = NULL


cdef void put_note(char *out, size_t size, const char *text) noexcept nogil:
    cdef size_t n = 0, room
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


cdef void write_note(void *data, size_t size, const char *text) noexcept nogil:
    """The note at the start of the handler's buffer (cut to its size), and
    whole in the doorbell page if the request came through one."""
    global winipc_note_written
    put_note(<char *>data, size, text)
    if winipc_note_area != NULL:
        put_note(winipc_note_area, NOTE_MAX, text)
        winipc_note_written = 1


def note_failure(size_t address, size_t size, bytes text):
    """A failed Python handler's note (UTF-8 ``text``) for the ``size`` bytes
    at ``address``, where write_note() puts a compiled one's."""
    write_note(<void *>address, size, text)


cdef object parse_note(const char *raw, size_t size):
    """The text of the note in ``size`` bytes at ``raw``, or None."""
    cdef size_t n = NOTE_MAGIC_LEN
    if size > NOTE_MAX:
        size = NOTE_MAX
    if size < NOTE_MAGIC_LEN or memcmp(raw, NOTE_MAGIC, NOTE_MAGIC_LEN) != 0:
        return None
    while n < size and raw[n] != 0:
        n += 1
    return raw[NOTE_MAGIC_LEN:n].decode("utf-8", "replace")


cdef inline bint has_note(const char *raw) noexcept nogil:
    """Whether the NOTE_MAX bytes at ``raw`` start with a note's tag."""
    return memcmp(raw, NOTE_MAGIC, NOTE_MAGIC_LEN) == 0


cdef inline void take_note(char *note, const char *buffer, size_t size) noexcept nogil:
    """The first min(``size``, NOTE_MAX) bytes of a buffer in ``note``
    (NOTE_MAX bytes), zeros after them: parse_note(note, NOTE_MAX) then
    reads what parse_note(buffer, size) would."""
    memset(note, 0, NOTE_MAX)
    memcpy(note, buffer, size if size < NOTE_MAX else NOTE_MAX)


cdef int raise_refusal(uint32_t code, str call, object detail, unsigned int msg,
                       int64_t sent, const char *note) except -1:
    """Raise the server's refusal ``code`` of message ``msg``, said as
    ``detail`` says (errors.pxi), for every backend's calls.  ``sent``: the
    bytes of a buffer of the client's own that the message carried (call,
    send of a RemoteBuffer, a prepared or asynchronous call), whose refusal
    is worded with them and with the note the failed handler left (``note``,
    NOTE_MAX bytes from the doorbell page or the buffer; NULL: none); -1: a
    send of any wParam and lParam, said as it is."""
    cdef char copy[NOTE_MAX]       # (a page the server shares may change meanwhile)
    cdef object text = None
    if note != NULL:
        memcpy(copy, note, NOTE_MAX)
        text = parse_note(copy, NOTE_MAX)
    if sent >= 0 and code == ERROR_UNHANDLED_EXCEPTION and text is not None:
        detail = f"the handler of message {msg:#x} failed: {text}"
    elif sent >= 0 and code == ERROR_INSUFFICIENT_BUFFER:
        detail = (f"the handler of message {msg:#x} needs more than the {sent} bytes sent "
                  f"(wParam {sent})")
    error = native_error("winerror", code, call, detail, None)
    if code == ERROR_UNHANDLED_EXCEPTION and text is not None:
        error.handler_error = text      # HandlerFailed's reason
    raise error


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


# The spin knob's default and range, checked in one place for both backends'
# setters (doorbell.h).
DEFAULT_SPIN_US = WINIPC_DEFAULT_SPIN_US
MAX_SPIN_US = WINIPC_MAX_SPIN_US
STEADY_PER_SPIN = WINIPC_STEADY_PER_SPIN


cdef int default_steady_us(long long spin_us) noexcept:
    """A server's steady mode unless told otherwise: STEADY_PER_SPIN times
    its spin, at most MAX_SPIN_US (doorbell.h)."""
    return <int>min(WINIPC_STEADY_PER_SPIN * spin_us, WINIPC_MAX_SPIN_US)


cdef int spin_out_of_range(object value, str name) except -1:
    raise ValueError(f"{name} is a number of microseconds from 0 to {WINIPC_MAX_SPIN_US}, "
                     f"not {value!r}")


cdef int checked_spin_us(long long value) except -1:
    """A spin for the native setters and calls, in range."""
    if not 0 <= value <= WINIPC_MAX_SPIN_US:
        spin_out_of_range(value, "spin_us")
    return <int>value


def check_spin(value, str name="spin"):
    """The facade's check of a spin argument (None: the default) before it
    is used, by the same rule as the native setters', worded with the
    argument's ``name``."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} is an int number of microseconds, not {type(value).__name__}")
    if not 0 <= value <= WINIPC_MAX_SPIN_US:
        spin_out_of_range(value, name)


# Until when a client's waits sleep in the kernel instead of yielding
# (doorbell.h, winipc_client_wait_step): a yield lately lost the CPU to
# another process.  Every doorbell of this process shares it.  (Threads race
# on it harmlessly.)
cdef int64_t yields_muted_until = 0
cdef int64_t yields_lost = 0            # (winipc_lost_yield)


cdef int transport_spin(long long spin_us, bint shared) except -2:
    """Both backends' Process.open_transport choice: the spin (µs) a
    doorbell connection waits for its answers with (``spin_us``; < 0: the
    default), or -1: no doorbell.  The connection rings one when its
    backend does by default (DOORBELL_BY_DEFAULT), or when shared buffers
    or a spin ask for it; else it keeps window messages."""
    if spin_us >= 0:
        return checked_spin_us(spin_us)
    return WINIPC_DEFAULT_SPIN_US if DOORBELL_BY_DEFAULT or shared else -1
