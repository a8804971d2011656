/* Starts Wine's desktop before a test run, checks it, and keeps it up.
 *
 *     desktop.exe READY_FILE SECONDS
 *
 * Wine starts its desktop process (explorer.exe /desktop) when a process
 * first needs the desktop window, and that process inherits the standard
 * handles of the one that started it and outlives it.  Run this program with
 * its standard handles on /dev/null: the desktop then holds nothing of the
 * tests'.
 *
 * It calls GetDesktopWindow() until the desktop window exists, has the
 * desktop class ("#32769") and belongs to another process whose image is
 * explorer.exe (at most 60 s), then writes "explorer PID" to READY_FILE.
 * After that it stays a user of the desktop, with one hidden window, for
 * SECONDS or until it is killed: wineserver closes a desktop one second after
 * its last user leaves, and the next process to create a window would start
 * a new desktop process that inherits that process's handles.
 *
 * Exit codes: 0 after SECONDS; 2 usage; 3 no desktop window in time; 4 the
 * desktop is not explorer's; 5 READY_FILE could not be written; 6 no window.
 */
#include <windows.h>
#include <wchar.h>

static LRESULT CALLBACK anchor_proc(HWND hwnd, UINT msg, WPARAM wp, LPARAM lp)
{
    if (msg == WM_CLOSE)
        return 0;           /* only the timer or a kill ends this program */
    return DefWindowProcW(hwnd, msg, wp, lp);
}

static int is_explorer(DWORD pid)
{
    wchar_t image[MAX_PATH];
    DWORD n = MAX_PATH;
    size_t len;
    int ok;
    HANDLE process = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
    if (!process)
        return 0;
    ok = QueryFullProcessImageNameW(process, 0, image, &n);
    CloseHandle(process);
    if (!ok)
        return 0;
    len = wcslen(image);
    return len >= 12 && _wcsicmp(image + len - 12, L"explorer.exe") == 0;
}

int wmain(int argc, wchar_t **argv)
{
    ULONGLONG deadline;
    DWORD pid = 0, seconds, written;
    HWND desktop, anchor;
    WNDCLASSW wc = {0};
    HANDLE ready;
    char line[32];
    int len;
    MSG msg;

    if (argc != 3)
        return 2;
    seconds = wcstoul(argv[2], NULL, 10);
    if (seconds == 0 || seconds > 7 * 24 * 3600)
        return 2;

    deadline = GetTickCount64() + 60000;
    for (;;) {
        wchar_t cls[16] = L"";
        desktop = GetDesktopWindow();
        pid = 0;
        if (desktop && IsWindow(desktop) && GetClassNameW(desktop, cls, 16)
                && wcscmp(cls, L"#32769") == 0
                && GetWindowThreadProcessId(desktop, &pid) && pid
                && pid != GetCurrentProcessId())
            break;
        if (GetTickCount64() >= deadline)
            return 3;
        Sleep(100);
    }
    if (!is_explorer(pid))
        return 4;

    wc.lpfnWndProc = anchor_proc;
    wc.hInstance = GetModuleHandleW(NULL);
    wc.lpszClassName = L"winipc-desktop-anchor";
    if (!RegisterClassW(&wc))
        return 6;
    anchor = CreateWindowExW(0, wc.lpszClassName, L"winipc desktop anchor", WS_OVERLAPPED,
                             0, 0, 0, 0, NULL, NULL, wc.hInstance, NULL);
    if (!anchor)
        return 6;

    ready = CreateFileW(argv[1], GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
                        FILE_ATTRIBUTE_NORMAL, NULL);
    if (ready == INVALID_HANDLE_VALUE)
        return 5;
    len = wsprintfA(line, "explorer %lu\n", pid);
    if (!WriteFile(ready, line, (DWORD)len, &written, NULL) || written != (DWORD)len) {
        CloseHandle(ready);
        return 5;
    }
    CloseHandle(ready);

    SetTimer(anchor, 1, seconds * 1000u, NULL);
    while (GetMessageW(&msg, NULL, 0, 0) > 0) {
        if (msg.message == WM_TIMER && msg.hwnd == anchor)
            break;
        DispatchMessageW(&msg);
    }
    DestroyWindow(anchor);
    return 0;
}
