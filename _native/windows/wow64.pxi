# A 64-bit client of a 32-bit (WoW64) server.  A 32-bit window receives the
# low 32 bits of wParam and lParam, and a 64-bit sender receives its 32-bit
# LRESULT sign-extended: so the client learns the server's bitness when it
# opens it, allocates where 32-bit code can address, refuses before sending
# what would arrive truncated (the server would compute on another address),
# and names the 32-bit server in its refusals (winipc.h's one range reads the
# same at both bitnesses).  (Part of _rpc.pyx.)

cdef extern from "wow64.h" nogil:
    DWORD wipc_process_is_32bit(DWORD pid, int *is32, const char **call)
    DWORD wipc_alloc_below_2gib(HANDLE process, size_t size, void **address)

cdef extern from "windows.h" nogil:
    enum:
        ERROR_COMMITMENT_LIMIT

# A 32-bit process's address space ends here (at 2 GiB unless its image is
# large-address-aware); what winipc allocates for one ends below LOW_2GIB.
cdef object LIMIT_4GIB = 1 << 32
cdef object LOW_2GIB = 1 << 31

cdef str thirty_two(DWORD pid):
    return f"the server is a 32-bit process (process {pid})"


cdef bint query_server_is_32bit(DWORD pid) except -1:
    """Whether process ``pid`` is a 32-bit process, asked on a short-lived
    handle with PROCESS_QUERY_LIMITED_INFORMATION only (the RPC handle keeps
    exactly its rights)."""
    cdef int is32 = 0
    cdef const char *call = NULL
    cdef DWORD err
    with nogil:
        err = wipc_process_is_32bit(pid, &is32, &call)
    if err:
        fail(err, (<bytes>call).decode(),
             f"process {pid}, asked whether it is a 32-bit process "
             f"(PROCESS_QUERY_LIMITED_INFORMATION)")
    return is32 != 0


cdef int check_fits_32bit(DWORD pid, UINT msg, WPARAM wparam, object lparam,
                          size_t size) except -1:
    """Refuse, before sending, a message to a 32-bit server whose wParam or
    lParam would arrive truncated: ``lparam`` a signed value (send), or with
    ``size`` an address, unsigned, whose ``size`` bytes must all lie below
    4 GiB (call, bench, a prepared call)."""
    if wparam > 0xFFFFFFFF:
        raise_winerror(ERROR_INVALID_PARAMETER, "SendMessageTimeoutW",
                       detail=f"{thirty_two(pid)}: wParam {wparam:#x} of message {msg:#x} does "
                              f"not fit in its 32 bits (it would receive {wparam & 0xFFFFFFFF:#x})")
    if lparam < -(1 << 31) or lparam > 0xFFFFFFFF or (size and lparam + size > LIMIT_4GIB):
        raise_winerror(ERROR_INVALID_ADDRESS, "SendMessageTimeoutW",
                       detail=f"{thirty_two(pid)}: lParam {lparam & 0xFFFFFFFFFFFFFFFF:#x} of "
                              f"message {msg:#x}"
                              + (f" with {size} bytes" if size else "")
                              + f" is beyond the 4 GiB it can address (it would receive "
                                f"{lparam & 0xFFFFFFFF:#x}, another address)")
    return 0


cdef inline bint refused32(bint server32, LRESULT result) noexcept nogil:
    """Whether ``result`` is a 32-bit server's refusal (INT32_MIN + code,
    sign-extended on its way here: winipc.h's range, as a 64-bit server's)."""
    return server32 and WINIPC_IS_ERROR(result)


cdef int refused_by(bint server32, UINT msg, LRESULT result, int64_t sent=-1,
                    const char *note=NULL) except -1:
    """Raise a refusal, naming a 32-bit server as such (``sent`` and
    ``note``: raise_refusal's)."""
    if not refused32(server32, result):
        return refused(msg, result, sent, note)
    return raise_refusal(WINIPC_ERROR_CODE(result), "SendMessageTimeoutW",
                         lambda words: f"the server (a 32-bit process) refused the message "
                                       f"{msg:#x}: {words}",
                         msg, sent, note)


cdef size_t alloc_for_32bit(HANDLE handle, size_t size, DWORD pid) except 0:
    """VirtualAllocEx's job for a 32-bit server: ``size`` bytes below 2 GiB,
    or an error that says why not."""
    cdef void *address = NULL
    cdef DWORD err = 0
    if size >= LOW_2GIB:
        raise_winerror(ERROR_NOT_ENOUGH_MEMORY, "VirtualAllocEx",
                       detail=f"{thirty_two(pid)}: {size} bytes cannot fit below 2 GiB, "
                              f"where any 32-bit process can address them")
    with nogil:
        err = wipc_alloc_below_2gib(handle, size, &address)
    if err:
        if err in (ERROR_NOT_ENOUGH_MEMORY, ERROR_INVALID_PARAMETER,
                   ERROR_COMMITMENT_LIMIT):
            raise_winerror(err, "NtAllocateVirtualMemory",
                           lambda words: f"{thirty_two(pid)}: {size} bytes found no room "
                                         f"below 2 GiB, where any 32-bit process can "
                                         f"address them ({words})")
        vm_failed(err, "NtAllocateVirtualMemory", f"{size} bytes below 2 GiB", pid)
    if <size_t>address + size > LOW_2GIB:     # never, if ZeroBits was honoured
        with nogil:
            win32.VirtualFreeEx(handle, address, 0, win32.MEM_RELEASE)
        raise_winerror(ERROR_INVALID_ADDRESS, "NtAllocateVirtualMemory",
                       detail=f"{thirty_two(pid)}: the system placed {size} bytes at "
                              f"{<size_t>address:#x}, beyond 2 GiB (freed)")
    return <size_t>address
