"""The benchmark's pure Python peer, both halves:

  python spin (peer)
                   both sides pure Python on a shared-memory block: the client
                   writes the bytes and bumps a sequence word, the server (a
                   process of its own) spins on that word, computes, bumps
                   its answer word; the client spins on that.  What Python
                   alone gets from shared memory on two CPUs, burning both;
                   it spins only while its row is measured.

    python -m winipc._bench_spin NAME SIZE [CPU,...]   the spinning server"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

from ._bench_peers import SPIN_ROW, _buffer


# The spinning peer's block: request number, answer number, length, whether
# its row runs now (the server sleeps in between) and whether it stops, whether
# the server spins (it says so), then the bytes.
_REQ, _REP, _LEN, _ACTIVE, _STOP, _AWAKE, _DATA = 0, 8, 16, 24, 25, 26, 32
# Between its rows the server looks this often (s): seldom enough to leave
# the other rows undisturbed.
_IDLE_SLEEP = 0.005


def _word(buf: Any, at: int) -> int:
    return int.from_bytes(buf[at:at + 8], "little")


def spin_server(name: str, size: int) -> None:
    """The spinning peer's server: until its block says stop (length -1)."""
    from multiprocessing import resource_tracker, shared_memory
    shm = shared_memory.SharedMemory(name)
    if os.name == "posix":      # the client owns the block: not unlinked at our exit
        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
    plus_one = bytes((i + 1) & 0xFF for i in range(256))
    try:
        buf = _buffer(shm)
        last = 0        # a request may come before this process has started
        while True:
            if buf[_ACTIVE] == 0:
                buf[_AWAKE] = 0
                if buf[_STOP]:
                    return
                time.sleep(_IDLE_SLEEP)
                continue
            buf[_AWAKE] = 1
            seq = bytes(buf[_REQ:_REQ + 8])
            if _word(seq, 0) == last:
                continue
            last = _word(seq, 0)
            n = min(_word(buf, _LEN), size)
            buf[_DATA:_DATA + n] = bytes(buf[_DATA:_DATA + n]).translate(plus_one)
            buf[_REP:_REP + 8] = seq
    finally:
        del buf
        shm.close()


class SpinClient:
    """The client half, and the server process it starts (pinned to
    ``cpus`` if given); ``call(data)`` inside ``active()``."""

    def __init__(self, size: int, cpus: Sequence[int] = ()):
        from multiprocessing import shared_memory
        self.shm = shared_memory.SharedMemory(create=True, size=_DATA + size)
        self.buf = _buffer(self.shm)
        self.seq = 0
        argv = [sys.executable, "-P", "-m", "winipc._bench_spin", self.shm.name, str(size)]
        self.child = subprocess.Popen(argv + ([",".join(map(str, cpus))] if cpus else []),
                                      stdin=subprocess.DEVNULL)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        self.buf[_ACTIVE] = 1
        deadline = time.monotonic() + 30
        while not self.buf[_AWAKE]:
            if self.child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {SPIN_ROW} server did not start "
                                   f"(exit code {self.child.poll()})")
            time.sleep(_IDLE_SLEEP / 10)
        try:
            yield
        finally:
            self.buf[_ACTIVE] = 0

    def call(self, data: Any) -> bytes:
        buf = self.buf
        n = len(data)
        self.seq += 1
        seq = self.seq.to_bytes(8, "little")
        buf[_DATA:_DATA + n] = data
        buf[_LEN:_LEN + 8] = n.to_bytes(8, "little")
        buf[_REQ:_REQ + 8] = seq
        deadline = time.monotonic() + 30
        spins = 0
        while buf[_REP:_REP + 8] != seq:
            spins += 1
            if spins % 100000 == 0 and (self.child.poll() is not None
                                        or time.monotonic() > deadline):
                raise RuntimeError(f"the {SPIN_ROW} server did not answer "
                                   f"(exit code {self.child.poll()})")
        return bytes(buf[_DATA:_DATA + n])

    def close(self) -> None:
        self.buf[_STOP] = 1
        self.buf[_ACTIVE] = 0
        try:
            self.child.wait(10)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()
        del self.buf
        self.shm.close()
        self.shm.unlink()


if __name__ == "__main__":
    if len(sys.argv) > 3:
        if sys.platform == "win32":
            raise SystemExit("winipc._bench_spin: pinning to CPUs needs "
                             "os.sched_setaffinity, which Windows lacks")
        os.sched_setaffinity(0, {int(c) for c in sys.argv[3].split(",")})
    spin_server(sys.argv[1], int(sys.argv[2]))
