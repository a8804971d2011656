/* pyconfig.h for cross-building winipc's extension modules for Windows
 * CPython (x64 and x86) with zig's clang (GNU target), against the stable ABI
 * only (Py_LIMITED_API).
 *
 * No Windows CPython headers can be had on Linux, but the limited API's
 * headers are the same on every platform except for this file.  compile.sh
 * copies the host CPython's include folder and puts this file, and the one of
 * the target's bitness (pyconfig-x64.h or pyconfig-x86.h), in place of the
 * host's pyconfig.h (they must sit beside Python.h: Python.h includes
 * "pyconfig.h" with quotes).  It states what python.org's PC/pyconfig.h states
 * for those builds, as far as the limited API looks at it.
 * tests/test_windows_build.py compares the sizes and the other values it
 * states with those of the Windows CPython that runs the tests.
 */
#ifndef Py_CONFIG_H
#define Py_CONFIG_H

#ifndef Py_LIMITED_API
#  error "this pyconfig.h only supports the limited API: define Py_LIMITED_API"
#endif

#include <limits.h>             /* LLONG_MAX, INT_MAX */

/* What depends on the bitness: pointer-sized types, Py_ssize_t, MS_WIN64. */
#if defined(_WIN64) && defined(__x86_64__)
#  include "pyconfig-x64.h"
#elif defined(_WIN32) && !defined(_WIN64) && defined(__i386__)
#  include "pyconfig-x86.h"
#else
#  error "this pyconfig.h is for x86-64 or x86 Windows (zig cc -target x86_64-windows-gnu or x86-windows-gnu)"
#endif

/* The platform. */
#define NT                      /* Python's own spelling of "Windows NT" */
#define MS_WINDOWS
#define MS_WIN32                /* every Win32 API platform, 64-bit ones too */
#define NT_THREADS
#define WITH_THREAD
#ifndef _WIN32_WINNT
#  define _WIN32_WINNT 0x0A00   /* Windows 10 API declarations */
#endif
#ifndef WINVER
#  define WINVER _WIN32_WINNT
#endif
#define PLATFORM "win32"
#define COMPILER "[Clang " __clang_version__ " (zig, GNU target)]"

/* python3.dll / python3XX.dll export the API: import it with
   __declspec(dllimport), export PyInit_* with __declspec(dllexport). */
#define Py_ENABLE_SHARED 1
#define HAVE_DECLSPEC_DLL

/* Type sizes of both bitnesses (ILP32 and LLP64: long stays 32-bit on
   64-bit Windows). */
#define SIZEOF_SHORT 2
#define SIZEOF_INT 4
#define SIZEOF_LONG 4
#define SIZEOF_LONG_LONG 8
#define SIZEOF_FLOAT 4
#define SIZEOF_DOUBLE 8
/* (no SIZEOF_LONG_DOUBLE: the limited API does not look at it, and clang's
   long double on the GNU target, x87's 80 bits, is not MSVC's 8-byte one) */
#define SIZEOF_TIME_T 8         /* the UCRT's time_t is 64-bit on x86 too */
#define SIZEOF_OFF_T 4          /* a long */
#define SIZEOF_FPOS_T 8         /* an __int64 */
#define SIZEOF_WCHAR_T 2        /* UTF-16 */
#define SIZEOF__BOOL 1
#define SIZEOF_PID_T SIZEOF_INT
#define ALIGNOF_LONG 4
#define ALIGNOF_MAX_ALIGN_T 8

#define HAVE_LONG_LONG 1
#define HAVE_PY_SSIZE_T 1

/* Little-endian, IEEE 754 doubles. */
#define DOUBLE_IS_LITTLE_ENDIAN_IEEE754 1

/* Headers and functions of the C runtime (the UCRT). */
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
#define Py_WINVER 0x0602        /* _WIN32_WINNT_WIN8 */

#endif /* !Py_CONFIG_H */
