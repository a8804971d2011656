/* The part of pyconfig.h (included by it) for 32-bit Windows: ILP32. */
#define SIZEOF_VOID_P 4
#define SIZEOF_SIZE_T 4
#define SIZEOF_UINTPTR_T 4
#define SIZEOF_HKEY 4
#define ALIGNOF_SIZE_T 4
/* Py_ssize_t is a signed size_t (PC/pyconfig.h: int on Win32). */
typedef int Py_ssize_t;
#define PY_SSIZE_T_MAX INT_MAX
