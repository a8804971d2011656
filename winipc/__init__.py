"""winipc: Windows-style inter-process communication from Python.

Process-memory RPC (a client writes a struct into a server's memory, sends a
message, the server computes in place, the client reads the result) and
kernel objects shared between processes, on Windows and, on the nearest
native mechanisms, on Linux.  The backend is the compiled module of the
running platform (see ``BACKEND``).
"""


def _check_built() -> None:
    """A clear ImportError when this package has no compiled modules: Python
    runs in a source tree (a clone), whose winipc/ folder then shadows the
    installed package."""
    import importlib.util
    import os
    if importlib.util.find_spec(__name__ + "._win32") is not None:
        return
    here = os.path.dirname(os.path.abspath(__file__))
    raise ImportError(
        f"winipc is being imported from {here}, a source tree without its compiled modules "
        "(_win32, _rpc, _kernel): Python puts the current folder (or the script's) first "
        "on sys.path, so a clone's winipc/ shadows the installed package.  Run Python "
        "from another folder or with -P (python -P script.py), or install winipc first "
        "(scripts/setup.sh builds and installs it into .venv).", name=__name__)


_check_built()

from ._errors import (
    AbandonedMutex, AccessDenied, BufferTooSmall, CallTimeout, HandlerFailed,
    InvalidAddress, InvalidHandle, NoSuchProcess, NotOwner, NotSupported, ObjectNotFound,
    ServerFull, ServerGone, TooManyPosts, UnknownMessage, WindowNotFound, WinIPCError, WrongObjectType,
)
from .rpc import (
    BACKEND, WM_USER, Access, Connection, PreparedCall, Process, RemoteBuffer, Server, Window,
    caller_pid, connect, find_window, open_process, sample_handlers,
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
    "Window", "caller_pid", "connect", "find_window", "open_process", "sample_handlers",
    "WM_APP", "WinError", "WaitResult", "StandardAccess", "ProcessAccess", "MutexAccess",
    "EventAccess", "SemaphoreAccess", "FileMapAccess",
    *_kernel_all,
]
