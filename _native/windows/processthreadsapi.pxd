# Starting processes with a chosen set of inherited handles
# (processthreadsapi.h, winbase.h), and the thread messages that tell a child
# the values (winuser.h).  OpenProcess and CloseHandle are in win32.pxd.

from libc.stddef cimport wchar_t
from win32 cimport BOOL, DWORD, HANDLE, HWND, LPCWSTR, SIZE_T, UINT, WPARAM, LPARAM

cdef extern from "windows.h" nogil:
    ctypedef wchar_t *LPWSTR
    # https://learn.microsoft.com/en-us/windows/win32/api/winuser/ns-winuser-msg
    # (win32.pxd's MSG lists no lParam; this is the same struct with it)
    ctypedef struct THREAD_MSG "MSG":
        HWND hwnd
        UINT message
        WPARAM wParam
        LPARAM lParam
    # an opaque pointer; only its size is known, at run time
    ctypedef void *LPPROC_THREAD_ATTRIBUTE_LIST

    # https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/ns-processthreadsapi-startupinfow
    ctypedef struct STARTUPINFOW:
        DWORD cb
        DWORD dwFlags
        HANDLE hStdInput
        HANDLE hStdOutput
        HANDLE hStdError
    # https://learn.microsoft.com/en-us/windows/win32/api/winbase/ns-winbase-startupinfoexw
    ctypedef struct STARTUPINFOEXW:
        STARTUPINFOW StartupInfo
        LPPROC_THREAD_ATTRIBUTE_LIST lpAttributeList
    # https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/ns-processthreadsapi-process_information
    ctypedef struct PROCESS_INFORMATION:
        HANDLE hProcess
        HANDLE hThread
        DWORD dwProcessId
        DWORD dwThreadId

    enum:
        STARTF_USESTDHANDLES
        EXTENDED_STARTUPINFO_PRESENT
        CREATE_UNICODE_ENVIRONMENT
        PROC_THREAD_ATTRIBUTE_HANDLE_LIST
        STILL_ACTIVE
        STD_INPUT_HANDLE
        STD_OUTPUT_HANDLE
        STD_ERROR_HANDLE

    # https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-initializeprocthreadattributelist
    BOOL InitializeProcThreadAttributeList(LPPROC_THREAD_ATTRIBUTE_LIST lpAttributeList,
                                           DWORD dwAttributeCount, DWORD dwFlags,
                                           SIZE_T *lpSize)
    # https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-updateprocthreadattribute
    BOOL UpdateProcThreadAttribute(LPPROC_THREAD_ATTRIBUTE_LIST lpAttributeList, DWORD dwFlags,
                                   size_t Attribute, void *lpValue, SIZE_T cbSize,
                                   void *lpPreviousValue, SIZE_T *lpReturnSize)
    # https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-deleteprocthreadattributelist
    void DeleteProcThreadAttributeList(LPPROC_THREAD_ATTRIBUTE_LIST lpAttributeList)
    # https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-createprocessw
    BOOL CreateProcessW(LPCWSTR lpApplicationName, LPWSTR lpCommandLine,
                        void *lpProcessAttributes, void *lpThreadAttributes,
                        BOOL bInheritHandles, DWORD dwCreationFlags, void *lpEnvironment,
                        LPCWSTR lpCurrentDirectory, STARTUPINFOW *lpStartupInfo,
                        PROCESS_INFORMATION *lpProcessInformation)
    # https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-getexitcodeprocess
    BOOL GetExitCodeProcess(HANDLE hProcess, DWORD *lpExitCode)
    # https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-terminateprocess
    BOOL TerminateProcess(HANDLE hProcess, UINT uExitCode)
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
