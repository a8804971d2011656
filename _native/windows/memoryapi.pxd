# File mappings (memoryapi.h, winbase.h) and the allocation granularity
# (sysinfoapi.h).  VirtualQuery and PAGE_READWRITE are in win32.pxd.

from win32 cimport BOOL, DWORD, HANDLE, LPCWSTR, SIZE_T
from synchapi cimport SECURITY_ATTRIBUTES

cdef extern from "windows.h" nogil:
    # https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-mapviewoffile
    enum:
        FILE_MAP_READ
        FILE_MAP_WRITE
        FILE_MAP_ALL_ACCESS

    # https://learn.microsoft.com/en-us/windows/win32/api/winbase/nf-winbase-createfilemappingw
    HANDLE CreateFileMappingW(HANDLE hFile, SECURITY_ATTRIBUTES *lpFileMappingAttributes,
                              DWORD flProtect, DWORD dwMaximumSizeHigh,
                              DWORD dwMaximumSizeLow, LPCWSTR lpName)
    # https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-openfilemappingw
    HANDLE OpenFileMappingW(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCWSTR lpName)
    void *MapViewOfFile(HANDLE hFileMappingObject, DWORD dwDesiredAccess,
                        DWORD dwFileOffsetHigh, DWORD dwFileOffsetLow,
                        SIZE_T dwNumberOfBytesToMap)
    # https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-unmapviewoffile
    BOOL UnmapViewOfFile(const void *lpBaseAddress)

    # https://learn.microsoft.com/en-us/windows/win32/api/sysinfoapi/ns-sysinfoapi-system_info
    ctypedef struct SYSTEM_INFO:
        DWORD dwPageSize
        DWORD dwAllocationGranularity
    # https://learn.microsoft.com/en-us/windows/win32/api/sysinfoapi/nf-sysinfoapi-getsysteminfo
    void GetSystemInfo(SYSTEM_INFO *lpSystemInfo)
