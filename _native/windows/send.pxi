# A SendMessage that Ctrl+C interrupts (included by _rpc.pyx after bell.pxi).
#
# SendMessageTimeoutW waits in the kernel until the answer or the timeout,
# and nothing else ends that wait: on the main thread a Ctrl+C during a call
# to a busy server would be seen only when the call ends.  There the message
# goes with SendMessageCallbackW, which returns at once; the answer arrives
# as a callback that PeekMessage runs, and the wait between is
# MsgWaitForMultipleObjectsEx in slices, between which the window, whether
# it hangs (as SMTO_ABORTIFHUNG would see), the clock and Python's signal
# handlers are looked at.  A late answer to a send that gave up carries an
# older sequence number and is ignored.

cdef struct Awaited:
    win32.ULONG_PTR seq     # the send waited for
    bint done
    LRESULT result

# Only the main thread sends this way, so one is enough.
cdef Awaited awaited
cdef DWORD MAIN_THREAD = <DWORD>threading.main_thread().ident


cdef void __stdcall on_answer(HWND window, UINT msg, win32.ULONG_PTR seq, LRESULT result) noexcept nogil:
    if seq == awaited.seq:
        awaited.result = result
        awaited.done = True


cdef DWORD send_interruptibly(HWND window, UINT msg, WPARAM wparam, LPARAM lparam,
                              UINT timeout_ms, LRESULT *result) noexcept nogil:
    cdef win32.MSG m
    cdef DWORD err
    cdef int64_t now, deadline, next_check, left_ms
    awaited.seq += 1
    awaited.done = False
    win32.SetLastError(0)
    if not win32.SendMessageCallbackW(window, msg, wparam, lparam, on_answer, awaited.seq):
        err = win32.GetLastError()
        if not win32.IsWindow(window):
            return win32.ERROR_INVALID_WINDOW_HANDLE
        return err if err else win32.ERROR_INVALID_PARAMETER
    now = ticks_now()
    deadline = now + us_to_ticks(<int64_t>timeout_ms * 1000)
    next_check = now + us_to_ticks(BELL_SLICE_MS * 1000)
    while True:
        # Runs the callback of an answer that came (and messages sent to
        # this thread's windows, as SendMessageTimeoutW would).
        bellapi.PeekMessageW(&m, NULL, 0, 0, bellapi.PM_NOREMOVE | bellapi.PM_QS_SENDMESSAGE)
        if awaited.done:
            # A receiver whose thread ends without answering still "answers",
            # with 0 (as Wine does): the window being gone is what happened.
            if awaited.result == 0 and not win32.IsWindow(window):
                return win32.ERROR_INVALID_WINDOW_HANDLE
            result[0] = awaited.result
            return 0
        now = ticks_now()
        if now >= deadline:
            return win32.ERROR_TIMEOUT
        if now >= next_check:
            if not win32.IsWindow(window):
                return win32.ERROR_INVALID_WINDOW_HANDLE
            if win32.IsHungAppWindow(window):
                return win32.ERROR_TIMEOUT
            with gil:
                if check_signals() < 0:
                    return BELL_INTERRUPTED
            next_check = ticks_now() + us_to_ticks(BELL_SLICE_MS * 1000)
        left_ms = ((min(deadline, next_check) - now) * 1000 + QPC_FREQUENCY - 1) // QPC_FREQUENCY
        bellapi.MsgWaitForMultipleObjectsEx(0, NULL, <DWORD>left_ms, bellapi.QS_SENDMESSAGE,
                                            bellapi.MWMO_INPUTAVAILABLE)
