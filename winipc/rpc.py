"""Process-memory RPC: a server computes in place on a struct that a client
wrote into the server's own memory.

On Windows: FindWindowW, GetWindowThreadProcessId, OpenProcess,
VirtualAllocEx, WriteProcessMemory, SendMessageTimeoutW, ReadProcessMemory,
VirtualFreeEx.  On Linux: a named endpoint, pidfd_open, buffers the server
maps on request, process_vm_writev/readv and a synchronous request served by
one dispatch thread.

The parts, one concern each: ``_remote.py`` (the other process: its window,
the process, buffers inside it), ``_client.py`` (Connection), ``_server.py``
(Server, handlers), ``_notes.py`` (what a failed handler tells its sender),
``_timeouts.py`` (timeouts and spins as the backends take them).
"""

from __future__ import annotations

from . import _rpc as _native
from ._client import Connection, connect
from ._remote import (Access, Process, RemoteBuffer, Window, find_window, open_process,
                      sample_handlers)
from ._server import Server, caller_pid
from .constants import WM_USER

PreparedCall = _native.PreparedCall

# Names of this module beyond __all__ (re-exported explicitly, "X as X").
from ._remote import VM_ACCESS as VM_ACCESS, StructType as StructType, log as log
from ._server import NATIVE_HANDLER as NATIVE_HANDLER
from ._timeouts import (DEFAULT_SPIN_US as DEFAULT_SPIN_US, DEFAULT_TIMEOUT as DEFAULT_TIMEOUT,
                        DEFAULT_TIMEOUT_MS as DEFAULT_TIMEOUT_MS, MAX_SPIN_US as MAX_SPIN_US,
                        STEADY_PER_SPIN as STEADY_PER_SPIN)

__all__ = [
    "WM_USER", "Access", "Window", "Process", "RemoteBuffer", "Connection", "PreparedCall",
    "Server", "caller_pid", "connect", "find_window", "open_process", "sample_handlers",
    "BACKEND",
]

BACKEND: str = _native.BACKEND
