# The parts of windows.h that the Windows backend calls, grouped by the header
# that documents them.  Only what is used is declared; struct fields are listed
# only when the code touches them.  Each function has its documentation page
# above it.  Add new areas as new blocks, in the same shape.

from libc.stddef cimport wchar_t


# --- basic types (windef.h, minwindef.h, basetsd.h, winnt.h) ---------------

cdef extern from "windows.h" nogil:
    ctypedef int BOOL
    ctypedef unsigned short ATOM
    ctypedef unsigned int UINT
    ctypedef unsigned long DWORD
    ctypedef size_t SIZE_T
    ctypedef size_t DWORD_PTR
    ctypedef size_t ULONG_PTR
    ctypedef Py_ssize_t LONG_PTR
    ctypedef void *HANDLE
    ctypedef void *HWND
    ctypedef void *HINSTANCE
    ctypedef void *HMODULE
    ctypedef void *HMENU
    ctypedef size_t WPARAM
    ctypedef Py_ssize_t LPARAM
    ctypedef Py_ssize_t LRESULT
    ctypedef const wchar_t *LPCWSTR

    ctypedef union LARGE_INTEGER:
        long long QuadPart

    enum:
        FALSE


# --- errors (errhandlingapi.h, winerror.h) -----------------------------------

cdef extern from "windows.h" nogil:
    # https://learn.microsoft.com/en-us/windows/win32/api/errhandlingapi/nf-errhandlingapi-getlasterror
    DWORD GetLastError()
    # https://learn.microsoft.com/en-us/windows/win32/api/errhandlingapi/nf-errhandlingapi-setlasterror
    void SetLastError(DWORD dwErrCode)

    # https://learn.microsoft.com/en-us/windows/win32/debug/system-error-codes
    enum:
        ERROR_FILE_NOT_FOUND
        ERROR_ACCESS_DENIED
        ERROR_INVALID_PARAMETER
        ERROR_PARTIAL_COPY
        ERROR_INVALID_WINDOW_HANDLE
        ERROR_CLASS_ALREADY_EXISTS
        ERROR_TIMEOUT


# --- handles (handleapi.h) ---------------------------------------------------

cdef extern from "windows.h" nogil:
    # https://learn.microsoft.com/en-us/windows/win32/api/handleapi/nf-handleapi-closehandle
    BOOL CloseHandle(HANDLE hObject)


# --- processes and threads (processthreadsapi.h, winnt.h) --------------------

cdef extern from "windows.h" nogil:
    # https://learn.microsoft.com/en-us/windows/win32/procthread/process-security-and-access-rights
    enum:
        PROCESS_VM_OPERATION
        PROCESS_VM_READ
        PROCESS_VM_WRITE
        PROCESS_DUP_HANDLE
        PROCESS_QUERY_LIMITED_INFORMATION
        SYNCHRONIZE

    # https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-openprocess
    HANDLE OpenProcess(DWORD dwDesiredAccess, BOOL bInheritHandle, DWORD dwProcessId)
    # https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-getcurrentprocessid
    DWORD GetCurrentProcessId()
    # https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-getcurrentthreadid
    DWORD GetCurrentThreadId()


# --- virtual memory (memoryapi.h, winnt.h) -----------------------------------

cdef extern from "windows.h" nogil:
    # https://learn.microsoft.com/en-us/windows/win32/memory/memory-protection-constants
    enum:
        MEM_COMMIT
        MEM_RESERVE
        MEM_RELEASE
        MEM_PRIVATE
        PAGE_READWRITE

    # https://learn.microsoft.com/en-us/windows/win32/api/winnt/ns-winnt-memory_basic_information
    ctypedef struct MEMORY_BASIC_INFORMATION:
        void *BaseAddress
        SIZE_T RegionSize
        DWORD State
        DWORD Protect
        DWORD Type

    # https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualallocex
    void *VirtualAllocEx(HANDLE hProcess, void *lpAddress, SIZE_T dwSize,
                         DWORD flAllocationType, DWORD flProtect)
    # https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualfreeex
    BOOL VirtualFreeEx(HANDLE hProcess, void *lpAddress, SIZE_T dwSize, DWORD dwFreeType)
    # https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualquery
    SIZE_T VirtualQuery(const void *lpAddress, MEMORY_BASIC_INFORMATION *lpBuffer,
                        SIZE_T dwLength)
    # https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-writeprocessmemory
    BOOL WriteProcessMemory(HANDLE hProcess, void *lpBaseAddress, const void *lpBuffer,
                            SIZE_T nSize, SIZE_T *lpNumberOfBytesWritten)
    # https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-readprocessmemory
    BOOL ReadProcessMemory(HANDLE hProcess, const void *lpBaseAddress, void *lpBuffer,
                           SIZE_T nSize, SIZE_T *lpNumberOfBytesRead)


# --- waiting and timing (synchapi.h, profileapi.h) ---------------------------

cdef extern from "windows.h" nogil:
    enum:
        WAIT_OBJECT_0

    # https://learn.microsoft.com/en-us/windows/win32/api/synchapi/nf-synchapi-waitforsingleobject
    DWORD WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds)
    # https://learn.microsoft.com/en-us/windows/win32/api/synchapi/nf-synchapi-sleep
    void Sleep(DWORD dwMilliseconds)
    # https://learn.microsoft.com/en-us/windows/win32/api/profileapi/nf-profileapi-queryperformancecounter
    BOOL QueryPerformanceCounter(LARGE_INTEGER *lpPerformanceCount)
    # https://learn.microsoft.com/en-us/windows/win32/api/profileapi/nf-profileapi-queryperformancefrequency
    BOOL QueryPerformanceFrequency(LARGE_INTEGER *lpFrequency)


# --- modules (libloaderapi.h) ------------------------------------------------

cdef extern from "windows.h" nogil:
    # https://learn.microsoft.com/en-us/windows/win32/api/libloaderapi/nf-libloaderapi-getmodulehandlew
    HMODULE GetModuleHandleW(LPCWSTR lpModuleName)


# --- windows and messages (winuser.h) ----------------------------------------

cdef extern from "windows.h" nogil:
    enum:
        # https://learn.microsoft.com/en-us/windows/win32/winmsg/wm-user
        WM_USER
        # https://learn.microsoft.com/en-us/windows/win32/winmsg/wm-close
        WM_CLOSE
        # https://learn.microsoft.com/en-us/windows/win32/winmsg/wm-destroy
        WM_DESTROY
        # https://learn.microsoft.com/en-us/windows/win32/winmsg/wm-timer
        WM_TIMER
        # https://learn.microsoft.com/en-us/windows/win32/winmsg/window-styles
        WS_OVERLAPPED
        # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-setwindowlongptrw
        GWLP_USERDATA
        # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-sendmessagetimeoutw
        SMTO_ABORTIFHUNG
        SMTO_ERRORONEXIT

    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nc-winuser-wndproc
    ctypedef LRESULT (__stdcall *WNDPROC)(HWND, UINT, WPARAM, LPARAM) noexcept nogil

    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/ns-winuser-wndclassw
    ctypedef struct WNDCLASSW:
        WNDPROC lpfnWndProc
        HINSTANCE hInstance
        LPCWSTR lpszClassName

    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/ns-winuser-msg
    ctypedef struct MSG:
        HWND hwnd
        UINT message
        WPARAM wParam

    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-registerclassw
    ATOM RegisterClassW(const WNDCLASSW *lpWndClass)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-unregisterclassw
    BOOL UnregisterClassW(LPCWSTR lpClassName, HINSTANCE hInstance)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-createwindowexw
    HWND CreateWindowExW(DWORD dwExStyle, LPCWSTR lpClassName, LPCWSTR lpWindowName,
                         DWORD dwStyle, int X, int Y, int nWidth, int nHeight,
                         HWND hWndParent, HMENU hMenu, HINSTANCE hInstance, void *lpParam)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-destroywindow
    BOOL DestroyWindow(HWND hWnd)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-iswindow
    BOOL IsWindow(HWND hWnd)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-defwindowprocw
    LRESULT DefWindowProcW(HWND hWnd, UINT Msg, WPARAM wParam, LPARAM lParam)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-setwindowlongptrw
    LONG_PTR SetWindowLongPtrW(HWND hWnd, int nIndex, LONG_PTR dwNewLong)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-getwindowlongptrw
    LONG_PTR GetWindowLongPtrW(HWND hWnd, int nIndex)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-findwindoww
    HWND FindWindowW(LPCWSTR lpClassName, LPCWSTR lpWindowName)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-getwindowthreadprocessid
    DWORD GetWindowThreadProcessId(HWND hWnd, DWORD *lpdwProcessId)

    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-getmessagew
    BOOL GetMessageW(MSG *lpMsg, HWND hWnd, UINT wMsgFilterMin, UINT wMsgFilterMax)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-translatemessage
    BOOL TranslateMessage(const MSG *lpMsg)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-dispatchmessagew
    LRESULT DispatchMessageW(const MSG *lpMsg)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-postmessagew
    BOOL PostMessageW(HWND hWnd, UINT Msg, WPARAM wParam, LPARAM lParam)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-postquitmessage
    void PostQuitMessage(int nExitCode)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-settimer
    size_t SetTimer(HWND hWnd, size_t nIDEvent, UINT uElapse, void *lpTimerFunc)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-sendmessagetimeoutw
    LRESULT SendMessageTimeoutW(HWND hWnd, UINT Msg, WPARAM wParam, LPARAM lParam,
                                UINT fuFlags, UINT uTimeout, DWORD_PTR *lpdwResult)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nc-winuser-sendasyncproc
    ctypedef void (__stdcall *SENDASYNCPROC)(HWND, UINT, ULONG_PTR, LRESULT) noexcept nogil
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-sendmessagecallbackw
    BOOL SendMessageCallbackW(HWND hWnd, UINT Msg, WPARAM wParam, LPARAM lParam,
                              SENDASYNCPROC lpResultCallBack, ULONG_PTR dwData)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-ishungappwindow
    BOOL IsHungAppWindow(HWND hwnd)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-changewindowmessagefilterex
    BOOL ChangeWindowMessageFilterEx(HWND hwnd, UINT message, DWORD action, void *pChangeFilterStruct)
    enum:
        MSGFLT_ALLOW
