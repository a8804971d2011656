/* The Win32 numbers winipc uses come from the SDK itself on Windows (the
 * Linux backend's _native/linux/win32_values.h repeats the ones it needs). */
#ifndef WINIPC_WIN32_VALUES_H
#define WINIPC_WIN32_VALUES_H
#include <windows.h>

/* MinGW-w64's winerror.h lacks this one code of the Windows SDK's. */
#ifndef ERROR_UNHANDLED_EXCEPTION
#define ERROR_UNHANDLED_EXCEPTION 574L
#endif

#endif
