"""The facade's per-platform parts, one module per platform, chosen here once
at import (as ``multiprocessing`` picks its ``popen_*`` modules):
``_os_windows.py`` or ``_os_linux.py``.  Each exports

- ``Process``: the ``subprocess.Popen`` subclass that :class:`winipc.Child`
  builds on, with the platform's ``handle``;
- ``Launch(values, pass_handles, popen_kwargs)``: one start; it adds to the
  ``Popen`` arguments what makes the child inherit exactly ``values``, holds
  the values the child is told (``values``, ``message_payload``), finishes the
  start with ``started(child, timeout)`` and releases what it held with
  ``close()``;
- ``receive_values(payload, timeout)``: the child's side of "message" mode;
- ``duplicate(native, kind, into, access, inheritable, close_source)``: the
  handle of a kernel object (its native object, ``kind`` its class's name)
  for another process (``_KernelObject.duplicate``);
- ``describe_winerror(code)``, ``winerror_message(code, call, message)`` and
  ``errno_message(code, call, message)``: the platform's words for a Win32
  error, and the hint it adds to an error's message (elevation on Windows,
  ptrace access on Linux); this module gives them to ``_errors.py``
  (``set_platform_words``), which imports no platform module;
- ``wait_handle(handle, timeout)``, ``check_loop()`` and ``ALIVE_SLICE``: how
  asyncio waits for the platform's handles (``_aio.py``);
- ``tidy()``: removes what earlier processes of this user left behind and
  nothing holds any more, once per process (a server's start calls it).

It is also where the facade takes in the compiled modules ``_rpc`` and
``_kernel``, which import nothing of it (the layers only call downwards):
it gives each the error factory they raise their failures through,
``_errors.native_error`` (``_native/common/errors.pxi``).  winipc's
``__init__`` imports this module first of the facade, so that no other
module uses them without it.
"""

import sys

from . import _errors, _kernel, _rpc

_rpc.set_error_factory(_errors.native_error)
_kernel.set_error_factory(_errors.native_error)

if sys.platform == "win32":
    from ._os_windows import (ALIVE_SLICE, Launch, Process, check_loop, describe_winerror,
                              duplicate, errno_message, receive_values, tidy, wait_handle,
                              winerror_message)
else:
    from ._os_linux import (ALIVE_SLICE, Launch, Process, check_loop, describe_winerror,
                            duplicate, errno_message, receive_values, tidy, wait_handle,
                            winerror_message)

_errors.set_platform_words(describe_winerror, winerror_message, errno_message)

__all__ = ["ALIVE_SLICE", "Launch", "Process", "check_loop", "describe_winerror", "duplicate",
           "errno_message", "receive_values", "tidy", "wait_handle", "winerror_message"]
