"""winipc: Windows-style inter-process communication from Python.

Process-memory RPC (a client writes a struct into a server's memory, sends a
message, the server computes in place, the client reads the result) and
kernel objects shared between processes, on Windows and, on the nearest
native mechanisms, on Linux.  The backend is the compiled module of the
running platform (see ``BACKEND``).
"""

from ._errors import (
    AbandonedMutex, AccessDenied, BufferTooSmall, CallTimeout, HandlerFailed,
    InvalidAddress, InvalidHandle, NoSuchProcess, NotOwner, NotSupported, ObjectNotFound,
    ServerFull, ServerGone, TooManyPosts, UnknownMessage, WindowNotFound, WinIPCError, WrongObjectType,
)
from .rpc import (
    BACKEND, WM_USER, Access, Connection, PreparedCall, Process, RemoteBuffer, Server, Window,
    connect, find_window, open_process, sample_handlers,
)
from .constants import (
    EventAccess, FileMapAccess, MutexAccess, ProcessAccess, SemaphoreAccess, StandardAccess,
    WaitResult, WinError, WM_APP,
)
from .kernel import *  # noqa: F401,F403  (Mutex, Event, Semaphore, FileMapping, spawn, ...)
from .kernel import __all__ as _kernel_all

__version__ = "0.1.0"

__all__ = [
    "AbandonedMutex", "AccessDenied", "BufferTooSmall", "CallTimeout", "HandlerFailed",
    "InvalidAddress", "InvalidHandle", "NoSuchProcess", "NotOwner", "NotSupported",
    "ObjectNotFound", "ServerFull", "ServerGone", "TooManyPosts", "UnknownMessage", "WindowNotFound",
    "WinIPCError", "WrongObjectType",
    "BACKEND", "WM_USER", "Access", "Connection", "PreparedCall", "Process", "RemoteBuffer",
    "Server",
    "Window", "connect", "find_window", "open_process", "sample_handlers",
    "WM_APP", "WinError", "WaitResult", "StandardAccess", "ProcessAccess", "MutexAccess",
    "EventAccess", "SemaphoreAccess", "FileMapAccess",
    *_kernel_all,
]
