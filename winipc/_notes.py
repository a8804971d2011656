"""What a failed handler leaves at the start of its buffer (and whole in the
doorbell page, for a doorbell call): the server writes a note saying why
(_native/common/dispatch.pxi, for Python and compiled handlers alike); the
client's native call reads it back into the HandlerFailed it raises
(raise_refusal, in the same file)."""

from __future__ import annotations

from . import _rpc


def _write_note(address: int, size: int, text: str) -> None:
    """A failed Python handler's note, where a compiled one's goes: the
    start of its buffer, and the doorbell page (dispatch.pxi)."""
    _rpc.note_failure(address, size, text.encode("utf-8", "replace").replace(b"\0", b" "))
