# Handles: duplication and flags (handleapi.h).  CloseHandle is in win32.pxd.

from win32 cimport BOOL, DWORD, HANDLE

cdef extern from "windows.h" nogil:
    HANDLE INVALID_HANDLE_VALUE

    # https://learn.microsoft.com/en-us/windows/win32/api/handleapi/nf-handleapi-gethandleinformation
    enum:
        HANDLE_FLAG_INHERIT
        HANDLE_FLAG_PROTECT_FROM_CLOSE
    BOOL GetHandleInformation(HANDLE hObject, DWORD *lpdwFlags)
    # https://learn.microsoft.com/en-us/windows/win32/api/handleapi/nf-handleapi-sethandleinformation
    BOOL SetHandleInformation(HANDLE hObject, DWORD dwMask, DWORD dwFlags)

    # https://learn.microsoft.com/en-us/windows/win32/api/handleapi/nf-handleapi-duplicatehandle
    enum:
        DUPLICATE_CLOSE_SOURCE
        DUPLICATE_SAME_ACCESS
    BOOL DuplicateHandle(HANDLE hSourceProcessHandle, HANDLE hSourceHandle,
                         HANDLE hTargetProcessHandle, HANDLE *lpTargetHandle,
                         DWORD dwDesiredAccess, BOOL bInheritHandle, DWORD dwOptions)
