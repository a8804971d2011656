"""The base of every object that owns an operating-system resource."""

from __future__ import annotations

import atexit
import os
import warnings
import weakref
from typing import Self


class Resource:
    """Owns one release: ``close()`` performs it once (twice is harmless; if
    it raises, the object stays open), ``with`` performs it on exit, an
    object collected unclosed performs it with a :class:`ResourceWarning`,
    and what is still open when the interpreter exits is released then, as
    Windows closes a process's handles when it ends (on Linux that is what
    removes a name nobody else holds), with a :class:`ResourceWarning` too,
    as Python's own files say so.  After ``fork()`` the child never releases
    what the parent owns."""

    _closed = True          # until a subclass's __init__ succeeds
    _owner_pid = 0
    # Whether finding it open (collected, or at exit) is worth a
    # ResourceWarning: not for a part of another object, which that object
    # closes and warns about (a connection's process and buffers), nor for
    # what is meant to live as long as the process (a single-instance guard).
    _warns = True

    def _opened(self) -> None:
        self._closed = False
        self._owner_pid = os.getpid()
        _open.add(self)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Release what the object owns; closing it again does nothing."""
        if self._closed:
            return
        if self._owner_pid == os.getpid():
            self._release()
        self._closed = True
        _open.discard(self)

    def _release(self) -> None:
        raise NotImplementedError

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"I/O operation on closed {type(self).__name__}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unclosed(self) -> str:
        """What its ResourceWarning says."""
        return f"unclosed {self!r}"

    def __del__(self) -> None:
        if not self._closed and self._owner_pid == os.getpid():
            if self._warns:
                warnings.warn(self._unclosed(), ResourceWarning, source=self, stacklevel=2)
            try:
                self.close()
            except Exception:
                pass


_open: "weakref.WeakSet[Resource]" = weakref.WeakSet()


@atexit.register
def _close_at_exit() -> None:
    pid = os.getpid()
    for obj in list(_open):
        if obj._closed:
            continue        # closed meanwhile, with the object it is part of
        if obj._warns and obj._owner_pid == pid:
            try:
                warnings.warn(f"{obj._unclosed()} at exit; closing it now", ResourceWarning,
                              source=obj)
            except Exception:
                pass        # -W error: the exit goes on, and the object is closed
        try:
            obj.close()
        except Exception:
            pass
