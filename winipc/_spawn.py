"""Child processes that inherit exactly the handles they are given, and learn
their values: spawn(), Child, and the child's side, inherited_handles()."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import _os
from ._errors import InvalidHandle, error_from_winerror
from ._timeouts import _seconds
from .constants import WinError

if TYPE_CHECKING:
    from ._kobject import _HasHandle

#: The environment variable through which :func:`spawn` tells a child how it
#: passed the handle values; :func:`inherited_handles` reads it.
HANDLES_ENV = "WINIPC_HANDLES"
#: The ways :func:`spawn` can tell a child its handle values; the first is the default.
PASS_HANDLES = ("env", "argv", "message", None)

# Popen arguments spawn decides itself: they would let the child inherit more
# (or fewer) handles than ``inherit=`` lists, or run ``argv`` through a shell.
_REFUSED = {
    "pass_fds": "list the handles in inherit= instead",
    "close_fds": "the child inherits exactly the handles in inherit=",
    "shell": "spawn runs argv without a shell",
}


def _argv_list(argv: object) -> list[Any]:
    if isinstance(argv, (str, bytes, os.PathLike)):
        raise TypeError(
            f"spawn() argv must be a list of arguments, the program first (such as "
            f"[sys.executable, 'child.py', '--name', 'job1']), not {type(argv).__name__} "
            f"{argv!r}; split a command line first (shlex.split)")
    try:
        items = list(argv)                                    # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"spawn() argv must be a list of arguments, not "
                        f"{type(argv).__name__}") from None
    if not items:
        raise ValueError("spawn() argv is empty: it needs at least the program")
    out = []
    for i, a in enumerate(items):
        try:
            out.append(os.fspath(a))
        except TypeError:
            raise TypeError(f"spawn() argv[{i}] must be str, bytes or os.PathLike, "
                            f"not {type(a).__name__}") from None
    return out


def _handle_of(obj: int | _HasHandle, index: int) -> int:
    """The handle value of ``inherit[index]``: a winipc kernel object's, or
    a value itself, which must be an open handle (Linux: fd) of this
    process."""
    if isinstance(obj, bool) or not (isinstance(obj, int) or hasattr(obj, "handle")):
        raise TypeError(f"spawn() inherit[{index}] is a winipc kernel object or a handle "
                        f"value (an int), not {type(obj).__name__}")
    value = obj if isinstance(obj, int) else int(obj.handle)
    try:
        if sys.platform == "win32":
            os.get_handle_inheritable(value)
        else:
            os.get_inheritable(value)
    except (OSError, OverflowError, ValueError):
        what = "handle" if sys.platform == "win32" else "fd"
        raise error_from_winerror(WinError.INVALID_HANDLE, "spawn",
                                  f"inherit[{index}] is {value}, which is not an open {what} "
                                  "of this process", cls=InvalidHandle) from None
    return value


class Child(_os.Process):
    """A process started by :func:`spawn`: a :class:`subprocess.Popen`, with
    ``stdin``/``stdout``/``stderr`` pipes, ``communicate()``, ``wait(timeout)``
    (``subprocess.TimeoutExpired``), ``poll()``, ``returncode``, ``kill()`` and
    ``pid``, plus ``handle`` (Windows: the process handle; Linux: a pidfd,
    closed once the child was waited for).  Nothing needs closing after
    ``wait()``.

    ``with child:`` is Popen's (closes the pipes, waits for the child), except
    that when the block raises, the child is killed first, so that an error
    never leaves the parent waiting for a child that waits for it.
    """

    def __init__(self, argv: Sequence[Any], *, inherit: Iterable[int | _HasHandle] = (),
                 pass_handles: str | None = "env", timeout: float = 10.0,
                 **popen_kwargs: Any) -> None:
        args = _argv_list(argv)
        if pass_handles not in PASS_HANDLES:
            raise ValueError(f"pass_handles is 'env' (the default), 'argv', 'message' or "
                             f"None, not {pass_handles!r}")
        timeout = _seconds(timeout, "spawn() timeout")
        for key, why in _REFUSED.items():
            if key in popen_kwargs:
                raise TypeError(f"spawn() takes no {key}=: {why}")
        values = [_handle_of(h, i) for i, h in enumerate(inherit)]
        sys.audit("winipc.spawn", args, values)
        env = popen_kwargs.get("env")
        env = dict(os.environ if env is None else env)
        env.pop(HANDLES_ENV, None)
        with _os.Launch(values, pass_handles, popen_kwargs) as launch:
            told = launch.values
            if pass_handles == "argv":
                args += [str(v) for v in told]
                env[HANDLES_ENV] = f"argv:{len(told)}"
            elif pass_handles == "env":
                env[HANDLES_ENV] = "env:" + ",".join(map(str, told))
            elif pass_handles == "message":
                env[HANDLES_ENV] = "message:" + launch.message_payload
            popen_kwargs["env"] = env
            super().__init__(args, **popen_kwargs)
            try:
                launch.started(self, timeout)
            except BaseException:
                self.kill()
                self.wait()
                raise

    def wait(self, timeout: float | None = None) -> int:
        """Popen's ``wait``: the exit code, or ``subprocess.TimeoutExpired``
        after ``timeout`` seconds (None: no end)."""
        if timeout is not None:
            _seconds(timeout, "Child.wait() timeout")
        return super().wait(timeout)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None and self.poll() is None:
            self.kill()
        super().__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return f"<winipc.Child pid={self.pid} returncode={self.returncode}>"


def spawn(argv: Sequence[Any], *, inherit: Iterable[int | _HasHandle] = (),
          pass_handles: str | None = "env", timeout: float = 10.0,
          **popen_kwargs: Any) -> Child:
    """Starts ``argv`` as a child that inherits exactly the handles in ``inherit``
    (objects or raw values), whatever their ``inheritable`` flag, and nothing
    else of this process's; and tells it their values.  Returns a
    :class:`Child`, a :class:`subprocess.Popen`.

    ``argv`` is a list, the program first; a string is refused with a
    ``TypeError`` (``subprocess`` would read it one way on Linux and another on
    Windows): split a command line with ``shlex.split`` first.

    ``pass_handles``, how the child learns the values (it reads them back, in
    ``inherit`` order, with :func:`inherited_handles`):

    - ``"env"`` (the default): in the environment variable ``WINIPC_HANDLES``;
      the command line stays exactly ``argv``;
    - ``"argv"``: appended to the command line (``sys.argv[1:]`` ends with them);
    - ``"message"``: by a message once the child is ready to read it (Windows:
      thread messages to its main thread, posted after ``WaitForInputIdle``;
      Linux: a line on an inherited socket), within ``timeout`` seconds;
    - ``None``: not at all.

    Every other keyword goes to ``subprocess.Popen`` (``stdin``, ``stdout``,
    ``stderr``, ``env``, ``cwd``, ``text``, ...), except ``pass_fds``,
    ``close_fds`` and ``shell``, which would change what the child inherits
    and are refused.  Windows: ``Popen`` with
    ``STARTUPINFO(lpAttributeList={"handle_list": [...]})``; Linux: ``Popen``
    with ``pass_fds``.  The parent may close its own handles as soon as
    ``spawn`` returns.
    """
    return Child(argv, inherit=inherit, pass_handles=pass_handles, timeout=timeout,
                 **popen_kwargs)


_received: list[int] | None = None


def inherited_handles(timeout: float = 10.0) -> list[int]:
    """The handle values a parent passed with :func:`spawn`, in its order
    (``[]`` if this process was not started that way).  In ``"message"`` mode
    the first call waits up to ``timeout`` seconds for the message and must run
    on the main thread (Windows posts to it)."""
    global _received
    _seconds(timeout, "inherited_handles() timeout")
    if _received is not None:
        return list(_received)
    spec = os.environ.pop(HANDLES_ENV, "")
    mode, _, payload = spec.partition(":")
    if not spec:
        values = []
    elif mode == "argv":
        n = int(payload)
        values = [int(a) for a in sys.argv[len(sys.argv) - n:]] if n else []
    elif mode == "env":
        values = [int(v) for v in payload.split(",") if v]
    elif mode == "message":
        values = _os.receive_values(payload, timeout)
    else:
        raise ValueError(f"{HANDLES_ENV}={spec!r} is not from winipc.spawn")
    _received = values
    return list(values)
