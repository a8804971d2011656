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
    removes a name nobody else holds).  After ``fork()`` the child never
    releases what the parent owns."""

    _closed = True          # until a subclass's __init__ succeeds
    _owner_pid = 0

    def _opened(self) -> None:
        self._closed = False
        self._owner_pid = os.getpid()
        _open.add(self)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
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

    def __del__(self) -> None:
        if not self._closed and self._owner_pid == os.getpid():
            warnings.warn(f"unclosed {self!r}", ResourceWarning, source=self, stacklevel=2)
            try:
                self.close()
            except Exception:
                pass


_open: "weakref.WeakSet[Resource]" = weakref.WeakSet()


@atexit.register
def _close_at_exit() -> None:
    for obj in list(_open):
        try:
            obj.close()
        except Exception:
            pass
