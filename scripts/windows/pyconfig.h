/* pyconfig.h for cross-building winipc's extension modules for 64-bit Windows
 * CPython with MinGW-w64 GCC, against the stable ABI only (Py_LIMITED_API).
 *
 * No Windows CPython headers can be had on Linux, but the limited API's
 * headers are the same on every platform except for this file.  build-wheel.sh
 * copies the host CPython's include folder and puts this file in place of the
 * host's pyconfig.h (it must sit beside Python.h: Python.h includes
 * "pyconfig.h" with quotes).  It states what python.org's PC/pyconfig.h states
 * for an x64 build, as far as the limited API looks at it.
 */
#ifndef Py_CONFIG_H
#define Py_CONFIG_H

#if !defined(_WIN64) || !defined(__x86_64__)
#  error "this pyconfig.h is for x86_64 Windows (x86_64-w64-mingw32-gcc)"
#endif
#ifndef Py_LIMITED_API
#  error "this pyconfig.h only supports the limited API: define Py_LIMITED_API"
#endif

#include <limits.h>             /* LLONG_MAX */

/* The platform. */
#define NT                      /* Python's own spelling of "Windows NT" */
#define MS_WINDOWS
#define MS_WIN32                /* every Win32 API platform, 64-bit ones too */
#define MS_WIN64
#define NT_THREADS
#define WITH_THREAD
#ifndef _WIN32_WINNT
#  define _WIN32_WINNT 0x0A00   /* Windows 10 API declarations */
#endif
#ifndef WINVER
#  define WINVER _WIN32_WINNT
#endif
#define PLATFORM "win32"
#define COMPILER "[GCC (MinGW-w64) " __VERSION__ "]"

/* python3.dll / python3XX.dll export the API: import it with
   __declspec(dllimport), export PyInit_* with __declspec(dllexport). */
#define Py_ENABLE_SHARED 1
#define HAVE_DECLSPEC_DLL

/* Type sizes of the LLP64 model. */
#define SIZEOF_SHORT 2
#define SIZEOF_INT 4
#define SIZEOF_LONG 4           /* long stays 32-bit on 64-bit Windows */
#define SIZEOF_LONG_LONG 8
#define SIZEOF_FLOAT 4
#define SIZEOF_DOUBLE 8
#define SIZEOF_LONG_DOUBLE 16   /* GCC's x87 long double; MSVC's is 8 (not used by the API) */
#define SIZEOF_VOID_P 8
#define SIZEOF_SIZE_T 8
#define SIZEOF_UINTPTR_T 8
#define SIZEOF_TIME_T 8
#define SIZEOF_OFF_T 4
#define SIZEOF_FPOS_T 8
#define SIZEOF_HKEY 8
#define SIZEOF_WCHAR_T 2        /* UTF-16 */
#define SIZEOF__BOOL 1
#define SIZEOF_PID_T SIZEOF_INT
#define ALIGNOF_SIZE_T 8
#define ALIGNOF_LONG 4
#define ALIGNOF_MAX_ALIGN_T 8

#define HAVE_LONG_LONG 1

/* Py_ssize_t is a signed size_t (PC/pyconfig.h: __int64 on Win64). */
typedef long long Py_ssize_t;
#define HAVE_PY_SSIZE_T 1
#define PY_SSIZE_T_MAX LLONG_MAX

/* Little-endian, IEEE 754 doubles. */
#define DOUBLE_IS_LITTLE_ENDIAN_IEEE754 1

/* Headers and functions of the MSVC/MinGW C runtime. */
#define HAVE_STDDEF_H 1
#define HAVE_STDLIB_H 1
#define HAVE_STDINT_H 1
#define HAVE_INTTYPES_H 1
#define HAVE_WCHAR_H 1
#define HAVE_STDARG_PROTOTYPES
#define HAVE_PROTOTYPES
#define HAVE_IO_H 1
#define HAVE_PROCESS_H 1
#define HAVE_DIRECT_H 1
#define HAVE_CONIO_H 1
#define HAVE_ERRNO_H 1
#define HAVE_FCNTL_H 1
#define HAVE_SIGNAL_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_SYS_UTIME_H 1
#define HAVE_STRFTIME 1
#define HAVE_CLOCK 1
#define HAVE_FTIME 1
#define HAVE_GETPID 1
#define HAVE_SYSTEM 1
#define HAVE_TMPFILE 1
#define HAVE_WCSCOLL 1
#define HAVE_WCSFTIME 1
#define HAVE_WCSXFRM 1
#define HAVE_WMEMCMP 1
#define HAVE_MKTIME 1
#define HAVE_ERF 1
#define HAVE_ERFC 1
#define HAVE_COPYSIGN 1
#define HAVE_HYPOT 1
#define HAVE_ROUND 1
#define HAVE_TZNAME 1
#define HAVE_DYNAMIC_LOADING 1
#define HAVE_USABLE_WCHAR_T 1

/* How CPython itself was configured. */
#define WITH_DOC_STRINGS 1
#define WITH_PYMALLOC 1
#define PYLONG_BITS_IN_DIGIT 30
#define USE_SOCKET
#define Py_WINVER 0x0602        /* _WIN32_WINNT_WIN8, the oldest Windows CPython 3.13 runs on */

#endif /* !Py_CONFIG_H */
