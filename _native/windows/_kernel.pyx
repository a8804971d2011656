# Kernel objects on Windows (the contract: _native/README.md; the user's view:
# docs/kernel-objects.md): the Win32 objects themselves, each handle owned by
# a KObject.  GetLastError() is read right after every call, before anything
# (the GIL, a Python allocation) can overwrite it.

from libc.stddef cimport wchar_t
from libc.stdint cimport uint64_t
from libc.string cimport memset
from cpython.buffer cimport PyBuffer_FillInfo, PyBUF_WRITABLE
from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from cpython.unicode cimport PyUnicode_AsWideCharString, PyUnicode_FromWideChar

cimport win32
from win32 cimport BOOL, DWORD, HANDLE, LPCWSTR, SIZE_T, MEMORY_BASIC_INFORMATION
from synchapi cimport *
from handleapi cimport *
from memoryapi cimport *
from processthreadsapi cimport *

from winipc._errors import (raise_winerror, AccessDenied, NoSuchProcess, WrongObjectType,
                            InvalidHandle, ObjectNotFound, error_from_winerror)

BACKEND = "windows"

cdef enum:
    K_MUTEX = 1
    K_EVENT = 2
    K_SEMAPHORE = 3
    K_MAPPING = 4

MUTEX, EVENT, SEMAPHORE, MAPPING = K_MUTEX, K_EVENT, K_SEMAPHORE, K_MAPPING
KIND_NAMES = {K_MUTEX: "Mutex", K_EVENT: "Event", K_SEMAPHORE: "Semaphore",
              K_MAPPING: "FileMapping"}
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

cdef enum:
    ERROR_ACCESS_DENIED_ = 5
    ERROR_INVALID_HANDLE_ = 6
    ERROR_INVALID_PARAMETER_ = 87
    ERROR_ALREADY_EXISTS_ = 183
    ERROR_TIMEOUT_ = 1460

# ntdll's object queries, found at run time (no import library needed).
cdef extern from *:
    """
    typedef struct { unsigned short Length, MaximumLength; wchar_t *Buffer; } wipc_ustr;
    typedef long (__stdcall *wipc_NtQueryObject)(HANDLE, int, void *, unsigned long,
                                                 unsigned long *);
    typedef long (__stdcall *wipc_NtQuerySection)(HANDLE, int, void *, SIZE_T, SIZE_T *);
    typedef struct { void *BaseAddress; unsigned long Attributes; LARGE_INTEGER Size; }
        wipc_section_basic;

    /* The object's type name (ObjectTypeInformation = 2) into buf; an NTSTATUS. */
    static long wipc_object_type(HANDLE h, wchar_t *buf, int cap) {
        static wipc_NtQueryObject q;
        unsigned char info[1024];
        unsigned long got = 0;
        long st;
        wipc_ustr *name = (wipc_ustr *)info;
        int n;
        if (!q) q = (wipc_NtQueryObject)(void *)GetProcAddress(
            GetModuleHandleW(L"ntdll.dll"), "NtQueryObject");
        if (!q) return (long)0xC0000002L; /* STATUS_NOT_IMPLEMENTED */
        st = q(h, 2, info, sizeof info, &got);
        if (st < 0) return st;
        n = name->Length / 2 < cap - 1 ? name->Length / 2 : cap - 1;
        memcpy(buf, name->Buffer, n * sizeof(wchar_t));
        buf[n] = 0;
        return 0;
    }

    /* A section's size (SectionBasicInformation = 0); needs SECTION_QUERY. */
    static long wipc_section_size(HANDLE h, long long *size) {
        static wipc_NtQuerySection q;
        wipc_section_basic info;
        SIZE_T got = 0;
        long st;
        if (!q) q = (wipc_NtQuerySection)(void *)GetProcAddress(
            GetModuleHandleW(L"ntdll.dll"), "NtQuerySection");
        if (!q) return (long)0xC0000002L;
        st = q(h, 0, &info, sizeof info, &got);
        if (st >= 0) *size = info.Size.QuadPart;
        return st;
    }
    """
    long wipc_object_type(HANDLE h, wchar_t *buf, int cap) nogil
    long wipc_section_size(HANDLE h, long long *size) nogil


cdef inline HANDLE _h(object value) except? NULL:
    return <HANDLE><size_t>value


cdef wchar_t *_wide(object text) except NULL:
    """``text`` as a NUL-terminated UTF-16 string; free with PyMem_Free."""
    return PyUnicode_AsWideCharString(text, NULL)


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


cdef class MappedView:
    """A view of a file mapping (MapViewOfFile): the buffer protocol, slicing,
    ``len()``, ``close()`` (UnmapViewOfFile; refused while a memoryview of it
    is alive) and ``with``."""

    cdef char *base           # what MapViewOfFile returned
    cdef char *start          # the user's first byte
    cdef Py_ssize_t length
    cdef readonly bint readonly
    cdef int exports

    def __cinit__(self):
        self.base = NULL

    def __dealloc__(self):
        if self.base != NULL:
            UnmapViewOfFile(self.base)
            self.base = NULL

    def __getbuffer__(self, Py_buffer *buffer, int flags):
        if self.base == NULL:
            raise ValueError("the view is closed")
        PyBuffer_FillInfo(buffer, self, self.start, self.length, self.readonly, flags)
        self.exports += 1

    def __releasebuffer__(self, Py_buffer *buffer):
        self.exports -= 1

    @property
    def closed(self):
        return self.base == NULL

    @property
    def address(self):
        return <size_t>self.start

    def close(self):
        if self.base == NULL:
            return
        if self.exports:
            raise BufferError("cannot close a view while a memoryview of it exists")
        cdef char *base = self.base
        self.base = NULL
        if not UnmapViewOfFile(base):
            raise_winerror(win32.GetLastError(), "UnmapViewOfFile")

    def __len__(self):
        return self.length

    def __getitem__(self, key):
        with memoryview(self) as m:
            item = m[key]
            return item.tobytes() if isinstance(item, memoryview) else item

    def __setitem__(self, key, value):
        if self.readonly:
            raise TypeError("cannot modify a read-only view")
        with memoryview(self) as m:
            m[key] = value

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self.base == NULL else f"address={<size_t>self.start:#x}"
        return f"<winipc.MappedView {self.length} bytes {state} readonly={self.readonly}>"


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
            raise_winerror(ERROR_INVALID_HANDLE_, "CloseHandle",
                           "the handle is protected from closing "
                           "(HANDLE_FLAG_PROTECT_FROM_CLOSE)", cls=InvalidHandle)
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
            if not (write is None and w and err == ERROR_ACCESS_DENIED_):
                raise_winerror(err, "MapViewOfFile",
                               "a writable view needs FILE_MAP_WRITE"
                               if err == ERROR_ACCESS_DENIED_ and w else None)
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
        if err == ERROR_INVALID_PARAMETER_:
            raise_winerror(err, "OpenProcess", f"no process {pid}", cls=NoSuchProcess)
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
    cdef wchar_t *wname = _wide(name) if name else NULL
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
        if err == ERROR_INVALID_HANDLE_:
            # Win32 reports a name held by another object type this way.
            raise_winerror(err, call, f"{name!r} is the name of another type of object",
                           cls=WrongObjectType)
        raise_winerror(err, call)
    created = err != ERROR_ALREADY_EXISTS_
    return _wrap(h, kind, <long long>size if (kind == K_MAPPING and created) else -1), created


def open_object(int kind, str name, long long access, bint inheritable):
    """OpenMutexW/OpenEventW/OpenSemaphoreW/OpenFileMappingW."""
    cdef wchar_t *wname = _wide(name)
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
        if err == 2:
            raise_winerror(err, call, f"no object is named {name!r}", cls=ObjectNotFound)
        if err == ERROR_INVALID_HANDLE_:
            raise_winerror(err, call, f"{name!r} is the name of another type of object",
                           cls=WrongObjectType)
        raise_winerror(err, call)
    return _wrap(h, kind)


def object_type(value):
    """The NT type name of handle `value` ("Event", "Mutant", "Section", ...)."""
    cdef wchar_t buf[128]
    cdef long st = wipc_object_type(_h(value), buf, 128)
    if st < 0:
        raise_winerror(ERROR_INVALID_HANDLE_, "NtQueryObject",
                       f"{value:#x} is not an open handle in this process "
                       f"[NTSTATUS {st & 0xFFFFFFFF:#x}]", cls=InvalidHandle)
    return _from_wide(buf)


def _a(str noun):
    return ("an " if noun[0] in "AEIOU" else "a ") + noun


cdef str _from_wide(wchar_t *w):
    """A NUL-terminated UTF-16 string (surrogate pairs joined)."""
    return PyUnicode_FromWideChar(w, -1)


def adopt(value, int kind):
    """Takes ownership of handle `value` as a `kind`; checks its type first."""
    found = object_type(value)
    if found != _NT_TYPES[kind]:
        raise_winerror(ERROR_INVALID_HANDLE_, f"{KIND_NAMES[kind]}.from_handle",
                       f"handle {value:#x} is {_a(_NT_NAMES.get(found, found))}, "
                       f"not {_a(KIND_NAMES[kind])}", cls=WrongObjectType)
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
                       if err == ERROR_INVALID_HANDLE_ else None,
                       cls=InvalidHandle if err == ERROR_INVALID_HANDLE_ else None)
    return <size_t>out


# --- processes -------------------------------------------------------------

def inheritable_copy(value):
    """An inheritable duplicate of handle `value` (for a child's handle list)."""
    cdef HANDLE out = NULL
    if not DuplicateHandle(GetCurrentProcess(), _h(value), GetCurrentProcess(), &out, 0,
                           True, DUPLICATE_SAME_ACCESS):
        raise_winerror(win32.GetLastError(), "DuplicateHandle")
    return <size_t>out


def close_handle(value):
    if not win32.CloseHandle(_h(value)):
        raise_winerror(win32.GetLastError(), "CloseHandle")


def std_handle(int which):
    """GetStdHandle(0, 1, 2 for input, output, error); 0 if there is none."""
    cdef HANDLE h
    if which == 0:
        h = GetStdHandle(<DWORD>STD_INPUT_HANDLE)
    elif which == 1:
        h = GetStdHandle(<DWORD>STD_OUTPUT_HANDLE)
    else:
        h = GetStdHandle(<DWORD>STD_ERROR_HANDLE)
    if h == INVALID_HANDLE_VALUE:
        return 0
    return <size_t>h


def resume_main_thread(DWORD pid):
    """Resumes the main thread of process `pid`, started suspended
    (CREATE_SUSPENDED), and returns its id: subprocess.Popen keeps only the
    process handle, and the thread messages of pass_handles="message" go to
    that thread.  A suspended new process has that one thread (Toolhelp's
    thread snapshot lists a process's threads in the order they started)."""
    cdef HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0)
    cdef THREADENTRY32 entry
    cdef DWORD tid = 0
    cdef DWORD err = 0
    cdef HANDLE thread
    cdef DWORD previous
    if snap == INVALID_HANDLE_VALUE:
        raise_winerror(win32.GetLastError(), "CreateToolhelp32Snapshot")
    memset(&entry, 0, sizeof(entry))
    entry.dwSize = sizeof(entry)
    try:
        if Thread32First(snap, &entry):
            while True:
                if entry.th32OwnerProcessID == pid:
                    tid = entry.th32ThreadID
                    break
                if not Thread32Next(snap, &entry):
                    break
    finally:
        win32.CloseHandle(snap)
    if tid == 0:
        raise_winerror(ERROR_INVALID_PARAMETER_, "Thread32Next",
                       f"process {pid} has no thread", cls=NoSuchProcess)
    thread = OpenThread(THREAD_SUSPEND_RESUME, False, tid)
    if thread == NULL:
        raise_winerror(win32.GetLastError(), "OpenThread")
    previous = ResumeThread(thread)
    err = win32.GetLastError()
    win32.CloseHandle(thread)
    if previous == <DWORD>-1:
        raise_winerror(err, "ResumeThread")
    return tid


def wait_for_input_idle(value, long long ns):
    """WaitForInputIdle: 0 idle, WAIT_TIMEOUT, or WAIT_FAILED (a console
    process without a message queue answers at once)."""
    cdef HANDLE h = _h(value)
    cdef DWORD ms = _ms(ns)
    cdef DWORD r
    with nogil:
        r = WaitForInputIdle(h, ms)
    return r


def post_handle_message(DWORD tid, size_t index, size_t value):
    """PostThreadMessageW(WM_WINIPC_HANDLE, index, value): True if posted, False
    while the thread has no message queue yet (ERROR_INVALID_THREAD_ID)."""
    if PostThreadMessageW(tid, WM_WINIPC_HANDLE, index, <win32.LPARAM>value):
        return True
    cdef DWORD err = win32.GetLastError()
    if err == ERROR_INVALID_THREAD_ID:
        return False
    raise_winerror(err, "PostThreadMessageW")


def receive_handle_messages(int count, long long ns):
    """The `count` values posted by post_handle_message to this (the main)
    thread, in index order; CallTimeout after `ns`."""
    cdef THREAD_MSG msg
    cdef unsigned long long deadline = GetTickCount64() + _ms(ns)
    cdef unsigned long long now
    cdef DWORD part
    got = {}
    # The first PeekMessage gives this thread its message queue: from then on
    # the parent's posts succeed and wait here.
    PeekMessageW(&msg, NULL, WM_WINIPC_HANDLE, WM_WINIPC_HANDLE, PM_NOREMOVE)
    while len(got) < count:
        while PeekMessageW(&msg, NULL, WM_WINIPC_HANDLE, WM_WINIPC_HANDLE, PM_REMOVE):
            got[<size_t>msg.wParam] = <size_t>msg.lParam
        if len(got) >= count:
            break
        now = GetTickCount64()
        if ns >= 0 and now >= deadline:
            raise_winerror(ERROR_TIMEOUT_, "PeekMessageW",
                           f"the parent sent {len(got)} of {count} handle values in time")
        part = 100 if ns < 0 else <DWORD>min(deadline - now, 100)
        with nogil:
            MsgWaitForMultipleObjects(0, NULL, False, part, QS_POSTMESSAGE)
        PyErr_CheckSignals()
    return [got[i] for i in sorted(got)][:count]


# --- asyncio ------------------------------------------------------------------
#
# An asynchronous wait registers the object with the thread pool
# (RegisterWaitForSingleObject: one pool thread waits for many handles, no
# thread per wait).  That thread's wait has the wait's effect: it takes a
# semaphore count or an auto-reset event's signal on the waiter's behalf
# (neither belongs to a thread), or becomes a mutex's owner, and then gives
# the mutex back at once (a mutex belongs to the thread that waited; the
# waiter's own thread takes it after).  The callback then sets an Event of
# the wait's own, which the event loop's proactor waits for; waiting on that
# Event has no effect, as the proactor requires.

cdef struct WaitContext:
    HANDLE object           # a duplicate: closing the object meanwhile is harmless
    HANDLE notify           # manual-reset: set once the callback has run
    int kind
    int fired


cdef void __stdcall _on_signalled(void *arg, unsigned char timed_out) noexcept nogil:
    cdef WaitContext *c = <WaitContext *>arg
    if c.kind == K_MUTEX:
        ReleaseMutex(c.object)
    c.fired = 1
    SetEvent(c.notify)


cdef extern from "windows.h" nogil:
    # https://learn.microsoft.com/en-us/windows/win32/api/libloaderapi/nf-libloaderapi-getprocaddress
    void *GetModuleHandleA(const char *lpModuleName)
    void *GetProcAddress(void *hModule, const char *lpProcName)


ctypedef long (__stdcall *NtQueryEventFn)(HANDLE, int, void *, unsigned long,
                                          unsigned long *) noexcept nogil


cdef bint _auto_reset(HANDLE h) noexcept:
    """Whether event ``h`` is auto-reset (NtQueryEvent's EventType is
    SynchronizationEvent); False when that cannot be told."""
    cdef long info[2]
    cdef unsigned long got = 0
    cdef NtQueryEventFn query = <NtQueryEventFn>GetProcAddress(GetModuleHandleA("ntdll"),
                                                               "NtQueryEvent")
    if query == NULL or query(h, 0, info, sizeof(info), &got) != 0:
        return False
    return info[0] == 1


cdef class Waiting:
    """One asynchronous wait: ``handle`` (an Event) is set when it is over;
    finish() or cancel() unregisters it and closes what it used."""
    cdef WaitContext c
    cdef HANDLE wait

    def __cinit__(self):
        memset(&self.c, 0, sizeof(WaitContext))
        self.wait = NULL

    @staticmethod
    cdef Waiting start(KObject obj):
        cdef Waiting self = Waiting.__new__(Waiting)
        cdef HANDLE me = GetCurrentProcess()
        self.c.kind = obj.kind
        if not DuplicateHandle(me, obj._get(), me, &self.c.object, 0, 0, DUPLICATE_SAME_ACCESS):
            raise_winerror(win32.GetLastError(), "DuplicateHandle")
        self.c.notify = CreateEventW(NULL, 1, 0, NULL)
        if self.c.notify == NULL:
            raise_winerror(win32.GetLastError(), "CreateEventW")
        if not RegisterWaitForSingleObject(&self.wait, self.c.object, _on_signalled, &self.c,
                                           INFINITE, WT_EXECUTEONLYONCE | WT_EXECUTEINWAITTHREAD):
            self.wait = NULL
            raise_winerror(win32.GetLastError(), "RegisterWaitForSingleObject")
        return self

    @property
    def handle(self):
        return <size_t>self.c.notify

    cdef void unregister(self) noexcept:
        cdef HANDLE w = self.wait
        self.wait = NULL
        if w != NULL:
            with nogil:
                # INVALID_HANDLE_VALUE: returns once a running callback is done.
                UnregisterWaitEx(w, INVALID_HANDLE_VALUE)

    cdef void release(self) noexcept:
        self.unregister()
        if self.c.notify != NULL:
            win32.CloseHandle(self.c.notify)
            self.c.notify = NULL
        if self.c.object != NULL:
            win32.CloseHandle(self.c.object)
            self.c.object = NULL

    def finish(self):
        """Once handle is set: WAIT_OBJECT_0 (taken; a mutex: it was free)."""
        self.release()
        return win32.WAIT_OBJECT_0

    def cancel(self):
        """Stop waiting; a count or an auto-reset signal the pool's wait had
        taken already is given back."""
        self.unregister()
        if self.c.fired:
            if self.c.kind == K_SEMAPHORE:
                ReleaseSemaphore(self.c.object, 1, NULL)
            elif self.c.kind == K_EVENT and _auto_reset(self.c.object):
                SetEvent(self.c.object)
        self.release()

    def __dealloc__(self):
        self.release()
