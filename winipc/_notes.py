"""What a failed handler leaves at the start of its buffer (and whole in the
doorbell page, for a doorbell call), and what the sender makes of it: the
server writes a note saying why (_native/common/dispatch.pxi, for Python
and compiled handlers alike), the client reads it back into the
HandlerFailed it raises."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from . import _rpc
from ._errors import BufferTooSmall, HandlerFailed, WinIPCError, error_from_winerror

if TYPE_CHECKING:
    from ._remote import RemoteBuffer

# A failed handler's buffer starts with a note saying why, at most
# _NOTE_MAX bytes: its format is the native module's (dispatch.pxi), which
# writes and reads it.
_NOTE_MAX: int = _rpc.NOTE_LIMIT


def _write_note(address: int, size: int, text: str) -> None:
    """A failed Python handler's note, where a compiled one's goes: the
    start of its buffer, and the doorbell page (dispatch.pxi)."""
    _rpc.note_failure(address, size, text.encode("utf-8", "replace").replace(b"\0", b" "))


def _read_note(buffer: "RemoteBuffer[Any]", size: int) -> Optional[str]:
    """The failure note at the start of ``buffer`` (``size`` bytes sent), if any."""
    try:
        raw = buffer.read(min(size, _NOTE_MAX))
    except (OSError, ValueError):
        return None
    return _rpc.read_note(raw)


def _explained(error: WinIPCError, msg: int, buffer: "RemoteBuffer[Any]", size: int
               ) -> WinIPCError:
    """``error`` (the server refused message ``msg`` on ``size`` bytes of
    ``buffer``) with what the client can say about it."""
    if isinstance(error, HandlerFailed):
        # A doorbell call's note came whole in the page; else the buffer's.
        note = error.handler_error
        if note is None:
            note = _read_note(buffer, size)
        if note is None:
            return error
        detail = f"the handler of message {msg:#x} failed: {note}"
    elif isinstance(error, BufferTooSmall):
        detail = (f"the handler of message {msg:#x} needs more than the {size} bytes "
                  f"sent (wParam {size})")
    else:
        return error
    new = error_from_winerror(error.winerror or 0, error.call or "SendMessageTimeoutW", detail)
    if isinstance(new, HandlerFailed):
        new.handler_error = note
    return new
