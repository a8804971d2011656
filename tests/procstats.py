"""Counts of what the current process holds, to find leaks.  Measurement
only: the platform differences end here."""

import os
import sys
import threading


def stats():
    """(open fds or handles, threads, bytes of private memory mapped)."""
    if sys.platform == "win32":
        import ctypes
        from ctypes import wintypes
        k32 = ctypes.WinDLL("kernel32", use_last_error=True)
        count = wintypes.DWORD()
        if not k32.GetProcessHandleCount(k32.GetCurrentProcess(), ctypes.byref(count)):
            raise ctypes.WinError(ctypes.get_last_error())
        return count.value, threading.active_count(), _win_private_bytes(k32)
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
