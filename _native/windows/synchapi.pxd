# Kernel synchronization objects (synchapi.h, minwinbase.h, winbase.h).  Only what
# the kernel-object backend uses; the basic types come from win32.pxd.

from win32 cimport BOOL, DWORD, HANDLE, LPCWSTR

cdef extern from "windows.h" nogil:
    # https://learn.microsoft.com/en-us/previous-versions/windows/desktop/legacy/aa379560(v=vs.85)
    ctypedef struct SECURITY_ATTRIBUTES:
        DWORD nLength
        void *lpSecurityDescriptor
        BOOL bInheritHandle

    # https://learn.microsoft.com/en-us/windows/win32/api/synchapi/nf-synchapi-waitforsingleobject
    enum:
        WAIT_ABANDONED
        WAIT_TIMEOUT
        INFINITE
    DWORD WAIT_FAILED

    # https://learn.microsoft.com/en-us/windows/win32/api/synchapi/nf-synchapi-createmutexw
    HANDLE CreateMutexW(SECURITY_ATTRIBUTES *lpMutexAttributes, BOOL bInitialOwner,
                        LPCWSTR lpName)
    # https://learn.microsoft.com/en-us/windows/win32/api/synchapi/nf-synchapi-openmutexw
    HANDLE OpenMutexW(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCWSTR lpName)
    # https://learn.microsoft.com/en-us/windows/win32/api/synchapi/nf-synchapi-releasemutex
    BOOL ReleaseMutex(HANDLE hMutex)

    # https://learn.microsoft.com/en-us/windows/win32/api/synchapi/nf-synchapi-createeventw
    HANDLE CreateEventW(SECURITY_ATTRIBUTES *lpEventAttributes, BOOL bManualReset,
                        BOOL bInitialState, LPCWSTR lpName)
    # https://learn.microsoft.com/en-us/windows/win32/api/synchapi/nf-synchapi-openeventw
    HANDLE OpenEventW(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCWSTR lpName)
    # https://learn.microsoft.com/en-us/windows/win32/api/synchapi/nf-synchapi-setevent
    BOOL SetEvent(HANDLE hEvent)
    # https://learn.microsoft.com/en-us/windows/win32/api/synchapi/nf-synchapi-resetevent
    BOOL ResetEvent(HANDLE hEvent)

    # https://learn.microsoft.com/en-us/windows/win32/api/winbase/nf-winbase-createsemaphorew
    HANDLE CreateSemaphoreW(SECURITY_ATTRIBUTES *lpSemaphoreAttributes, long lInitialCount,
                            long lMaximumCount, LPCWSTR lpName)
    # https://learn.microsoft.com/en-us/windows/win32/api/synchapi/nf-synchapi-opensemaphorew
    HANDLE OpenSemaphoreW(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCWSTR lpName)
    # https://learn.microsoft.com/en-us/windows/win32/api/synchapi/nf-synchapi-releasesemaphore
    BOOL ReleaseSemaphore(HANDLE hSemaphore, long lReleaseCount, long *lpPreviousCount)

    # https://learn.microsoft.com/en-us/windows/win32/api/sysinfoapi/nf-sysinfoapi-gettickcount64
    unsigned long long GetTickCount64()

    # Waits for asyncio: the thread pool waits, and a callback says when.
    # https://learn.microsoft.com/en-us/windows/win32/api/winbase/nf-winbase-registerwaitforsingleobject
    ctypedef void (__stdcall *WAITORTIMERCALLBACK)(void *context, unsigned char timed_out) noexcept nogil
    BOOL RegisterWaitForSingleObject(HANDLE *phNewWaitObject, HANDLE hObject,
                                     WAITORTIMERCALLBACK Callback, void *Context,
                                     DWORD dwMilliseconds, DWORD dwFlags)
    # https://learn.microsoft.com/en-us/windows/win32/api/winbase/nf-winbase-unregisterwaitex
    BOOL UnregisterWaitEx(HANDLE WaitHandle, HANDLE CompletionEvent)
    enum:
        WT_EXECUTEONLYONCE
        WT_EXECUTEINWAITTHREAD
