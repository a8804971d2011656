# What the doorbell, the control message and the shared sections need from
# windows.h (winuser.h, synchapi.h, memoryapi.h, ntsecapi.h), and the
# doorbell protocol itself (common/doorbell.h).  The basic types come from
# win32.pxd; sections and events from memoryapi.pxd and synchapi.pxd.

from libc.stdint cimport int64_t, uint32_t, uint64_t
from win32 cimport BOOL, DWORD, HANDLE, HWND, LPCWSTR, MSG, UINT

cdef extern from "windows.h" nogil:
    enum:
        # https://learn.microsoft.com/en-us/windows/win32/debug/system-error-codes
        ERROR_NOT_ENOUGH_MEMORY
        ERROR_INVALID_ADDRESS
        ERROR_ALREADY_EXISTS
        ERROR_BUSY
        ERROR_NOT_FOUND
        ERROR_INVALID_DATA
        ERROR_NOT_SUPPORTED
        # https://learn.microsoft.com/en-us/windows/win32/winmsg/wm-null
        WM_NULL
        # https://learn.microsoft.com/en-us/windows/win32/winmsg/wm-quit
        WM_QUIT
        # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-peekmessagew
        PM_REMOVE
        # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-msgwaitformultipleobjectsex
        QS_ALLINPUT
        MWMO_INPUTAVAILABLE
        # https://learn.microsoft.com/en-us/windows/win32/sync/synchronization-object-security-and-access-rights
        EVENT_MODIFY_STATE
        PAGE_NOACCESS

    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-registerwindowmessagew
    UINT RegisterWindowMessageW(LPCWSTR lpString)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-peekmessagew
    BOOL PeekMessageW(MSG *lpMsg, HWND hWnd, UINT wMsgFilterMin, UINT wMsgFilterMax,
                      UINT wRemoveMsg)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-msgwaitformultipleobjectsex
    DWORD MsgWaitForMultipleObjectsEx(DWORD nCount, const HANDLE *pHandles,
                                      DWORD dwMilliseconds, DWORD dwWakeMask, DWORD dwFlags)
    # https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-switchtothread
    BOOL SwitchToThread()
    # https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-getcurrentprocess
    HANDLE GetCurrentProcess()
    # https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualalloc
    void *VirtualAlloc(void *lpAddress, size_t dwSize, DWORD flAllocationType, DWORD flProtect)
    # https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualfree
    BOOL VirtualFree(void *lpAddress, size_t dwSize, DWORD dwFreeType)

cdef extern from "ntsecapi.h" nogil:
    # https://learn.microsoft.com/en-us/windows/win32/api/ntsecapi/nf-ntsecapi-rtlgenrandom
    # (advapi32's SystemFunction036; BCryptGenRandom would need bcrypt.dll)
    unsigned char RtlGenRandom(void *RandomBuffer, unsigned long RandomBufferLength)

cdef extern from "doorbell.h" nogil:
    enum:
        WINIPC_BELL_SIZE
    ctypedef struct winipc_bell:
        uint32_t req
        uint32_t client_asleep
        uint32_t msg
        uint32_t flags
        uint64_t wparam
        uint64_t lparam
        uint32_t rep
        uint32_t server_asleep
        uint32_t error
        int64_t result
    uint32_t winipc_load_acquire(uint32_t *p)
    void winipc_store_release(uint32_t *p, uint32_t v)
    uint32_t winipc_exchange(uint32_t *p, uint32_t v)
    void winipc_fence()
    int winipc_usable_cpus()
    void winipc_relax(int usable_cpus)
    # the protocol's steps
    bint winipc_bell_post(winipc_bell *b, uint32_t seq, uint32_t msg, uint64_t wparam,
                          uint64_t lparam)
    bint winipc_bell_answered(winipc_bell *b, uint32_t seq)
    void winipc_bell_client_sleeps(winipc_bell *b)
    bint winipc_bell_client_wakes(winipc_bell *b)
    uint32_t winipc_bell_pending(winipc_bell *b)
    void winipc_bell_request(winipc_bell *b, uint32_t *msg, uint64_t *wparam, uint64_t *lparam)
    bint winipc_bell_answer(winipc_bell *b, uint32_t seq, uint32_t error, int64_t result)
    void winipc_bell_server_sleeps(winipc_bell *b)
    void winipc_bell_server_wakes(winipc_bell *b)
