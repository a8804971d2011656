"""Other IPC the benchmark compares winipc with, both halves: the server's in
winipc._bench_server's process, the client's in the benchmark's.

  sem+shm (peer)   two POSIX semaphores (posix_ipc) and a shared-memory block
                   (multiprocessing.shared_memory): the client writes the
                   bytes and posts, the server (Python) computes in place and
                   posts back.  The strongest handoff a Python program has
                   when both sides share one CPU (a futex each way).

  python spin (peer)
                   both sides pure Python on a shared-memory block: the client
                   writes the bytes and bumps a sequence word, the server (a
                   process of its own) spins on that word, computes, bumps
                   its answer word; the client spins on that.  What Python
                   alone gets from shared memory on two CPUs, burning both;
                   it spins only while its row is measured.

A peer whose library is missing is left out of the run, with the reason
printed (``pip install 'winipc[peers]'``).

    python -m winipc._bench_peers spin NAME SIZE [CPU,...]   the spinning server"""

from __future__ import annotations

import contextlib
import importlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, Callable, Optional

PEERS_EXTRA = "pip install 'winipc[peers]'"
SEM_ROW = "sem+shm (peer)"
SPIN_ROW = "python spin (peer)"
# The block's first 8 bytes: the length of the request (0: stop).
_HEADER = 8


def _buffer(shm: Any) -> memoryview:
    """A shared-memory block's memory (None only once it is closed)."""
    buf: Optional[memoryview] = shm.buf
    assert buf is not None
    return buf


def missing() -> Optional[str]:
    """Why the semaphore peer cannot run here, or None."""
    try:
        importlib.import_module("posix_ipc")
    except ImportError:
        return f"no posix_ipc ({PEERS_EXTRA}; POSIX systems only)"
    return None


def _names(title: str) -> tuple[str, str, str]:
    # POSIX names: one leading slash, no other; short (macOS allows 31).
    tag = title.rsplit("-", 1)[-1][:12]
    return f"/wb{tag}q", f"/wb{tag}r", f"wb{tag}m"


class SemServer:
    """The server half, on a thread of its own: made before the server says
    it is ready, removed when it stops."""

    def __init__(self, title: str, size: int, compute: Callable[[bytes], bytes]):
        import posix_ipc  # type: ignore[import-not-found,unused-ignore]  # no stubs
        from multiprocessing import shared_memory
        req, rep, mem = _names(title)
        self.req = posix_ipc.Semaphore(req, posix_ipc.O_CREX, mode=0o600)
        self.rep = posix_ipc.Semaphore(rep, posix_ipc.O_CREX, mode=0o600)
        self.shm = shared_memory.SharedMemory(mem, create=True, size=_HEADER + size)
        self.compute = compute
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        buf = _buffer(self.shm)
        while True:
            self.req.acquire()
            n = int.from_bytes(buf[:_HEADER], "little")
            if n == 0 or n > len(buf) - _HEADER:
                return
            buf[_HEADER:_HEADER + n] = self.compute(bytes(buf[_HEADER:_HEADER + n]))
            self.rep.release()

    def close(self) -> None:
        _buffer(self.shm)[:_HEADER] = bytes(_HEADER)
        self.req.release()
        self.thread.join(5)
        for sem in (self.req, self.rep):
            sem.unlink()
            sem.close()
        self.shm.close()
        self.shm.unlink()


class SemClient:
    """The client half: ``call(data)`` is one round trip, the answer bytes."""

    def __init__(self, title: str):
        import posix_ipc  # type: ignore[import-not-found,unused-ignore]  # no stubs
        from multiprocessing import resource_tracker, shared_memory
        req, rep, mem = _names(title)
        self.req, self.rep = posix_ipc.Semaphore(req), posix_ipc.Semaphore(rep)
        self.shm = shared_memory.SharedMemory(mem)
        # The server owns the block: this process must not unlink it at exit
        # (shared_memory registers every attach with the resource tracker).
        resource_tracker.unregister(self.shm._name, "shared_memory")  # type: ignore[attr-defined]
        self.buf = _buffer(self.shm)

    def call(self, data: Any) -> bytes:
        n = len(data)
        buf = self.buf
        buf[_HEADER:_HEADER + n] = data
        buf[:_HEADER] = n.to_bytes(_HEADER, "little")
        self.req.release()
        self.rep.acquire(30)            # a dead server: posix_ipc.BusyError
        return bytes(buf[_HEADER:_HEADER + n])

    def close(self) -> None:
        self.req.close()
        self.rep.close()
        del self.buf
        self.shm.close()


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
        argv = [sys.executable, "-P", "-m", "winipc._bench_peers", "spin", self.shm.name,
                str(size)]
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
    if len(sys.argv) > 4:
        if sys.platform == "win32":
            raise SystemExit("winipc._bench_peers: pinning to CPUs needs "
                             "os.sched_setaffinity, which Windows lacks")
        os.sched_setaffinity(0, {int(c) for c in sys.argv[4].split(",")})
    spin_server(sys.argv[2], int(sys.argv[3]))
