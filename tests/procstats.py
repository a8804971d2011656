"""Counts of what the current process holds, to find leaks.  Measurement
only: the platform differences end here."""

import os
import sys
import threading


def stats():
    """(open fds or handles, threads, bytes of private memory mapped).

    Windows: handles by GetProcessHandleCount, or, where that says 0 (Wine),
    by this process's entries in the system's handle table.  Private memory
    is summed from VirtualQuery, which Wine answers faithfully (its
    PrivateUsage counter is 0)."""
    if sys.platform == "win32":
        import ctypes
        from ctypes import wintypes
        k32 = ctypes.WinDLL("kernel32", use_last_error=True)
        count = wintypes.DWORD()
        if not k32.GetProcessHandleCount(k32.GetCurrentProcess(), ctypes.byref(count)):
            raise ctypes.WinError(ctypes.get_last_error())
        # Wine answers 0 here, always; the system's handle table counts there.
        handles = count.value or _win_handles_in_system_table()
        return handles, threading.active_count(), _win_private_bytes(k32)
    mapped = 0
    with open("/proc/self/maps") as fh:
        for line in fh:
            start, end = line.split()[0].split("-")
            mapped += int(end, 16) - int(start, 16)
    return (len(os.listdir("/proc/self/fd")), len(os.listdir("/proc/self/task")), mapped)


def _win_private_bytes(k32):
    """Committed private memory, summed over VirtualQuery's regions."""
    import ctypes

    class MBI(ctypes.Structure):
        _fields_ = [("BaseAddress", ctypes.c_void_p), ("AllocationBase", ctypes.c_void_p),
                    ("AllocationProtect", ctypes.c_uint32), ("PartitionId", ctypes.c_uint16),
                    ("RegionSize", ctypes.c_size_t), ("State", ctypes.c_uint32),
                    ("Protect", ctypes.c_uint32), ("Type", ctypes.c_uint32)]
    MEM_COMMIT, MEM_PRIVATE = 0x1000, 0x20000
    k32.VirtualQuery.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    k32.VirtualQuery.restype = ctypes.c_size_t
    mbi, address, total = MBI(), 0x10000, 0
    while k32.VirtualQuery(ctypes.c_void_p(address), ctypes.byref(mbi), ctypes.sizeof(mbi)):
        if mbi.State == MEM_COMMIT and mbi.Type == MEM_PRIVATE:
            total += mbi.RegionSize
        address = (mbi.BaseAddress or 0) + mbi.RegionSize
        if address >= 1 << 47:
            break
    return total


def win_handles_of(pid):
    """How many handles process ``pid`` holds (Windows): its entries in the
    system-wide handle table, which Wine keeps too."""
    return _win_handles_in_system_table(pid)


def _win_handles_in_system_table(pid=None):
    """A process's handles (this one's by default), counted in the
    system-wide handle table
    (NtQuerySystemInformation(SystemExtendedHandleInformation))."""
    import ctypes

    class Entry(ctypes.Structure):          # SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX
        _fields_ = [("Object", ctypes.c_void_p), ("UniqueProcessId", ctypes.c_size_t),
                    ("HandleValue", ctypes.c_size_t), ("GrantedAccess", ctypes.c_uint32),
                    ("CreatorBackTraceIndex", ctypes.c_uint16),
                    ("ObjectTypeIndex", ctypes.c_uint16), ("HandleAttributes", ctypes.c_uint32),
                    ("Reserved", ctypes.c_uint32)]

    class Head(ctypes.Structure):           # SYSTEM_HANDLE_INFORMATION_EX, before Handles
        _fields_ = [("NumberOfHandles", ctypes.c_size_t), ("Reserved", ctypes.c_size_t)]

    SystemExtendedHandleInformation = 64
    STATUS_INFO_LENGTH_MISMATCH = 0xC0000004
    ntdll = ctypes.WinDLL("ntdll")
    query = ntdll.NtQuerySystemInformation
    query.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong,
                      ctypes.POINTER(ctypes.c_ulong)]
    query.restype = ctypes.c_long
    size = 1 << 16
    for _ in range(32):
        buf = ctypes.create_string_buffer(size)
        needed = ctypes.c_ulong()
        status = query(SystemExtendedHandleInformation, buf, size, ctypes.byref(needed)) \
            & 0xFFFFFFFF
        if status == STATUS_INFO_LENGTH_MISMATCH:
            size = max(size * 2, needed.value + (1 << 16))
            continue
        if status:
            raise OSError(f"NtQuerySystemInformation(SystemExtendedHandleInformation) "
                          f"failed: NTSTATUS 0x{status:08X}")
        n = Head.from_buffer(buf).NumberOfHandles
        if ctypes.sizeof(Head) + n * ctypes.sizeof(Entry) > size:
            raise OSError("NtQuerySystemInformation(SystemExtendedHandleInformation) "
                          f"reported {n} handles, more than its buffer holds")
        entries = (Entry * n).from_buffer(buf, ctypes.sizeof(Head))
        pid = os.getpid() if pid is None else pid
        return sum(1 for e in entries if e.UniqueProcessId == pid)
    raise OSError("NtQuerySystemInformation(SystemExtendedHandleInformation): "
                  "the handle table kept growing")


def _stat_fields(path):
    """The fields of a /proc .../stat file after the name (proc(5)): the
    first is the state, field 3 of the page."""
    with open(path) as fh:
        return fh.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid, tid=None):
    """CPU seconds (user + system) process ``pid`` has used, or its thread
    ``tid`` (Linux /proc)."""
    fields = _stat_fields(f"/proc/{pid}/stat" if tid is None
                          else f"/proc/{pid}/task/{tid}/stat")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def running_on():
    """The CPU the calling thread runs on now (Linux /proc)."""
    return int(_stat_fields("/proc/thread-self/stat")[36])
