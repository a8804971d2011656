"""The Win32 numbers of winipc's API, as enums: error codes (an error's
``winerror``), wait results, window messages and access rights per object
family.  The numbers are the native backend's (``winipc._win32``: windows.h on
Windows, the same values on Linux), written nowhere else.

An ``IntFlag`` combines with ``|``; rights of two families (say
``EventAccess.MODIFY_STATE | StandardAccess.SYNCHRONIZE``) combine too, into
an ``int`` of the left one's class, which every ``access=`` parameter takes.
"""

from __future__ import annotations

import enum

from . import _win32 as _w

__all__ = [
    "WM_USER", "WM_APP", "WinError", "WaitResult", "StandardAccess", "ProcessAccess",
    "MutexAccess", "EventAccess", "SemaphoreAccess", "FileMapAccess",
]

#: The first message number a window class may use for itself; RPC messages
#: are ``WM_USER + n``.
WM_USER: int = _w.WM_USER
#: The first message number an application may use for its own purposes.
WM_APP: int = _w.WM_APP


class WinError(enum.IntEnum):
    """The Win32 error codes winipc reports (an error's ``winerror``)."""
    FILE_NOT_FOUND = _w.ERROR_FILE_NOT_FOUND
    ACCESS_DENIED = _w.ERROR_ACCESS_DENIED
    INVALID_HANDLE = _w.ERROR_INVALID_HANDLE
    NOT_ENOUGH_MEMORY = _w.ERROR_NOT_ENOUGH_MEMORY
    INVALID_DATA = _w.ERROR_INVALID_DATA
    NOT_SUPPORTED = _w.ERROR_NOT_SUPPORTED
    INVALID_PARAMETER = _w.ERROR_INVALID_PARAMETER
    INSUFFICIENT_BUFFER = _w.ERROR_INSUFFICIENT_BUFFER
    ALREADY_EXISTS = _w.ERROR_ALREADY_EXISTS
    PIPE_NOT_CONNECTED = _w.ERROR_PIPE_NOT_CONNECTED
    NOT_OWNER = _w.ERROR_NOT_OWNER
    TOO_MANY_POSTS = _w.ERROR_TOO_MANY_POSTS
    PARTIAL_COPY = _w.ERROR_PARTIAL_COPY
    INVALID_ADDRESS = _w.ERROR_INVALID_ADDRESS
    UNHANDLED_EXCEPTION = _w.ERROR_UNHANDLED_EXCEPTION
    NOACCESS = _w.ERROR_NOACCESS
    INVALID_MESSAGE = _w.ERROR_INVALID_MESSAGE
    NOT_FOUND = _w.ERROR_NOT_FOUND
    CONNECTION_COUNT_LIMIT = _w.ERROR_CONNECTION_COUNT_LIMIT
    INVALID_WINDOW_HANDLE = _w.ERROR_INVALID_WINDOW_HANDLE
    INVALID_THREAD_ID = _w.ERROR_INVALID_THREAD_ID
    TIMEOUT = _w.ERROR_TIMEOUT
    NOT_ENOUGH_QUOTA = _w.ERROR_NOT_ENOUGH_QUOTA


class WaitResult(enum.IntEnum):
    """What a wait on a kernel object ends with (WaitForSingleObject's
    values; the native backends return these)."""
    OBJECT_0 = _w.WAIT_OBJECT_0          # signalled (a mutex: now owned)
    ABANDONED = _w.WAIT_ABANDONED        # a mutex whose owner died: now owned
    TIMEOUT = _w.WAIT_TIMEOUT


class StandardAccess(enum.IntFlag):
    """The access rights every kind of object has."""
    DELETE = _w.DELETE
    READ_CONTROL = _w.READ_CONTROL
    WRITE_DAC = _w.WRITE_DAC
    WRITE_OWNER = _w.WRITE_OWNER
    SYNCHRONIZE = _w.SYNCHRONIZE
    REQUIRED = _w.STANDARD_RIGHTS_REQUIRED


class ProcessAccess(enum.IntFlag):
    """Access rights to a process (what ``open_process`` asks for)."""
    VM_OPERATION = _w.PROCESS_VM_OPERATION
    VM_READ = _w.PROCESS_VM_READ
    VM_WRITE = _w.PROCESS_VM_WRITE
    DUP_HANDLE = _w.PROCESS_DUP_HANDLE
    QUERY_LIMITED_INFORMATION = _w.PROCESS_QUERY_LIMITED_INFORMATION
    SYNCHRONIZE = _w.SYNCHRONIZE


class MutexAccess(enum.IntFlag):
    """Access rights to a mutex."""
    MODIFY_STATE = _w.MUTEX_MODIFY_STATE
    SYNCHRONIZE = _w.SYNCHRONIZE
    ALL_ACCESS = _w.MUTEX_ALL_ACCESS


class EventAccess(enum.IntFlag):
    """Access rights to an event."""
    MODIFY_STATE = _w.EVENT_MODIFY_STATE
    SYNCHRONIZE = _w.SYNCHRONIZE
    ALL_ACCESS = _w.EVENT_ALL_ACCESS


class SemaphoreAccess(enum.IntFlag):
    """Access rights to a semaphore."""
    MODIFY_STATE = _w.SEMAPHORE_MODIFY_STATE
    SYNCHRONIZE = _w.SYNCHRONIZE
    ALL_ACCESS = _w.SEMAPHORE_ALL_ACCESS


class FileMapAccess(enum.IntFlag):
    """Access rights to a file mapping (and what a view may do)."""
    COPY = _w.FILE_MAP_COPY
    WRITE = _w.FILE_MAP_WRITE
    READ = _w.FILE_MAP_READ
    EXECUTE = _w.FILE_MAP_EXECUTE
    ALL_ACCESS = _w.FILE_MAP_ALL_ACCESS
