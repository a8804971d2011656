/* The Win32 numbers winipc uses, for the Linux backend: the values of the
 * Windows SDK's winerror.h, winnt.h, synchapi.h, memoryapi.h and winuser.h,
 * under the same names.  On Windows, _native/windows/win32_values.h takes them
 * from windows.h itself.  _native/common/win32_values.pxd declares them for
 * Cython, and the module winipc._win32 exports them (winipc.constants makes
 * them enums).  The Linux backend reports its errors with these codes, so
 * that `winerror` means the same on both platforms.
 */
#ifndef WINIPC_WIN32_VALUES_H
#define WINIPC_WIN32_VALUES_H

/* winerror.h */
#define ERROR_FILE_NOT_FOUND            2
#define ERROR_ACCESS_DENIED             5
#define ERROR_INVALID_HANDLE            6
#define ERROR_NOT_ENOUGH_MEMORY         8
#define ERROR_INVALID_DATA              13
#define ERROR_NOT_SUPPORTED             50
#define ERROR_INVALID_PARAMETER         87
#define ERROR_INSUFFICIENT_BUFFER       122
#define ERROR_ALREADY_EXISTS            183
#define ERROR_PIPE_NOT_CONNECTED        233
#define ERROR_NOT_OWNER                 288
#define ERROR_TOO_MANY_POSTS            298
#define ERROR_PARTIAL_COPY              299
#define ERROR_INVALID_ADDRESS           487
#define ERROR_UNHANDLED_EXCEPTION       574
#define ERROR_NOACCESS                  998
#define ERROR_INVALID_MESSAGE           1002
#define ERROR_NOT_FOUND                 1168
#define ERROR_CONNECTION_COUNT_LIMIT    1238
#define ERROR_INVALID_WINDOW_HANDLE     1400
#define ERROR_INVALID_THREAD_ID         1444
#define ERROR_TIMEOUT                   1460
#define ERROR_NOT_ENOUGH_QUOTA          1816

/* winbase.h / synchapi.h: what a wait returns */
#define WAIT_OBJECT_0                   0x00000000L
#define WAIT_ABANDONED                  0x00000080L
#define WAIT_TIMEOUT                    0x00000102L

/* winnt.h: standard access rights */
#define DELETE                          0x00010000L
#define READ_CONTROL                    0x00020000L
#define WRITE_DAC                       0x00040000L
#define WRITE_OWNER                     0x00080000L
#define SYNCHRONIZE                     0x00100000L
#define STANDARD_RIGHTS_REQUIRED        0x000F0000L

/* winnt.h: process access rights */
#define PROCESS_VM_OPERATION            0x0008
#define PROCESS_VM_READ                 0x0010
#define PROCESS_VM_WRITE                0x0020
#define PROCESS_DUP_HANDLE              0x0040
#define PROCESS_QUERY_LIMITED_INFORMATION 0x1000

/* synchapi.h / winnt.h: mutex, event and semaphore access rights */
#define MUTEX_MODIFY_STATE              0x0001
#define MUTEX_ALL_ACCESS                (STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | MUTEX_MODIFY_STATE)
#define EVENT_MODIFY_STATE              0x0002
#define EVENT_ALL_ACCESS                (STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x3)
#define SEMAPHORE_MODIFY_STATE          0x0002
#define SEMAPHORE_ALL_ACCESS            (STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x3)

/* memoryapi.h: file mapping (section) access rights */
#define FILE_MAP_COPY                   0x0001
#define FILE_MAP_WRITE                  0x0002
#define FILE_MAP_READ                   0x0004
#define FILE_MAP_EXECUTE                0x0020
#define FILE_MAP_ALL_ACCESS             (STANDARD_RIGHTS_REQUIRED | 0x001F)

/* winbase.h: a process creation flag (spawn's "message" way on Windows) */
#define CREATE_SUSPENDED                0x00000004

/* winuser.h: the first private window messages */
#define WM_USER                         0x0400
#define WM_APP                          0x8000

#endif
