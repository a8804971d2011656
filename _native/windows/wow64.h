/* A 64-bit client of a 32-bit (WoW64) server: whether a process runs 32-bit
 * code, and memory allocated in one where its 32-bit code can address it.
 * IsWow64Process2 and ntdll's calls are found at run time with
 * GetProcAddress (no import library needed). */
#ifndef WINIPC_WOW64_H
#define WINIPC_WOW64_H

#include <windows.h>

typedef BOOL (WINAPI *wipc_IsWow64Process2)(HANDLE, USHORT *, USHORT *);
typedef LONG (NTAPI *wipc_NtAllocateVirtualMemory)(HANDLE, PVOID *, ULONG_PTR, PSIZE_T,
                                                   ULONG, ULONG);
typedef ULONG (NTAPI *wipc_RtlNtStatusToDosError)(LONG);

/* Whether process `pid` is a 32-bit process (*is32), asked on a handle of
 * its own opened with PROCESS_QUERY_LIMITED_INFORMATION and closed at once
 * -> 0, or the error of the call named in *call.  IsWow64Process2 where it
 * exists (Windows 10 1709 and later), else IsWow64Process (which, on a
 * 64-bit Windows, says the same). */
static DWORD wipc_process_is_32bit(DWORD pid, int *is32, const char **call)
{
    static wipc_IsWow64Process2 query2;
    static int looked;
    USHORT process_machine = 0, native_machine = 0;
    BOOL wow64 = FALSE, ok;
    DWORD err = 0;
    HANDLE h;

    if (!looked) {
        query2 = (wipc_IsWow64Process2)(void *)GetProcAddress(
            GetModuleHandleW(L"kernel32.dll"), "IsWow64Process2");
        looked = 1;
    }
    *call = "OpenProcess";
    h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
    if (!h)
        return GetLastError();
    if (query2) {
        *call = "IsWow64Process2";
        ok = query2(h, &process_machine, &native_machine);
        /* process_machine: the emulated machine under WoW64, UNKNOWN when
         * the process runs natively (then it is as wide as the system). */
        if (ok)
            *is32 = process_machine != IMAGE_FILE_MACHINE_UNKNOWN
                    || native_machine == IMAGE_FILE_MACHINE_I386
                    || native_machine == IMAGE_FILE_MACHINE_ARMNT;
    } else {
        *call = "IsWow64Process";
        ok = IsWow64Process(h, &wow64);
        if (ok)
            *is32 = wow64 || sizeof(void *) == 4;
    }
    if (!ok)
        err = GetLastError();
    CloseHandle(h);
    return err;
}

/* VirtualAllocEx(size, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE) at an
 * address below 2 GiB, which every 32-bit process can address, large-
 * address-aware or not: NtAllocateVirtualMemory with ZeroBits 1 (VirtualAllocEx
 * has no such argument, and a 64-bit caller's VirtualAllocEx into a WoW64
 * process may land above 4 GiB) -> 0 or the Win32 error. */
static DWORD wipc_alloc_below_2gib(HANDLE process, SIZE_T size, void **address)
{
    static wipc_NtAllocateVirtualMemory alloc;
    static wipc_RtlNtStatusToDosError to_win32;
    HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    PVOID base = NULL;
    SIZE_T got = size;
    LONG status;

    if (!alloc)
        alloc = (wipc_NtAllocateVirtualMemory)(void *)GetProcAddress(ntdll,
                                                                     "NtAllocateVirtualMemory");
    if (!to_win32)
        to_win32 = (wipc_RtlNtStatusToDosError)(void *)GetProcAddress(ntdll,
                                                                      "RtlNtStatusToDosError");
    if (!alloc || !to_win32)
        return ERROR_PROC_NOT_FOUND;
    if (size == 0)
        return ERROR_INVALID_PARAMETER;     /* as VirtualAllocEx answers */
    status = alloc(process, &base, 1, &got, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
    if (status < 0)
        return to_win32(status);
    *address = base;
    return 0;
}

#endif
