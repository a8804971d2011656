# Kernel objects on Windows (the contract: winipc/_kernel.pyi; the user's view:
# docs/kernel-objects.md): the Win32 objects themselves, each handle owned by
# a KObject.  GetLastError() is read right after every call, before anything
# (the GIL, a Python allocation) can overwrite it.
#
#   view.pxi       MappedView: a view of a file mapping
#   spawn.pxi      what winipc.spawn needs beyond subprocess.Popen
#   waiting.pxi    asynchronous waits (asyncio)
#   ntquery.h      ntdll's object queries

from libc.stddef cimport wchar_t
from libc.stdint cimport uint64_t
from libc.string cimport memset
from cpython.buffer cimport PyBuffer_FillInfo, PyBUF_WRITABLE
from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_Malloc, PyMem_Free

cimport win32
from win32 cimport BOOL, DWORD, HANDLE, LPCWSTR, SIZE_T, MEMORY_BASIC_INFORMATION
from synchapi cimport *
from handleapi cimport *
from memoryapi cimport *
from processthreadsapi cimport *
from wide cimport wide, from_wide

BACKEND = "windows"
include "errors.pxi"

cdef enum:
    K_MUTEX = 1
    K_EVENT = 2
    K_SEMAPHORE = 3
    K_MAPPING = 4

MUTEX, EVENT, SEMAPHORE, MAPPING = K_MUTEX, K_EVENT, K_SEMAPHORE, K_MAPPING
include "kinds.pxi"
# What NtQueryObject(ObjectTypeInformation) calls each kind.
_NT_TYPES = {K_MUTEX: "Mutant", K_EVENT: "Event", K_SEMAPHORE: "Semaphore",
             K_MAPPING: "Section"}
_NT_NAMES = {v: KIND_NAMES[k] for k, v in _NT_TYPES.items()}

cdef SYSTEM_INFO _sysinfo
GetSystemInfo(&_sysinfo)
ALLOCATION_GRANULARITY = _sysinfo.dwAllocationGranularity

#: The thread message that carries one handle value to a spawned child:
#: wParam = its index, lParam = the value.
WM_WINIPC_HANDLE = WM_APP + 0x3A1

from win32_values cimport (ERROR_ACCESS_DENIED, ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER,
                           ERROR_ALREADY_EXISTS, ERROR_TIMEOUT, ERROR_FILE_NOT_FOUND)

# ntdll's object queries, found at run time (no import library needed).
cdef extern from "ntquery.h" nogil:
    long wipc_object_type(HANDLE h, wchar_t *buf, int cap)
    long wipc_section_size(HANDLE h, long long *size)
    int wipc_event_auto_reset(HANDLE h)


cdef inline HANDLE _h(object value) except? NULL:
    return <HANDLE><size_t>value


cdef DWORD _ms(long long ns):
    if ns < 0:
        return INFINITE
    return <DWORD>min((ns + 999999) // 1000000, <long long>0xFFFFFFFE)


cdef DWORD _wait(HANDLE h, long long ns) except? 0xFFFFFFFF:
    """WaitForSingleObject in slices, so a signal (Ctrl+C) is seen while waiting."""
    cdef DWORD total = _ms(ns)
    cdef unsigned long long deadline = GetTickCount64() + total
    cdef unsigned long long now
    cdef DWORD part, r, err
    while True:
        if total == INFINITE:
            part = 100
        else:
            now = GetTickCount64()
            part = <DWORD>(deadline - now if deadline > now else 0)
            if part > 100:
                part = 100
        with nogil:
            r = win32.WaitForSingleObject(h, part)
            err = win32.GetLastError()
        if r == WAIT_FAILED:
            raise_winerror(err, "WaitForSingleObject")
        if r != WAIT_TIMEOUT:
            return r
        if total != INFINITE and GetTickCount64() >= deadline:
            return r
        PyErr_CheckSignals()


cdef class KObject:
    """One HANDLE to a kernel object; the facade wraps it."""

    cdef HANDLE h
    cdef readonly int kind
    cdef long long _size      # mapping: -1 until known

    def __cinit__(self):
        self.h = NULL
        self._size = -1

    def __dealloc__(self):
        if self.h != NULL:
            SetHandleInformation(self.h, HANDLE_FLAG_PROTECT_FROM_CLOSE, 0)
            win32.CloseHandle(self.h)
            self.h = NULL

    @property
    def handle(self):
        return <size_t>self.h

    @property
    def closed(self):
        return self.h == NULL

    cdef HANDLE _get(self) except NULL:
        if self.h == NULL:
            raise ValueError(f"operation on a closed {KIND_NAMES[self.kind]}")
        return self.h

    def close(self):
        """CloseHandle; a protected handle (HANDLE_FLAG_PROTECT_FROM_CLOSE) stays open
        and raises."""
        if self.h == NULL:
            return
        cdef DWORD flags = 0
        if GetHandleInformation(self.h, &flags) and flags & HANDLE_FLAG_PROTECT_FROM_CLOSE:
            raise_winerror(ERROR_INVALID_HANDLE, "CloseHandle",
                           "the handle is protected from closing "
                           "(HANDLE_FLAG_PROTECT_FROM_CLOSE)", cls="InvalidHandle")
        cdef HANDLE h = self.h
        self.h = NULL
        if not win32.CloseHandle(h):
            raise_winerror(win32.GetLastError(), "CloseHandle")

    # --- flags ---

    cdef bint _flag(self, DWORD flag) except -1:
        cdef DWORD flags = 0
        if not GetHandleInformation(self._get(), &flags):
            raise_winerror(win32.GetLastError(), "GetHandleInformation")
        return (flags & flag) != 0

    cdef _set_flag(self, DWORD flag, bint on):
        if not SetHandleInformation(self._get(), flag, flag if on else 0):
            raise_winerror(win32.GetLastError(), "SetHandleInformation")

    @property
    def inheritable(self):
        return self._flag(HANDLE_FLAG_INHERIT)

    @inheritable.setter
    def inheritable(self, bint value):
        self._set_flag(HANDLE_FLAG_INHERIT, value)

    @property
    def protect_from_close(self):
        return self._flag(HANDLE_FLAG_PROTECT_FROM_CLOSE)

    @protect_from_close.setter
    def protect_from_close(self, bint value):
        self._set_flag(HANDLE_FLAG_PROTECT_FROM_CLOSE, value)

    # --- duplication ---

    def duplicate(self, long long access, bint inheritable):
        return self.duplicate_into(None, access, inheritable, False)

    def duplicate_into(self, target, long long access, bint inheritable, bint close_source):
        """DuplicateHandle into `target` (None: this process; ("pid", n); or a
        process handle); the new value there.  access -1 keeps the rights."""
        cdef HANDLE src = self._get()
        cdef HANDLE proc
        cdef HANDLE out = NULL
        cdef bint opened = False
        cdef DWORD options = 0
        cdef DWORD err = 0
        cdef BOOL ok
        if target is None:
            proc = GetCurrentProcess()
        elif isinstance(target, tuple):
            proc = _open_for_dup(target[1])
            opened = True
        else:
            proc = _h(target)
        if access == -1:
            options |= DUPLICATE_SAME_ACCESS
        if close_source:
            options |= DUPLICATE_CLOSE_SOURCE
        ok = DuplicateHandle(GetCurrentProcess(), src, proc, &out,
                             <DWORD>(0 if access == -1 else access), inheritable, options)
        err = win32.GetLastError()
        if close_source:
            self.h = NULL      # closed even when the duplication failed
        if opened:
            win32.CloseHandle(proc)
        if not ok:
            raise_winerror(err, "DuplicateHandle")
        return <size_t>out

    # --- mutex ---

    def mutex_acquire(self, long long ns):
        """WAIT_OBJECT_0 acquired, WAIT_TIMEOUT, or WAIT_ABANDONED: acquired
        from an owner that died."""
        return _wait(self._get(), ns)

    def mutex_release(self):
        if not ReleaseMutex(self._get()):
            raise_winerror(win32.GetLastError(), "ReleaseMutex")

    # --- event ---

    def event_wait(self, long long ns):
        return _wait(self._get(), ns) != WAIT_TIMEOUT

    def event_set(self):
        if not SetEvent(self._get()):
            raise_winerror(win32.GetLastError(), "SetEvent")

    def event_reset(self):
        if not ResetEvent(self._get()):
            raise_winerror(win32.GetLastError(), "ResetEvent")

    # --- semaphore ---

    def wait_start(self):
        """Start an asynchronous wait on this event, semaphore or mutex: a
        Waiting whose ``handle`` is set when it is over (see Waiting)."""
        self._get()
        if self.kind == K_MAPPING:
            raise TypeError("a file mapping cannot be waited on")
        return Waiting.start(self)

    def semaphore_wait(self, long long ns):
        return _wait(self._get(), ns) != WAIT_TIMEOUT

    def semaphore_release(self, long count):
        cdef long previous = 0
        if count < 1:
            raise ValueError("ReleaseSemaphore: count must be at least 1")
        if not ReleaseSemaphore(self._get(), count, &previous):
            raise_winerror(win32.GetLastError(), "ReleaseSemaphore")
        return previous

    # --- mapping ---

    @property
    def writable(self):
        return None        # Windows learns it by trying (see map)

    @property
    def size(self):
        cdef HANDLE h = self._get()
        cdef long long size = 0
        cdef void *p
        cdef MEMORY_BASIC_INFORMATION info
        if self._size >= 0:
            return self._size
        if wipc_section_size(h, &size) >= 0:
            self._size = size
            return size
        # Without SECTION_QUERY (a FILE_MAP_READ handle): the size of a whole
        # view, which is the section's size rounded up to a page.
        p = MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0)
        if p == NULL:
            raise_winerror(win32.GetLastError(), "MapViewOfFile")
        win32.VirtualQuery(p, &info, sizeof(info))
        UnmapViewOfFile(p)
        self._size = info.RegionSize
        return self._size

    def map(self, uint64_t offset, uint64_t length, write):
        """MapViewOfFile of `length` bytes at `offset` (0: to the end).  write
        None maps writable if the handle allows it, else read-only."""
        cdef HANDLE h = self._get()
        cdef uint64_t size = self.size
        cdef DWORD access
        cdef void *p
        cdef DWORD err
        if offset % ALLOCATION_GRANULARITY:
            raise ValueError(f"MapViewOfFile: offset {offset} is not a multiple of the "
                             f"allocation granularity ({ALLOCATION_GRANULARITY})")
        if offset >= size:
            raise ValueError(f"MapViewOfFile: offset {offset} is past the mapping's "
                             f"{size} bytes")
        if length == 0:
            length = size - offset
        if offset + length > size:
            raise ValueError(f"MapViewOfFile: {length} bytes at offset {offset} pass the "
                             f"mapping's {size} bytes")
        tries = [True, False] if write is None else [bool(write)]
        for w in tries:
            access = FILE_MAP_WRITE if w else FILE_MAP_READ
            p = MapViewOfFile(h, access, <DWORD>(offset >> 32), <DWORD>(offset & 0xFFFFFFFF),
                              <SIZE_T>length)
            err = win32.GetLastError()
            if p != NULL:
                break
            if not (write is None and w and err == ERROR_ACCESS_DENIED):
                raise_winerror(err, "MapViewOfFile",
                               "a writable view needs FILE_MAP_WRITE"
                               if err == ERROR_ACCESS_DENIED and w else None)
        cdef MappedView view = MappedView.__new__(MappedView)
        view.base = <char *>p
        view.start = <char *>p
        view.length = <Py_ssize_t>length
        view.readonly = not w
        return view


cdef HANDLE _open_for_dup(object pid) except NULL:
    cdef HANDLE proc = win32.OpenProcess(win32.PROCESS_DUP_HANDLE, False, <DWORD>pid)
    cdef DWORD err
    if proc == NULL:
        err = win32.GetLastError()
        # OpenProcess answers ERROR_INVALID_PARAMETER for a pid no process has.
        if err == ERROR_INVALID_PARAMETER:
            raise_winerror(err, "OpenProcess", f"no process {pid}", cls="NoSuchProcess")
        raise_winerror(err, "OpenProcess")
    return proc


cdef KObject _wrap(HANDLE h, int kind, long long size=-1):
    cdef KObject obj = KObject.__new__(KObject)
    obj.h = h
    obj.kind = kind
    obj._size = size
    return obj


def create(int kind, name, bint inheritable, long a=0, long b=0, uint64_t size=0):
    """(KObject, created): CreateMutexW/CreateEventW/CreateSemaphoreW/
    CreateFileMappingW; created is False when GetLastError() says
    ERROR_ALREADY_EXISTS right after the call."""
    cdef SECURITY_ATTRIBUTES sa
    sa.nLength = sizeof(sa)
    sa.lpSecurityDescriptor = NULL
    sa.bInheritHandle = inheritable
    cdef wchar_t *wname = wide(name) if name else NULL
    cdef HANDLE h = NULL
    cdef DWORD err = 0
    call = {K_MUTEX: "CreateMutexW", K_EVENT: "CreateEventW", K_SEMAPHORE: "CreateSemaphoreW",
            K_MAPPING: "CreateFileMappingW"}[kind]
    try:
        if kind == K_MUTEX:
            h = CreateMutexW(&sa, a != 0, wname)
        elif kind == K_EVENT:
            h = CreateEventW(&sa, a != 0, b != 0, wname)
        elif kind == K_SEMAPHORE:
            h = CreateSemaphoreW(&sa, a, b, wname)
        else:
            h = CreateFileMappingW(INVALID_HANDLE_VALUE, &sa, win32.PAGE_READWRITE,
                                   <DWORD>(size >> 32), <DWORD>(size & 0xFFFFFFFF), wname)
        err = win32.GetLastError()
    finally:
        if wname != NULL:
            PyMem_Free(wname)
    if h == NULL:
        if err == ERROR_INVALID_HANDLE:
            # Win32 reports a name held by another object type this way.
            raise_winerror(err, call, f"{name!r} is the name of another type of object",
                           cls="WrongObjectType")
        raise_winerror(err, call)
    created = err != ERROR_ALREADY_EXISTS
    return _wrap(h, kind, <long long>size if (kind == K_MAPPING and created) else -1), created


def open_object(int kind, str name, long long access, bint inheritable):
    """OpenMutexW/OpenEventW/OpenSemaphoreW/OpenFileMappingW."""
    cdef wchar_t *wname = wide(name)
    cdef HANDLE h = NULL
    cdef DWORD err = 0
    call = {K_MUTEX: "OpenMutexW", K_EVENT: "OpenEventW", K_SEMAPHORE: "OpenSemaphoreW",
            K_MAPPING: "OpenFileMappingW"}[kind]
    try:
        if kind == K_MUTEX:
            h = OpenMutexW(<DWORD>access, inheritable, wname)
        elif kind == K_EVENT:
            h = OpenEventW(<DWORD>access, inheritable, wname)
        elif kind == K_SEMAPHORE:
            h = OpenSemaphoreW(<DWORD>access, inheritable, wname)
        else:
            h = OpenFileMappingW(<DWORD>access, inheritable, wname)
        err = win32.GetLastError()
    finally:
        PyMem_Free(wname)
    if h == NULL:
        if err == ERROR_FILE_NOT_FOUND:
            raise_winerror(err, call, f"no object is named {name!r}", cls="ObjectNotFound")
        if err == ERROR_INVALID_HANDLE:
            raise_winerror(err, call, f"{name!r} is the name of another type of object",
                           cls="WrongObjectType")
        raise_winerror(err, call)
    return _wrap(h, kind)


def object_type(value):
    """The NT type name of handle `value` ("Event", "Mutant", "Section", ...)."""
    cdef wchar_t buf[128]
    cdef long st = wipc_object_type(_h(value), buf, 128)
    if st < 0:
        raise_winerror(ERROR_INVALID_HANDLE, "NtQueryObject",
                       f"{value:#x} is not an open handle in this process "
                       f"[NTSTATUS {st & 0xFFFFFFFF:#x}]", cls="InvalidHandle")
    return from_wide(buf)



def adopt(value, int kind):
    """Takes ownership of handle `value` as a `kind`; checks its type first."""
    found = object_type(value)
    if found != _NT_TYPES[kind]:
        raise_winerror(ERROR_INVALID_HANDLE, f"{KIND_NAMES[kind]}.from_handle",
                       f"handle {value:#x} is {_a(_NT_NAMES.get(found, found))}, "
                       f"not {_a(KIND_NAMES[kind])}", cls="WrongObjectType")
    return _wrap(_h(value), kind)


def pull(pid, value, int kind, long long access):
    """DuplicateHandle of handle `value` of process `pid` into this process."""
    cdef HANDLE proc = _open_for_dup(pid)
    cdef HANDLE out = NULL
    cdef BOOL ok = DuplicateHandle(proc, _h(value), GetCurrentProcess(), &out,
                                   <DWORD>(0 if access == -1 else access), False,
                                   DUPLICATE_SAME_ACCESS if access == -1 else 0)
    cdef DWORD err = win32.GetLastError()
    win32.CloseHandle(proc)
    if not ok:
        raise_winerror(err, "DuplicateHandle",
                       f"process {pid} has no handle {value:#x}"
                       if err == ERROR_INVALID_HANDLE else None,
                       cls="InvalidHandle" if err == ERROR_INVALID_HANDLE else None)
    return <size_t>out


include "view.pxi"
include "spawn.pxi"
include "waiting.pxi"
