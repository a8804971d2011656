"""winipc: Windows-style inter-process communication from Python.

Process-memory RPC (a client writes a struct into a server's memory, sends a
message, the server computes in place, the client reads the result) and
kernel objects shared between processes, on Windows and, on the nearest
native mechanisms, on Linux.  The backend is the compiled module of the
running platform (see ``BACKEND``).
"""

import sys as _sys


def _free_threaded() -> bool:
    """Whether this CPython is a free-threaded build: ``t`` in its ABI flags
    (POSIX; Windows from 3.14), else sysconfig's Py_GIL_DISABLED (Windows
    3.13; sysconfig costs ~1.5 ms to import, so only there)."""
    flags = getattr(_sys, "abiflags", None)
    if flags is None and _sys.version_info >= (3, 13):
        import sysconfig

        return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    return "t" in (flags or "")


# The compiled modules are built for the stable ABI (abi3), which a
# free-threaded CPython (3.13t, 3.14t) cannot load: on Linux it finds no
# module to import (it takes no .abi3.so), on Windows it would load modules
# built for another object layout.  Said here, before any is imported, and
# before _check_built(), which would take the missing modules for a source tree.
if _free_threaded():
    raise ImportError(
        "winipc's compiled modules are built for CPython's stable ABI (abi3), which "
        "the free-threaded build of CPython does not support: use a regular (GIL) "
        "build of CPython 3.11 or newer", name="winipc")


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

from . import _os  # noqa: F401  (first: it gives the compiled modules winipc's errors)
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
