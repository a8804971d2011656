"""What a call is given, checked before anything is sent: the message
number, and the struct, whose bytes go out and whose type (or ``out=``)
the answer comes back in."""

from __future__ import annotations

from typing import Any

from . import _rpc as _native

_CTYPES_DATA = _native.CTYPES_DATA


def _result_for(struct: Any, out: Any, method: str) -> tuple[Any, int]:
    """Where a call of ``struct`` reads its result back, holding ``struct``'s
    bytes, and its size: ``out`` (``struct`` itself for no copy at all), or
    a new object of ``struct``'s type (bytes-like in, bytearray out)."""
    if out is None:
        if isinstance(struct, _CTYPES_DATA):
            out = type(struct).from_buffer_copy(struct)
        elif isinstance(struct, type):
            raise TypeError(f"{method}() takes an instance to send, not the type "
                            f"{struct.__name__}")
        else:
            out = bytearray(_bytes_view(struct, method))
    elif out is not struct:
        data = _bytes_view(struct, method)
        try:
            into = memoryview(out).cast("B")
        except TypeError:
            raise TypeError(f"{method}() out= is a writable buffer (a ctypes instance, a "
                            f"bytearray) for the answer, not {type(out).__name__}") from None
        if into.readonly or into.nbytes != data.nbytes:
            raise ValueError(f"{method}() out= is a writable buffer of the struct's "
                             f"{data.nbytes} bytes; got a "
                             f"{'read-only ' if into.readonly else ''}{type(out).__name__} "
                             f"of {into.nbytes}")
        into[:] = data
    return out, (len(out) if type(out) is bytearray else memoryview(out).nbytes)


def _bytes_view(struct: Any, method: str) -> memoryview:
    """``struct``'s bytes: a ctypes instance or any bytes-like object; a
    TypeError that says what a call sends otherwise."""
    hint = ""
    if isinstance(struct, str):
        hint = " (text is sent as bytes: encode it first, for example text.encode())"
    elif isinstance(struct, int):
        hint = " (an int is not a size here: bytes(n) sends n zero bytes)"
    if not hint:
        try:
            return memoryview(struct).cast("B")
        except TypeError:
            pass
    raise TypeError(f"{method}() sends a ctypes instance or a bytes-like object (bytes, "
                    f"bytearray, memoryview, array) after the message number, not "
                    f"{type(struct).__name__}{hint}")


def _check_message(msg: Any, method: str) -> None:
    """A message number is an int (an IntEnum too); the first argument, so
    that swapped arguments get an error that says so."""
    if isinstance(msg, bool) or not isinstance(msg, int):
        raise TypeError(f"{method}() takes the message number first (an int), then the "
                        f"struct; got {type(msg).__name__} for the message")
