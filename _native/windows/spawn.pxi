# What winipc.spawn (winipc/_os_windows.py) needs beyond subprocess.Popen:
# inheritable copies of listed handles, the standard handles, and the
# "message" way of telling a child its handles (thread messages to its main
# thread).  (Part of _kernel.pyx.)

def inheritable_copy(value):
    """An inheritable duplicate of handle `value` (for a child's handle list)."""
    cdef HANDLE out = NULL
    if not DuplicateHandle(GetCurrentProcess(), _h(value), GetCurrentProcess(), &out, 0,
                           True, DUPLICATE_SAME_ACCESS):
        raise_winerror(win32.GetLastError(), "DuplicateHandle")
    return <size_t>out


def close_handle(value):
    if not win32.CloseHandle(_h(value)):
        raise_winerror(win32.GetLastError(), "CloseHandle")


def std_handle(int which):
    """GetStdHandle(0, 1, 2 for input, output, error); 0 if there is none."""
    cdef HANDLE h
    if which == 0:
        h = GetStdHandle(<DWORD>STD_INPUT_HANDLE)
    elif which == 1:
        h = GetStdHandle(<DWORD>STD_OUTPUT_HANDLE)
    else:
        h = GetStdHandle(<DWORD>STD_ERROR_HANDLE)
    if h == INVALID_HANDLE_VALUE:
        return 0
    return <size_t>h


def resume_main_thread(DWORD pid):
    """Resumes the main thread of process `pid`, started suspended
    (CREATE_SUSPENDED), and returns its id: subprocess.Popen keeps only the
    process handle, and the thread messages of pass_handles="message" go to
    that thread.  A suspended new process has that one thread (Toolhelp's
    thread snapshot lists a process's threads in the order they started)."""
    cdef HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0)
    cdef THREADENTRY32 entry
    cdef DWORD tid = 0
    cdef DWORD err = 0
    cdef HANDLE thread
    cdef DWORD previous
    if snap == INVALID_HANDLE_VALUE:
        raise_winerror(win32.GetLastError(), "CreateToolhelp32Snapshot")
    memset(&entry, 0, sizeof(entry))
    entry.dwSize = sizeof(entry)
    try:
        if Thread32First(snap, &entry):
            while True:
                if entry.th32OwnerProcessID == pid:
                    tid = entry.th32ThreadID
                    break
                if not Thread32Next(snap, &entry):
                    break
    finally:
        win32.CloseHandle(snap)
    if tid == 0:
        raise_winerror(ERROR_INVALID_PARAMETER, "Thread32Next",
                       f"process {pid} has no thread", cls="NoSuchProcess")
    thread = OpenThread(THREAD_SUSPEND_RESUME, False, tid)
    if thread == NULL:
        raise_winerror(win32.GetLastError(), "OpenThread")
    previous = ResumeThread(thread)
    err = win32.GetLastError()
    win32.CloseHandle(thread)
    if previous == <DWORD>-1:
        raise_winerror(err, "ResumeThread")
    return tid


def wait_for_input_idle(value, long long ns):
    """WaitForInputIdle: 0 idle, WAIT_TIMEOUT, or WAIT_FAILED (a console
    process without a message queue answers at once)."""
    cdef HANDLE h = _h(value)
    cdef DWORD ms = _ms(ns)
    cdef DWORD r
    with nogil:
        r = WaitForInputIdle(h, ms)
    return r


def post_handle_message(DWORD tid, size_t index, size_t value):
    """PostThreadMessageW(WM_WINIPC_HANDLE, index, value): True if posted, False
    while the thread has no message queue yet (ERROR_INVALID_THREAD_ID)."""
    if PostThreadMessageW(tid, WM_WINIPC_HANDLE, index, <win32.LPARAM>value):
        return True
    cdef DWORD err = win32.GetLastError()
    if err == ERROR_INVALID_THREAD_ID:
        return False
    raise_winerror(err, "PostThreadMessageW")


def receive_handle_messages(int count, long long ns):
    """The `count` values posted by post_handle_message to this (the main)
    thread, in index order; CallTimeout after `ns`."""
    cdef THREAD_MSG msg
    cdef unsigned long long deadline = GetTickCount64() + _ms(ns)
    cdef unsigned long long now
    cdef DWORD part
    got = {}
    # The first PeekMessage gives this thread its message queue: from then on
    # the parent's posts succeed and wait here.
    PeekMessageW(&msg, NULL, WM_WINIPC_HANDLE, WM_WINIPC_HANDLE, PM_NOREMOVE)
    while len(got) < count:
        while PeekMessageW(&msg, NULL, WM_WINIPC_HANDLE, WM_WINIPC_HANDLE, PM_REMOVE):
            got[<size_t>msg.wParam] = <size_t>msg.lParam
        if len(got) >= count:
            break
        now = GetTickCount64()
        if ns >= 0 and now >= deadline:
            raise_winerror(ERROR_TIMEOUT, "PeekMessageW",
                           f"the parent sent {len(got)} of {count} handle values in time")
        part = 100 if ns < 0 else <DWORD>min(deadline - now, 100)
        with nogil:
            MsgWaitForMultipleObjects(0, NULL, False, part, QS_POSTMESSAGE)
        PyErr_CheckSignals()
    return [got[i] for i in sorted(got)][:count]
