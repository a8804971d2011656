# The client's doorbells: opening one into a ClientBell, closing it, and the
# split-phase sends of asyncio on a doorbell of their own.  (Part of
# _rpc.pyx: Process's methods call these.)

cdef void drop_client_bell(ClientBell *cb) noexcept:
    """Close our side of a doorbell and tell the server (posted)."""
    if cb.window == NULL:
        return
    win32.PostMessageW(cb.window, CONTROL_MESSAGE, OP_BELL_CLOSE, <LPARAM>cb.token)
    if cb.bell != NULL:
        memoryapi.UnmapViewOfFile(cb.bell)
    if cb.client_event != NULL:
        win32.CloseHandle(cb.client_event)
    if cb.server_event != NULL:
        win32.CloseHandle(cb.server_event)
    memset(cb, 0, sizeof(ClientBell))


cdef open_into(Process p, ClientBell *target, UINT timeout_ms):
    """Have the Process's server window make a doorbell for this process,
    and claim it into ``target`` (left empty on failure; the server is
    told).  The server gives us handles (control.pxi): the page's is the
    answer, the Events' are in the page's grant."""
    cdef HWND hwnd = p._window
    cdef HANDLE page
    cdef void *view = NULL
    cdef BellGrant *grant
    cdef ClientBell bell
    cdef DWORD err
    memset(&bell, 0, sizeof(ClientBell))
    control_message()
    page = <HANDLE><size_t>p.control(hwnd, OP_BELL_OPEN, <LPARAM>win32.GetCurrentProcessId(),
                                     timeout_ms, "a doorbell")
    view = memoryapi.MapViewOfFile(page, memoryapi.FILE_MAP_READ | memoryapi.FILE_MAP_WRITE,
                                   0, 0, WINIPC_BELL_SIZE)
    if view == NULL:
        # Revoked meanwhile (more than CLAIM_MS): the server closed it.
        fail(win32.GetLastError(), "MapViewOfFile", "the doorbell page the server gave")
    grant = grant_of(view)
    if not winipc_cas(&grant.claim, CLAIM_OFFERED, CLAIM_TAKEN):
        # Revoked: the server closed every handle it gave us, and its side.
        memoryapi.UnmapViewOfFile(view)
        raise_winerror(win32.ERROR_TIMEOUT, "MapViewOfFile",
                       detail=f"the server took the doorbell back: it was not claimed within "
                              f"{CLAIM_MS} ms")
    # Ours from now on: the server closes none of these.
    win32.CloseHandle(page)
    bell.window = hwnd
    bell.bell = <winipc_bell *>view
    bell.token = grant.token
    bell.client_event = <HANDLE><size_t>grant.client_event
    bell.server_event = <HANDLE><size_t>grant.wake_event
    bell.seq = bell.bell.req
    target[0] = bell


# Split-phase sends, for asyncio (winipc/_aio.py), on a doorbell of
# their own (opened on first use), so that the classic path and the
# connection's doorbell stay as they are for synchronous calls.
# begin_send() posts the request; end_send() looks for the answer
# without waiting; in between the caller waits for wait_handle (the
# doorbell's client Event) the way the proactor waits
# (RegisterWaitForSingleObject): the page says the client sleeps, so the
# server's answer sets the Event.  cancel_send() gives up: a late answer
# carries its own sequence number, which no later request has.


cdef object async_begin(Process p, UINT msg, size_t size, size_t address, UINT timeout_ms):
    cdef ClientBell *cb = &p._abell
    cdef uint32_t seq
    p.enter()
    try:
        if p._abell_busy:
            raise RuntimeError("an asynchronous send is in flight on this connection")
        if cb.window == NULL:
            open_into(p, cb, timeout_ms)
        seq = winipc_bell_next_seq(cb.seq)
        cb.seq = seq
        p._amsg, p._asize, p._aaddress = msg, size, address
        cb.rang = winipc_bell_post(cb.bell, seq, msg, size, address)
        if cb.rang:
            synchapi.SetEvent(cb.server_event)
        p._abell_busy = True
        return seq
    finally:
        if not p._abell_busy:
            p.leave()


cdef object async_end(Process p, uint32_t seq, int spin_us):
    cdef ClientBell *cb = &p._abell
    cdef winipc_bell *b = cb.bell
    cdef uint32_t error
    cdef LRESULT result
    cdef DWORD err = 0
    cdef bint done = True
    try:
        if spin_us > 0 and not winipc_bell_answered(b, seq) and b.server_asleep == 0:
            # The first look waits as a synchronous call does (bell_wait):
            # an awake server answers within the spin, and one that
            # async_begin woke is waited for; then the event loop is spared
            # a round of its own, and this thread a wake-up.
            with nogil:
                err = bell_first_look(cb, seq, spin_us, ticks_now(), INT64_MAX)
            cb.rang = False
            if err:
                round_trip_failed(err, STEP_BELL, p._amsg, 0, 0, p.pid)
        if not winipc_bell_answered(b, seq):
            winipc_bell_client_sleeps(b)
            if not winipc_bell_answered(b, seq):
                if not win32.IsWindow(cb.window):
                    winipc_bell_client_wakes(b)
                    round_trip_failed(win32.ERROR_INVALID_WINDOW_HANDLE, STEP_BELL,
                                      p._amsg, 0, 0, p.pid)
                done = False
                return None
        # A wake-up that comes after this stays pending on the
        # auto-reset Event: a later wait only looks at the page once more.
        winipc_bell_client_wakes(b)
        error = b.error
        if error:
            result = WINIPC_ERROR_RESULT(error if error < WINIPC_ERROR_SPAN else bellapi.ERROR_INVALID_DATA)
            # Worded as a call's; the page's note is read while the
            # doorbell is still ours.
            p.own_refusal(p._amsg, result, p._aaddress, p._asize, cb)
        return <LRESULT>b.result
    finally:
        if done:
            p._abell_busy = False
            p.leave()
