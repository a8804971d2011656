/* A server that follows the technique step by step, without winipc.
 *
 *   c_server TITLE MSG       a window titled TITLE; MSG with wParam >= 16 and an lParam
 *                            that VirtualQuery shows as committed private read-write
 *                            memory: struct { double red, blue; } becomes
 *                            { blue + 1, red * 2 }, result 1.  Prints "ready" once the
 *                            window exists; exits on WM_CLOSE.
 *                            MSG + 1 sleeps wParam ms, then returns 2; MSG + 2 ends the
 *                            process mid-message; MSG + 3 returns lParam (its result).
 *
 * Built 64-bit and 32-bit (tests/peers32); the 32-bit build's refusals are
 * winipc.h's 32-bit range, INT32_MIN + code.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>
#include "winipc.h"

typedef struct { double red, blue; } MyInfo;
static UINT compare_msg;

static int writable(const void *p, SIZE_T size)
{
    MEMORY_BASIC_INFORMATION mbi;
    if (!p || !size || !VirtualQuery(p, &mbi, sizeof mbi))
        return 0;
    if (mbi.State != MEM_COMMIT || mbi.Type != MEM_PRIVATE || mbi.Protect != PAGE_READWRITE)
        return 0;
    return (char *)p - (char *)mbi.BaseAddress + size <= mbi.RegionSize;
}

static LRESULT CALLBACK wndproc(HWND hwnd, UINT msg, WPARAM wparam, LPARAM lparam)
{
    if (msg == compare_msg) {
        MyInfo *info = (MyInfo *)lparam;
        double red;
        if (wparam < sizeof *info)
            return WINIPC_ERROR_RESULT(ERROR_INSUFFICIENT_BUFFER);
        if (!writable(info, wparam))
            return WINIPC_ERROR_RESULT(ERROR_INVALID_ADDRESS);
        red = info->red;
        info->red = info->blue + 1;
        info->blue = red * 2;
        return 1;
    }
    if (msg == compare_msg + 1) {
        Sleep((DWORD)wparam);
        return 2;
    }
    if (msg == compare_msg + 2)
        ExitProcess(3);
    if (msg == compare_msg + 3)
        return (LRESULT)lparam;
    if (msg == WM_DESTROY) {
        PostQuitMessage(0);
        return 0;
    }
    return DefWindowProcW(hwnd, msg, wparam, lparam);
}

int wmain(int argc, wchar_t **argv)
{
    WNDCLASSW wc = {0};
    HWND hwnd;
    MSG m;
    BOOL got;

    if (argc != 3) {
        fprintf(stderr, "usage: c_server TITLE MSG\n");
        return 1;
    }
    compare_msg = (UINT)wcstoul(argv[2], NULL, 0);
    wc.lpfnWndProc = wndproc;
    wc.hInstance = GetModuleHandleW(NULL);
    wc.lpszClassName = L"winipc.c_server";
    if (!RegisterClassW(&wc)) {
        fprintf(stderr, "RegisterClassW failed: error %lu\n", GetLastError());
        return 2;
    }
    hwnd = CreateWindowW(wc.lpszClassName, argv[1], WS_OVERLAPPED, 0, 0, 0, 0,
                         NULL, NULL, wc.hInstance, NULL);
    if (!hwnd) {
        fprintf(stderr, "CreateWindowW failed: error %lu\n", GetLastError());
        return 2;
    }
    printf("ready %lu\n", GetCurrentProcessId());
    fflush(stdout);
    while ((got = GetMessageW(&m, NULL, 0, 0)) > 0) {
        TranslateMessage(&m);
        DispatchMessageW(&m);
    }
    return got < 0 ? 2 : 0;
}
