"""Structs and messages shared by the tests and their server processes."""

import ctypes

import winipc


class MyInfo(ctypes.Structure):
    _fields_ = [("red", ctypes.c_double), ("blue", ctypes.c_double)]


class Small(ctypes.Structure):
    _fields_ = [("value", ctypes.c_uint64)]


class Mixed(ctypes.Structure):
    _fields_ = [("count", ctypes.c_int32), ("scale", ctypes.c_double),
                ("name", ctypes.c_char * 20), ("flags", ctypes.c_uint16)]


class Stats(ctypes.Structure):
    """What a server process holds: fds or handles, threads, mapped bytes."""
    _fields_ = [("handles", ctypes.c_int64), ("threads", ctypes.c_int64),
                ("mapped", ctypes.c_int64),
                # what the server holds for clients (Server.held), within its bounds
                ("held_handles", ctypes.c_int64), ("held_bytes", ctypes.c_int64)]


WM_COMPARE = winipc.WM_USER + 100        # Python handler on MyInfo
WM_COMPARE_NATIVE = winipc.WM_USER + 101  # compiled handler (capsule) on MyInfo
WM_COMPARE_CTYPES = winipc.WM_USER + 102  # ctypes function pointer to compiled code
WM_BUMP = winipc.WM_USER + 103           # compiled: +1 on every byte, returns the size
WM_PYBUMP = winipc.WM_USER + 104         # Python on raw bytes: +1 on every byte
WM_SMALL = winipc.WM_USER + 105          # Python on Small: value * 3
WM_MIXED = winipc.WM_USER + 106          # Python on Mixed
WM_RAISE = winipc.WM_USER + 107          # Python handler that raises
WM_SLEEP = winipc.WM_USER + 108          # sleeps Small.value milliseconds
WM_EXIT = winipc.WM_USER + 109           # the server process exits mid-call
WM_STATS = winipc.WM_USER + 110          # fills Stats
WM_PID = winipc.WM_USER + 111            # returns the server's pid
WM_RESULT_OF = winipc.WM_USER + 112      # returns RESULTS[Small.value]
WM_COUNT = winipc.WM_USER + 113          # how many WM_COUNTs it has run, this one included
                                         # (its result, and in Small.value)
WM_CALLER = winipc.WM_USER + 114         # winipc.caller_pid() in the handler, -1 for None
# The fuzz harness's withdrawal races (above what its attackers send, WM_USER..+199):
WM_TALLY = winipc.WM_USER + 210          # Small: slot | sleep µs << 32; counts the slot's runs
WM_TALLY_READ = winipc.WM_USER + 211     # raw: 8-byte first slot, then each slot's runs (cleared)
TALLY_SLOTS = 4096
WM_HELD = winipc.WM_USER + 212           # fills only Stats.held_*: Server.held, cheap to ask often
WM_UNHANDLED = winipc.WM_USER + 999      # nobody handles it

# What WM_RESULT_OF's handler returns: only None and ints are results.
RESULTS = [None, 7, True, "12", 3.7, b"1"]      # nobody handles it
