# The client: Process, a process opened for memory access, with its
# copies, sends and calls (find_window is _rpc.pyx's).  Its doorbells are
# _ClientBell objects (client_bell.pxi), its shared sections a
# _SharedSections (client_shared.pxi); Process's methods delegate to them.
# (Part of _rpc.pyx.)

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
    cdef _ClientBell _bell  # the calls' doorbell (closed: none)
    cdef _ClientBell _abell # the asynchronous sends' own doorbell (begin_send)
    cdef _SharedSections _shared    # the shared sections, which live with _bell
    cdef int _spin_us
    cdef bint _server32     # the process is 32-bit (wow64.pxi)
    cdef public object last_result  # the last call()'s or call_object()'s result

    def __cinit__(self):
        self._handle = NULL
        self._closed = True
        self._busy = 0
        self._bell = _ClientBell()
        self._abell = _ClientBell()
        self._shared = _SharedSections(self._bell)
        self._spin_us = WINIPC_DEFAULT_SPIN_US
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
        self._window = self._bell.server = self._abell.server = <HWND>window
        self._bell.pid = self._abell.pid = pid
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
    def bell(self):
        """The doorbell's (window it rings, where its page is mapped here,
        its token: what closes it, only this process knows it); 0s if none."""
        return <size_t>self._bell.window, <size_t>self._bell.page, self._bell.token

    # Every use of the handle without the GIL is within enter/leave: close()
    # meanwhile never lets its value be reused under a copy in flight.
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
        """What close() owes, once no call uses it: the doorbells (a posted
        message tells the server; sections go with the first), views, handle."""
        if self._bell is not None:      # None only if the collector cleared us
            self._bell.close()
            self._abell.close()
            self._shared.drop_all()
        if self._handle != NULL:
            win32.CloseHandle(self._handle)
            self._handle = NULL

    cdef int own_refusal(self, UINT msg, LRESULT result, size_t address, size_t size,
                         _ClientBell bell) except -1:
        """Raise ``result``, the server's refusal of ``msg`` on this
        connection's buffer of ``size`` bytes at ``address``, worded as a
        call's, with the failed handler's note from the page of ``bell``
        (the caller's; None: none) or else the buffer's start, read once."""
        cdef Py_buffer pinned
        cdef char note[NOTE_MAX]
        cdef char *local = self._shared.pin(address, size, &pinned) if size else NULL
        try:
            with nogil:
                refusal_note(self._handle, bell, local, address, size, result, note)
        finally:
            if local != NULL:
                PyBuffer_Release(&pinned)
        return refused_by(self._server32, msg, result, <int64_t>size, note)

    def open_transport(self, int spin_us, bint shared, UINT timeout_ms):
        """The connection's transport, chosen here once, at connect
        (transport_spin): window messages (SendMessageTimeout), unless shared
        sections or a spin (``spin_us`` >= 0; < 0: the default) ask for a
        doorbell to the server window: then every request is posted in a
        page both sides map, and its answer spun for ``spin_us`` µs, then
        slept for on an Event.  A doorbell already open stays."""
        cdef int spin = transport_spin(spin_us, shared)
        if spin < 0:
            return
        self.enter()
        try:
            self._spin_us = spin
            if self._bell.window == NULL:
                self._bell.open(timeout_ms)
            self._bell.chosen = True
        finally:
            self.leave()

    # Split-phase sends, for asyncio, on the asynchronous doorbell (client_bell.pxi).
    @property
    def wait_handle(self):
        """The Event an asynchronous send waits on (0 before the first)."""
        return <size_t>self._abell.client_event

    def begin_send(self, UINT msg, size_t size, size_t address, UINT timeout_ms,
                   data=None):
        """Post a request of ``msg`` on this connection's buffer of ``size``
        bytes at ``address`` (``data``: its bytes, written first) in the
        asynchronous doorbell, opened within ``timeout_ms`` if need be -> its
        sequence number (never 0: the asynchronous doorbell is its own)."""
        return self.begin(msg, size, address, timeout_ms, data)

    cdef uint32_t begin(self, UINT msg, size_t size, size_t address, UINT timeout_ms,
                        object data) except? 0:
        cdef uint32_t seq = 0
        self.enter()
        try:
            if data is not None and not self._abell.busy:   # (busy: begin refuses)
                self.copy(address, data, True)
            seq = self._abell.begin(msg, size, address, timeout_ms)
            return seq
        finally:
            if seq == 0:        # not posted (one in flight already, or it failed)
                self.leave()

    def end_send(self, uint32_t seq, int spin_us=0, out=None):
        """The answer to request ``seq`` once it has come (a refusal, or a
        server window that is gone, raises), its bytes read into ``out`` if
        given; else None, and the caller waits on wait_handle.  With
        ``spin_us``, an awake server's answer is first spun for that long."""
        return self.end(seq, checked_spin_us(spin_us), out)

    cdef object end(self, uint32_t seq, int spin, object out):
        cdef _ClientBell bell = self._abell
        cdef LRESULT result = 0
        cdef bint done = True
        bell.check_pending(seq)
        try:
            if not bell.end(seq, spin, &result):
                done = False
                return None
            if WINIPC_IS_ERROR(result):
                # Worded as a call's; the page's note is read while the
                # doorbell is still ours.
                self.own_refusal(bell.msg, result, bell.address, bell.size, bell)
            if out is not None:
                self.copy(bell.address, out, False)
            return result
        finally:
            if done:
                bell.busy = False
                self.leave()

    def begin_object(self, UINT msg, size_t address, size_t capacity, struct, out,
                     UINT timeout_ms):
        """acall()'s first step for the usual kinds of request, in one native
        call (answer.pxi's answer object): the answer, the result left in
        ``last_result``; (its sequence number, the answer) while the server
        runs it; None, having posted nothing, for a kind answer.pxi leaves to
        the facade, one larger than ``capacity``, or when another thread's
        request holds the connection."""
        cdef uint32_t seq
        cdef Py_ssize_t size
        answer = answer_for(struct, out)
        size = answer_size(answer, capacity)
        if size < 0:
            return None
        seq = self.begin(msg, size, address, timeout_ms, answer)
        if not seq:
            return None
        result = self.end(seq, self._spin_us, answer)
        if result is None:
            return seq, answer
        self.last_result = result
        return answer

    def cancel_send(self, uint32_t seq):
        """Give up waiting for request ``seq`` (begun, not ended): withdrawn
        if the server has not taken it yet -> True when withdrawn (it never
        runs)."""
        cdef bint withdrawn
        self._abell.check_pending(seq)
        withdrawn = self._abell.cancel(seq)
        self.leave()
        return withdrawn

    def close_bell(self):
        """Stop using the doorbell (the server is told); harmless without one.
        Refused while shared buffers are open: they live with it."""
        if self._bell.busy:
            raise RuntimeError("a call is using the doorbell")
        if self._shared.count:
            raise RuntimeError("shared buffers are open on this doorbell: free them first")
        self._bell.close()

    def alloc_shared(self, size_t size, UINT timeout_ms):
        """A section of ``size`` bytes that the server creates and maps, also
        mapped here -> (its address in the server, a writable MappedView of
        it).  write/read_into/call/bench inside it are memory copies."""
        self.enter()
        try:
            return self._shared.alloc(size, timeout_ms, self._spin_us)
        finally:
            self.leave()

    def free_shared(self, size_t address, UINT timeout_ms):
        """Close our mapping of the shared buffer at ``address`` (BufferError
        while a view of it is exported, and then nothing else happens), then
        have the server unmap it."""
        self.enter()
        try:
            self._shared.free(address, timeout_ms, self._spin_us)
        finally:
            self.leave()

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
                    local = self._shared.pin(address, <size_t>view.len, &pinned)
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
        SMTO_ABORTIFHUNG | SMTO_ERRORONEXIT, timeout_ms), or the same request
        through the doorbell -> the result.  ``lparam``: any 64-bit value,
        signed or unsigned.  ``owned``: wparam and lparam are a buffer of
        this connection's, so a refusal is worded as a call's (own_refusal);
        else nothing at ``lparam`` is ever read.  CallTimeout, ServerGone, or
        the server's refusal (BufferTooSmall, InvalidAddress, ...)."""
        cdef LPARAM lp = <LPARAM>lparam if lparam < 0 else <LPARAM><size_t>lparam
        cdef HWND window = self._window
        cdef LRESULT result = 0
        cdef DWORD err
        cdef _ClientBell bell
        cdef int spin_us = self._spin_us
        cdef Step step = STEP_SEND
        if self._server32:
            check_fits_32bit(self.pid, msg, wparam, <object>lp, 0)
        self.enter()
        try:
            bell = self._bell.take(msg, self._shared.find(<size_t>lp, wparam) != NULL,
                                   timeout_ms)
        except BaseException:
            self.leave()
            raise
        try:
            with nogil:
                if bell is not None:
                    step = STEP_BELL
                    err = bell.round_trip(msg, wparam, lp, timeout_ms, spin_us, &result)
                else:
                    err = send_to(window, msg, wparam, lp, timeout_ms, &result)
            if err:
                round_trip_failed(err, step, msg, <size_t>lp, wparam, self.pid,
                                  bell.started if bell is not None else -1)
            if WINIPC_IS_ERROR(result) or refused32(self._server32, result):
                if owned:
                    self.own_refusal(msg, result, <size_t>lp, wparam, bell)
                refused_by(self._server32, msg, result)
            return result
        finally:
            if bell is not None:
                bell.busy = False
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
        cdef HANDLE handle = self.enter()
        cdef Py_buffer view, pinned
        cdef char *local = NULL
        try:
            get_buffer(buffer, &view, True)
            try:
                if <size_t>view.len > capacity:
                    return False
                if self._server32:
                    check_fits_32bit(self.pid, msg, <size_t>view.len, address, <size_t>view.len)
                local = self._shared.pin(address, <size_t>view.len, &pinned)
                try:
                    self.round_trips(handle, msg, address, local, view.buf, <size_t>view.len,
                                     n, timeout_ms, out, timed)
                finally:
                    if local != NULL:
                        PyBuffer_Release(&pinned)
                return True
            finally:
                PyBuffer_Release(&view)
        finally:
            self.leave()

    cdef int round_trips(self, HANDLE handle, UINT msg, size_t address, char *local,
                         void *data, size_t size, Py_ssize_t n, UINT timeout_ms, int64_t *out,
                         bint timed) except -1:
        """run_calls' loop, and a prepared call's: ``n`` round trips of the
        ``size`` bytes at ``data`` through ``address`` (a shared section's:
        mapped here at ``local``); the first failure or refusal raises, its
        note read once.  The caller is inside enter() (``handle``)."""
        cdef _ClientBell bell = self._bell.take(msg, local != NULL, timeout_ms)
        cdef HWND window = self._window
        cdef int spin_us = self._spin_us
        cdef win32.LARGE_INTEGER t0, t1
        cdef LRESULT result = 0
        cdef Step step = STEP_WRITE
        cdef DWORD err = 0
        cdef Py_ssize_t i
        cdef char note[NOTE_MAX]
        note[0] = 0
        try:
            with nogil:
                for i in range(n):
                    if timed:
                        win32.QueryPerformanceCounter(&t0)
                    err = round_trip(handle, window, bell, spin_us, msg, address, local, data,
                                     size, timeout_ms, &result, &step)
                    if err or WINIPC_IS_ERROR(result) or refused32(self._server32, result):
                        break
                    if timed:
                        win32.QueryPerformanceCounter(&t1)
                        out[i] = t1.QuadPart - t0.QuadPart
                    else:
                        out[i] = result
                if not err and WINIPC_IS_ERROR(result):
                    refusal_note(handle, bell, local, address, size, result, note)
        finally:
            if bell is not None:
                bell.busy = False
        if err:
            round_trip_failed(err, step, msg, address, size, self.pid,
                              bell.started if bell is not None else -1)
        if WINIPC_IS_ERROR(result) or refused32(self._server32, result):
            refused_by(self._server32, msg, result, <int64_t>size, note)
        return 0

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
