"""The facade's Windows parts: process creation (what :func:`winipc.spawn`
needs beyond ``subprocess.Popen``) and handle duplication.  ``winipc/_os.py`` picks this module or
``_os_linux.py`` once, at import.

``subprocess.Popen`` does the start itself: ``CreateProcessW`` with
``bInheritHandles=TRUE`` and a ``PROC_THREAD_ATTRIBUTE_HANDLE_LIST``
(``STARTUPINFO(lpAttributeList={"handle_list": [...]})``), so the child
inherits the listed handles, its standard handles, and nothing else.  What
``subprocess`` lacks, and this module adds:

- every handle in the list must be inheritable: a listed handle that is not
  gets an inheritable duplicate for the start (the child is told that
  duplicate's value), closed right after;
- with no standard stream given, ``Popen`` passes no standard handles, and
  the child would get the values of handles the list kept from it: so the
  parent's standard input is named explicitly, and ``Popen`` then lists all
  three of the parent's standard handles, as the child needs;
- the "message" way of telling the child its values: the child starts
  suspended, its main thread (the only thread of a suspended new process) is
  found and resumed, and the values are posted to that thread after
  ``WaitForInputIdle`` (native code in ``_native/windows/spawn.pxi``).
"""

from __future__ import annotations

import msvcrt
import os
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Optional, Sequence

from . import _kernel as _native, _win32
from ._errors import NotSupported, error_from_winerror
from .constants import WinError
from ._timeouts import _timeout_ns

if TYPE_CHECKING:
    import asyncio

    from ._kernel import KObject
    from ._kobject import _ProcessRef

# Windows only (winipc/_os.py imports it there): type checkers skip the rest
# of the module for other platforms.
assert sys.platform == "win32"

__all__ = ["Process", "Launch", "receive_values"]


def _ns(timeout: float) -> int:
    """Seconds (math.inf: no end) as the nanoseconds the waits take (-1: no end)."""
    return _timeout_ns(timeout)


class Process(subprocess.Popen[Any]):
    """The Windows part of :class:`winipc.Child`: its process handle."""

    @property
    def handle(self) -> int:
        """The process handle (all access), valid for as long as this object
        lives, as ``subprocess`` keeps it."""
        return int(self._handle)          # type: ignore[attr-defined]  # Popen's own


class Launch:
    """One start of a child: the ``Popen`` arguments that make it inherit
    exactly ``values``, and the values it is told.  ``close()`` releases the
    temporary handles of the start; twice is harmless."""

    def __init__(self, values: Sequence[int], pass_handles: str | None,
                 kwargs: dict[str, Any]) -> None:
        self.values: list[int] = []
        self._temporary: list[int] = []
        self._fds: list[int] = []
        self._message = pass_handles == "message" and bool(values)
        self.message_payload = str(len(values))
        try:
            for v in values:
                if os.get_handle_inheritable(v):
                    self.values.append(v)
                else:
                    dup = _native.inheritable_copy(v)
                    self._temporary.append(dup)
                    self.values.append(dup)
            if all(kwargs.get(k) is None for k in ("stdin", "stdout", "stderr")):
                kwargs["stdin"] = self._parent_stdin()
            info = kwargs.get("startupinfo")
            info = subprocess.STARTUPINFO() if info is None else info.copy()
            attributes = dict(info.lpAttributeList or {})
            attributes["handle_list"] = list(attributes.get("handle_list", ())) + self.values
            info.lpAttributeList = attributes
            kwargs["startupinfo"] = info
            kwargs["close_fds"] = True
            if self._message:
                kwargs["creationflags"] = int(kwargs.get("creationflags", 0)) | _win32.CREATE_SUSPENDED
        except BaseException:
            self.close()
            raise

    def _parent_stdin(self) -> int:
        """An fd of (a copy of) this process's standard input, or DEVNULL if
        it has none."""
        h = _native.std_handle(0)
        if not h:
            return subprocess.DEVNULL
        copy = _native.inheritable_copy(h)
        try:
            fd = msvcrt.open_osfhandle(copy, os.O_RDONLY)
        except BaseException:
            _native.close_handle(copy)
            raise
        self._fds.append(fd)
        return fd

    def started(self, child: Process, timeout: float) -> None:
        """Right after ``CreateProcessW``: the temporary handles go; in
        "message" mode the child's main thread is resumed and told."""
        self.close()
        if not self._message:
            return
        tid = _native.resume_main_thread(child.pid)
        hproc = child.handle
        # WaitForInputIdle first, as the technique says; a console child has no
        # input-idle state and answers at once, so posts that find no message
        # queue yet are retried until the child makes one (inherited_handles()).
        _native.wait_for_input_idle(hproc, _ns(timeout))
        deadline = time.monotonic() + timeout
        for index, value in enumerate(self.values):
            while not _native.post_handle_message(tid, index, value):
                if child.poll() is not None:
                    raise error_from_winerror(
                        WinError.INVALID_THREAD_ID, "PostThreadMessageW", "the child exited before it read the "
                        "handle values (did it call winipc.inherited_handles()?)")
                if time.monotonic() >= deadline:
                    raise error_from_winerror(WinError.TIMEOUT, "PostThreadMessageW",
                                              "the child made no message queue in time")
                time.sleep(0.01)

    def close(self) -> None:
        fds, self._fds = self._fds, []
        for fd in fds:
            os.close(fd)
        temporary, self._temporary = self._temporary, []
        for h in temporary:
            _native.close_handle(h)

    def __enter__(self) -> Launch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def receive_values(payload: str, timeout: float) -> list[int]:
    """In the child, "message" mode: the ``payload`` (a count) values its
    parent posted to this thread, which must be the main thread."""
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("inherited_handles() waits for thread messages posted "
                           "to the main thread: call it there")
    return _native.receive_handle_messages(int(payload), _ns(timeout))


def duplicate(native: KObject, kind: str, into: int | _ProcessRef | None, access: int,
              inheritable: bool, close_source: bool) -> int:
    """The handle of kernel object ``native`` duplicated (DuplicateHandle)
    into process ``into``: None (this one), a pid, or an object with a
    process ``handle`` (a winipc.Process or a Child)."""
    target: int | tuple[str, int] | None
    if into is None:
        target = None
    elif isinstance(into, int):
        target = ("pid", into)
    else:
        target = int(into.handle)
    return native.duplicate_into(target, access, inheritable, close_source)


# Why Windows refuses these calls most often, though nothing in the code says
# so: the other process runs elevated, or at a higher integrity level.
ELEVATION_HINTS = {
    "OpenProcess": "the process may run elevated (as administrator) or at a higher "
                   "integrity level than this one: only a process at its level may open it",
    "DuplicateHandle": "the other process may run elevated (as administrator) or at a "
                       "higher integrity level than this one",
    "SendMessageTimeoutW": "User Interface Privilege Isolation drops messages to a window "
                           "of a higher integrity level (an elevated server) unless the "
                           "server allows them: Server(..., allow_lower_integrity=True)",
}



def describe_winerror(code: int) -> str:
    """The system's text for Win32 error ``code``."""
    import ctypes
    return ctypes.FormatError(code).strip()


def winerror_message(code: int, call: str, message: str) -> str:
    """An error's message, with why Windows refuses ``call`` most often when
    nothing says so (OSError itself shows "[WinError N]" here)."""
    if code == WinError.ACCESS_DENIED and call in ELEVATION_HINTS:
        message += f" ({ELEVATION_HINTS[call]})"
    return message


def errno_message(code: int, call: str, message: str) -> str:
    """An errno error's message, as it is: Windows adds no hint to one."""
    return message


# asyncio (winipc/_aio.py): the proactor's thread-pool wait for a handle.

def proactor(loop: asyncio.AbstractEventLoop) -> Any:
    """The loop's IOCP proactor, or NotSupported naming the loop."""
    # Any, not asyncio.windows_events.IocpProactor: typeshed has its
    # wait_for_handle take a PipeHandle and return a bool, where it takes a
    # handle value and seconds and returns a future.
    p = getattr(loop, "_proactor", None)
    if p is None or not hasattr(p, "wait_for_handle"):
        raise error_from_winerror(
            WinError.NOT_SUPPORTED, "RegisterWaitForSingleObject",
            f"winipc's asyncio waits on Windows need asyncio's ProactorEventLoop (the default "
            f"there); this loop is a {type(loop).__name__}, which cannot wait on a handle "
            f"without a thread", cls=NotSupported)
    return p


async def signalled(handle: int, timeout: Optional[float] = None) -> bool:
    """Until ``handle`` is signalled: True, or False after ``timeout``.

    Use it only on handles that a wait does not change: a manual-reset
    Event, a process, or an auto-reset Event whose state the caller
    re-checks elsewhere (the doorbell's).  The result is a hint: an
    auto-reset Event's signal is taken by the pool's wait, so True may also
    come back as False; callers look at the state the handle stands for."""
    import asyncio      # (loaded: this runs in a loop; not at winipc's import)

    loop = asyncio.get_running_loop()
    ms = None if timeout is None else max(timeout, 0.0)
    return bool(await proactor(loop).wait_for_handle(handle, ms))


wait_handle = signalled
# A dead server never sets the doorbell's Event: an asynchronous send looks
# this often (s) whether its window still exists, as a synchronous one does.
ALIVE_SLICE: Optional[float] = 0.1


def check_loop() -> None:
    """Raises at once when the running loop cannot wait for a handle."""
    import asyncio      # (loaded: this runs in a loop; not at winipc's import)

    proactor(asyncio.get_running_loop())


def tidy() -> None:
    """Nothing to do: Windows removes an object, and its name, when its last
    handle closes, also when a process ends."""
