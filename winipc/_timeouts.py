"""Timeouts and spins as the RPC backends take them: seconds (None: no end)
become milliseconds, a wait's deadline and what is left of it, and the spin
every side may be given."""

from __future__ import annotations

import time
from typing import Optional

from . import _rpc as _native

DEFAULT_TIMEOUT = 5.0
DEFAULT_TIMEOUT_MS = 5000
# How long a waiting side spins (µs) before it sleeps in the kernel; see the
# README ("The doorbell") for the measurement behind it.
DEFAULT_SPIN_US = 50
# The longest spin either side may be given: longer is a busy wait, not a spin.
MAX_SPIN_US: int = _native.MAX_SPIN_US
# A timeout of None waits this long (ms): the longest both backends take.
_FOREVER_MS = 0x7FFFFFFF
# A call waiting for another thread's to end looks at signals this often (s).
_TURN_SLICE = 0.05


def _timeout_ms(timeout: Optional[float]) -> int:
    """Seconds (None: no end) as the milliseconds the backends take."""
    if timeout is None:
        return _FOREVER_MS
    return min(int(_seconds(timeout, "timeout") * 1000), _FOREVER_MS)


def _seconds(value: object, param: str) -> float:
    """``value`` checked as a number of seconds >= 0 (TypeError or ValueError
    naming ``param``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{param} is a number of seconds (or None), not {type(value).__name__}")
    if value != value or value < 0:
        raise ValueError(f"{param} must be a number of seconds >= 0 or None, not {value!r}")
    return float(value)


def _check_spin(spin: Optional[int], name: str = "spin") -> None:
    if spin is not None and (isinstance(spin, bool) or not isinstance(spin, int)):
        raise TypeError(f"{name} is an int number of microseconds, not {type(spin).__name__}")
    if spin is not None and not 0 <= spin <= MAX_SPIN_US:
        raise ValueError(f"{name} is a number of microseconds from 0 to {MAX_SPIN_US}, "
                         f"not {spin!r}")


def _deadline(ms: int) -> Optional[float]:
    """The monotonic time a wait of ``ms`` (as _timeout_ms gives) ends; None: never."""
    return None if ms >= _FOREVER_MS else time.monotonic() + ms / 1000


def _left(deadline: Optional[float]) -> Optional[float]:
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)

