# What process creation needs beyond subprocess.Popen (which starts the child,
# with its handle list): standard handles, finding and resuming a suspended
# child's main thread (processthreadsapi.h, tlhelp32.h), and the thread
# messages that tell a child its handle values (winuser.h).  OpenProcess and
# CloseHandle are in win32.pxd.

from win32 cimport BOOL, DWORD, HANDLE, HWND, UINT, WPARAM, LPARAM

cdef extern from "windows.h" nogil:
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/ns-winuser-msg
    # (win32.pxd's MSG lists no lParam; this is the same struct with it)
    ctypedef struct THREAD_MSG "MSG":
        HWND hwnd
        UINT message
        WPARAM wParam
        LPARAM lParam
    enum:
        STD_INPUT_HANDLE
        STD_OUTPUT_HANDLE
        STD_ERROR_HANDLE
        THREAD_SUSPEND_RESUME

    # https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-openthread
    HANDLE OpenThread(DWORD dwDesiredAccess, BOOL bInheritHandle, DWORD dwThreadId)
    # https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-resumethread
    DWORD ResumeThread(HANDLE hThread)
    # https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-getcurrentprocess
    HANDLE GetCurrentProcess()
    # https://learn.microsoft.com/en-us/windows/console/getstdhandle
    HANDLE GetStdHandle(DWORD nStdHandle)

    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-waitforinputidle
    DWORD WaitForInputIdle(HANDLE hProcess, DWORD dwMilliseconds)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-postthreadmessagew
    BOOL PostThreadMessageW(DWORD idThread, UINT Msg, WPARAM wParam, LPARAM lParam)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-peekmessagew
    BOOL PeekMessageW(THREAD_MSG *lpMsg, HWND hWnd, UINT wMsgFilterMin, UINT wMsgFilterMax,
                      UINT wRemoveMsg)
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-msgwaitformultipleobjects
    DWORD MsgWaitForMultipleObjects(DWORD nCount, const HANDLE *pHandles, BOOL fWaitAll,
                                    DWORD dwMilliseconds, DWORD dwWakeMask)
    enum:
        WM_APP
        PM_NOREMOVE
        PM_REMOVE
        QS_POSTMESSAGE
        ERROR_INVALID_THREAD_ID

cdef extern from "tlhelp32.h" nogil:
    # https://learn.microsoft.com/en-us/windows/win32/api/tlhelp32/ns-tlhelp32-threadentry32
    ctypedef struct THREADENTRY32:
        DWORD dwSize
        DWORD th32ThreadID
        DWORD th32OwnerProcessID
    enum:
        TH32CS_SNAPTHREAD
    # https://learn.microsoft.com/en-us/windows/win32/api/tlhelp32/nf-tlhelp32-createtoolhelp32snapshot
    HANDLE CreateToolhelp32Snapshot(DWORD dwFlags, DWORD th32ProcessID)
    # https://learn.microsoft.com/en-us/windows/win32/api/tlhelp32/nf-tlhelp32-thread32first
    BOOL Thread32First(HANDLE hSnapshot, THREADENTRY32 *lpte)
    # https://learn.microsoft.com/en-us/windows/win32/api/tlhelp32/nf-tlhelp32-thread32next
    BOOL Thread32Next(HANDLE hSnapshot, THREADENTRY32 *lpte)
