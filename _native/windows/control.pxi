# The control message and what it manages in the server: doorbells and
# shared sections, their tables and the sections themselves (the doorbells'
# opening, closing and reclaiming are bell.pxi's).  Included by _rpc.pyx; the
# server side runs on the window thread without the GIL.
#
# Control message: RegisterWindowMessageW("winipc.control"), the same value
# in every process of the session.  wParam is an opcode, lParam its argument;
# the answer is a positive value or WINIPC_ERROR_RESULT(code).  As a window
# message (anyone can send one):
#
#   OP_BELL_OPEN      lParam = client pid    -> a handle to the doorbell page,
#                                               valid in that process
#   OP_BELL_CLOSE     lParam = bell token    -> 1
#
# and as a request in a doorbell page (msg = the control message): only the
# process that maps that page can post one, so the server knows who asks:
#
#   OP_SHARED_ALLOC   lParam = size          -> the section's address in the
#                                               server; the page's grant.extra:
#                                               a handle to it in the client
#   OP_SHARED_FREE    lParam = that address  -> 1
#
# Ownership.  Nothing is named: a name can be listed by anyone in the session
# (NtQueryDirectoryObject on BaseNamedObjects), so it can never prove who
# asks.  The server creates every object unnamed and duplicates a handle
# into the process that asked (it opens that pid with PROCESS_DUP_HANDLE);
# a handle is valid in that one process only.  A pid can be lied about, but
# then the handles land in the process that was named, which never learns
# of them: the liar can use none of it.  So:
#   - a doorbell belongs to the process it was opened for: whoever posts in
#     its page maps it, and only that process could map it;
#   - a section belongs to the doorbell that allocated it: it is served only
#     on the doorbells of its process, freed only by its own doorbell, and
#     released with it;
#   - the page's grant holds the doorbell's token, OP_BELL_CLOSE's argument:
#     only a process that maps the page reads it;
#   - a doorbell that its process has not claimed (compare-exchange of
#     grant.claim 0 -> 1) within CLAIM_MS is revoked (0 -> 2): the server
#     closes the handles it gave that process (DuplicateHandle with
#     DUPLICATE_CLOSE_SOURCE) and releases it.  A lie about a pid costs the
#     named process nothing for long.
# Every resource is bounded per client process and per server, and released
# when its process exits (sweep_bells, every SWEEP_MS while doorbells exist).
#
# What no protocol can stop: the classic technique gives each client
# PROCESS_VM_OPERATION | VM_WRITE on the server, with which it can rewrite
# any of the server's memory directly.  The doorbell pages are touched under
# a fault handler that restores a page a client re-protected or unmapped
# (server.pxi, heal_bell_page), and sections only through fault-safe copies.

from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.string cimport memcpy

cimport bellapi
from doorbell cimport WINIPC_BELL_SIZE, winipc_bell, winipc_fence, winipc_cpu, winipc_wait_step, \
    winipc_bell_post, winipc_bell_answered, winipc_bell_client_sleeps, winipc_bell_client_wakes, \
    winipc_bell_pending, winipc_bell_request, winipc_bell_answer, winipc_bell_server_sleeps, \
    winipc_bell_server_wakes, winipc_bell_server_cpu, winipc_bell_client_cpu, winipc_bell_client_at, \
    winipc_bell_server_at, winipc_bell_take, winipc_bell_taken, winipc_cold_budget, \
    winipc_bell_untaken, winipc_bell_withdraw, winipc_bell_next_seq, \
    winipc_cold_learn, winipc_now_ns, winipc_steady_spin, winipc_cas, winipc_bell_note, \
    winipc_client_wait_step, winipc_server_wait_step, winipc_lost_yield, \
    winipc_bell_posted_by, WINIPC_YIELD_LOST_NS
cimport memoryapi
cimport synchapi
cimport handleapi
from handleapi cimport INVALID_HANDLE_VALUE

cdef enum:
    OP_SHARED_ALLOC = 1
    OP_SHARED_FREE = 3
    OP_BELL_OPEN = 4
    OP_BELL_CLOSE = 5
    # What a server holds for all its clients, and for any one client
    # process (a pid's own doorbells and sections).  More is
    # ERROR_NOT_ENOUGH_MEMORY.
    MAX_SECTIONS = 1024
    MAX_BELLS = 256
    PID_SECTIONS = 256
    PID_BELLS = 32
    # Where the grant (BellGrant) lies in a doorbell page, after the two
    # cache lines of winipc_bell.
    BELL_GRANT = 128
    # grant.claim
    CLAIM_OFFERED = 0
    CLAIM_TAKEN = 1
    CLAIM_REVOKED = 2
    # A doorbell its process has not claimed this long (ms) is revoked.
    CLAIM_MS = 2000
    # Requests on private buffers run on a server-owned copy; a copy buffer
    # up to this size is kept between requests.
    SCRATCH_KEEP = 16 * 1024 * 1024

cdef uint64_t MAX_SHARED_BYTES = (<uint64_t>4) << 30   # per server, all sections
cdef uint64_t PID_SHARED_BYTES = (<uint64_t>1) << 30   # per client process
cdef uint64_t TOKEN_MASK = ((<uint64_t>1) << 62) - 1

# What the server writes in a doorbell page for its client, at BELL_GRANT.
# Handles are values in the client's process.  Only grant.claim is ever
# read back by the server (a compare-exchange): the rest is the client's.
cdef struct BellGrant:
    uint64_t token          # OP_BELL_CLOSE's argument
    uint64_t client_event   # the doorbell's client Event (SYNCHRONIZE | EVENT_MODIFY_STATE)
    uint64_t wake_event     # the server's wake Event (EVENT_MODIFY_STATE)
    uint32_t claim          # CLAIM_*: the client's compare-exchange against the server's
    uint32_t pad
    uint64_t extra          # a bell control answer's second value

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


cdef inline BellGrant *grant_of(void *page) noexcept nogil:
    return <BellGrant *>(<char *>page + BELL_GRANT)


cdef uint64_t random_token() noexcept nogil:
    """62 random bits, never 0 (0 when the system has no randomness: callers
    then fail)."""
    cdef uint64_t value = 0
    if not bellapi.RtlGenRandom(&value, sizeof(value)):
        return 0
    value &= TOKEN_MASK
    return value if value else 1


# --- the server's tables -----------------------------------------------------

cdef struct Section:
    HANDLE mapping      # NULL: a free slot
    char *view          # mapped here by the server, read-write
    size_t size
    DWORD pid           # the owner process
    uint64_t bell       # the token of the doorbell that allocated it
    int in_use          # handlers running on it: it is not unmapped meanwhile
    bint doomed         # freed while in use: released when the handler returns

cdef struct ServerBell:
    HANDLE section      # NULL: a free slot
    winipc_bell *bell   # the page, mapped here: hostile input
    HANDLE client_event
    HANDLE client       # the client's process: PROCESS_DUP_HANDLE | SYNCHRONIZE
    DWORD pid
    uint64_t token
    uint64_t given[3]   # the handles given to the client: page, its Event, the wake Event
    uint64_t opened_ms  # GetTickCount64() at opening; 0 once claimed
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
    int64_t yields_lost, yields_muted_until     # (winipc_lost_yield)
    int64_t steady_ns   # steady mode: the longest gap it spins across
    int64_t last_request, recent_gap   # (QueryPerformanceCounter ticks)
    uint64_t healed     # doorbell pages restored after a client pulled them
    char *scratch       # the kept copy buffer for private requests
    size_t scratch_size
    bint scratch_busy


cdef inline LRESULT error_result(DWORD code) noexcept nogil:
    return WINIPC_ERROR_RESULT(code if 0 < code < WINIPC_ERROR_SPAN else ERROR_INVALID_PARAMETER)


cdef Section *find_section(WindowState *s, size_t address, size_t size, DWORD pid) noexcept nogil:
    """The live section of process ``pid`` holding all of [address, address
    + size), or NULL (0: a window message, whose sender nobody knows)."""
    cdef int i
    cdef Section *sec
    if size == 0 or pid == 0:
        return NULL
    for i in range(s.section_slots):
        sec = &s.sections[i]
        if (sec.mapping != NULL and not sec.doomed and sec.pid == pid
                and address >= <size_t>sec.view
                and address - <size_t>sec.view < sec.size
                and size <= sec.size - (address - <size_t>sec.view)):
            return sec
    return NULL


cdef void release_section(WindowState *s, Section *sec) noexcept nogil:
    memoryapi.UnmapViewOfFile(sec.view)
    win32.CloseHandle(sec.mapping)
    s.shared_bytes -= sec.size
    s.section_count -= 1
    memset(sec, 0, sizeof(Section))
    while s.section_slots and s.sections[s.section_slots - 1].mapping == NULL:
        s.section_slots -= 1


cdef void drop_section(WindowState *s, Section *sec) noexcept nogil:
    """Release it, or once its running handlers return."""
    if sec.in_use:
        sec.doomed = True
    else:
        release_section(s, sec)


cdef HANDLE give(ServerBell *b, HANDLE handle, DWORD access, DWORD *err) noexcept nogil:
    """A handle to ``handle``'s object in the doorbell's client process, with
    ``access`` only -> its value there, or NULL and ``err``."""
    cdef HANDLE theirs = NULL
    if not handleapi.DuplicateHandle(bellapi.GetCurrentProcess(), handle, b.client, &theirs,
                                 access, win32.FALSE, 0):
        err[0] = win32.GetLastError()
        return NULL
    return theirs


cdef void take_back(ServerBell *b, uint64_t handle) noexcept nogil:
    """Close a handle this server gave the client (it never claimed it).
    Moved here and closed: DuplicateHandle with no target process closes
    the source too on Windows, but Wine refuses that (ERROR_INVALID_HANDLE)."""
    cdef HANDLE ours = NULL
    if handle != 0 and handleapi.DuplicateHandle(
            b.client, <HANDLE>handle, bellapi.GetCurrentProcess(), &ours, 0, win32.FALSE,
            handleapi.DUPLICATE_CLOSE_SOURCE | handleapi.DUPLICATE_SAME_ACCESS):
        win32.CloseHandle(ours)


cdef int sections_of(WindowState *s, DWORD pid, uint64_t *nbytes) noexcept nogil:
    """How many sections process ``pid`` holds (freed ones still in use
    count), and their bytes in ``nbytes``."""
    cdef int i, count = 0
    nbytes[0] = 0
    for i in range(s.section_slots):
        if s.sections[i].mapping != NULL and s.sections[i].pid == pid:
            count += 1
            nbytes[0] += s.sections[i].size
    return count


cdef LRESULT shared_alloc(WindowState *s, ServerBell *b, uint64_t size) noexcept nogil:
    """A section for the doorbell's process: mapped here, a handle to it
    given to the client (grant.extra) -> its address here."""
    cdef int slot, mine
    cdef uint64_t mine_bytes
    cdef Section *sec
    cdef HANDLE mapping, theirs
    cdef void *view
    cdef DWORD err = 0
    if size == 0 or size >= (<uint64_t>1 << 62):
        return error_result(ERROR_INVALID_PARAMETER)
    mine = sections_of(s, b.pid, &mine_bytes)
    if (s.section_count >= MAX_SECTIONS or size > MAX_SHARED_BYTES - s.shared_bytes
            or mine >= PID_SECTIONS or size > PID_SHARED_BYTES - mine_bytes):
        return error_result(ERROR_NOT_ENOUGH_MEMORY)
    for slot in range(MAX_SECTIONS):
        if s.sections[slot].mapping == NULL:
            break
    mapping = memoryapi.CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, win32.PAGE_READWRITE,
                                           <DWORD>(size >> 32), <DWORD>size, NULL)
    if mapping == NULL:
        return error_result(win32.GetLastError())
    view = memoryapi.MapViewOfFile(mapping, memoryapi.FILE_MAP_READ | memoryapi.FILE_MAP_WRITE,
                                   0, 0, <size_t>size)
    if view == NULL:
        err = win32.GetLastError()
        win32.CloseHandle(mapping)
        return error_result(err)
    theirs = give(b, mapping, memoryapi.FILE_MAP_READ | memoryapi.FILE_MAP_WRITE, &err)
    if theirs == NULL:
        memoryapi.UnmapViewOfFile(view)
        win32.CloseHandle(mapping)
        return error_result(err)
    grant_of(b.bell).extra = <uint64_t><size_t>theirs
    sec = &s.sections[slot]
    sec.mapping = mapping
    sec.view = <char *>view
    sec.size = <size_t>size
    sec.pid = b.pid
    sec.bell = b.token
    sec.in_use = 0
    sec.doomed = False
    s.section_count += 1
    s.shared_bytes += size
    if slot >= s.section_slots:
        s.section_slots = slot + 1
    return <LRESULT><size_t>view


cdef LRESULT shared_free(WindowState *s, ServerBell *b, size_t address) noexcept nogil:
    cdef int i
    cdef Section *sec
    for i in range(s.section_slots):
        sec = &s.sections[i]
        if (sec.mapping != NULL and not sec.doomed and <size_t>sec.view == address
                and sec.bell == b.token):
            drop_section(s, sec)
            return 1
    return error_result(bellapi.ERROR_NOT_FOUND)


cdef LRESULT bell_control(WindowState *s, ServerBell *b, WPARAM op, LPARAM arg) noexcept nogil:
    """A control request posted in doorbell ``b``: its process asks."""
    if op == OP_SHARED_ALLOC:
        return shared_alloc(s, b, <uint64_t>arg)
    if op == OP_SHARED_FREE:
        return shared_free(s, b, <size_t>arg)
    return error_result(ERROR_INVALID_PARAMETER)


cdef LRESULT control(WindowState *s, WPARAM op, LPARAM arg) noexcept nogil:
    """The control message, from anyone."""
    if op == OP_BELL_OPEN:
        return bell_open(s, <DWORD>arg if 0 < arg and (<uint64_t>arg >> 32) == 0 else 0)
    if op == OP_BELL_CLOSE:
        return bell_close(s, <uint64_t>arg)
    if op == OP_SHARED_ALLOC or op == OP_SHARED_FREE:
        # Only a doorbell says who asks.
        return error_result(win32.ERROR_ACCESS_DENIED)
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
