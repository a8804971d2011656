include "dispatch.pxi"

# winipc._rpc on Windows: process-memory RPC through a window (see
# _native/README.md for the contract every backend provides).
#
# The client finds the server's window, opens its process with the VM rights,
# allocates a buffer there, writes a struct, sends WM_USER+n with
# wParam = size and lParam = address, and reads the struct back.  The server
# is a never-shown top-level window whose procedure validates the address and
# runs the handler in place.  Every copy and every wait runs without the GIL.

from libc.stddef cimport wchar_t
from libc.stdint cimport int64_t
from libc.string cimport memset
from cpython.exc cimport PyErr_CheckSignals
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE, PyBUF_WRITABLE
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from cpython.unicode cimport PyUnicode_AsWideCharString

cimport win32
from win32 cimport BOOL, DWORD, HANDLE, HWND, LPARAM, LRESULT, UINT, WPARAM

import os
import threading

from winipc._errors import NoSuchProcess, WindowNotFound, _describe_winerror, raise_winerror

BACKEND = "windows"
# The classic write -> SendMessageTimeout -> read is the default here.
DOORBELL_BY_DEFAULT = False
# VirtualAllocEx memory stays until VirtualFreeEx or the server's exit.
FREES_ON_CLOSE = False

WM_USER = win32.WM_USER
PROCESS_VM_OPERATION = win32.PROCESS_VM_OPERATION
PROCESS_VM_READ = win32.PROCESS_VM_READ
PROCESS_VM_WRITE = win32.PROCESS_VM_WRITE
PROCESS_DUP_HANDLE = win32.PROCESS_DUP_HANDLE
PROCESS_QUERY_LIMITED_INFORMATION = win32.PROCESS_QUERY_LIMITED_INFORMATION
SYNCHRONIZE = win32.SYNCHRONIZE

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

cdef tuple STEP_CALLS = ("WriteProcessMemory", "SendMessageTimeoutW", "ReadProcessMemory")


cdef int fail(DWORD code, str call, str what=None, cls=None) except -1:
    """Raise the WinIPCError for ``code`` from ``call``, saying on what."""
    detail = _describe_winerror(code)
    if what is not None:
        detail = f"{detail} ({what})"
    raise_winerror(code, call, detail=detail, cls=cls)
    return -1


cdef int refused(UINT msg, LRESULT result) except -1:
    """Raise the error a server answered with WINIPC_ERROR_RESULT(code)."""
    cdef DWORD code = WINIPC_ERROR_CODE(result)
    raise_winerror(code, "SendMessageTimeoutW",
                   detail=f"the server refused the message {msg:#x}: {_describe_winerror(code)}")
    return -1


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


cdef wchar_t *wide(str text) except NULL:
    """``text`` as a NUL-terminated UTF-16 string; free with PyMem_Free."""
    return PyUnicode_AsWideCharString(text, NULL)


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
    cdef win32.DWORD_PTR answer = 0
    cdef DWORD err
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


cdef DWORD round_trip(HANDLE process, HWND window, UINT msg, size_t address, void *data,
                      size_t size, UINT timeout_ms, LRESULT *result, Step *step) noexcept nogil:
    """Write ``size`` bytes, send, read them back.  A refusal (an error
    result) is not read back: the server touched nothing."""
    cdef DWORD err
    step[0] = STEP_WRITE
    err = copy_memory(process, address, data, size, True)
    if err:
        return err
    step[0] = STEP_SEND
    err = send_to(window, msg, size, <LPARAM>address, timeout_ms, result)
    if err or WINIPC_IS_ERROR(result[0]):
        return err
    step[0] = STEP_READ
    return copy_memory(process, address, data, size, False)


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
        raise_winerror(err, call, detail=f"process {pid} has exited ({what})", cls=NoSuchProcess)
    return fail(err, call, f"{what} in process {pid}")


cdef int round_trip_failed(DWORD err, Step step, UINT msg, size_t address, size_t size,
                           DWORD pid) except -1:
    if step == STEP_SEND:
        return fail(err, STEP_CALLS[step], f"message {msg:#x} to process {pid}")
    return vm_failed(err, STEP_CALLS[step], f"{size} bytes at {address:#x}", pid)


# --- the client side ---------------------------------------------------------

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
                       detail=f"no window has the title {title!r}", cls=WindowNotFound)
    return <size_t>window, pid, tid


cdef class Process:
    """A handle to another process opened with OpenProcess(access), to copy
    memory into and out of it and to send its windows messages."""

    cdef HANDLE _handle     # until CloseHandle
    cdef bint _closed       # close() was called: nothing new may start
    cdef int _busy          # calls using _handle without the GIL
    cdef readonly DWORD pid
    cdef readonly DWORD access

    def __cinit__(self):
        self._handle = NULL
        self._closed = True
        self._busy = 0

    def __init__(self, DWORD pid, DWORD access, size_t window=0):
        # ``window`` (the server this handle is for) matters only to the
        # Linux backend, which connects to it; a process handle needs none.
        cdef HANDLE handle
        cdef DWORD err = 0
        cdef bint exited
        if not self._closed:
            raise RuntimeError("this Process is already open")
        self.pid = pid
        self.access = access
        with nogil:
            handle = win32.OpenProcess(access, win32.FALSE, pid)
            if handle == NULL:
                err = win32.GetLastError()
        if handle == NULL:
            if err == win32.ERROR_INVALID_PARAMETER:
                # OpenProcess's answer when no process has that id, rather
                # than a "not found" code (psutil maps it the same way).
                raise_winerror(err, "OpenProcess", detail=f"no process has the id {pid}",
                               cls=NoSuchProcess)
            fail(err, "OpenProcess", f"process {pid}")
        self._handle = handle
        self._closed = False
        with nogil:
            exited = has_exited(pid)
        if exited:
            self.close()
            raise_winerror(win32.ERROR_INVALID_PARAMETER, "OpenProcess",
                           detail=f"process {pid} has exited", cls=NoSuchProcess)

    @property
    def handle(self):
        """The process HANDLE as an int; 0 once closed."""
        return 0 if self._closed else <size_t>self._handle

    # Every use of the handle without the GIL is bracketed by enter/leave, so
    # that close() from another thread meanwhile never lets the handle value
    # be reused (for another process) under a copy still in flight.
    cdef HANDLE enter(self) except NULL:
        if self._closed:
            raise ValueError(f"the handle to process {self.pid} is closed")
        self._busy += 1
        return self._handle

    cdef void leave(self) noexcept:
        self._busy -= 1
        if self._closed and self._busy == 0 and self._handle != NULL:
            win32.CloseHandle(self._handle)
            self._handle = NULL

    def alloc(self, size_t size):
        """VirtualAllocEx(size, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE) -> address."""
        cdef HANDLE handle = self.enter()
        cdef void *address
        cdef DWORD err = 0
        try:
            with nogil:
                address = win32.VirtualAllocEx(handle, NULL, size,
                                               win32.MEM_COMMIT | win32.MEM_RESERVE,
                                               win32.PAGE_READWRITE)
                if address == NULL:
                    err = win32.GetLastError()
            if address == NULL:
                vm_failed(err, "VirtualAllocEx", f"{size} bytes", self.pid)
            return <size_t>address
        finally:
            self.leave()

    def free(self, size_t address):
        """VirtualFreeEx(address, 0, MEM_RELEASE): the whole allocation."""
        cdef HANDLE handle = self.enter()
        cdef BOOL ok
        cdef DWORD err = 0
        try:
            with nogil:
                ok = win32.VirtualFreeEx(handle, <void *>address, 0, win32.MEM_RELEASE)
                if not ok:
                    err = win32.GetLastError()
            if not ok:
                vm_failed(err, "VirtualFreeEx", f"address {address:#x}", self.pid)
        finally:
            self.leave()

    def write(self, size_t address, buffer):
        """WriteProcessMemory of all of ``buffer`` (any buffer-protocol
        object) to ``address``; raises unless every byte was copied."""
        self.copy(address, buffer, True)

    def read_into(self, size_t address, buffer):
        """ReadProcessMemory from ``address`` filling all of ``buffer`` (a
        writable buffer-protocol object); raises unless every byte was copied."""
        self.copy(address, buffer, False)

    cdef copy(self, size_t address, buffer, bint to_remote):
        cdef HANDLE handle = self.enter()
        cdef Py_buffer view
        cdef DWORD err = 0
        try:
            get_buffer(buffer, &view, not to_remote)
            try:
                if view.len:
                    with nogil:
                        err = copy_memory(handle, address, view.buf, <size_t>view.len, to_remote)
                if err:
                    vm_failed(err, "WriteProcessMemory" if to_remote else "ReadProcessMemory",
                              f"{view.len} bytes at {address:#x}", self.pid)
            finally:
                PyBuffer_Release(&view)
        finally:
            self.leave()

    def send(self, size_t window, UINT msg, WPARAM wparam, lparam, UINT timeout_ms):
        """SendMessageTimeoutW(window, msg, wparam, lparam,
        SMTO_ABORTIFHUNG | SMTO_ERRORONEXIT, timeout_ms) -> the result.
        ``lparam`` is any 64-bit value, signed (LPARAM) or unsigned (an address).

        CallTimeout if the server did not answer in time or is hung,
        ServerGone if its window is gone; a refusal raises the server's
        error (BufferTooSmall, InvalidAddress, UnknownMessage, HandlerFailed)."""
        cdef LPARAM lp = <LPARAM>lparam if lparam < 0 else <LPARAM><size_t>lparam
        cdef LRESULT result = 0
        cdef DWORD err
        with nogil:
            err = send_to(<HWND>window, msg, wparam, lp, timeout_ms, &result)
        if err:
            round_trip_failed(err, STEP_SEND, msg, <size_t>lp, wparam, self.pid)
        if WINIPC_IS_ERROR(result):
            refused(msg, result)
        return result

    def call(self, size_t window, UINT msg, size_t address, buffer, UINT timeout_ms):
        """Write ``buffer`` to ``address``, send ``msg`` with wParam =
        len(buffer) and lParam = address, read the result back into
        ``buffer`` (writable): one block without the GIL.  -> the result."""
        cdef HANDLE handle = self.enter()
        cdef Py_buffer view
        cdef LRESULT result = 0
        cdef Step step = STEP_WRITE
        cdef DWORD err
        try:
            get_buffer(buffer, &view, True)
            try:
                with nogil:
                    err = round_trip(handle, <HWND>window, msg, address, view.buf,
                                     <size_t>view.len, timeout_ms, &result, &step)
                if err:
                    round_trip_failed(err, step, msg, address, <size_t>view.len, self.pid)
                if WINIPC_IS_ERROR(result):
                    refused(msg, result)
                return result
            finally:
                PyBuffer_Release(&view)
        finally:
            self.leave()

    def bench(self, size_t window, UINT msg, size_t address, buffer, Py_ssize_t n,
              UINT timeout_ms):
        """``n`` calls as call() does them, timed in C with
        QueryPerformanceCounter -> a list of each one's duration in ns."""
        cdef HANDLE handle = self.enter()
        cdef Py_buffer view
        cdef int64_t *ticks = NULL
        cdef win32.LARGE_INTEGER freq, t0, t1
        cdef LRESULT result = 0
        cdef Step step = STEP_WRITE
        cdef DWORD err = 0
        cdef Py_ssize_t i
        try:
            if n < 0:
                raise ValueError("n must not be negative")
            get_buffer(buffer, &view, True)
            try:
                ticks = <int64_t *>PyMem_Malloc(<size_t>(n if n else 1) * sizeof(int64_t))
                if ticks == NULL:
                    raise MemoryError()
                win32.QueryPerformanceFrequency(&freq)
                with nogil:
                    for i in range(n):
                        win32.QueryPerformanceCounter(&t0)
                        err = round_trip(handle, <HWND>window, msg, address, view.buf,
                                         <size_t>view.len, timeout_ms, &result, &step)
                        win32.QueryPerformanceCounter(&t1)
                        if err or WINIPC_IS_ERROR(result):
                            break
                        ticks[i] = t1.QuadPart - t0.QuadPart
                if err:
                    round_trip_failed(err, step, msg, address, <size_t>view.len, self.pid)
                if WINIPC_IS_ERROR(result):
                    refused(msg, result)
                # ticks -> ns in Python ints: exact, whatever the counter's frequency
                return [<object>ticks[i] * 1000000000 // freq.QuadPart for i in range(n)]
            finally:
                PyBuffer_Release(&view)
                PyMem_Free(ticks)
        finally:
            self.leave()

    def close(self):
        """CloseHandle (once the calls still using the handle are done);
        harmless when already closed."""
        self._closed = True
        if self._busy == 0 and self._handle != NULL:
            win32.CloseHandle(self._handle)
            self._handle = NULL

    def __dealloc__(self):
        if self._handle != NULL:
            win32.CloseHandle(self._handle)
            self._handle = NULL

    def __repr__(self):
        state = "closed" if self._closed else f"handle={<size_t>self._handle:#x}"
        return f"<winipc._rpc.Process pid={self.pid} access={self.access:#x} {state}>"


# --- the server side ---------------------------------------------------------

# What the window procedure needs, reached through GWLP_USERDATA.  It lives
# inside the ServerCore, which outlives its window (run() holds it).
cdef struct WindowState:
    PyObject *table     # the HandlerTable, borrowed from the ServerCore
    HWND window         # NULL when there is no window
    bint serving        # the message loop runs: WM_DESTROY ends it


cdef bint owned_buffer(size_t address, size_t size) noexcept nogil:
    """Whether [address, address + size) lies in one region of committed,
    private, plain read-write memory of this process: the only kind that
    VirtualAllocEx(MEM_COMMIT, PAGE_READWRITE) gives a client.  Never trust a
    message: anyone can send any lParam."""
    cdef win32.MEMORY_BASIC_INFORMATION info
    cdef size_t end
    if address == 0 or size == 0:
        return False
    if win32.VirtualQuery(<const void *>address, &info, sizeof(info)) == 0:
        return False
    # Protect must be exactly PAGE_READWRITE: no PAGE_GUARD, no-cache, ...
    if (info.State != win32.MEM_COMMIT or info.Type != win32.MEM_PRIVATE
            or info.Protect != win32.PAGE_READWRITE):
        return False
    end = <size_t>info.BaseAddress + info.RegionSize   # address >= BaseAddress
    return size <= end - address


cdef LRESULT serve(WindowState *state, UINT msg, WPARAM size, LPARAM lparam) noexcept nogil:
    cdef Handler *handler = (<HandlerTable>state.table).find(msg)
    cdef int64_t result = 0
    cdef uint32_t code
    if handler == NULL:
        return WINIPC_ERROR_RESULT(WINIPC_E_INVALID_MESSAGE)
    if not owned_buffer(<size_t>lparam, size):
        return WINIPC_ERROR_RESULT(WINIPC_E_INVALID_ADDRESS)
    code = run_handler(handler, <void *><size_t>lparam, size, &result)
    if code:
        return WINIPC_ERROR_RESULT(code)
    return result


cdef LRESULT __stdcall wndproc(HWND window, UINT msg, WPARAM wparam, LPARAM lparam) noexcept nogil:
    cdef WindowState *state = <WindowState *>win32.GetWindowLongPtrW(window, win32.GWLP_USERDATA)
    if state != NULL:
        if win32.WM_USER <= msg <= LAST_MESSAGE:
            return serve(state, msg, wparam, lparam)
        if msg == win32.WM_CLOSE:
            win32.DestroyWindow(window)
            return 0
        if msg == win32.WM_DESTROY:
            state.window = NULL   # gone: find_window no longer finds it
            if state.serving:
                win32.PostQuitMessage(0)
            return 0
    return win32.DefWindowProcW(window, msg, wparam, lparam)


cdef unsigned long class_serial = 0


cdef class ServerCore:
    """A window titled ``title`` whose procedure serves ``handlers``.

    run() creates it on the calling thread and pumps its messages without
    the GIL until stop(); the window is destroyed before run() returns."""

    cdef readonly HandlerTable handlers
    cdef readonly str title
    cdef WindowState state
    cdef DWORD _tid
    cdef bint _running
    cdef bint _stop_requested

    def __cinit__(self):
        self.handlers = HandlerTable()
        self.state.table = <PyObject *>self.handlers
        self.state.window = NULL
        self.state.serving = False

    def __init__(self, str title):
        self.title = title

    @property
    def pid(self):
        return win32.GetCurrentProcessId()

    @property
    def window(self):
        """The window handle as an int while the window exists, else 0."""
        return <size_t>self.state.window

    @property
    def tid(self):
        """The thread that runs (or ran) the window, 0 before run()."""
        return self._tid

    def run(self, on_ready=None):
        """Create the window, call ``on_ready(window, tid)``, serve until stop()."""
        global class_serial
        cdef wchar_t *wtitle = NULL
        cdef wchar_t *wclass = NULL
        cdef win32.WNDCLASSW wc
        cdef win32.HINSTANCE instance = win32.GetModuleHandleW(NULL)
        cdef HWND window = NULL
        cdef win32.MSG message
        cdef win32.ATOM atom = 0
        cdef BOOL got = 0
        cdef DWORD err = 0
        cdef int attempt
        if self._running:
            raise RuntimeError("this server is already running")
        self._running = True
        try:
            wtitle = wide(self.title)
            memset(&wc, 0, sizeof(wc))
            wc.lpfnWndProc = wndproc
            wc.hInstance = instance
            for attempt in range(CLASS_NAME_TRIES):
                class_serial += 1
                PyMem_Free(wclass)
                wclass = wide(f"winipc.server.{os.getpid()}.{class_serial}")
                wc.lpszClassName = wclass
                atom = win32.RegisterClassW(&wc)
                if atom:
                    break
                err = win32.GetLastError()
                if err != win32.ERROR_CLASS_ALREADY_EXISTS:
                    break
            if not atom:
                PyMem_Free(wclass)
                wclass = NULL
                fail(err, "RegisterClassW", f"the class of server {self.title!r}")

            # A plain top-level window, never shown: FindWindowW does not
            # see message-only (HWND_MESSAGE) windows.
            window = win32.CreateWindowExW(0, wclass, wtitle, win32.WS_OVERLAPPED,
                                           0, 0, 0, 0, NULL, NULL, instance, NULL)
            if window == NULL:
                fail(win32.GetLastError(), "CreateWindowExW", f"server {self.title!r}")
            win32.SetWindowLongPtrW(window, win32.GWLP_USERDATA, <win32.LONG_PTR>&self.state)
            self.state.window = window
            self._tid = win32.GetCurrentThreadId()

            if on_ready is not None:
                on_ready(<size_t>window, self._tid)
            if self._stop_requested:   # stop() came before the window did
                win32.PostMessageW(window, win32.WM_CLOSE, 0, 0)
            if threading.current_thread() is threading.main_thread():
                win32.SetTimer(window, SIGNAL_TIMER_ID, SIGNAL_TIMER_MS, NULL)

            self.state.serving = True
            with nogil:
                while True:
                    got = win32.GetMessageW(&message, NULL, 0, 0)
                    if got == 0:
                        break
                    if got == -1:
                        err = win32.GetLastError()
                        break
                    if (message.message == win32.WM_TIMER and message.hwnd == window
                            and message.wParam == SIGNAL_TIMER_ID):
                        with gil:
                            PyErr_CheckSignals()   # KeyboardInterrupt ends run()
                        continue
                    win32.TranslateMessage(&message)
                    win32.DispatchMessageW(&message)
            self.state.serving = False
            if got == -1:
                fail(err, "GetMessageW", f"server {self.title!r}")
        finally:
            self.state.serving = False   # so destroying now posts no WM_QUIT
            if self.state.window != NULL:
                win32.DestroyWindow(self.state.window)
            self.state.window = NULL
            if wclass != NULL:
                win32.UnregisterClassW(wclass, instance)
            PyMem_Free(wclass)
            PyMem_Free(wtitle)
            self._stop_requested = False
            self._running = False

    def stop(self):
        """Ask run() to return: from any thread, also before run() started.
        A stop() while no run() is in progress makes the next run() return
        right after its on_ready."""
        self._stop_requested = True
        if self.state.window != NULL:
            win32.PostMessageW(self.state.window, win32.WM_CLOSE, 0, 0)
