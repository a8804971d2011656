/* The part of pyconfig.h (included by it) for 64-bit Windows: LLP64. */
#define MS_WIN64
#define SIZEOF_VOID_P 8
#define SIZEOF_SIZE_T 8
#define SIZEOF_UINTPTR_T 8
#define SIZEOF_HKEY 8
#define ALIGNOF_SIZE_T 8
/* Py_ssize_t is a signed size_t (PC/pyconfig.h: __int64 on Win64). */
typedef long long Py_ssize_t;
#define PY_SSIZE_T_MAX LLONG_MAX
