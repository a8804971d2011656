# The doorbell (common/doorbell.h) on Windows, both sides (included by
# _rpc.pyx after control.pxi).
#
# The client posts a request in its page, spins up to spin_us µs for the
# answer, then sleeps on its Event in slices, between which it checks that
# the server's window still exists and runs Python's signal handlers.  The
# server's window thread serves every doorbell between messages (see
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


cdef struct ClientBell:
    HWND window             # the server this doorbell rings; NULL: none
    winipc_bell *bell       # the page, mapped here
    HANDLE client_event     # set by the server when client_asleep was 1
    HANDLE server_event     # set by us when server_asleep was 1
    uint64_t token
    uint32_t seq            # the last request posted
    int started             # the last call given up: 0 withdrawn, 1 taken; -1 unknown
    bint rang               # the last request woke the server
    int64_t wake_avg        # how long the server took to wake lately, ns (doorbell.h)


cdef DWORD bell_spin(ClientBell *cb, uint32_t seq, bint cold, int64_t start, int64_t until,
                     int64_t deadline, bint *done) noexcept nogil:
    """Spin (ticks) until request ``seq`` is answered (or, ``cold``, taken
    by a server that slept, yielding at every step: ``done``) or ``until``
    -> 0, or the code to return (ERROR_INVALID_WINDOW_HANDLE: the server is
    gone; BELL_INTERRUPTED)."""
    cdef winipc_bell *b = cb.bell
    cdef int64_t now, next_check = start + us_to_ticks(SPIN_CHECK_MS * 1000)
    cdef uint32_t mine = winipc_cpu()
    cdef uint32_t peer = winipc_bell_server_cpu(b)
    cdef unsigned int spins = 0
    cdef unsigned int every = 8 if cold else 32     # a yield takes far longer than a pause
    done[0] = False
    while not (winipc_bell_taken(b, seq) if cold else winipc_bell_answered(b, seq)):
        winipc_wait_step(mine, mine if cold else peer)
        spins += 1
        if spins % every != 0:
            continue
        mine = winipc_cpu()
        winipc_bell_client_at(b, mine)
        peer = winipc_bell_server_cpu(b)
        now = ticks_now()
        if now >= until or now >= deadline:
            return 0
        if now >= next_check:
            if not win32.IsWindow(cb.window):
                return win32.ERROR_INVALID_WINDOW_HANDLE
            with gil:
                if check_signals() < 0:
                    return BELL_INTERRUPTED
            next_check = ticks_now() + us_to_ticks(SPIN_CHECK_MS * 1000)
    done[0] = True
    return 0


cdef DWORD bell_round_trip(ClientBell *cb, UINT msg, WPARAM wparam, LPARAM lparam,
                           UINT timeout_ms, int spin_us, LRESULT *result) noexcept nogil:
    """Post one request and wait for its answer.  0 and ``result`` (the
    answer, an error as WINIPC_ERROR_RESULT), or ERROR_TIMEOUT,
    ERROR_INVALID_WINDOW_HANDLE (the server is gone) or BELL_INTERRUPTED.

    Every request has a new sequence number, and only the answer that
    carries it counts: an answer to a request that timed out is ignored."""
    cdef winipc_bell *b = cb.bell
    cdef uint32_t seq = winipc_bell_next_seq(cb.seq)
    cdef DWORD err
    cb.seq = seq
    cb.started = -1
    cb.rang = winipc_bell_post(b, seq, msg, wparam, <uint64_t>lparam)
    if cb.rang:
        synchapi.SetEvent(cb.server_event)
    err = bell_wait(cb, seq, timeout_ms, spin_us, result)
    if err == win32.ERROR_TIMEOUT or err == BELL_INTERRUPTED:
        # Given up: withdrawn if the server has not taken it yet, so that
        # it never runs later (doorbell.h).
        cb.started = 0 if winipc_bell_withdraw(b, seq) else 1
    return err


cdef DWORD bell_first_look(ClientBell *cb, uint32_t seq, int spin_us, int64_t start,
                           int64_t deadline) noexcept nogil:
    """The spin before a wait for request ``seq`` sleeps -> 0 or the code
    to return: one that had to wake the server (``cb.rang``) first yields
    until the server has taken it, for the budget its recent wake-ups
    earned (doorbell.h), then spins up to ``spin_us`` for the answer (no
    kernel call while the server answers; a server on our CPU gets it at
    once); so a client still spinning when the answer comes spares it its
    own wake-up."""
    cdef int64_t cold_start
    cdef DWORD err
    cdef bint done = True
    if spin_us <= 0:
        return 0
    if cb.rang:
        cold_start = winipc_now_ns()
        err = bell_spin(cb, seq, True, start,
                        start + us_to_ticks(winipc_cold_budget(<int64_t>spin_us * 1000,
                                                               cb.wake_avg) // 1000),
                        deadline, &done)
        if err:
            return err
        winipc_cold_learn(&cb.wake_avg, winipc_now_ns() - cold_start)
        start = ticks_now()
    if done:
        return bell_spin(cb, seq, False, start, start + us_to_ticks(spin_us), deadline, &done)
    return 0


cdef DWORD bell_wait(ClientBell *cb, uint32_t seq, UINT timeout_ms, int spin_us,
                     LRESULT *result) noexcept nogil:
    """bell_round_trip's wait for the answer to request ``seq`` (posted)."""
    cdef winipc_bell *b = cb.bell
    cdef int64_t start, now, deadline
    cdef int64_t left_ms
    cdef uint32_t error
    cdef DWORD err
    start = ticks_now()
    deadline = start + us_to_ticks(<int64_t>timeout_ms * 1000)
    err = bell_first_look(cb, seq, spin_us, start, deadline)
    if err:
        return err
    # Sleep in slices, saying so first (the protocol's "a side sleeps").  A
    # wake-up that comes after we took the flag back (the server had taken
    # it first) stays pending on the auto-reset Event and only ends a later
    # slice early: every slice looks at the reply, the window and the clock.
    while not winipc_bell_answered(b, seq):
        winipc_bell_client_sleeps(b)
        if winipc_bell_answered(b, seq):
            winipc_bell_client_wakes(b)
            break
        now = ticks_now()
        if now >= deadline:
            winipc_bell_client_wakes(b)
            return win32.ERROR_TIMEOUT
        left_ms = ((deadline - now) * 1000 + QPC_FREQUENCY - 1) // QPC_FREQUENCY
        win32.WaitForSingleObject(cb.client_event,
                                  <DWORD>(left_ms if left_ms < BELL_SLICE_MS else BELL_SLICE_MS))
        winipc_bell_client_wakes(b)
        if winipc_bell_answered(b, seq):
            break
        if not win32.IsWindow(cb.window):
            return win32.ERROR_INVALID_WINDOW_HANDLE
        with gil:
            if check_signals() < 0:
                return BELL_INTERRUPTED
    error = b.error
    if error:
        result[0] = WINIPC_ERROR_RESULT(error if error < WINIPC_ERROR_SPAN else bellapi.ERROR_INVALID_DATA)
    else:
        result[0] = <LRESULT>b.result
    return 0


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


cdef bint bells_pending(WindowState *s) noexcept nogil:
    cdef int i
    for i in range(s.bell_slots):
        if (s.bells[i].section != NULL and not s.bells[i].busy
                and winipc_bell_untaken(winipc_bell_pending(s.bells[i].bell),
                                        s.bells[i].last_served)):
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
