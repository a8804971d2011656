# The server: its window, the checks on every request, and the loop that
# serves messages and doorbells.  (Part of _rpc.pyx.)

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


cdef inline bint sign_extended_32(LPARAM lparam) noexcept nogil:
    """Whether ``lparam`` is a negative 32-bit value sign-extended: what a
    32-bit sender's lParam of 0x80000000 or more becomes on its way here."""
    # (in 64 bits: on x86, 1 << 31 overflows the 32-bit LPARAM)
    return lparam < 0 and <int64_t>lparam >= -(<int64_t>1 << 31)


cdef uint32_t run_on_copy(WindowState *s, Handler *handler, size_t address, size_t size,
                          int64_t *result, DWORD caller) noexcept nogil:
    """Run ``handler`` on a server-owned copy of a client's buffer (private,
    or a shared section's view) and copy the answer back.  The client owns that memory and may free or
    re-protect it (VirtualFreeEx, VirtualProtectEx) at any time, also while
    the handler runs: it then gets an error, never the server a fault (the
    copies are winipc_safe_copy, see safecopy.pxi).  ERROR_INVALID_ADDRESS
    if the buffer went away before the handler ran, ERROR_PARTIAL_COPY if it
    went away while the handler ran."""
    cdef char *copy
    cdef bint kept
    cdef uint32_t code
    if size < handler.size:
        return ERROR_INSUFFICIENT_BUFFER
    kept = not s.scratch_busy and size <= SCRATCH_KEEP
    if kept and size > s.scratch_size:
        if s.scratch != NULL:
            bellapi.VirtualFree(s.scratch, 0, win32.MEM_RELEASE)
        s.scratch_size = 0
        s.scratch = <char *>bellapi.VirtualAlloc(NULL, size, win32.MEM_COMMIT | win32.MEM_RESERVE,
                                                 win32.PAGE_READWRITE)
        if s.scratch == NULL:
            return ERROR_NOT_ENOUGH_MEMORY
        s.scratch_size = size
    if kept:
        copy = s.scratch
        s.scratch_busy = True   # a handler that lets messages in gets another
    else:
        copy = <char *>bellapi.VirtualAlloc(NULL, size, win32.MEM_COMMIT | win32.MEM_RESERVE,
                                            win32.PAGE_READWRITE)
        if copy == NULL:
            return ERROR_NOT_ENOUGH_MEMORY
    if not winipc_safe_copy(copy, <void *>address, size):
        code = ERROR_INVALID_ADDRESS
    else:
        code = run_handler(handler, copy, size, result, caller)
        # A failed handler's buffer goes back too: it says why (dispatch.pxi).
        if ((code == 0 or code == ERROR_UNHANDLED_EXCEPTION)
                and not winipc_safe_copy(<void *>address, copy, size)):
            code = win32.ERROR_PARTIAL_COPY
    if kept:
        s.scratch_busy = False
    else:
        bellapi.VirtualFree(copy, 0, win32.MEM_RELEASE)
    return code


cdef LRESULT serve(WindowState *s, UINT msg, WPARAM size, LPARAM lparam,
                   DWORD pid) noexcept nogil:
    """One request, from a message (``pid`` 0: nobody knows who sent it) or
    a doorbell of process ``pid``: check it, run its handler -> the result
    or WINIPC_ERROR_RESULT(code).  A section is served only to its own
    process."""
    cdef Handler *handler = (<HandlerTable>s.table).find(msg)
    cdef Section *section
    cdef int64_t result = 0
    cdef uint32_t code
    if handler == NULL:
        return WINIPC_ERROR_RESULT(ERROR_INVALID_MESSAGE)
    section = find_section(s, <size_t>lparam, size, pid)
    if section != NULL:
        # The server's own view, but its client holds PROCESS_VM_OPERATION
        # on this process (the technique needs it) and may re-protect or
        # unmap the view (VirtualProtectEx, or its own UnmapViewOfFile2) at
        # any time, also while the handler runs: the handler runs on a copy,
        # as for a private buffer.
        section.in_use += 1
        code = run_on_copy(s, handler, <size_t>lparam, size, &result, pid)
        section.in_use -= 1
        if section.doomed and section.in_use == 0:
            release_section(s, section)
    elif owned_buffer(<size_t>lparam, size):
        code = run_on_copy(s, handler, <size_t>lparam, size, &result, pid)
    elif pid == 0 and sign_extended_32(lparam) and owned_buffer(<size_t><uint32_t>lparam, size):
        # A 32-bit sender's lParam at or above 2 GiB arrives sign-extended
        # (0xFFFFFFFF8xxxxxxx, never a user address here): the address it
        # meant, checked as strictly as any other.
        code = run_on_copy(s, handler, <size_t><uint32_t>lparam, size, &result, pid)
    else:
        return WINIPC_ERROR_RESULT(ERROR_INVALID_ADDRESS)
    if code:
        return WINIPC_ERROR_RESULT(code)
    return result


# --- doorbell pages a client pulled ------------------------------------------
# A client holds PROCESS_VM_OPERATION on the server (the technique needs it),
# so it can re-protect or unmap the server's own view of a doorbell page
# (VirtualProtectEx, UnmapViewOfFile2) while the serving thread uses it.  The
# serving thread touches the pages on every pass, with atomics, so instead of
# a guarded copy each access is retried: a vectored handler restores the
# faulting page (read-write again, or the section mapped again at the same
# address) and the instruction runs once more.  Only the serving thread's own
# pages are restored (its WindowState is in a TLS slot while it serves); any
# other fault goes on to the next handler.

cdef DWORD SERVING_SLOT = bellapi.TlsAlloc()


cdef long __stdcall heal_bell_page(bellapi.EXCEPTION_POINTERS *e) noexcept nogil:
    cdef bellapi.EXCEPTION_RECORD *record = e.ExceptionRecord
    cdef WindowState *s
    cdef ServerBell *b
    cdef size_t address
    cdef DWORD old
    cdef int i
    if ((record.ExceptionCode != bellapi.EXCEPTION_ACCESS_VIOLATION
            and record.ExceptionCode != bellapi.STATUS_GUARD_PAGE_VIOLATION)
            or record.NumberParameters < 2 or SERVING_SLOT == bellapi.TLS_OUT_OF_INDEXES):
        return bellapi.EXCEPTION_CONTINUE_SEARCH
    s = <WindowState *>bellapi.TlsGetValue(SERVING_SLOT)
    if s == NULL:
        return bellapi.EXCEPTION_CONTINUE_SEARCH
    address = record.ExceptionInformation[1]
    for i in range(s.bell_slots):
        b = &s.bells[i]
        if b.section == NULL or address - <size_t>b.bell >= WINIPC_BELL_SIZE:
            continue
        if (bellapi.VirtualProtect(b.bell, WINIPC_BELL_SIZE, win32.PAGE_READWRITE, &old)
                or bellapi.MapViewOfFileEx(b.section, memoryapi.FILE_MAP_READ
                                           | memoryapi.FILE_MAP_WRITE, 0, 0,
                                           WINIPC_BELL_SIZE, b.bell) == <void *>b.bell):
            s.healed += 1
            return bellapi.EXCEPTION_CONTINUE_EXECUTION
        return bellapi.EXCEPTION_CONTINUE_SEARCH
    return bellapi.EXCEPTION_CONTINUE_SEARCH


if bellapi.AddVectoredExceptionHandler(1, heal_bell_page) == NULL:
    raise MemoryError("AddVectoredExceptionHandler failed for the doorbell pages' guard")


cdef LRESULT __stdcall wndproc(HWND window, UINT msg, WPARAM wparam, LPARAM lparam) noexcept nogil:
    cdef WindowState *state = <WindowState *>win32.GetWindowLongPtrW(window, win32.GWLP_USERDATA)
    if state != NULL:
        if msg == state.control:
            return control(state, wparam, lparam)
        if win32.WM_USER <= msg <= LAST_MESSAGE:
            return serve(state, msg, wparam, lparam, 0)
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
    the GIL until stop(); the window is destroyed before run() returns.
    While clients have doorbells open, the same thread also serves those,
    and after each request it spins ``spin_us`` µs looking for the next one
    before it sleeps."""

    cdef readonly HandlerTable handlers
    cdef readonly str title
    cdef WindowState state
    cdef DWORD _tid
    cdef bint _running
    cdef bint _stop_requested
    cdef int _spin_us
    # Let processes of a lower integrity level (not elevated, when this one
    # is) send this window its messages: User Interface Privilege Isolation
    # drops them otherwise.  Set before run().
    cdef public bint allow_lower_integrity

    def __cinit__(self):
        self.handlers = HandlerTable()
        memset(&self.state, 0, sizeof(WindowState))
        self.state.table = <PyObject *>self.handlers
        self.state.pid = win32.GetCurrentProcessId()
        self.state.sections = <Section *>PyMem_Malloc(MAX_SECTIONS * sizeof(Section))
        self.state.bells = <ServerBell *>PyMem_Malloc(MAX_BELLS * sizeof(ServerBell))
        if self.state.sections == NULL or self.state.bells == NULL:
            raise MemoryError()
        memset(self.state.sections, 0, MAX_SECTIONS * sizeof(Section))
        memset(self.state.bells, 0, MAX_BELLS * sizeof(ServerBell))

    cdef _allow_lower_integrity(self, HWND window):
        """ChangeWindowMessageFilterEx(MSGFLT_ALLOW) for every message this
        window serves: its handlers' and the control message."""
        cdef int i
        cdef UINT msg
        for i in range(self.handlers.count + 1):
            msg = self.handlers.entries[i].msg if i < self.handlers.count else control_message()
            if not win32.ChangeWindowMessageFilterEx(window, msg, win32.MSGFLT_ALLOW, NULL):
                err = win32.GetLastError()
                win32.DestroyWindow(window)
                self.state.window = NULL
                fail(err, "ChangeWindowMessageFilterEx",
                     f"server {self.title!r}, message {msg:#x}")

    def __init__(self, str title, int spin_us):
        self.title = title
        self.spin_us = spin_us
        self.steady_us = default_steady_us(spin_us)

    def __dealloc__(self):
        if self.state.sections != NULL and self.state.bells != NULL:
            release_all(&self.state)
        PyMem_Free(self.state.sections)
        PyMem_Free(self.state.bells)
        self.state.sections = NULL
        self.state.bells = NULL

    @property
    def spin_us(self):
        """How long (µs) the serving thread spins over its doorbells after a
        request before it sleeps; 0: never."""
        return self._spin_us

    @spin_us.setter
    def spin_us(self, int value):
        self._spin_us = checked_spin_us(value)

    @property
    def steady_us(self):
        """Steady mode (0: off): while requests come at most this many µs
        apart, the serving thread spins until twice the recent longest gap
        has passed, burning its CPU meanwhile, so that it never sleeps
        between them; a longer pause ends it (winipc_steady_spin)."""
        return self.state.steady_ns // 1000

    @steady_us.setter
    def steady_us(self, int value):
        self.state.steady_ns = <int64_t>checked_spin_us(value) * 1000

    @property
    def pid(self):
        return win32.GetCurrentProcessId()

    @property
    def held(self):
        """(handles, bytes) this server holds for clients right now: shared
        sections and doorbells, each within its bounds per client process
        and per server, and released when their process exits (control.pxi);
        what else the process holds is not the clients' doing."""
        cdef long handles = self.state.section_count + 3 * self.state.bell_count
        if self.state.wake != NULL:
            handles += 1
        return handles, self.state.shared_bytes + <uint64_t>self.state.bell_count * WINIPC_BELL_SIZE

    @property
    def healed(self):
        """How many times a doorbell page that a client re-protected or
        unmapped in this process was restored (heal_bell_page)."""
        return self.state.healed

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
        cdef win32.ATOM atom = 0
        cdef DWORD err = 0
        cdef int attempt
        if self._running:
            raise RuntimeError("this server is already running")
        self._running = True
        try:
            self.state.control = control_message()
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
            if self.allow_lower_integrity:
                self._allow_lower_integrity(window)
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
                bellapi.TlsSetValue(SERVING_SLOT, &self.state)
                err = serve_loop(&self.state, window, self._spin_us)
                bellapi.TlsSetValue(SERVING_SLOT, NULL)
            self.state.serving = False
            if err == BELL_INTERRUPTED:
                reraise()
            if err:
                fail(err, "MsgWaitForMultipleObjectsEx", f"server {self.title!r}")
        finally:
            self.state.serving = False   # so destroying now posts no WM_QUIT
            if self.state.window != NULL:
                win32.DestroyWindow(self.state.window)
            self.state.window = NULL
            release_all(&self.state)
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


cdef int dispatch(HWND window, win32.MSG *message) noexcept nogil:
    """One retrieved message -> 1 to go on, 0 on WM_QUIT, -1 when Python's
    signal handler raised (the signal timer of a server on the main thread)."""
    if message.message == bellapi.WM_QUIT:
        return 0
    if (message.message == win32.WM_TIMER and message.hwnd == window
            and message.wParam == SIGNAL_TIMER_ID):
        with gil:
            if check_signals() < 0:   # KeyboardInterrupt ends run()
                return -1
        return 1
    win32.TranslateMessage(message)
    win32.DispatchMessageW(message)
    return 1


cdef DWORD serve_loop(WindowState *s, HWND window, int spin_us) noexcept nogil:
    """The window thread's loop until WM_QUIT -> 0, a Win32 code, or
    BELL_INTERRUPTED.

    With no doorbell open it is the classic GetMessageW loop.  With some, it
    serves them between messages: after each request it spins spin_us µs
    over the doorbells (looking at the message queue every QUEUE_CHECK_US),
    then says it sleeps in every doorbell, looks once more, and waits in
    MsgWaitForMultipleObjectsEx for its wake Event or a message, so that
    SendMessage callers are answered by the same thread as before."""
    cdef win32.MSG message
    cdef BOOL got
    cdef int r, served
    cdef int64_t now, back, spin_end = 0, next_queue = 0
    cdef int64_t spin_ticks = us_to_ticks(spin_us)
    cdef int64_t queue_ticks = us_to_ticks(QUEUE_CHECK_US)
    cdef DWORD woke
    cdef unsigned int spins = 0
    cdef uint64_t next_sweep = 0
    s.cpu = winipc_cpu()
    while True:
        if s.bell_count == 0:
            got = win32.GetMessageW(&message, NULL, 0, 0)
            if got == 0:
                return 0
            if got == -1:
                return win32.GetLastError()
            r = dispatch(window, &message)
            if r <= 0:
                return 0 if r == 0 else BELL_INTERRUPTED
            continue

        spins += 1
        if spins % 32 == 0:
            s.cpu = winipc_cpu()
        served = serve_bells(s)
        now = ticks_now()
        if served:
            # In the clock's own ticks: winipc_steady_spin only compares and adds.
            spin_end = now + winipc_steady_spin(now, &s.last_request, &s.recent_gap, spin_ticks,
                                                us_to_ticks(s.steady_ns // 1000))
        if s.beside and now < spin_end and winipc_now_ns() < s.yields_muted_until:
            spin_end = now          # our yields lost the CPU lately: sleep
        if now < spin_end and now < next_queue:
            # A client beside us on this CPU cannot post while we spin: then
            # each step yields to it, timed (doorbell.h).
            back = winipc_server_wait_step(s.cpu, s.beside)
            if back and bells_pending(s, back - WINIPC_YIELD_LOST_NS):
                winipc_lost_yield(back, &s.yields_lost, &s.yields_muted_until)
            continue
        # The message queue: sent messages are answered inside PeekMessageW.
        while bellapi.PeekMessageW(&message, NULL, 0, 0, bellapi.PM_REMOVE):
            r = dispatch(window, &message)
            if r <= 0:
                return 0 if r == 0 else BELL_INTERRUPTED
        # Dead clients' doorbells, by the clock: a busy server never sleeps
        # out a wait, and a main-thread server's signal timer ends it first.
        if synchapi.GetTickCount64() >= next_sweep:
            sweep_bells(s)
            next_sweep = synchapi.GetTickCount64() + SWEEP_MS
        now = ticks_now()
        next_queue = now + queue_ticks
        if now < spin_end or s.bell_count == 0:
            continue
        # Sleep: say so in every doorbell, then look once more.
        set_server_asleep(s, 1)
        winipc_fence()
        if bells_pending(s):
            set_server_asleep(s, 0)
            continue
        woke = bellapi.MsgWaitForMultipleObjectsEx(1, &s.wake, SWEEP_MS, bellapi.QS_ALLINPUT,
                                                   bellapi.MWMO_INPUTAVAILABLE)
        set_server_asleep(s, 0)
        s.cpu = winipc_cpu()        # the wake-up may have moved us
        if woke == synchapi.WAIT_FAILED:
            return win32.GetLastError()

