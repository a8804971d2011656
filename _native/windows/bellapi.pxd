# What the doorbell, the control message and the shared sections need from
# windows.h (winuser.h, synchapi.h, memoryapi.h, ntsecapi.h); the doorbell
# protocol itself is common/doorbell.pxd.  The basic types come from
# win32.pxd; sections and events from memoryapi.pxd and synchapi.pxd.

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
        PM_NOREMOVE
        PM_QS_SENDMESSAGE
        # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-msgwaitformultipleobjectsex
        QS_ALLINPUT
        QS_SENDMESSAGE
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

cdef extern from "windows.h" nogil:
    # https://learn.microsoft.com/en-us/windows/win32/api/winnt/ns-winnt-exception_record
    ctypedef struct EXCEPTION_RECORD:
        DWORD ExceptionCode
        DWORD NumberParameters
        size_t ExceptionInformation[15]
    # https://learn.microsoft.com/en-us/windows/win32/api/winnt/ns-winnt-exception_pointers
    ctypedef struct EXCEPTION_POINTERS:
        EXCEPTION_RECORD *ExceptionRecord
    enum:
        EXCEPTION_ACCESS_VIOLATION
        EXCEPTION_IN_PAGE_ERROR
        STATUS_GUARD_PAGE_VIOLATION
        EXCEPTION_CONTINUE_EXECUTION
        EXCEPTION_CONTINUE_SEARCH
        TLS_OUT_OF_INDEXES
    ctypedef long (__stdcall *PVECTORED_EXCEPTION_HANDLER)(EXCEPTION_POINTERS *) noexcept nogil
    # https://learn.microsoft.com/en-us/windows/win32/api/errhandlingapi/nf-errhandlingapi-addvectoredexceptionhandler
    void *AddVectoredExceptionHandler(unsigned long First, PVECTORED_EXCEPTION_HANDLER Handler)
    # https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-tlsalloc
    DWORD TlsAlloc()
    # https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-tlsgetvalue
    void *TlsGetValue(DWORD dwTlsIndex)
    # https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-tlssetvalue
    BOOL TlsSetValue(DWORD dwTlsIndex, void *lpTlsValue)
    # https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualprotect
    BOOL VirtualProtect(void *lpAddress, size_t dwSize, DWORD flNewProtect, DWORD *lpflOldProtect)
    # https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-mapviewoffileex
    void *MapViewOfFileEx(HANDLE hFileMappingObject, DWORD dwDesiredAccess, DWORD dwFileOffsetHigh,
                          DWORD dwFileOffsetLow, size_t dwNumberOfBytesToMap, void *lpBaseAddress)
