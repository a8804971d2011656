"""Timeouts and spins as the backends take them: seconds become milliseconds
(calls) or nanoseconds (kernel waits), a wait's deadline and what is left of
it, and the spin every side may be given.

The rule every wait of winipc follows (README, "Timeouts"): a timeout is a
number of seconds >= 0, ``0`` polls, ``math.inf`` waits without end; a bool
is refused (``True`` is not "block").  ``None`` means that no timeout was
given: a connection's calls then take the connection's timeout, and the
waits that have no default (kernel objects) wait without end."""

from __future__ import annotations

import math
import time
from typing import Optional

from . import _rpc as _native

DEFAULT_TIMEOUT = 5.0
DEFAULT_TIMEOUT_MS = 5000
# How long a waiting side spins (µs) before it sleeps in the kernel: the
# native module's (doorbell.h).
DEFAULT_SPIN_US: int = _native.DEFAULT_SPIN_US
# The longest spin either side may be given: longer is a busy wait, not a spin.
MAX_SPIN_US: int = _native.MAX_SPIN_US
# A server's steady mode spans gaps of up to this many times its spin, unless
# told otherwise (doorbell.h).
STEADY_PER_SPIN: int = _native.STEADY_PER_SPIN
# A timeout of None waits this long (ms): the longest both backends take.
_FOREVER_MS = 0x7FFFFFFF
# A call waiting for another thread's to end looks at signals this often (s).
_TURN_SLICE = 0.05


# A kernel wait of this many seconds or more has no end (the backends take
# nanoseconds in 64 bits; this is 146 years).
_FOREVER_S = 2.0 ** 62 / 1e9


def _timeout_ms(timeout: Optional[float], param: str = "timeout") -> int:
    """Seconds (None or math.inf: no end) as the milliseconds the RPC
    backends take; a timeout longer than they take has no end either."""
    if timeout is None:
        return _FOREVER_MS
    ms = _seconds(timeout, param) * 1000
    return _FOREVER_MS if ms >= _FOREVER_MS else int(ms)


def _timeout_ns(timeout: Optional[float], param: str = "timeout") -> int:
    """Seconds (None or math.inf: no end) as the nanoseconds the kernel
    objects' waits take (-1: no end)."""
    if timeout is None:
        return -1
    s = _seconds(timeout, param)
    return -1 if s >= _FOREVER_S else int(s * 1e9)


def _given(value: object) -> str:
    """What a caller gave, for an error message: its type, and its value
    when that is short."""
    kind = type(value).__name__
    if isinstance(value, (bool, int, float, str, bytes)):
        text = repr(value)
        return f"{kind} {text}" if len(text) <= 40 else kind
    return kind


def _seconds(value: object, param: str) -> float:
    """``value`` checked as a number of seconds >= 0, ``math.inf`` included
    (TypeError or ValueError naming ``param`` and what was given)."""
    if isinstance(value, bool):
        raise TypeError(f"{param} is a number of seconds (or None), not {_given(value)}: "
                        "a bool is not a timeout")
    if not isinstance(value, (int, float)):
        raise TypeError(f"{param} is a number of seconds (or None), not {_given(value)}")
    if math.isnan(value) or value < 0:
        raise ValueError(f"{param} must be a number of seconds >= 0 or None, not {value!r}")
    return float(value)


# A spin argument (None: the default) checked by the native rule, worded
# with the argument's name.
_check_spin = _native.check_spin


def _deadline(ms: int) -> Optional[float]:
    """The monotonic time a wait of ``ms`` (as _timeout_ms gives) ends; None: never."""
    return None if ms >= _FOREVER_MS else time.monotonic() + ms / 1000


def _left(deadline: Optional[float]) -> Optional[float]:
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)

