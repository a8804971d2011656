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
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

static unsigned long long state;

static unsigned long long next(void)     /* xorshift64 */
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

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
    unsigned long long addresses[16];
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
    process = OpenProcess(PROCESS_VM_OPERATION | PROCESS_VM_READ | PROCESS_VM_WRITE, FALSE, pid);
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
        if (next() % 4 == 0)
            PostMessageW(hwnd, msg, wparam, lparam);
        else
            SendMessageTimeoutW(hwnd, msg, wparam, lparam, SMTO_ABORTIFHUNG, 1000, &result);
        messages++;
    }
    CloseHandle(process);
    printf("messages %lld\n", messages);
    return 0;
}
