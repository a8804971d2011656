/* A client that takes its buffer away while the server's handler runs on it.
 *
 *   c_pull_rug free|protect TITLE MSG VALUE DELAY_MS
 *
 * Allocates an 8-byte buffer in the server (VirtualAllocEx), writes VALUE
 * there, and sends MSG (wParam 8, lParam the buffer).  Meanwhile a second
 * thread waits DELAY_MS and then frees the buffer (VirtualFreeEx) or makes it
 * PAGE_NOACCESS (VirtualProtectEx).  Prints the message's result as a signed
 * decimal and exits 0; any failing call prints its name and GetLastError()
 * and exits 2.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

static HANDLE process;
static void *remote;
static DWORD delay_ms;
static int protect;

static int fail(const char *call)
{
    fprintf(stderr, "%s failed: error %lu\n", call, GetLastError());
    return 2;
}

static DWORD WINAPI pull(void *unused)
{
    DWORD old;
    (void)unused;
    Sleep(delay_ms);
    if (protect) {
        if (!VirtualProtectEx(process, remote, 8, PAGE_NOACCESS, &old))
            fprintf(stderr, "VirtualProtectEx failed: error %lu\n", GetLastError());
    } else if (!VirtualFreeEx(process, remote, 0, MEM_RELEASE)) {
        fprintf(stderr, "VirtualFreeEx failed: error %lu\n", GetLastError());
    }
    return 0;
}

int wmain(int argc, wchar_t **argv)
{
    HWND hwnd;
    DWORD pid = 0;
    UINT msg;
    unsigned long long value;
    SIZE_T done;
    DWORD_PTR result = 0;
    HANDLE thread;

    if (argc != 6 || (wcscmp(argv[1], L"free") && wcscmp(argv[1], L"protect"))) {
        fprintf(stderr, "usage: c_pull_rug free|protect TITLE MSG VALUE DELAY_MS\n");
        return 1;
    }
    protect = !wcscmp(argv[1], L"protect");
    msg = (UINT)wcstoul(argv[3], NULL, 0);
    value = _wcstoui64(argv[4], NULL, 0);
    delay_ms = (DWORD)wcstoul(argv[5], NULL, 0);

    hwnd = FindWindowW(NULL, argv[2]);
    if (!hwnd)
        return fail("FindWindowW");
    if (!GetWindowThreadProcessId(hwnd, &pid))
        return fail("GetWindowThreadProcessId");
    process = OpenProcess(PROCESS_VM_OPERATION | PROCESS_VM_WRITE | PROCESS_VM_READ, FALSE, pid);
    if (!process)
        return fail("OpenProcess");
    remote = VirtualAllocEx(process, NULL, 8, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
    if (!remote)
        return fail("VirtualAllocEx");
    if (!WriteProcessMemory(process, remote, &value, 8, &done) || done != 8)
        return fail("WriteProcessMemory");

    thread = CreateThread(NULL, 0, pull, NULL, 0, NULL);
    if (!thread)
        return fail("CreateThread");
    if (!SendMessageTimeoutW(hwnd, msg, 8, (LPARAM)remote, SMTO_ABORTIFHUNG | SMTO_ERRORONEXIT,
                             20000, &result))
        return fail("SendMessageTimeoutW");
    WaitForSingleObject(thread, INFINITE);
    printf("%lld\n", (long long)(LRESULT)result);
    if (protect)
        VirtualFreeEx(process, remote, 0, MEM_RELEASE);
    CloseHandle(process);
    return 0;
}
