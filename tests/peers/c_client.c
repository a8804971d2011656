/* A client that follows the technique step by step, without winipc.
 *
 *   c_client call TITLE MSG RED BLUE [N]
 *                                       FindWindow, OpenProcess(VM_*), VirtualAllocEx,
 *                                       WriteProcessMemory, SendMessageTimeout,
 *                                       ReadProcessMemory (N times, default 1, each
 *                                       on the last one's answer), VirtualFreeEx;
 *                                       prints "RED BLUE RESULT ADDRESS"
 *   c_client raw TITLE MSG WPARAM LPARAM
 *                                       sends any wParam/lParam; prints the result
 *   c_client short TITLE MSG            a buffer of 8 bytes for a 16-byte struct
 *   c_client high TITLE MSG RED BLUE    as call, with the buffer placed at 2 GiB or above
 *                                       (the first of 0x90000000, 0xA0000000, ... free
 *                                       in the server): a 32-bit sender's lParam then
 *                                       arrives sign-extended
 *
 * Every failing call prints its name and GetLastError() and exits 2.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

typedef struct { double red, blue; } MyInfo;

static int fail(const char *call)
{
    fprintf(stderr, "%s failed: error %lu\n", call, GetLastError());
    return 2;
}

static int send_message(HWND hwnd, UINT msg, WPARAM wparam, LPARAM lparam, LRESULT *result)
{
    DWORD_PTR r = 0;
    if (!SendMessageTimeoutW(hwnd, msg, wparam, lparam, SMTO_ABORTIFHUNG | SMTO_ERRORONEXIT,
                             10000, &r))
        return 0;
    *result = (LRESULT)r;
    return 1;
}

int wmain(int argc, wchar_t **argv)
{
    HWND hwnd;
    DWORD pid = 0;
    HANDLE process;
    void *remote;
    SIZE_T done;
    LRESULT result = 0;
    UINT msg;
    MyInfo info;

    if (argc < 4) {
        fprintf(stderr, "usage: c_client call|raw|short TITLE MSG ...\n");
        return 1;
    }
    msg = (UINT)wcstoul(argv[3], NULL, 0);
    hwnd = FindWindowW(NULL, argv[2]);
    if (!hwnd)
        return fail("FindWindowW");

    if (!wcscmp(argv[1], L"raw") && argc == 6) {
        if (!send_message(hwnd, msg, (WPARAM)_wcstoui64(argv[4], NULL, 0),
                  (LPARAM)_wcstoui64(argv[5], NULL, 0), &result))
            return fail("SendMessageTimeoutW");
        printf("%lld\n", (long long)result);
        return 0;
    }

    if (!GetWindowThreadProcessId(hwnd, &pid))
        return fail("GetWindowThreadProcessId");
    process = OpenProcess(PROCESS_VM_OPERATION | PROCESS_VM_WRITE | PROCESS_VM_READ, FALSE, pid);
    if (!process)
        return fail("OpenProcess");
    if (!wcscmp(argv[1], L"high")) {
        ULONG_PTR at;
        remote = NULL;
        for (at = 0x90000000u; !remote && at <= 0xE0000000u; at += 0x10000000u)
            remote = VirtualAllocEx(process, (void *)at, sizeof info, MEM_COMMIT | MEM_RESERVE,
                                    PAGE_READWRITE);
    } else {
        remote = VirtualAllocEx(process, NULL, sizeof info, MEM_COMMIT | MEM_RESERVE,
                                PAGE_READWRITE);
    }
    if (!remote)
        return fail("VirtualAllocEx");

    if ((!wcscmp(argv[1], L"call") || !wcscmp(argv[1], L"high")) && (argc == 6 || argc == 7)) {
        long i, n = argc == 7 ? wcstol(argv[6], NULL, 0) : 1;
        info.red = _wtof(argv[4]);
        info.blue = _wtof(argv[5]);
        for (i = 0; i < n; i++) {
            if (!WriteProcessMemory(process, remote, &info, sizeof info, &done) || done != sizeof info)
                return fail("WriteProcessMemory");
            if (!send_message(hwnd, msg, sizeof info, (LPARAM)remote, &result))
                return fail("SendMessageTimeoutW");
            if (!ReadProcessMemory(process, remote, &info, sizeof info, &done) || done != sizeof info)
                return fail("ReadProcessMemory");
        }
        printf("%.17g %.17g %lld %#llx\n", info.red, info.blue, (long long)result,
               (unsigned long long)(ULONG_PTR)remote);
    } else if (!wcscmp(argv[1], L"short")) {
        if (!send_message(hwnd, msg, 8, (LPARAM)remote, &result))
            return fail("SendMessageTimeoutW");
        printf("%lld\n", (long long)result);
    } else {
        fprintf(stderr, "unknown mode\n");
        return 1;
    }
    if (!VirtualFreeEx(process, remote, 0, MEM_RELEASE))
        return fail("VirtualFreeEx");
    CloseHandle(process);
    return 0;
}
