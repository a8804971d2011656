/* Hostile messages to a winipc server window, from a process of its own:
 *
 *   c_fuzz TITLE SECONDS SEED      prints "messages N"
 *
 * Any process may send a window any message: this one sends the server's
 * application messages and winipc's control message with wild wParam and
 * lParam values, both synchronously (SendMessageTimeout) and posted
 * (PostMessage).  The addresses include NULL, the kernel range, and regions
 * it makes in the server itself: read-only, no-access, guard, reserved-only,
 * executable, freed, and spans that run past a region's end.
 *
 * It also opens a doorbell of its own, as the protocol allows
 * (control.pxi), and abuses it: garbage over its page, requests aimed at
 * every mapped region of the server (other clients' sections and doorbell
 * pages among them), section requests of wild sizes and frees of wild
 * addresses, and its own doorbell page re-protected in the server (it holds
 * PROCESS_VM_OPERATION, as every client does).
 */
#include <windows.h>
#include "doorbell.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static unsigned long long state;

static unsigned long long next(void)     /* xorshift64 */
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

/* The grant the server writes after the two cache lines of the page
 * (control.pxi's BellGrant). */
typedef struct {
    unsigned long long token, client_event, wake_event;
    volatile LONG claim;
    unsigned int pad;
    unsigned long long extra;
} grant_t;

static int fail(const char *call)
{
    fprintf(stderr, "%s failed: error %lu\n", call, GetLastError());
    return 2;
}

int wmain(int argc, wchar_t **argv)
{
    HWND hwnd;
    DWORD pid = 0, old;
    HANDLE process;
    UINT control;
    ULONGLONG deadline;
    unsigned long long addresses[96];
    winipc_bell *bell = NULL;
    grant_t *grant = NULL;
    HANDLE wake = NULL;
    void *view_there = NULL;   /* the server's view of our page */
    uint32_t seq = 1;
    long long rung = 0, pulled = 0;
    int naddresses = 0, i;
    long long messages = 0;
    static const DWORD protections[] = {
        PAGE_READONLY, PAGE_NOACCESS, PAGE_READWRITE | PAGE_GUARD, PAGE_EXECUTE_READWRITE,
    };

    if (argc != 4) {
        fprintf(stderr, "usage: c_fuzz TITLE SECONDS SEED\n");
        return 2;
    }
    state = (unsigned long long)_wtoi64(argv[3]) * 2654435761ULL + 1;
    hwnd = FindWindowW(NULL, argv[1]);
    if (!hwnd)
        return fail("FindWindowW");
    GetWindowThreadProcessId(hwnd, &pid);
    process = OpenProcess(PROCESS_VM_OPERATION | PROCESS_VM_READ | PROCESS_VM_WRITE
                          | PROCESS_QUERY_INFORMATION, FALSE, pid);
    if (!process)
        return fail("OpenProcess");
    control = RegisterWindowMessageW(L"winipc.control");
    if (!control)
        return fail("RegisterWindowMessageW");

    for (i = 0; i < 4; i++) {                          /* committed, then re-protected */
        void *p = VirtualAllocEx(process, NULL, 8192, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
        if (!p)
            return fail("VirtualAllocEx");
        if (!VirtualProtectEx(process, p, 4096, protections[i], &old))
            return fail("VirtualProtectEx");
        addresses[naddresses++] = (unsigned long long)p;             /* the odd page */
        addresses[naddresses++] = (unsigned long long)p + 4096 - 8;  /* a span across */
    }
    {
        void *reserved = VirtualAllocEx(process, NULL, 65536, MEM_RESERVE, PAGE_READWRITE);
        void *freed = VirtualAllocEx(process, NULL, 4096, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
        if (!reserved || !freed)
            return fail("VirtualAllocEx");
        if (!VirtualFreeEx(process, freed, 0, MEM_RELEASE))
            return fail("VirtualFreeEx");
        addresses[naddresses++] = (unsigned long long)reserved;
        addresses[naddresses++] = (unsigned long long)freed;
    }
    {   /* our own doorbell, claimed as the protocol says */
        DWORD_PTR page = 0;
        if (SendMessageTimeoutW(hwnd, control, 4, (LPARAM)GetCurrentProcessId(),
                                SMTO_ABORTIFHUNG, 5000, &page) && (LONG_PTR)page > 0) {
            bell = MapViewOfFile((HANDLE)page, FILE_MAP_READ | FILE_MAP_WRITE, 0, 0, 4096);
            if (!bell)
                return fail("MapViewOfFile");
            grant = (grant_t *)((char *)bell + 128);
            if (InterlockedCompareExchange(&grant->claim, 1, 0) != 0)
                return fail("claiming the doorbell");
            wake = (HANDLE)(ULONG_PTR)grant->wake_event;
            seq = bell->req;
            memcpy((char *)bell + 2048, "c_fuzz's own page", 18);
        }
    }
    {   /* every mapped read-write region of the server: sections and doorbell
           pages, ours and other clients' */
        MEMORY_BASIC_INFORMATION info;
        char marker[18];
        unsigned long long at = 0;
        while (naddresses < 80 && VirtualQueryEx(process, (void *)at, &info, sizeof(info))) {
            if (info.State == MEM_COMMIT && info.Type == MEM_MAPPED
                    && info.Protect == PAGE_READWRITE) {
                addresses[naddresses++] = (unsigned long long)info.BaseAddress;
                if (bell && info.RegionSize == 4096
                        && ReadProcessMemory(process, (char *)info.BaseAddress + 2048, marker,
                                             sizeof(marker), NULL)
                        && memcmp(marker, "c_fuzz's own page", 18) == 0)
                    view_there = info.BaseAddress;
            }
            at = (unsigned long long)info.BaseAddress + info.RegionSize;
        }
    }
    addresses[naddresses++] = 0;
    addresses[naddresses++] = 0xFFFF800000000000ULL;    /* the kernel's half */
    addresses[naddresses++] = 0x10;

    deadline = GetTickCount64() + (ULONGLONG)_wtoi(argv[2]) * 1000;
    while (GetTickCount64() < deadline) {
        unsigned long long r = next();
        UINT msg = (r & 7) == 0 ? control : WM_USER + (UINT)(next() % 120);
        if (msg == WM_USER + 108 || msg == WM_USER + 109)
            msg = WM_USER + 110;     /* the test server's sleep and exit: spared */
        WPARAM wparam;
        LPARAM lparam;
        DWORD_PTR result;
        switch (next() % 5) {
        case 0: wparam = 0; break;
        case 1: wparam = 16; break;
        case 2: wparam = 4096; break;
        case 3: wparam = (WPARAM)next(); break;
        default: wparam = (WPARAM)(next() % 9); break;   /* control ops and small sizes */
        }
        switch (next() % 3) {
        case 0: lparam = (LPARAM)addresses[next() % naddresses]; break;
        case 1: lparam = (LPARAM)(addresses[next() % naddresses] + (next() % 64) - 32); break;
        default: lparam = (LPARAM)next(); break;
        }
        if (msg == control && wparam == 1)
            lparam &= 0xFFFFF;        /* sections: keep sizes small; the bound is tested apart */
        if (bell && (r & 7) == 1) {
            /* through our doorbell: a request, or garbage over the page */
            if (next() % 16 == 0) {
                unsigned long long *words = (unsigned long long *)bell;
                for (i = 0; i < 16; i++)        /* both cache lines; not the grant */
                    words[i] = next();
                seq = bell->req;
            } else {
                if (msg == control)
                    wparam = next() % 2 ? 1 : 3;     /* OP_SHARED_ALLOC / OP_SHARED_FREE */
                if (msg == control && wparam == 1)
                    lparam &= 0xFFFFF;
                seq = winipc_bell_next_seq(seq);
                winipc_bell_post(bell, seq, msg, wparam, (uint64_t)lparam);
            }
            if (wake)
                SetEvent(wake);
            if (grant->extra) {     /* a section it gave us: ours to close */
                CloseHandle((HANDLE)(ULONG_PTR)grant->extra);
                grant->extra = 0;
            }
            rung++;
            messages++;
            continue;
        }
        if (view_there && (r & 1023) == 2) {
            /* our page, pulled in the server and (usually) given back */
            VirtualProtectEx(process, view_there, 4096,
                             next() % 2 ? PAGE_NOACCESS : PAGE_READONLY, &old);
            Sleep(1);
            if (next() % 4)
                VirtualProtectEx(process, view_there, 4096, PAGE_READWRITE, &old);
            pulled++;
        }
        if (next() % 4 == 0)
            PostMessageW(hwnd, msg, wparam, lparam);
        else
            SendMessageTimeoutW(hwnd, msg, wparam, lparam, SMTO_ABORTIFHUNG, 1000, &result);
        messages++;
    }
    CloseHandle(process);
    printf("messages %lld\n", messages);
    printf("rung %lld pulled %lld own-view %s\n", rung, pulled, view_there ? "found" : "none");
    return 0;
}
