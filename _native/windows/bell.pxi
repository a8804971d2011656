# The doorbell (common/doorbell.h) on Windows: what both sides use (the
# clock, the waits' slices, BELL_INTERRUPTED) and the server's side (included
# by _rpc.pyx after control.pxi).  The client's side is _ClientBell
# (client_bell.pxi).
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
