# The client: finding a server window, and Process, a process opened for
# memory access with its copies, sends and calls.  Its doorbells and
# asynchronous sends are client_bell.pxi's, its shared sections
# client_shared.pxi's.  (Part of _rpc.pyx.)

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


cdef class Process:
    """A handle to another process opened with OpenProcess(access), to copy
    memory into and out of it and to send its windows messages; optionally
    with a doorbell to one server window and shared sections in it."""

    cdef HANDLE _handle     # until CloseHandle
    cdef bint _closed       # close() was called: nothing new may start
    cdef int _busy          # calls using _handle without the GIL
    cdef readonly DWORD pid
    cdef readonly DWORD access
    cdef HWND _window       # the server window given at creation: sends, doorbells, sections
    cdef ClientBell _bell   # _bell.window NULL: none
    cdef bint _bell_busy    # a call is using the doorbell (another thread goes classic,
                            # or waits for it: a call on a shared section)
    cdef ClientBell _abell  # the asynchronous sends' own doorbell (begin_send)
    cdef bint _abell_busy   # an asynchronous send is in flight on it
    cdef UINT _amsg         # its message, buffer size and address, for a refusal's error
    cdef size_t _asize, _aaddress
    cdef int _spin_us
    cdef Region **_regions  # each on the heap: the array may move, a region does not
    cdef int _nregions
    cdef bint _server32     # the process is 32-bit (wow64.pxi)
    cdef public object last_result  # the last call()'s or call_object()'s result

    def __cinit__(self):
        self._handle = NULL
        self._closed = True
        self._busy = 0
        memset(&self._bell, 0, sizeof(ClientBell))
        memset(&self._abell, 0, sizeof(ClientBell))
        self._bell_busy = False
        self._abell_busy = False
        self._spin_us = WINIPC_DEFAULT_SPIN_US
        self._regions = NULL
        self._nregions = 0
        self._server32 = False

    def __init__(self, DWORD pid, DWORD access, size_t window=0):
        # ``window``: the server window this handle is for (0: none); send,
        # call, bench, doorbells and sections go to it.
        cdef HANDLE handle
        cdef DWORD err = 0
        cdef bint exited
        if not self._closed:
            raise RuntimeError("this Process is already open")
        self.pid = pid
        self.access = access
        self._window = <HWND>window
        with nogil:
            handle = win32.OpenProcess(access, win32.FALSE, pid)
            if handle == NULL:
                err = win32.GetLastError()
        if handle == NULL:
            if err == win32.ERROR_INVALID_PARAMETER:
                # OpenProcess's answer when no process has that id, rather
                # than a "not found" code (psutil maps it the same way).
                raise_winerror(err, "OpenProcess", detail=f"no process has the id {pid}",
                               cls="NoSuchProcess")
            fail(err, "OpenProcess", f"process {pid}")
        self._handle = handle
        self._closed = False
        with nogil:
            exited = has_exited(pid)
        if exited:
            self.close()
            raise_winerror(win32.ERROR_INVALID_PARAMETER, "OpenProcess",
                           detail=f"process {pid} has exited", cls="NoSuchProcess")
        try:
            self._server32 = query_server_is_32bit(pid)
        except BaseException:
            self.close()
            raise

    @property
    def server_is_32bit(self):
        """Whether the process is 32-bit (WoW64): then wParam and lParam
        carry 32 bits, and what is allocated for it lies below 2 GiB."""
        return self._server32

    @property
    def handle(self):
        """The process HANDLE as an int; 0 once closed."""
        return 0 if self._closed else <size_t>self._handle

    @property
    def spin_us(self):
        """How long (µs) a doorbell call spins for its answer before it
        sleeps in the kernel; 0: never spin."""
        return self._spin_us

    @spin_us.setter
    def spin_us(self, int value):
        self._spin_us = checked_spin_us(value)

    @property
    def window(self):
        """The server window given at creation (0: none)."""
        return <size_t>self._window

    @property
    def bell_window(self):
        """The window whose doorbell this process rings, 0 if none."""
        return <size_t>self._bell.window

    @property
    def bell_page(self):
        """Where the doorbell's page is mapped in this process, 0 if none."""
        return <size_t>self._bell.bell

    @property
    def bell_token(self):
        """The doorbell's token (what closes it: only this process knows it), 0 if none."""
        return self._bell.token

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
        if self._closed and self._busy == 0:
            self.release()

    cdef void release(self) noexcept:
        """What close() owes, once no call uses it: the doorbell (the server
        is told with a posted message, which never waits, and releases the
        sections with it), our views of the sections, the handle."""
        cdef int i, n = self._nregions
        cdef Region **regions = self._regions
        self.drop_bell()
        drop_client_bell(&self._abell)
        self._regions = NULL    # detached first: dropping one may let other threads run
        self._nregions = 0
        for i in range(n):
            self.drop_region(regions[i])
        PyMem_Free(regions)
        if self._handle != NULL:
            win32.CloseHandle(self._handle)
            self._handle = NULL

    cdef void drop_region(self, Region *r) noexcept:
        PyBuffer_Release(&r.view)
        Py_XDECREF(r.mapping)
        PyMem_Free(r)

    cdef int add_region(self, Region *r) except -1:
        cdef Region **regions = <Region **>PyMem_Realloc(
            self._regions, (self._nregions + 1) * sizeof(Region *))
        if regions == NULL:
            raise MemoryError()
        self._regions = regions
        self._regions[self._nregions] = r
        self._nregions += 1
        return 0

    cdef Region *take_region(self, size_t address) noexcept:
        """Remove the region that starts at ``address`` from the list -> it,
        or NULL."""
        cdef int i
        cdef Region *r
        for i in range(self._nregions):
            r = self._regions[i]
            if r.address == address:
                self._nregions -= 1
                self._regions[i] = self._regions[self._nregions]
                return r
        return NULL

    cdef void drop_bell(self) noexcept:
        """Close our side of the doorbell and tell the server (posted)."""
        drop_client_bell(&self._bell)

    cdef bint in_section(self, size_t address, size_t size) noexcept:
        """Whether [address, address + size) lies in one of our sections."""
        cdef int i
        cdef Region *r
        for i in range(self._nregions):
            r = self._regions[i]
            if (address >= r.address and address - r.address < r.size
                    and size <= r.size - (address - r.address)):
                return True
        return False

    cdef char *pin(self, size_t address, size_t size, Py_buffer *view) except? NULL:
        """Where [address, address + size) of the server is mapped here, if it
        lies in one of our shared sections, with that mapping pinned in
        ``view`` (release it after the copy); else NULL."""
        cdef int i
        cdef Region *r
        for i in range(self._nregions):
            r = self._regions[i]
            if (address >= r.address and address - r.address < r.size
                    and size <= r.size - (address - r.address)):
                PyObject_GetBuffer(<object>r.mapping, view, PyBUF_SIMPLE)
                return r.local + (address - r.address)
        return NULL

    cdef int own_refusal(self, UINT msg, LRESULT result, size_t address, size_t size,
                         ClientBell *bell) except -1:
        """Raise ``result``, the server's refusal of ``msg`` on this
        connection's buffer of ``size`` bytes at ``address``, worded as a
        call's, with the failed handler's note from the page of ``bell``
        (which the caller still holds; NULL: none) or else the buffer's
        first bytes, read once."""
        cdef Py_buffer pinned
        cdef char note[NOTE_MAX]
        cdef char *local = self.pin(address, size, &pinned) if size else NULL
        try:
            with nogil:
                refusal_note(self._handle, bell, local, address, size, result, note)
        finally:
            if local != NULL:
                PyBuffer_Release(&pinned)
        return refused_by(self._server32, msg, result, <int64_t>size, note)

    cdef ClientBell *take_bell(self, UINT msg, bint shared=False,
                               UINT timeout_ms=0) except? NULL:
        """The doorbell, if one is open and no other call uses it (NULL: go
        classic).  A request on a shared section, or one for the doorbell's
        server side (``shared``), must ride the doorbell, which alone tells
        the server who asks: it opens one if needed and waits for it, within
        ``timeout_ms``."""
        cdef int64_t deadline
        cdef int tries
        if not shared:
            if self._bell.window == NULL or self._bell_busy or msg == CONTROL_MESSAGE:
                return NULL
            self._bell_busy = True
            return &self._bell
        if self._bell.window == NULL:
            open_into(self, &self._bell, timeout_ms)
        deadline = ticks_now() + us_to_ticks(<int64_t>timeout_ms * 1000)
        tries = 0
        while self._bell_busy:
            # The other call is usually over within microseconds; a long one
            # is waited for in 1 ms sleeps, not by spinning a CPU.
            tries += 1
            with nogil:
                win32.Sleep(0 if tries < 64 else 1)
            PyErr_CheckSignals()
            if ticks_now() >= deadline:
                round_trip_failed(win32.ERROR_TIMEOUT, STEP_BELL, msg, 0, 0, self.pid, 0)
        self._bell_busy = True
        return &self._bell

    cdef LRESULT control(self, HWND window, WPARAM op, LPARAM arg, UINT timeout_ms,
                         str what) except? -1:
        """Send the control message -> its positive answer; raises the
        server's refusal or the send's failure."""
        cdef LRESULT result = 0
        cdef DWORD err
        cdef UINT msg = control_message()
        with nogil:
            err = send_to(window, msg, op, arg, timeout_ms, &result)
        if err == BELL_INTERRUPTED:
            reraise()
        if err:
            fail(err, "SendMessageTimeoutW", f"{what}: the control message to process {self.pid}")
        if result == 0:
            # DefWindowProc's answer: a window that is not a winipc server
            raise_winerror(bellapi.ERROR_NOT_SUPPORTED, "SendMessageTimeoutW",
                           detail=f"{what}: window {<size_t>window:#x} does not answer winipc's "
                                  f"control message (it is not a winipc server)")
        if WINIPC_IS_ERROR(result) or result < 0:
            code = WINIPC_ERROR_CODE(result) if WINIPC_IS_ERROR(result) else bellapi.ERROR_INVALID_DATA
            raise_winerror(code, "SendMessageTimeoutW",
                           lambda words: f"the server refused {what}: {words}")
        return result

    def open_bell(self, int spin_us, UINT timeout_ms):
        """Open a doorbell to the server window: from now on send, call and
        bench post their request in a page both sides map, and wait for the
        answer spinning ``spin_us`` µs, then sleeping on an Event.  A
        doorbell already open stays, with the new spin."""
        self.enter()
        try:
            self.spin_us = spin_us
            if self._bell.window == NULL:
                open_into(self, &self._bell, timeout_ms)
        finally:
            self.leave()

    # Split-phase sends, for asyncio: client_bell.pxi.

    @property
    def wait_handle(self):
        """The Event an asynchronous send waits on (0 before the first)."""
        return <size_t>self._abell.client_event

    def begin_send(self, UINT msg, size_t size, size_t address, UINT timeout_ms):
        """Post a request of ``msg`` on this connection's buffer of ``size``
        bytes at ``address`` in the asynchronous doorbell (opening it first
        if needed: a control message, ``timeout_ms``) -> its sequence
        number (never 0: the asynchronous doorbell is the calls' own)."""
        return async_begin(self, msg, size, address, timeout_ms)

    def end_send(self, uint32_t seq, int spin_us=0):
        """The answer to request ``seq`` once it has come (a refusal raises
        the server's error; so does a server window that is gone), else
        None: the page now says the client sleeps, and the caller waits on
        wait_handle.  With ``spin_us``, an awake server's answer is first
        spun for that long."""
        return async_end(self, seq, checked_spin_us(spin_us))

    def cancel_send(self, uint32_t seq):
        """Give up waiting for request ``seq`` (begun, not ended): withdrawn
        if the server has not taken it yet -> True when withdrawn (it never
        runs)."""
        cdef bint withdrawn = winipc_bell_withdraw(self._abell.bell, seq)
        winipc_bell_client_wakes(self._abell.bell)
        self._abell_busy = False
        self.leave()
        return withdrawn

    def close_bell(self):
        """Stop using the doorbell (the server is told); harmless without one.
        Refused while shared buffers are open: they live with it."""
        if self._bell_busy:
            raise RuntimeError("a call is using the doorbell")
        if self._nregions:
            raise RuntimeError("shared buffers are open on this doorbell: free them first")
        self.drop_bell()

    def alloc_shared(self, size_t size, UINT timeout_ms):
        """A section of ``size`` bytes that the server creates and maps, also
        mapped here -> (its address in the server, a writable MappedView of
        it).  write/read_into/call/bench inside it are memory copies."""
        return alloc_shared_section(self, size, timeout_ms)

    def free_shared(self, size_t address, UINT timeout_ms):
        """Close our mapping of the shared buffer at ``address`` (BufferError
        while a view of it is exported, and then nothing else happens), then
        have the server unmap it."""
        free_shared_section(self, address, timeout_ms)

    def alloc(self, size_t size, UINT timeout_ms):
        """VirtualAllocEx(size, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE) ->
        address.  It is done within ``timeout_ms``: VirtualAllocEx never
        waits for the server (the Linux backend's server allocates)."""
        cdef HANDLE handle = self.enter()
        cdef void *address
        cdef DWORD err = 0
        try:
            if self._server32:
                return alloc_for_32bit(handle, size, self.pid)
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

    def free(self, size_t address, UINT timeout_ms):
        """VirtualFreeEx(address, 0, MEM_RELEASE): the whole allocation,
        within ``timeout_ms`` as alloc."""
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
        object) to ``address``; raises unless every byte was copied.  Inside
        a shared buffer: a memory copy."""
        self.copy(address, buffer, True)

    def read_into(self, size_t address, buffer):
        """ReadProcessMemory from ``address`` filling all of ``buffer`` (a
        writable buffer-protocol object); raises unless every byte was
        copied.  Inside a shared buffer: a memory copy."""
        self.copy(address, buffer, False)

    cdef copy(self, size_t address, buffer, bint to_remote):
        cdef HANDLE handle = self.enter()
        cdef Py_buffer view, pinned
        cdef char *local = NULL
        cdef DWORD err = 0
        try:
            get_buffer(buffer, &view, not to_remote)
            try:
                if view.len:
                    local = self.pin(address, <size_t>view.len, &pinned)
                if local != NULL:
                    if to_remote:
                        memcpy(local, view.buf, <size_t>view.len)
                    else:
                        memcpy(view.buf, local, <size_t>view.len)
                    PyBuffer_Release(&pinned)
                elif view.len:
                    with nogil:
                        err = copy_memory(handle, address, view.buf, <size_t>view.len, to_remote)
                if err:
                    vm_failed(err, "WriteProcessMemory" if to_remote else "ReadProcessMemory",
                              f"{view.len} bytes at {address:#x}", self.pid)
            finally:
                PyBuffer_Release(&view)
        finally:
            self.leave()

    def send(self, UINT msg, WPARAM wparam, lparam, UINT timeout_ms, bint owned=False):
        """SendMessageTimeoutW(the server window, msg, wparam, lparam,
        SMTO_ABORTIFHUNG | SMTO_ERRORONEXIT, timeout_ms) -> the result, or
        the same request through the doorbell.
        ``lparam`` is any 64-bit value, signed (LPARAM) or unsigned (an address).
        ``owned``: wparam and lparam are a buffer of this connection's (its
        size and address), so a refusal is worded as a call's, with the
        failed handler's note from the doorbell page or the buffer; else
        nothing at ``lparam`` is ever read.

        CallTimeout if the server did not answer in time or is hung,
        ServerGone if its window is gone; a refusal raises the server's
        error (BufferTooSmall, InvalidAddress, UnknownMessage, HandlerFailed)."""
        cdef LPARAM lp = <LPARAM>lparam if lparam < 0 else <LPARAM><size_t>lparam
        cdef HWND window = self._window
        cdef LRESULT result = 0
        cdef DWORD err
        cdef ClientBell *bell
        cdef int spin_us = self._spin_us
        cdef Step step = STEP_SEND
        if self._server32:
            check_fits_32bit(self.pid, msg, wparam, <object>lp, 0)
        self.enter()
        try:
            bell = self.take_bell(msg, self.in_section(<size_t>lp, wparam), timeout_ms)
        except BaseException:
            self.leave()
            raise
        try:
            with nogil:
                if bell != NULL:
                    step = STEP_BELL
                    err = bell_round_trip(bell, msg, wparam, lp, timeout_ms, spin_us, &result)
                else:
                    err = send_to(window, msg, wparam, lp, timeout_ms, &result)
            if err:
                round_trip_failed(err, step, msg, <size_t>lp, wparam, self.pid,
                                  bell.started if bell != NULL else -1)
            if WINIPC_IS_ERROR(result) or refused32(self._server32, result):
                if owned:
                    self.own_refusal(msg, result, <size_t>lp, wparam, bell)
                refused_by(self._server32, msg, result)
            return result
        finally:
            if bell != NULL:
                self._bell_busy = False
            self.leave()

    def call(self, UINT msg, size_t address, buffer, UINT timeout_ms):
        """Write ``buffer`` to ``address``, send ``msg`` with wParam =
        len(buffer) and lParam = address, read the result back into
        ``buffer`` (writable): one block without the GIL.  -> the result."""
        cdef int64_t result = 0
        self.run_calls(msg, address, <size_t>-1, buffer, 1, timeout_ms, &result, False)
        self.last_result = result
        return result

    def call_object(self, UINT msg, size_t address, size_t capacity, struct, out,
                    UINT timeout_ms):
        """call() of ``struct`` through the buffer at ``address`` (``capacity``
        bytes): its answer, read into ``out`` or a new object (answer.pxi),
        the result left in ``last_result``.  None, having sent nothing, for
        a kind of request answer.pxi leaves to the facade, or one larger
        than ``capacity``."""
        cdef int64_t result = 0
        answer = answer_for(struct, out)
        if answer is None or not self.run_calls(msg, address, capacity, answer, 1, timeout_ms,
                                                &result, False):
            return None
        self.last_result = result
        return answer

    def bench(self, UINT msg, size_t address, buffer, Py_ssize_t n, UINT timeout_ms):
        """``n`` calls as call() does them, timed in C with
        QueryPerformanceCounter -> a list of each one's duration in ns."""
        cdef int64_t *ticks
        cdef win32.LARGE_INTEGER freq
        if n < 0:
            raise ValueError("n must not be negative")
        ticks = <int64_t *>PyMem_Malloc(<size_t>(n if n else 1) * sizeof(int64_t))
        if ticks == NULL:
            raise MemoryError()
        try:
            win32.QueryPerformanceFrequency(&freq)
            self.run_calls(msg, address, <size_t>-1, buffer, n, timeout_ms, ticks, True)
            # ticks -> ns in Python ints: exact, whatever the counter's frequency
            return [<object>ticks[i] * 1000000000 // freq.QuadPart for i in range(n)]
        finally:
            PyMem_Free(ticks)

    cdef bint run_calls(self, UINT msg, size_t address, size_t capacity, buffer,
                        Py_ssize_t n, UINT timeout_ms, int64_t *out, bint timed) except -1:
        """``n`` calls of ``buffer`` (writable) through ``address``, each
        one's result in ``out`` (``timed``: its duration in
        QueryPerformanceCounter ticks instead); False when the buffer is
        larger than ``capacity`` (nothing sent)."""
        cdef HWND window = self._window
        cdef HANDLE handle = self.enter()
        cdef Py_buffer view, pinned
        cdef char *local = NULL
        cdef ClientBell *bell = NULL
        cdef int spin_us = self._spin_us
        cdef win32.LARGE_INTEGER t0, t1
        cdef LRESULT result = 0
        cdef Step step = STEP_WRITE
        cdef DWORD err = 0
        cdef Py_ssize_t i
        cdef char note[NOTE_MAX]
        note[0] = 0
        try:
            get_buffer(buffer, &view, True)
            try:
                if <size_t>view.len > capacity:
                    return False
                if self._server32:
                    check_fits_32bit(self.pid, msg, <size_t>view.len, address,
                                     <size_t>view.len)
                local = self.pin(address, <size_t>view.len, &pinned)
                try:
                    bell = self.take_bell(msg, local != NULL, timeout_ms)
                except BaseException:
                    if local != NULL:
                        PyBuffer_Release(&pinned)
                    raise
                try:
                    with nogil:
                        for i in range(n):
                            if timed:
                                win32.QueryPerformanceCounter(&t0)
                            err = round_trip(handle, window, bell, spin_us, msg, address,
                                             local, view.buf, <size_t>view.len, timeout_ms,
                                             &result, &step)
                            if err or WINIPC_IS_ERROR(result) or refused32(self._server32, result):
                                break
                            if timed:
                                win32.QueryPerformanceCounter(&t1)
                                out[i] = t1.QuadPart - t0.QuadPart
                            else:
                                out[i] = result
                        if not err and WINIPC_IS_ERROR(result):
                            refusal_note(handle, bell, local, address, <size_t>view.len,
                                         result, note)
                finally:
                    if bell != NULL:
                        self._bell_busy = False
                    if local != NULL:
                        PyBuffer_Release(&pinned)
                if err:
                    round_trip_failed(err, step, msg, address, <size_t>view.len, self.pid,
                                      bell.started if bell != NULL else -1)
                if WINIPC_IS_ERROR(result) or refused32(self._server32, result):
                    refused_by(self._server32, msg, result, view.len, note)
                return True
            finally:
                PyBuffer_Release(&view)
        finally:
            self.leave()

    def close(self):
        """Close the doorbell and the shared buffers (the server is told) and
        CloseHandle, once the calls still using them are done; harmless when
        already closed."""
        self._closed = True
        if self._busy == 0:
            self.release()

    def __dealloc__(self):
        self.release()

    def __repr__(self):
        state = "closed" if self._closed else f"handle={<size_t>self._handle:#x}"
        return f"<winipc._rpc.Process pid={self.pid} access={self.access:#x} {state}>"
