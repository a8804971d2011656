/* ntdll's object queries for winipc._kernel on Windows, found at run time
 * with GetProcAddress (no import library needed). */
#ifndef WINIPC_NTQUERY_H
#define WINIPC_NTQUERY_H

#include <windows.h>
#include <string.h>
#include <wchar.h>

typedef struct { unsigned short Length, MaximumLength; wchar_t *Buffer; } wipc_ustr;
typedef long (__stdcall *wipc_NtQueryObject)(HANDLE, int, void *, unsigned long,
                                             unsigned long *);
typedef long (__stdcall *wipc_NtQuerySection)(HANDLE, int, void *, SIZE_T, SIZE_T *);
typedef long (__stdcall *wipc_NtQueryEvent)(HANDLE, int, void *, unsigned long,
                                            unsigned long *);
typedef struct { void *BaseAddress; unsigned long Attributes; LARGE_INTEGER Size; }
    wipc_section_basic;

/* The object's type name (ObjectTypeInformation = 2) into buf; an NTSTATUS. */
static long wipc_object_type(HANDLE h, wchar_t *buf, int cap) {
    static wipc_NtQueryObject q;
    unsigned char info[1024];
    unsigned long got = 0;
    long st;
    wipc_ustr *name = (wipc_ustr *)info;
    int n;
    if (!q) q = (wipc_NtQueryObject)(void *)GetProcAddress(
        GetModuleHandleW(L"ntdll.dll"), "NtQueryObject");
    if (!q) return (long)0xC0000002L; /* STATUS_NOT_IMPLEMENTED */
    st = q(h, 2, info, sizeof info, &got);
    if (st < 0) return st;
    n = name->Length / 2 < cap - 1 ? name->Length / 2 : cap - 1;
    memcpy(buf, name->Buffer, n * sizeof(wchar_t));
    buf[n] = 0;
    return 0;
}

/* A section's size (SectionBasicInformation = 0); needs SECTION_QUERY. */
static long wipc_section_size(HANDLE h, long long *size) {
    static wipc_NtQuerySection q;
    wipc_section_basic info;
    SIZE_T got = 0;
    long st;
    if (!q) q = (wipc_NtQuerySection)(void *)GetProcAddress(
        GetModuleHandleW(L"ntdll.dll"), "NtQuerySection");
    if (!q) return (long)0xC0000002L;
    st = q(h, 0, &info, sizeof info, &got);
    if (st >= 0) *size = info.Size.QuadPart;
    return st;
}

/* Whether event h is auto-reset (NtQueryEvent's EventBasicInformation says
 * SynchronizationEvent); 0 when that cannot be told. */
static int wipc_event_auto_reset(HANDLE h) {
    long info[2];
    unsigned long got = 0;
    wipc_NtQueryEvent q = (wipc_NtQueryEvent)(void *)GetProcAddress(
        GetModuleHandleA("ntdll"), "NtQueryEvent");
    if (q == NULL || q(h, 0, info, sizeof info, &got) != 0) return 0;
    return info[0] == 1;
}

#endif
