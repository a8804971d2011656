# A memory copy that fails instead of faulting (included by _rpc.pyx).
#
# The server copies a request out of a client's private buffer, runs the
# handler on its own copy and copies the answer back (issue: a client may
# free or re-protect that buffer at any time).  ReadProcessMemory and
# WriteProcessMemory on the current process do that too, but under Wine each
# is a round trip to the Wine server (about 100 µs), so the copy is done here:
#
# - GCC/Clang on x86-64 (the win_amd64 wheel: zig's clang): a leaf function
#   around one `rep movsb`, and a vectored exception handler that, when that
#   very instruction faults (access violation, in-page error, guard page),
#   moves the thread to the function's failure exit, which returns 0.
#   Vectored handlers run before any frame-based handler (also before the
#   one Wine puts around a window procedure), and the function touches no
#   stack, so resuming is exact.
# - MSVC (a build from the sdist on Windows): __try/__except around memcpy.
# - Anything else (the win32 wheel: zig's clang for x86): ReadProcessMemory
#   on the current process.

cdef extern from *:
    """
    #if defined(__GNUC__) && defined(__x86_64__)
    int winipc_safe_copy_asm(void *to, const void *from, size_t size);
    extern char winipc_safe_copy_insn[], winipc_safe_copy_fail[];
    __asm__(
        ".text\\n"
        ".p2align 4\\n"
        "winipc_safe_copy_asm:\\n"
        "    movq %rdi, %r9\\n"          /* rdi, rsi are callee-saved on Win64 */
        "    movq %rsi, %r10\\n"
        "    movq %rcx, %rdi\\n"
        "    movq %rdx, %rsi\\n"
        "    movq %r8, %rcx\\n"
        "winipc_safe_copy_insn:\\n"
        "    rep movsb\\n"
        "    movq %r9, %rdi\\n"
        "    movq %r10, %rsi\\n"
        "    movl $1, %eax\\n"
        "    ret\\n"
        "winipc_safe_copy_fail:\\n"
        "    movq %r9, %rdi\\n"
        "    movq %r10, %rsi\\n"
        "    xorl %eax, %eax\\n"
        "    ret\\n");

    static LONG CALLBACK winipc_safe_copy_handler(EXCEPTION_POINTERS *e)
    {
        DWORD code = e->ExceptionRecord->ExceptionCode;
        if ((code == EXCEPTION_ACCESS_VIOLATION || code == EXCEPTION_IN_PAGE_ERROR
             || code == STATUS_GUARD_PAGE_VIOLATION)
            && e->ContextRecord->Rip == (DWORD64)(ULONG_PTR)winipc_safe_copy_insn) {
            e->ContextRecord->Rip = (DWORD64)(ULONG_PTR)winipc_safe_copy_fail;
            return EXCEPTION_CONTINUE_EXECUTION;
        }
        return EXCEPTION_CONTINUE_SEARCH;
    }

    static void *winipc_safe_copy_installed;

    static int winipc_safe_copy_init(void)
    {
        if (!winipc_safe_copy_installed)
            winipc_safe_copy_installed = AddVectoredExceptionHandler(1, winipc_safe_copy_handler);
        return winipc_safe_copy_installed != NULL;
    }

    static int winipc_safe_copy(void *to, const void *from, size_t size)
    {
        if (!winipc_safe_copy_installed)
            return ReadProcessMemory(GetCurrentProcess(), from, to, size, NULL);
        return winipc_safe_copy_asm(to, from, size);
    }
    #define WINIPC_SAFE_COPY_KIND "vectored exception handler"
    #elif defined(_MSC_VER)
    static int winipc_safe_copy_init(void) { return 1; }
    static int winipc_safe_copy(void *to, const void *from, size_t size)
    {
        __try {
            memcpy(to, from, size);
        } __except (GetExceptionCode() == EXCEPTION_ACCESS_VIOLATION
                    || GetExceptionCode() == EXCEPTION_IN_PAGE_ERROR
                    || GetExceptionCode() == STATUS_GUARD_PAGE_VIOLATION
                    ? EXCEPTION_EXECUTE_HANDLER : EXCEPTION_CONTINUE_SEARCH) {
            return 0;
        }
        return 1;
    }
    #define WINIPC_SAFE_COPY_KIND "structured exception handling"
    #else
    static int winipc_safe_copy_init(void) { return 1; }
    static int winipc_safe_copy(void *to, const void *from, size_t size)
    {
        return ReadProcessMemory(GetCurrentProcess(), from, to, size, NULL);
    }
    #define WINIPC_SAFE_COPY_KIND "ReadProcessMemory"
    #endif
    """
    int winipc_safe_copy_init() nogil
    # 1: all ``size`` bytes copied; 0: some memory was not there (nothing
    # faulted; part of ``to`` may have been written)
    int winipc_safe_copy(void *to, const void *source, size_t size) nogil
    const char *WINIPC_SAFE_COPY_KIND

winipc_safe_copy_init()
SAFE_COPY = (<bytes>WINIPC_SAFE_COPY_KIND).decode()
