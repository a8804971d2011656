# The client's doorbell: _ClientBell, one doorbell of a Process to its server
# window, with its state and all it does: opening and closing it, the round
# trip (post, spin, sleep) without the GIL, and the split-phase sends of
# asyncio.  A Process holds two: its calls' and its asynchronous sends' own.
# The server's side is bell.pxi's.  (Part of _rpc.pyx, after bell.pxi.)
#
# The client posts a request in its page, spins up to spin_us µs for the
# answer, then sleeps on its Event in slices, between which it checks that
# the server's window still exists and runs Python's signal handlers.


@cython.final
cdef class _ClientBell:
    """A doorbell to the window ``server`` of process ``pid``: while open
    (``window`` not NULL), a page both processes map and an Event each way."""

    cdef HWND server            # the window it opens to; pid its process (for errors)
    cdef DWORD pid
    cdef HWND window            # the server this doorbell rings; NULL: closed
    cdef winipc_bell *page      # the page, mapped here
    cdef HANDLE client_event    # set by the server when client_asleep was 1
    cdef HANDLE server_event    # set by us when server_asleep was 1
    cdef uint64_t token         # what closes it: only this process knows it
    cdef uint32_t seq           # the last request posted
    cdef int started            # the last call given up: 0 withdrawn, 1 taken; -1 unknown
    cdef bint rang              # the last request woke the server
    cdef int64_t wake_avg       # how long the server took to wake lately, ns (doorbell.h)
    cdef bint busy              # a call uses it (another goes classic, or waits for it),
                                # or an asynchronous send is in flight on it
    cdef bint chosen            # the connection's transport (open_transport): every
                                # request rides it, not only those that must
    cdef UINT msg               # the asynchronous send's message, buffer size and
    cdef size_t size, address   # address, for a refusal's error

    def __dealloc__(self):
        self.close()

    cdef int open(self, UINT timeout_ms) except -1:
        """Have the server window make a doorbell for this process, and claim
        it (left closed on failure; the server is told).  The server gives us
        handles (control.pxi): the page's is the answer, the Events' are in
        the page's grant."""
        cdef HANDLE page
        cdef void *view
        cdef BellGrant *grant
        control_message()
        page = <HANDLE><size_t>self.control(OP_BELL_OPEN, <LPARAM>win32.GetCurrentProcessId(),
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
                           detail=f"the server took the doorbell back: it was not claimed "
                                  f"within {CLAIM_MS} ms")
        # Ours from now on: the server closes none of these.
        win32.CloseHandle(page)
        self.window = self.server
        self.page = <winipc_bell *>view
        self.token = grant.token
        self.client_event = <HANDLE><size_t>grant.client_event
        self.server_event = <HANDLE><size_t>grant.wake_event
        self.seq = self.page.req
        return 0

    cdef LRESULT control(self, WPARAM op, LPARAM arg, UINT timeout_ms, str what) except? -1:
        """Send the control message to the server window -> its positive
        answer; raises the server's refusal or the send's failure."""
        cdef LRESULT result = 0
        cdef DWORD err
        cdef HWND window = self.server
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

    cdef void close(self) noexcept:
        """Close our side of the doorbell and tell the server (posted: it
        never waits); harmless when closed."""
        if self.window == NULL:
            return
        win32.PostMessageW(self.window, CONTROL_MESSAGE, OP_BELL_CLOSE, <LPARAM>self.token)
        if self.page != NULL:
            memoryapi.UnmapViewOfFile(self.page)
        if self.client_event != NULL:
            win32.CloseHandle(self.client_event)
        if self.server_event != NULL:
            win32.CloseHandle(self.server_event)
        self.window = NULL
        self.page = NULL
        self.client_event = self.server_event = NULL
        self.token = 0
        self.seq = 0
        self.started = 0
        self.rang = False
        self.wake_avg = 0
        self.chosen = False

    cdef _ClientBell take(self, UINT msg, bint shared=False, UINT timeout_ms=0):
        """This doorbell, now busy, once no other call uses it: another
        thread's call on it is waited for, within ``timeout_ms``, so that
        a connection's calls keep to its transport.  None when the request
        goes classic: the connection's transport is window messages (the
        doorbell was not ``chosen`` at connect; it may still be open for
        shared sections).  A request on a shared section, or one for the
        doorbell's server side (``shared``), must ride the doorbell, which
        alone tells the server who asks: it opens it if needed."""
        cdef int64_t deadline
        cdef int tries
        if not shared and (self.window == NULL or msg == CONTROL_MESSAGE or not self.chosen):
            return None
        if self.window == NULL:
            self.open(timeout_ms)
        deadline = ticks_now() + us_to_ticks(<int64_t>timeout_ms * 1000)
        tries = 0
        while self.busy:
            # The other call is usually over within microseconds; a long one
            # is waited for in 1 ms sleeps, not by spinning a CPU.
            tries += 1
            with nogil:
                win32.Sleep(0 if tries < 64 else 1)
            PyErr_CheckSignals()
            if ticks_now() >= deadline:
                round_trip_failed(win32.ERROR_TIMEOUT, STEP_BELL, msg, 0, 0, self.pid, 0)
        self.busy = True
        return self

    cdef LRESULT control_call(self, WPARAM op, LPARAM arg, UINT timeout_ms, int spin_us,
                              str what) except? -1:
        """A control request on this doorbell (opened if needed) -> its
        positive answer; raises the server's refusal or the call's failure."""
        cdef LRESULT result = 0
        cdef DWORD err
        self.take(CONTROL_MESSAGE, True, timeout_ms)
        try:
            with nogil:
                err = self.round_trip(CONTROL_MESSAGE, op, arg, timeout_ms, spin_us, &result)
            if err:
                round_trip_failed(err, STEP_BELL, CONTROL_MESSAGE, 0, 0, self.pid, self.started)
        finally:
            self.busy = False
        if WINIPC_IS_ERROR(result) or result <= 0:
            code = WINIPC_ERROR_CODE(result) if WINIPC_IS_ERROR(result) else bellapi.ERROR_INVALID_DATA
            raise_winerror(code, "the doorbell",
                           lambda words: f"the server refused {what}: {words}")
        return result

    # --- the round trip, without the GIL ---------------------------------------

    cdef DWORD round_trip(self, UINT msg, WPARAM wparam, LPARAM lparam, UINT timeout_ms,
                          int spin_us, LRESULT *result) noexcept nogil:
        """Post one request and wait for its answer.  0 and ``result`` (the
        answer, an error as WINIPC_ERROR_RESULT), or ERROR_TIMEOUT,
        ERROR_INVALID_WINDOW_HANDLE (the server is gone) or BELL_INTERRUPTED.

        Every request has a new sequence number, and only the answer that
        carries it counts: an answer to a request that timed out is ignored."""
        cdef uint32_t seq = winipc_bell_next_seq(self.seq)
        cdef DWORD err
        self.seq = seq
        self.started = -1
        self.rang = winipc_bell_post(self.page, seq, msg, wparam, <uint64_t>lparam)
        if self.rang:
            synchapi.SetEvent(self.server_event)
        err = self.wait(seq, timeout_ms, spin_us, result)
        if err == win32.ERROR_TIMEOUT or err == BELL_INTERRUPTED:
            # Given up: withdrawn if the server has not taken it yet, so that
            # it never runs later (doorbell.h).
            self.started = 0 if winipc_bell_withdraw(self.page, seq) else 1
        return err

    cdef DWORD spin(self, uint32_t seq, bint cold, int64_t start, int64_t until,
                    int64_t deadline, bint *done) noexcept nogil:
        """Spin (ticks) until request ``seq`` is answered (or, ``cold``, taken
        by a server that slept, yielding at every step: ``done``) or ``until``
        (or until a yield lost the CPU: winipc_client_wait_step) -> 0, or the code
        to return (ERROR_INVALID_WINDOW_HANDLE: the server is gone;
        BELL_INTERRUPTED)."""
        cdef winipc_bell *b = self.page
        cdef int64_t now, next_check = start + us_to_ticks(SPIN_CHECK_MS * 1000)
        cdef uint32_t mine = winipc_cpu()
        cdef uint32_t peer = winipc_bell_server_cpu(b)
        cdef unsigned int spins = 0
        cdef unsigned int every = 8 if cold else 32     # a yield takes far longer than a pause
        done[0] = False
        while not (winipc_bell_taken(b, seq) if cold else winipc_bell_answered(b, seq)):
            if not winipc_client_wait_step(b, seq, mine, mine if cold else peer,
                                           &yields_lost, &yields_muted_until):
                return 0        # a yield lost the CPU: sleep instead
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
                if not win32.IsWindow(self.window):
                    return win32.ERROR_INVALID_WINDOW_HANDLE
                with gil:
                    if check_signals() < 0:
                        return BELL_INTERRUPTED
                next_check = ticks_now() + us_to_ticks(SPIN_CHECK_MS * 1000)
        done[0] = True
        return 0

    cdef DWORD first_look(self, uint32_t seq, int spin_us, int64_t start,
                          int64_t deadline) noexcept nogil:
        """The spin before a wait for request ``seq`` sleeps -> 0 or the code
        to return: one that had to wake the server (``rang``) first yields
        until the server has taken it, for the budget its recent wake-ups
        earned (doorbell.h), then spins up to ``spin_us`` for the answer (no
        kernel call while the server answers; a server on our CPU gets it at
        once); so a client still spinning when the answer comes spares it
        its own wake-up."""
        cdef int64_t cold_start
        cdef DWORD err
        cdef bint done = True
        if spin_us <= 0:
            return 0
        if self.rang:
            cold_start = winipc_now_ns()
            err = self.spin(seq, True, start,
                            start + us_to_ticks(winipc_cold_budget(<int64_t>spin_us * 1000,
                                                                   self.wake_avg) // 1000),
                            deadline, &done)
            if err:
                return err
            winipc_cold_learn(&self.wake_avg, winipc_now_ns() - cold_start)
            start = ticks_now()
        if done:
            return self.spin(seq, False, start, start + us_to_ticks(spin_us), deadline, &done)
        return 0

    cdef DWORD wait(self, uint32_t seq, UINT timeout_ms, int spin_us,
                    LRESULT *result) noexcept nogil:
        """round_trip's wait for the answer to request ``seq`` (posted)."""
        cdef winipc_bell *b = self.page
        cdef int64_t start, now, deadline
        cdef int64_t left_ms
        cdef DWORD err
        start = ticks_now()
        deadline = start + us_to_ticks(<int64_t>timeout_ms * 1000)
        err = self.first_look(seq, spin_us, start, deadline)
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
            win32.WaitForSingleObject(self.client_event,
                                      <DWORD>(left_ms if left_ms < BELL_SLICE_MS else BELL_SLICE_MS))
            winipc_bell_client_wakes(b)
            if winipc_bell_answered(b, seq):
                break
            if not win32.IsWindow(self.window):
                return win32.ERROR_INVALID_WINDOW_HANDLE
            with gil:
                if check_signals() < 0:
                    return BELL_INTERRUPTED
        result[0] = self.answer()
        return 0

    cdef LRESULT answer(self) noexcept nogil:
        """The answer in the page (an error as WINIPC_ERROR_RESULT)."""
        cdef uint32_t error = self.page.error
        if error:
            return WINIPC_ERROR_RESULT(error if error < WINIPC_ERROR_SPAN else bellapi.ERROR_INVALID_DATA)
        return <LRESULT>self.page.result

    # --- split-phase sends, for asyncio (winipc/_aio.py) ---------------------------
    # On a doorbell of their own (opened on first use), so that the classic
    # path and the connection's doorbell stay as they are for synchronous
    # calls.  begin() posts the request; end() looks for the answer without
    # waiting; in between the caller waits for the client Event
    # (Process.wait_handle) the way the proactor waits
    # (RegisterWaitForSingleObject): the page says the client sleeps, so the
    # server's answer sets the Event.  cancel() gives up: a late answer
    # carries its own sequence number, which no later request has.

    cdef uint32_t begin(self, UINT msg, size_t size, size_t address,
                        UINT timeout_ms) except 0:
        """Post ``msg`` on the buffer of ``size`` bytes at ``address``
        (opening the doorbell first if needed) -> its sequence number (never
        0); the doorbell is busy until end() has the answer or cancel()."""
        cdef uint32_t seq
        if self.busy:
            raise RuntimeError("an asynchronous send is in flight on this connection")
        if self.window == NULL:
            self.open(timeout_ms)
        seq = winipc_bell_next_seq(self.seq)
        self.seq = seq
        self.msg, self.size, self.address = msg, size, address
        self.rang = winipc_bell_post(self.page, seq, msg, size, address)
        if self.rang:
            synchapi.SetEvent(self.server_event)
        self.busy = True
        return seq

    cdef int end(self, uint32_t seq, int spin_us, LRESULT *result) except -1:
        """1 and the answer to request ``seq`` in ``result`` (a refusal as
        WINIPC_ERROR_RESULT: the page's note is the caller's to read), or 0:
        not yet, and the page now says the client sleeps.  Raises if the
        server window is gone.  With ``spin_us``, an awake server's answer
        is first spun for that long."""
        cdef winipc_bell *b = self.page
        cdef DWORD err = 0
        if spin_us > 0 and not winipc_bell_answered(b, seq) and b.server_asleep == 0:
            # The first look waits as a synchronous call does (wait): an
            # awake server answers within the spin, and one that begin()
            # woke is waited for; then the event loop is spared a round of
            # its own, and this thread a wake-up.
            with nogil:
                err = self.first_look(seq, spin_us, ticks_now(), INT64_MAX)
            self.rang = False
            if err:
                round_trip_failed(err, STEP_BELL, self.msg, 0, 0, self.pid)
        if not winipc_bell_answered(b, seq):
            winipc_bell_client_sleeps(b)
            if not winipc_bell_answered(b, seq):
                if not win32.IsWindow(self.window):
                    winipc_bell_client_wakes(b)
                    round_trip_failed(win32.ERROR_INVALID_WINDOW_HANDLE, STEP_BELL,
                                      self.msg, 0, 0, self.pid)
                return 0
        # A wake-up that comes after this stays pending on the auto-reset
        # Event: a later wait only looks at the page once more.
        winipc_bell_client_wakes(b)
        result[0] = self.answer()
        return 1

    cdef int check_pending(self, uint32_t seq) except -1:
        """Refuse an end() or cancel() of anything but the request in flight."""
        if not self.busy or seq != self.seq:
            raise RuntimeError(f"no asynchronous send {seq} is in flight on this connection")
        return 0

    cdef bint cancel(self, uint32_t seq) noexcept:
        """Give up waiting for request ``seq`` -> True when withdrawn (the
        server had not taken it: it never runs)."""
        cdef bint withdrawn = winipc_bell_withdraw(self.page, seq)
        winipc_bell_client_wakes(self.page)
        self.busy = False
        return withdrawn
