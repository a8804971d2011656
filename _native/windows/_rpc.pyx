include "dispatch.pxi"
include "answer.pxi"

# winipc._rpc on Windows: process-memory RPC through a window (the
# contract every backend provides: winipc/_rpc.pyi).
#
# The client finds the server's window, opens its process with the VM rights,
# allocates a buffer there, writes a struct, sends WM_USER+n with
# wParam = size and lParam = address, and reads the struct back.  The server
# is a never-shown top-level window whose procedure validates the address and
# runs the handler in place.  Every copy and every wait runs without the GIL.
#
#   control.pxi    the control message: sections and doorbells on request
#   bell.pxi       the doorbell: the clock both sides use, the server's side
#   send.pxi       a SendMessage that Ctrl+C interrupts
#   safecopy.pxi   fault-safe copies of a client's private buffer
#   wow64.pxi      a 64-bit client of a 32-bit server: its bitness, limits, refusals
#   client_bell.pxi    _ClientBell: the client's doorbell, its round trip,
#                      the asynchronous sends
#   client_shared.pxi  _SharedSections: the client's shared sections
#   client.pxi     Process: copies, sends, calls (through the two above)
#   server.pxi     ServerCore: the window, the checks, the serving loop

cimport cython
from libc.stddef cimport wchar_t
from libc.stdint cimport int64_t, INT64_MAX
from libc.string cimport memcpy, memset
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBuffer_FillInfo, \
    PyBUF_SIMPLE, PyBUF_WRITABLE
from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_Malloc, PyMem_Realloc, PyMem_Free
from cpython.ref cimport Py_INCREF, Py_XDECREF

cimport win32
from win32 cimport BOOL, DWORD, HANDLE, HWND, LPARAM, LRESULT, UINT, WPARAM
from wide cimport wide
# A shared section is mapped here as winipc._kernel's MappedView (its
# declaration: winipc/_kernel.pxd).
from winipc._kernel cimport MappedView

import os
import threading

BACKEND = "windows"
include "errors.pxi"
# The classic write -> SendMessageTimeout -> read is the default here.
DOORBELL_BY_DEFAULT = False
# VirtualAllocEx memory stays until VirtualFreeEx or the server's exit.
FREES_ON_CLOSE = False


def claim_pushed(value):
    """Linux keeps fds that clients pushed until they are adopted; a
    DuplicateHandle'd handle is the adopter's from the start."""
    return False

cdef enum:
    # ReadProcessMemory/WriteProcessMemory can fail with ERROR_PARTIAL_COPY
    # while the target's address space is changing under them (psutil sees
    # it reading a starting process, giampaolo/psutil#875), so a copy is
    # tried again a few times.  A buffer that is really gone fails the same
    # way every time: the bound keeps that answer quick (about 3 ms).
    COPY_TRIES = 4
    # The highest message a window can be sent; WM_USER..this are handlers'.
    LAST_MESSAGE = 0xFFFF
    # Class names are unique per server; a clash (a class left registered
    # by a server that never unregistered) just moves on to the next name.
    CLASS_NAME_TRIES = 16
    # A server on the main thread wakes this often to run Python's signal
    # handlers (Ctrl+C), which nothing else would run while it waits for
    # messages without the GIL.
    SIGNAL_TIMER_ID = 1
    SIGNAL_TIMER_MS = 100

# Which step of a round trip failed, to name the call in the error.
cdef enum Step:
    STEP_WRITE
    STEP_SEND
    STEP_READ
    STEP_BELL

cdef tuple STEP_CALLS = ("WriteProcessMemory", "SendMessageTimeoutW", "ReadProcessMemory",
                         "the doorbell")


cdef int fail(DWORD code, str call, str what=None, cls=None) except -1:
    """Raise the error for ``code`` from ``call``, saying on what (``cls``:
    the name of the winipc error class to raise, as for raise_winerror)."""
    raise_winerror(code, call, None if what is None else lambda words: f"{words} ({what})",
                   cls)
    return -1


cdef int refused(UINT msg, LRESULT result, int64_t sent=-1, const char *note=NULL) except -1:
    """Raise the error a server answered with WINIPC_ERROR_RESULT(code)
    (``sent`` and ``note``: raise_refusal's)."""
    return raise_refusal(WINIPC_ERROR_CODE(result), "SendMessageTimeoutW",
                         lambda words: f"the server refused the message {msg:#x}: {words}",
                         msg, sent, note)


cdef int get_buffer(obj, Py_buffer *view, bint writable) except -1:
    """PyObject_GetBuffer, contiguous; a read-only object where a writable
    one is needed is a TypeError, as for the built-in readinto()."""
    if not writable:
        return PyObject_GetBuffer(obj, view, PyBUF_SIMPLE)
    try:
        return PyObject_GetBuffer(obj, view, PyBUF_WRITABLE)
    except BufferError:
        PyObject_GetBuffer(obj, view, PyBUF_SIMPLE)   # raises if not that either
        PyBuffer_Release(view)
    raise TypeError(f"a writable bytes-like object is required, not {type(obj).__name__!r}")


# --- copies and sends, without the GIL --------------------------------------
# Each returns 0 or the Win32 error code, read right after the failing call.

cdef DWORD copy_memory(HANDLE process, size_t address, void *data, size_t size,
                      bint to_remote) noexcept nogil:
    """WriteProcessMemory (``to_remote``) or ReadProcessMemory of all ``size``
    bytes, ERROR_PARTIAL_COPY tried COPY_TRIES times."""
    cdef win32.SIZE_T done
    cdef win32.BOOL ok
    cdef DWORD err = 0
    cdef int attempt
    for attempt in range(COPY_TRIES):
        done = 0
        if to_remote:
            ok = win32.WriteProcessMemory(process, <void *>address, data, size, &done)
        else:
            ok = win32.ReadProcessMemory(process, <const void *>address, data, size, &done)
        if ok:
            return 0 if done == size else win32.ERROR_PARTIAL_COPY
        err = win32.GetLastError()
        if err != win32.ERROR_PARTIAL_COPY:
            return err
        if attempt + 1 < COPY_TRIES:
            win32.Sleep(attempt)
    return err


cdef DWORD send_to(HWND window, UINT msg, WPARAM wparam, LPARAM lparam, UINT timeout_ms,
                   LRESULT *result) noexcept nogil:
    """SendMessageTimeoutW(SMTO_ABORTIFHUNG | SMTO_ERRORONEXIT): 0 and the
    answer in ``result``, or a Win32 code.  On the main thread, when the
    wait may be long, Ctrl+C interrupts it (BELL_INTERRUPTED)."""
    cdef win32.DWORD_PTR answer = 0
    cdef DWORD err
    if (timeout_ms > BELL_SLICE_MS and msg >= win32.WM_USER
            and win32.GetCurrentThreadId() == MAIN_THREAD):
        return send_interruptibly(window, msg, wparam, lparam, timeout_ms, result)
    # A hung receiver makes SendMessageTimeoutW return 0 without always
    # setting an error: clear it first so that a stale code is never read.
    win32.SetLastError(0)
    if win32.SendMessageTimeoutW(window, msg, wparam, lparam,
                                 win32.SMTO_ABORTIFHUNG | win32.SMTO_ERRORONEXIT,
                                 timeout_ms, &answer) == 0:
        err = win32.GetLastError()
        if not win32.IsWindow(window):
            # The server's thread ended before or while it had the message
            # (SMTO_ERRORONEXIT): the code then varies (Wine answers
            # ERROR_ACCESS_DENIED), but the window being gone is what happened.
            return win32.ERROR_INVALID_WINDOW_HANDLE
        return err if err else win32.ERROR_TIMEOUT
    result[0] = <LRESULT>answer
    return 0


def find_window(str title):
    """FindWindowW(NULL, title) -> (window handle, pid, tid); WindowNotFound
    if no top-level window has that title."""
    cdef wchar_t *wtitle = wide(title)
    cdef HWND window
    cdef DWORD pid = 0, tid = 0
    with nogil:
        window = win32.FindWindowW(NULL, wtitle)
        if window != NULL:
            tid = win32.GetWindowThreadProcessId(window, &pid)
    PyMem_Free(wtitle)
    if window == NULL or tid == 0:   # tid 0: the window went away meanwhile
        raise_winerror(win32.ERROR_FILE_NOT_FOUND, "FindWindowW",
                       detail=f"no window has the title {title!r}", cls="WindowNotFound")
    return <size_t>window, pid, tid



cdef DWORD round_trip(HANDLE process, HWND window, _ClientBell bell, int spin_us, UINT msg,
                      size_t address, char *local, void *data, size_t size, UINT timeout_ms,
                      LRESULT *result, Step *step) noexcept nogil:
    """Write ``size`` bytes, send (or ring ``bell``; None: none), read them back.  With
    ``local`` (the address is in a shared section, mapped here at
    ``local``) the copies are plain memory copies.  A refusal (an error
    result) is not read back: the server touched nothing."""
    cdef DWORD err
    step[0] = STEP_WRITE
    if local != NULL:
        memcpy(local, data, size)
    else:
        err = copy_memory(process, address, data, size, True)
        if err:
            return err
    if bell is not None:
        step[0] = STEP_BELL
        err = bell.round_trip(msg, size, <LPARAM>address, timeout_ms, spin_us, result)
    else:
        step[0] = STEP_SEND
        err = send_to(window, msg, size, <LPARAM>address, timeout_ms, result)
    if err or WINIPC_IS_ERROR(result[0]):
        return err
    step[0] = STEP_READ
    if local != NULL:
        memcpy(data, local, size)
        return 0
    return copy_memory(process, address, data, size, False)


cdef void refusal_note(HANDLE process, _ClientBell bell, char *local, size_t address,
                       size_t size, LRESULT result, char *note) noexcept nogil:
    """The note a failed handler left (``result`` its refusal), in the
    NOTE_MAX bytes at ``note``: the doorbell page's, whole; else the first
    min(size, NOTE_MAX) bytes of the buffer, read once (ReadProcessMemory,
    or a memcpy of a shared section mapped here at ``local``).  note[0] 0:
    none.  The caller still holds ``bell`` (None: none)."""
    note[0] = 0
    if result != WINIPC_ERROR_RESULT(ERROR_UNHANDLED_EXCEPTION):
        return
    if bell is not None:
        memcpy(note, winipc_bell_note(bell.page), NOTE_MAX)
        if has_note(note):
            return
    if local != NULL:
        take_note(note, local, size)
        return
    memset(note, 0, NOTE_MAX)
    if copy_memory(process, address, note, size if size < NOTE_MAX else NOTE_MAX, False):
        note[0] = 0         # unreadable: the refusal is said without it


cdef bint has_exited(DWORD pid) noexcept nogil:
    """Whether process ``pid`` has ended.  A handle that someone still holds
    (ours, a parent's) keeps an ended process's object and id alive, so
    OpenProcess and the VM calls on it answer ERROR_ACCESS_DENIED or succeed
    rather than say it is gone; waiting on it tells."""
    cdef HANDLE probe = win32.OpenProcess(win32.SYNCHRONIZE, win32.FALSE, pid)
    cdef bint exited
    if probe == NULL:
        return win32.GetLastError() == win32.ERROR_INVALID_PARAMETER
    exited = win32.WaitForSingleObject(probe, 0) == win32.WAIT_OBJECT_0
    win32.CloseHandle(probe)
    return exited


cdef int vm_failed(DWORD err, str call, str what, DWORD pid) except -1:
    """Raise for a failed VM call on process ``pid``: NoSuchProcess if it
    has ended (that, not the code, is what went wrong), else by ``err``."""
    cdef bint exited
    with nogil:
        exited = has_exited(pid)
    if exited:
        raise_winerror(err, call, detail=f"process {pid} has exited ({what})", cls="NoSuchProcess")
    return fail(err, call, f"{what} in process {pid}")


cdef int round_trip_failed(DWORD err, Step step, UINT msg, size_t address, size_t size,
                           DWORD pid, int started=-1) except -1:
    """Raise for a failed round trip; ``started`` (a doorbell call given up:
    0 withdrawn, 1 taken, -1 unknown) goes into CallTimeout.started."""
    if err == BELL_INTERRUPTED:
        return reraise()
    if step == STEP_SEND or step == STEP_BELL:
        try:
            return fail(err, STEP_CALLS[step], f"message {msg:#x} to process {pid}")
        except BaseException as e:
            if started >= 0 and step == STEP_BELL:
                e.started = bool(started)
            raise
    return vm_failed(err, STEP_CALLS[step], f"{size} bytes at {address:#x}", pid)


include "control.pxi"
include "bell.pxi"
include "send.pxi"
include "safecopy.pxi"
include "client_bell.pxi"
include "client_shared.pxi"
include "wow64.pxi"
include "client.pxi"
include "prepared.pxi"
include "server.pxi"
