# The doorbell (common/doorbell.h) on Windows: what both sides use (the
# clock, the waits' slices, BELL_INTERRUPTED) and the server's side: opening
# a doorbell for a client, closing and reclaiming it (what the control
# message asks for, control.pxi, with whose tables this works) and serving
# it.  (Included by _rpc.pyx after control.pxi.)  The client's side is
# _ClientBell (client_bell.pxi).
#
# The server's window thread serves every doorbell between messages (see
# ServerCore.run): it reads a request once into locals and checks it exactly
# as a message; a page full of garbage only ever earns its own client error
# answers.

cdef enum:
    # A sleeping client wakes this often to look for a dead server and for
    # Ctrl+C; a spinning one looks every SPIN_CHECK_MS.
    BELL_SLICE_MS = 50
    SPIN_CHECK_MS = 10
    # A serving thread that spins still looks at its message queue this
    # often (µs), so that SendMessage callers and timers are served.
    QUEUE_CHECK_US = 1000
    # While doorbells exist, the server wakes at least this often (ms) to
    # reclaim the doorbells of clients that have exited.
    SWEEP_MS = 250

# The answer of a wait that Python's signal handler interrupted (an
# exception is set): an application-defined code, never a Win32 one.
cdef DWORD BELL_INTERRUPTED = <DWORD>0xE0000001u


cdef int64_t qpc_frequency() noexcept nogil:
    cdef win32.LARGE_INTEGER f
    win32.QueryPerformanceFrequency(&f)
    return f.QuadPart if f.QuadPart > 0 else 1


cdef int64_t QPC_FREQUENCY = qpc_frequency()


cdef extern from "Python.h":
    # Without Cython's exception check: the caller sees -1 and takes over.
    int check_signals "PyErr_CheckSignals"() nogil


cdef inline int64_t ticks_now() noexcept nogil:
    cdef win32.LARGE_INTEGER t
    win32.QueryPerformanceCounter(&t)
    return t.QuadPart


cdef inline int64_t us_to_ticks(int64_t us) noexcept nogil:
    return us * QPC_FREQUENCY // 1000000


cdef int reraise() except -1:
    """Propagate the exception a signal handler left set."""
    return -1


# --- the server side: opening, closing and reclaiming doorbells ----------------

cdef void release_bell(WindowState *s, ServerBell *b) noexcept nogil:
    """Close a doorbell and the sections it allocated."""
    cdef int i
    for i in range(s.section_slots):
        if s.sections[i].mapping != NULL and s.sections[i].bell == b.token:
            drop_section(s, &s.sections[i])
    memoryapi.UnmapViewOfFile(b.bell)
    win32.CloseHandle(b.section)
    win32.CloseHandle(b.client_event)
    win32.CloseHandle(b.client)
    memset(b, 0, sizeof(ServerBell))
    s.bell_count -= 1
    while s.bell_slots and s.bells[s.bell_slots - 1].section == NULL:
        s.bell_slots -= 1
    if s.bell_count == 0 and s.wake != NULL:    # nobody holds it any more
        win32.CloseHandle(s.wake)
        s.wake = NULL


cdef bint revoke_unclaimed(ServerBell *b, uint64_t now_ms) noexcept nogil:
    """Whether ``b`` was offered CLAIM_MS ago and never claimed: then it is
    revoked here, and the handles it gave are closed in that process (the
    page says which race won: a client that claims it now sees it revoked)."""
    cdef int i
    if b.opened_ms == 0 or now_ms - b.opened_ms < CLAIM_MS:
        return False
    if not winipc_cas(&grant_of(b.bell).claim, CLAIM_OFFERED, CLAIM_REVOKED):
        b.opened_ms = 0     # claimed
        return False
    for i in range(3):
        take_back(b, b.given[i])
    return True


cdef void sweep_bells(WindowState *s) noexcept nogil:
    """Close the doorbells of clients that have exited, and those never
    claimed (revoke_unclaimed)."""
    cdef int i
    cdef ServerBell *b
    cdef uint64_t now_ms = synchapi.GetTickCount64()
    for i in range(s.bell_slots):
        b = &s.bells[i]
        if b.section == NULL or b.busy:
            continue
        if (win32.WaitForSingleObject(b.client, 0) == win32.WAIT_OBJECT_0
                or revoke_unclaimed(b, now_ms)):
            release_bell(s, b)


cdef DWORD ensure_wake(WindowState *s) noexcept nogil:
    """The server's wake Event (auto-reset, unnamed), made on the first doorbell."""
    if s.wake == NULL:
        s.wake = synchapi.CreateEventW(NULL, win32.FALSE, win32.FALSE, NULL)
        if s.wake == NULL:
            return win32.GetLastError()
    return 0


cdef int bells_of(WindowState *s, DWORD pid) noexcept nogil:
    """How many doorbells process ``pid`` holds."""
    cdef int i, count = 0
    for i in range(s.bell_slots):
        if s.bells[i].section != NULL and s.bells[i].pid == pid:
            count += 1
    return count


cdef LRESULT bell_open(WindowState *s, DWORD client_pid) noexcept nogil:
    """A doorbell for process ``client_pid``: its page, Event and the wake
    Event made here, handles to them given to that process -> the page's
    handle there."""
    cdef ServerBell b
    cdef BellGrant *grant
    cdef HANDLE theirs
    cdef void *view
    cdef DWORD err = 0
    cdef int slot, i, mine
    if client_pid == 0:
        return error_result(ERROR_INVALID_PARAMETER)
    if s.bell_count >= MAX_BELLS:
        sweep_bells(s)
    mine = bells_of(s, client_pid)
    if mine >= PID_BELLS:
        sweep_bells(s)
        mine = bells_of(s, client_pid)
    if s.bell_count >= MAX_BELLS or mine >= PID_BELLS:
        return error_result(ERROR_NOT_ENOUGH_MEMORY)
    memset(&b, 0, sizeof(ServerBell))
    b.pid = client_pid
    # A pid nobody can open for handles gets nothing: no doorbell waits
    # for a process that cannot use it.
    b.client = win32.OpenProcess(win32.PROCESS_DUP_HANDLE | win32.SYNCHRONIZE, win32.FALSE,
                                 client_pid)
    if b.client == NULL:
        return error_result(win32.GetLastError())
    b.token = random_token()
    if b.token == 0:
        err = ERROR_NOT_ENOUGH_MEMORY
    if not err:
        err = ensure_wake(s)
    if not err:
        b.section = memoryapi.CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, win32.PAGE_READWRITE,
                                                 0, WINIPC_BELL_SIZE, NULL)
        if b.section == NULL:
            err = win32.GetLastError()
    if not err:
        b.client_event = synchapi.CreateEventW(NULL, win32.FALSE, win32.FALSE, NULL)
        if b.client_event == NULL:
            err = win32.GetLastError()
    if not err:
        view = memoryapi.MapViewOfFile(b.section, memoryapi.FILE_MAP_READ | memoryapi.FILE_MAP_WRITE,
                                       0, 0, WINIPC_BELL_SIZE)
        if view == NULL:
            err = win32.GetLastError()
        else:
            b.bell = <winipc_bell *>view
    if not err:
        theirs = give(&b, b.section, memoryapi.FILE_MAP_READ | memoryapi.FILE_MAP_WRITE, &err)
        b.given[0] = <uint64_t><size_t>theirs
    if not err:
        theirs = give(&b, b.client_event, win32.SYNCHRONIZE | bellapi.EVENT_MODIFY_STATE, &err)
        b.given[1] = <uint64_t><size_t>theirs
    if not err:
        theirs = give(&b, s.wake, bellapi.EVENT_MODIFY_STATE, &err)
        b.given[2] = <uint64_t><size_t>theirs
    if err:
        for i in range(3):
            take_back(&b, b.given[i])
        if b.bell != NULL:
            memoryapi.UnmapViewOfFile(b.bell)
        if b.client_event != NULL:
            win32.CloseHandle(b.client_event)
        if b.section != NULL:
            win32.CloseHandle(b.section)
        win32.CloseHandle(b.client)
        if s.bell_count == 0 and s.wake != NULL:
            win32.CloseHandle(s.wake)
            s.wake = NULL
        return error_result(err)
    grant = grant_of(b.bell)
    grant.token = b.token
    grant.client_event = b.given[1]
    grant.wake_event = b.given[2]
    b.opened_ms = synchapi.GetTickCount64()
    for slot in range(MAX_BELLS):
        if s.bells[slot].section == NULL:
            break
    s.bells[slot] = b
    s.bell_count += 1
    if slot >= s.bell_slots:
        s.bell_slots = slot + 1
    if s.bell_count == 1 and s.window != NULL:
        # The loop may be waiting in GetMessageW, which a sent message does
        # not end: a posted one does, and it then serves doorbells too.
        win32.PostMessageW(s.window, bellapi.WM_NULL, 0, 0)
    return <LRESULT>b.given[0]


cdef LRESULT bell_close(WindowState *s, uint64_t token) noexcept nogil:
    cdef int i
    cdef ServerBell *b
    for i in range(s.bell_slots):
        b = &s.bells[i]
        if b.section != NULL and not b.doomed and b.token == token:
            if b.busy:
                b.doomed = True
            else:
                release_bell(s, b)
            return 1
    return error_result(bellapi.ERROR_NOT_FOUND)


# --- the server side: serving every doorbell ------------------------------------

cdef int serve_bells(WindowState *s) noexcept nogil:
    """Serve every doorbell with a new request, once each per pass (a client
    that keeps changing its page cannot starve the others) -> how many.
    Says in each page where this thread runs (``s.cpu``), and notes whether
    a client waits on the same CPU (``s.beside``)."""
    cdef int i, served = 0
    cdef ServerBell *sb
    cdef uint32_t seq, msg
    cdef uint64_t wparam, lparam
    cdef LRESULT answer
    cdef bint wake
    s.beside = False
    for i in range(s.bell_slots):
        sb = &s.bells[i]
        if sb.section == NULL or sb.busy or sb.doomed:
            continue
        # Where we run, for the client's spin; whether it waits beside us,
        # for ours (doorbell.h).
        winipc_bell_server_at(sb.bell, s.cpu)
        if winipc_bell_client_cpu(sb.bell) == s.cpu:
            s.beside = True
        seq = winipc_bell_pending(sb.bell)
        # Taken atomically: a client that gave up first withdrew it.
        if not winipc_bell_untaken(seq, sb.last_served) or not winipc_bell_take(sb.bell, seq):
            continue
        # Read once: the client may change anything at any time.
        winipc_bell_request(sb.bell, &msg, &wparam, &lparam)
        sb.last_served = seq
        sb.busy = True
        if msg == s.control:    # its process asks for or frees a section
            answer = bell_control(s, sb, <WPARAM>wparam, <LPARAM>lparam)
        else:
            note_area_open(winipc_bell_note(sb.bell))
            answer = serve(s, msg, <WPARAM>wparam, <LPARAM>lparam, sb.pid)
            note_area_close(answer == WINIPC_ERROR_RESULT(ERROR_UNHANDLED_EXCEPTION))
        sb.busy = False
        if sb.doomed:   # closed by a message the handler let in
            release_bell(s, sb)
            continue
        if WINIPC_IS_ERROR(answer):
            wake = winipc_bell_answer(sb.bell, seq, WINIPC_ERROR_CODE(answer), 0)
        else:
            wake = winipc_bell_answer(sb.bell, seq, 0, answer)
        if wake:
            synchapi.SetEvent(sb.client_event)
        served += 1
    return served


cdef bint bells_pending(WindowState *s, int64_t posted_by=-1) noexcept nogil:
    """Whether a request waits in a doorbell (with ``posted_by``: one posted
    at or before then, winipc_bell_posted_by)."""
    cdef int i
    for i in range(s.bell_slots):
        if (s.bells[i].section != NULL and not s.bells[i].busy
                and winipc_bell_untaken(winipc_bell_pending(s.bells[i].bell),
                                        s.bells[i].last_served)
                and (posted_by < 0 or winipc_bell_posted_by(s.bells[i].bell, posted_by))):
            return True
    return False


cdef void set_server_asleep(WindowState *s, bint asleep) noexcept nogil:
    cdef int i
    for i in range(s.bell_slots):
        if s.bells[i].section != NULL:
            if asleep:
                winipc_bell_server_sleeps(s.bells[i].bell)
            else:
                winipc_bell_server_wakes(s.bells[i].bell)
