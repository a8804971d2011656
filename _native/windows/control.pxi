# The control message and what it manages in the server: shared sections and
# doorbells (included by _rpc.pyx; the server side runs on the window thread
# without the GIL).
#
# Control message: RegisterWindowMessageW("winipc.control"), the same value
# in every process of the session.  wParam is an opcode, lParam its argument;
# the answer is a positive value or WINIPC_ERROR_RESULT(code):
#
#   OP_SHARED_ALLOC   lParam = size          -> token of a new section
#   OP_SHARED_ADDRESS lParam = token         -> the section's address in the server
#   OP_SHARED_FREE    lParam = token         -> 1; the server unmaps and closes it
#   OP_BELL_OPEN      lParam = client pid    -> token of a new doorbell
#   OP_BELL_CLOSE     lParam = token         -> 1
#
# A token is 62 random bits (RtlGenRandom), so it is positive as an answer and
# unguessable.  The server names what it creates after its pid and the token:
#
#   Local\winipc.<server pid>.<token as 16 hex digits>.shm      a shared section
#   Local\winipc.<server pid>.<token>.bell                      a doorbell page
#   Local\winipc.<server pid>.<token>.client                    its client's Event
#   Local\winipc.<server pid>.<wake token>.wake                 the server's Event
#
# The server never uses an object it did not create: CreateFileMappingW or
# CreateEventW answering ERROR_ALREADY_EXISTS (someone squats the name) makes it
# close that handle and try another token.  The wake token is written by the
# server at offset BELL_WAKE_TOKEN of each doorbell page, read by the client
# once when it opens the doorbell.  Freeing and closing take the token, not the
# address, so only whoever was given an object can free it.

from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.string cimport memcpy

cimport bellapi
from doorbell cimport WINIPC_BELL_SIZE, winipc_bell, winipc_fence, winipc_cpu, winipc_wait_step, \
    winipc_bell_post, winipc_bell_answered, winipc_bell_client_sleeps, winipc_bell_client_wakes, \
    winipc_bell_pending, winipc_bell_request, winipc_bell_answer, winipc_bell_server_sleeps, \
    winipc_bell_server_wakes, winipc_bell_server_cpu, winipc_bell_client_cpu, winipc_bell_client_at, \
    winipc_bell_server_at, winipc_bell_take, winipc_bell_taken, winipc_cold_budget, \
    winipc_bell_untaken, winipc_bell_withdraw, winipc_bell_next_seq, \
    winipc_cold_learn, winipc_now_ns, winipc_steady_spin
cimport memoryapi
cimport synchapi
from handleapi cimport INVALID_HANDLE_VALUE

cdef enum:
    OP_SHARED_ALLOC = 1
    OP_SHARED_ADDRESS = 2
    OP_SHARED_FREE = 3
    OP_BELL_OPEN = 4
    OP_BELL_CLOSE = 5
    # What one client can make a server hold (any client: Windows cannot
    # tell the senders of a message apart).  More is ERROR_NOT_ENOUGH_MEMORY.
    MAX_SECTIONS = 1024
    MAX_BELLS = 256
    # Names are tried with this many tokens before giving up (a squatter
    # would have to guess 62 random bits each time).
    NAME_TRIES = 4
    NAME_CHARS = 64
    # Where the server writes its wake Event's token in a doorbell page,
    # after the two cache lines of winipc_bell.
    BELL_WAKE_TOKEN = 128
    # Requests on private buffers run on a server-owned copy; a copy buffer
    # up to this size is kept between requests.
    SCRATCH_KEEP = 16 * 1024 * 1024

cdef uint64_t MAX_SHARED_BYTES = (<uint64_t>4) << 30   # per server, all sections
cdef uint64_t TOKEN_MASK = ((<uint64_t>1) << 62) - 1

CONTROL_NAME = "winipc.control"
cdef UINT CONTROL_MESSAGE = 0


cdef UINT control_message() except 0:
    global CONTROL_MESSAGE
    cdef wchar_t *name
    if CONTROL_MESSAGE == 0:
        name = wide(CONTROL_NAME)
        CONTROL_MESSAGE = bellapi.RegisterWindowMessageW(name)
        PyMem_Free(name)
        if CONTROL_MESSAGE == 0:
            fail(win32.GetLastError(), "RegisterWindowMessageW", CONTROL_NAME)
    return CONTROL_MESSAGE


def object_name(DWORD server_pid, uint64_t token, str suffix):
    """The name of what a server made for ``token``: "shm", "bell", "client"
    or "wake"."""
    return f"Local\\winipc.{server_pid}.{token:016x}.{suffix}"


cdef uint64_t random_token() noexcept nogil:
    """62 random bits, never 0 (0 when the system has no randomness: callers
    then fail)."""
    cdef uint64_t value = 0
    if not bellapi.RtlGenRandom(&value, sizeof(value)):
        return 0
    value &= TOKEN_MASK
    return value if value else 1


cdef void make_name(wchar_t *out, DWORD pid, uint64_t token, const char *suffix) noexcept nogil:
    """object_name() without the GIL, into NAME_CHARS wide characters."""
    cdef const char *prefix = b"Local\\winipc."
    cdef const char *hexdigits = b"0123456789abcdef"
    cdef wchar_t digits[12]
    cdef int n = 0, d = 0, i
    while prefix[0]:
        out[n] = prefix[0]
        n += 1
        prefix += 1
    while True:
        digits[d] = <wchar_t>(48 + pid % 10)
        d += 1
        pid //= 10
        if pid == 0:
            break
    while d:
        d -= 1
        out[n] = digits[d]
        n += 1
    out[n] = 46   # "."
    n += 1
    for i in range(15, -1, -1):
        out[n] = hexdigits[(token >> (4 * i)) & 15]
        n += 1
    out[n] = 46
    n += 1
    while suffix[0] and n < NAME_CHARS - 1:
        out[n] = suffix[0]
        n += 1
        suffix += 1
    out[n] = 0


# --- the server's tables -----------------------------------------------------

cdef struct Section:
    HANDLE mapping      # NULL: a free slot
    char *view          # mapped here by the server, read-write
    size_t size
    uint64_t token
    int in_use          # handlers running on it: it is not unmapped meanwhile
    bint doomed         # freed while in use: released when the handler returns

cdef struct ServerBell:
    HANDLE section      # NULL: a free slot
    winipc_bell *bell   # the page, mapped here: hostile input
    HANDLE client_event
    HANDLE client       # SYNCHRONIZE handle to the client's process, or NULL
    uint64_t token
    uint32_t last_served
    bint busy           # a request of it is running
    bint doomed         # closed while busy: released after it

# What the window procedure needs, reached through GWLP_USERDATA.  It lives
# inside the ServerCore, which outlives its window (run() holds it).
cdef struct WindowState:
    PyObject *table     # the HandlerTable, borrowed from the ServerCore
    HWND window         # NULL when there is no window
    bint serving        # the message loop runs: WM_DESTROY ends it
    UINT control        # the control message
    DWORD pid
    Section *sections   # MAX_SECTIONS slots
    int section_slots   # slots in use or used: scans stop here
    int section_count
    uint64_t shared_bytes
    ServerBell *bells   # MAX_BELLS slots
    int bell_slots
    int bell_count
    HANDLE wake         # the server's wake Event (once a doorbell exists)
    uint32_t cpu        # where the window thread runs (doorbell.h: + 1)
    bint beside         # a doorbell's client waits on that CPU too
    int64_t steady_ns   # steady mode: the longest average gap it spins across
    int64_t last_request, gap_avg
    uint64_t wake_token
    char *scratch       # the kept copy buffer for private requests
    size_t scratch_size
    bint scratch_busy


cdef inline LRESULT error_result(DWORD code) noexcept nogil:
    return WINIPC_ERROR_RESULT(code if 0 < code < WINIPC_ERROR_SPAN else ERROR_INVALID_PARAMETER)


cdef Section *find_section(WindowState *s, size_t address, size_t size) noexcept nogil:
    """The live section holding all of [address, address + size), or NULL.
    Any client's: Windows cannot tell who sent a message, and the client
    could as well have been given the token."""
    cdef int i
    cdef Section *sec
    if size == 0:
        return NULL
    for i in range(s.section_slots):
        sec = &s.sections[i]
        if (sec.mapping != NULL and not sec.doomed and address >= <size_t>sec.view
                and address - <size_t>sec.view < sec.size
                and size <= sec.size - (address - <size_t>sec.view)):
            return sec
    return NULL


cdef Section *section_by_token(WindowState *s, uint64_t token) noexcept nogil:
    cdef int i
    for i in range(s.section_slots):
        if s.sections[i].mapping != NULL and not s.sections[i].doomed \
                and s.sections[i].token == token:
            return &s.sections[i]
    return NULL


cdef void release_section(WindowState *s, Section *sec) noexcept nogil:
    bellapi_unmap(sec.view)
    win32.CloseHandle(sec.mapping)
    s.shared_bytes -= sec.size
    s.section_count -= 1
    memset(sec, 0, sizeof(Section))
    while s.section_slots and s.sections[s.section_slots - 1].mapping == NULL:
        s.section_slots -= 1


cdef inline void bellapi_unmap(void *view) noexcept nogil:
    if view != NULL:
        memoryapi.UnmapViewOfFile(view)


cdef HANDLE create_section(DWORD pid, uint64_t size, const char *suffix, uint64_t *token,
                           DWORD *err) noexcept nogil:
    """A new pagefile-backed section under a fresh name; NULL and ``err``
    when it cannot be made."""
    cdef wchar_t name[NAME_CHARS]
    cdef HANDLE mapping
    cdef int attempt
    err[0] = bellapi.ERROR_ALREADY_EXISTS
    for attempt in range(NAME_TRIES):
        token[0] = random_token()
        if token[0] == 0:
            err[0] = ERROR_NOT_ENOUGH_MEMORY
            return NULL
        make_name(name, pid, token[0], suffix)
        mapping = memoryapi.CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, win32.PAGE_READWRITE,
                                               <DWORD>(size >> 32), <DWORD>size,
                                               name)
        if mapping == NULL:
            err[0] = win32.GetLastError()
            return NULL
        if win32.GetLastError() == bellapi.ERROR_ALREADY_EXISTS:
            win32.CloseHandle(mapping)   # a squatter's, or ours: never used
            continue
        return mapping
    return NULL


cdef LRESULT shared_alloc(WindowState *s, uint64_t size) noexcept nogil:
    cdef int slot
    cdef Section *sec
    cdef HANDLE mapping
    cdef void *view
    cdef uint64_t token = 0
    cdef DWORD err = 0
    if size == 0 or size >= (<uint64_t>1 << 62):
        return error_result(ERROR_INVALID_PARAMETER)
    if s.section_count >= MAX_SECTIONS or size > MAX_SHARED_BYTES - s.shared_bytes:
        return error_result(ERROR_NOT_ENOUGH_MEMORY)
    for slot in range(MAX_SECTIONS):
        if s.sections[slot].mapping == NULL:
            break
    mapping = create_section(s.pid, size, b"shm", &token, &err)
    if mapping == NULL:
        return error_result(err)
    view = memoryapi.MapViewOfFile(mapping, memoryapi.FILE_MAP_READ | memoryapi.FILE_MAP_WRITE,
                                   0, 0, <size_t>size)
    if view == NULL:
        err = win32.GetLastError()
        win32.CloseHandle(mapping)
        return error_result(err)
    sec = &s.sections[slot]
    sec.mapping = mapping
    sec.view = <char *>view
    sec.size = <size_t>size
    sec.token = token
    sec.in_use = 0
    sec.doomed = False
    s.section_count += 1
    s.shared_bytes += size
    if slot >= s.section_slots:
        s.section_slots = slot + 1
    return <LRESULT>token


cdef LRESULT shared_free(WindowState *s, uint64_t token) noexcept nogil:
    cdef Section *sec = section_by_token(s, token)
    if sec == NULL:
        return error_result(bellapi.ERROR_NOT_FOUND)
    if sec.in_use:
        sec.doomed = True   # a handler runs on it: unmapped when it returns
    else:
        release_section(s, sec)
    return 1


# --- doorbells, server side ---------------------------------------------------

cdef void release_bell(WindowState *s, ServerBell *b) noexcept nogil:
    bellapi_unmap(b.bell)
    win32.CloseHandle(b.section)
    if b.client_event != NULL:
        win32.CloseHandle(b.client_event)
    if b.client != NULL:
        win32.CloseHandle(b.client)
    memset(b, 0, sizeof(ServerBell))
    s.bell_count -= 1
    while s.bell_slots and s.bells[s.bell_slots - 1].section == NULL:
        s.bell_slots -= 1


cdef void sweep_bells(WindowState *s) noexcept nogil:
    """Close the doorbells of clients that have exited."""
    cdef int i
    cdef ServerBell *b
    for i in range(s.bell_slots):
        b = &s.bells[i]
        if (b.section != NULL and b.client != NULL and not b.busy
                and win32.WaitForSingleObject(b.client, 0) == win32.WAIT_OBJECT_0):
            release_bell(s, b)


cdef DWORD ensure_wake(WindowState *s) noexcept nogil:
    """The server's wake Event (auto-reset), made on the first doorbell."""
    cdef wchar_t name[NAME_CHARS]
    cdef HANDLE event
    cdef uint64_t token
    cdef int attempt
    if s.wake != NULL:
        return 0
    for attempt in range(NAME_TRIES):
        token = random_token()
        if token == 0:
            return ERROR_NOT_ENOUGH_MEMORY
        make_name(name, s.pid, token, b"wake")
        event = synchapi.CreateEventW(NULL, win32.FALSE, win32.FALSE, name)
        if event == NULL:
            return win32.GetLastError()
        if win32.GetLastError() == bellapi.ERROR_ALREADY_EXISTS:
            win32.CloseHandle(event)
            continue
        s.wake = event
        s.wake_token = token
        return 0
    return bellapi.ERROR_ALREADY_EXISTS


cdef LRESULT bell_open(WindowState *s, DWORD client_pid) noexcept nogil:
    cdef wchar_t name[NAME_CHARS]
    cdef ServerBell *b
    cdef HANDLE section = NULL, event = NULL
    cdef void *view
    cdef uint64_t token = 0
    cdef DWORD err
    cdef int slot, attempt
    if s.bell_count >= MAX_BELLS:
        sweep_bells(s)
        if s.bell_count >= MAX_BELLS:
            return error_result(ERROR_NOT_ENOUGH_MEMORY)
    err = ensure_wake(s)
    if err:
        return error_result(err)
    for slot in range(MAX_BELLS):
        if s.bells[slot].section == NULL:
            break
    for attempt in range(NAME_TRIES):
        section = create_section(s.pid, WINIPC_BELL_SIZE, b"bell", &token, &err)
        if section == NULL:
            return error_result(err)
        make_name(name, s.pid, token, b"client")
        event = synchapi.CreateEventW(NULL, win32.FALSE, win32.FALSE, name)
        if event == NULL:
            err = win32.GetLastError()
            win32.CloseHandle(section)
            return error_result(err)
        if win32.GetLastError() != bellapi.ERROR_ALREADY_EXISTS:
            break
        win32.CloseHandle(event)
        win32.CloseHandle(section)
        section = NULL
    if section == NULL:
        return error_result(bellapi.ERROR_ALREADY_EXISTS)
    view = memoryapi.MapViewOfFile(section, memoryapi.FILE_MAP_READ | memoryapi.FILE_MAP_WRITE,
                                   0, 0, WINIPC_BELL_SIZE)
    if view == NULL:
        err = win32.GetLastError()
        win32.CloseHandle(event)
        win32.CloseHandle(section)
        return error_result(err)
    (<uint64_t *>(<char *>view + BELL_WAKE_TOKEN))[0] = s.wake_token
    b = &s.bells[slot]
    b.section = section
    b.bell = <winipc_bell *>view
    b.client_event = event
    # Only to reclaim the doorbell when that process exits; a client that
    # names another process just keeps its doorbell longer (within MAX_BELLS).
    b.client = win32.OpenProcess(win32.SYNCHRONIZE, win32.FALSE, client_pid) if client_pid else NULL
    b.token = token
    b.last_served = 0
    b.busy = False
    b.doomed = False
    s.bell_count += 1
    if slot >= s.bell_slots:
        s.bell_slots = slot + 1
    if s.bell_count == 1 and s.window != NULL:
        # The loop may be waiting in GetMessageW, which a sent message does
        # not end: a posted one does, and it then serves doorbells too.
        win32.PostMessageW(s.window, bellapi.WM_NULL, 0, 0)
    return <LRESULT>token


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


cdef LRESULT control(WindowState *s, WPARAM op, LPARAM arg) noexcept nogil:
    cdef Section *sec
    if op == OP_SHARED_ALLOC:
        return shared_alloc(s, <uint64_t>arg)
    if op == OP_SHARED_ADDRESS:
        sec = section_by_token(s, <uint64_t>arg)
        return <LRESULT>sec.view if sec != NULL else error_result(bellapi.ERROR_NOT_FOUND)
    if op == OP_SHARED_FREE:
        return shared_free(s, <uint64_t>arg)
    if op == OP_BELL_OPEN:
        return bell_open(s, <DWORD>arg if 0 < arg and (<uint64_t>arg >> 32) == 0 else 0)
    if op == OP_BELL_CLOSE:
        return bell_close(s, <uint64_t>arg)
    return error_result(ERROR_INVALID_PARAMETER)


cdef void release_all(WindowState *s) noexcept nogil:
    """Everything the server holds for clients: when it stops serving."""
    cdef int i
    for i in range(s.bell_slots):
        if s.bells[i].section != NULL:
            release_bell(s, &s.bells[i])
    for i in range(s.section_slots):
        if s.sections[i].mapping != NULL:
            release_section(s, &s.sections[i])
    if s.wake != NULL:
        win32.CloseHandle(s.wake)
        s.wake = NULL
    if s.scratch != NULL:
        bellapi.VirtualFree(s.scratch, 0, win32.MEM_RELEASE)
        s.scratch = NULL
        s.scratch_size = 0
