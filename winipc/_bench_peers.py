"""Other IPC the benchmark compares winipc with, both halves: the server's in
winipc._bench_server's process, the client's in the benchmark's.

  sem+shm (peer)   two POSIX semaphores (posix_ipc) and a shared-memory block
                   (multiprocessing.shared_memory): the client writes the
                   bytes and posts, the server (Python) computes in place and
                   posts back.  The strongest handoff a Python program has
                   when both sides share one CPU (a futex each way).

  zmq req/rep (peer)
                   pyzmq: a REQ socket and a REP socket over ipc:// (a Unix
                   socket; TCP on loopback where libzmq has no ipc://, as on
                   Windows), the
                   server a Python thread blocked in recv().  REQ/REP, PAIR
                   and DEALER/ROUTER were measured alike at 16 B (REQ/REP and
                   PAIR the fastest, within noise): every message crosses
                   libzmq's I/O thread on each side.

  iceoryx2 (peer)  iceoryx2's request-response over its shared memory (a slice
                   of bytes each way), with an iceoryx2 event each way to wake
                   the other side (request-response alone has no blocking
                   wait): the client loans, writes, sends and notifies; the
                   server (a Python thread waiting on its listener) receives,
                   computes into a loaned response, sends and notifies.  Its
                   files live in a folder and under a name prefix of the run's
                   own, removed when the server stops.  A wake-up is lost now
                   and then under load (iceoryx2 0.10: the answer was there,
                   the client's listener slept on), so both sides look again
                   every _ICEORYX_RECHECK s: such a call shows in the p99.

A peer whose library is missing is left out of the run, with the reason
printed, each peer on its own (``pip install 'winipc[peers]'``).  The pure
Python spinning peer, which needs no library, is winipc._bench_spin's."""

from __future__ import annotations

import contextlib
import ctypes
import glob
import importlib
import os
import shutil
import tempfile
import threading
import time
from typing import Any, Callable, Optional

PEERS_EXTRA = "pip install 'winipc[peers]'"
SEM_ROW = "sem+shm (peer)"
SPIN_ROW = "python spin (peer)"
ZMQ_ROW = "zmq req/rep (peer)"
ICEORYX_ROW = "iceoryx2 (peer)"
# The peers the benchmark's server serves (winipc._bench_server), in the
# table's order: the module each needs, and where it is there.
SERVED = {
    SEM_ROW: ("posix_ipc", "posix_ipc", "; POSIX systems only"),
    ZMQ_ROW: ("zmq", "pyzmq", ""),
    ICEORYX_ROW: ("iceoryx2", "iceoryx2", ""),
}
# The block's first 8 bytes: the length of the request (0: stop).
_HEADER = 8
# Seconds a client waits for an answer before it calls the server gone.
_ANSWER_TIMEOUT = 30
# How often (s) iceoryx2's sides look for a request or an answer whose
# wake-up was lost (see above); idle, the server wakes this often.
_ICEORYX_RECHECK = 0.01


def _buffer(shm: Any) -> memoryview:
    """A shared-memory block's memory (None only once it is closed)."""
    buf: Optional[memoryview] = shm.buf
    assert buf is not None
    return buf


def missing() -> dict[str, Optional[str]]:
    """Why each peer the benchmark's server serves cannot run here (None: it
    can), by row."""
    out: dict[str, Optional[str]] = {}
    for row, (module, package, where) in SERVED.items():
        try:
            importlib.import_module(module)
        except ImportError as e:
            why = "" if isinstance(e, ModuleNotFoundError) and e.name == module else f": {e}"
            out[row] = f"no {package}{why} ({PEERS_EXTRA}{where})"
        else:
            out[row] = None
    return out


def server(row: str, title: str, size: int, compute: Callable[[bytes], bytes]) -> Any:
    """The server half of peer ``row`` (a row of SERVED), for requests up to
    ``size`` bytes; ``close()`` stops it and removes what it made."""
    kinds = {SEM_ROW: SemServer, ZMQ_ROW: ZmqServer, ICEORYX_ROW: IceoryxServer}
    return kinds[row](title, size, compute)


def client(row: str, title: str, size: int) -> Any:
    """The client half of peer ``row``, whose server ``server(row, title,
    size, ...)`` made: ``call(data)`` is one round trip, ``close()``."""
    if row == SEM_ROW:
        return SemClient(title)
    if row == ZMQ_ROW:
        return ZmqClient(title)
    return IceoryxClient(title, size)


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


# --- pyzmq ----------------------------------------------------------------------

def _zmq_path(title: str) -> str:
    return os.path.join(tempfile.gettempdir(), title + ".zmq")


class ZmqServer:
    """A REP socket, bound before the server says it is ready, answered on
    a thread of its own; ``close()`` ends the context, which ends the
    thread's recv(), and removes the socket's file.  Where libzmq has no
    ipc:// (Windows), TCP on loopback, on a port of the system's choosing
    written to that file for the client."""

    def __init__(self, title: str, size: int, compute: Callable[[bytes], bytes]):
        import zmq  # type: ignore[import-not-found,unused-ignore]  # not on every machine
        self.path = _zmq_path(title)
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.REP)
        self.socket.setsockopt(zmq.LINGER, 0)
        if zmq.has("ipc"):
            self.socket.bind(f"ipc://{self.path}")
        else:
            self.socket.bind("tcp://127.0.0.1:*")
            with open(self.path, "w", encoding="utf-8") as f:
                f.write(self.socket.getsockopt_string(zmq.LAST_ENDPOINT))
        self.compute = compute
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import zmq  # type: ignore[import-not-found,unused-ignore]  # not on every machine
        sock = self.socket
        try:
            while True:
                sock.send(self.compute(sock.recv()))
        except zmq.ContextTerminated:
            pass
        finally:
            sock.close(0)

    def close(self) -> None:
        self.context.term()         # returns once the thread has closed its socket
        self.thread.join(5)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class ZmqClient:
    """A REQ socket: ``call(data)`` sends and waits for the answer."""

    def __init__(self, title: str):
        import zmq  # type: ignore[import-not-found,unused-ignore]  # not on every machine
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.REQ)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RCVTIMEO, _ANSWER_TIMEOUT * 1000)   # zmq.Again
        path = _zmq_path(title)
        if zmq.has("ipc"):
            self.socket.connect(f"ipc://{path}")
        else:
            with open(path, encoding="utf-8") as f:
                self.socket.connect(f.read())

    def call(self, data: Any) -> bytes:
        self.socket.send(data)
        answer: bytes = self.socket.recv()
        return answer

    def close(self) -> None:
        self.socket.close(0)
        self.context.term()


# --- iceoryx2 -------------------------------------------------------------------

class _Iceoryx:
    """One side's iceoryx2 node, in the run's own folder and name prefix
    (wbTAG.iox2 in the temporary folder, wbTAG_ before every file and
    shared-memory name; short: an event's Unix socket is there, and its path
    may not pass 107 bytes): the request-response service of byte slices
    ``rr``, and the events ``req`` (the client rings the server) and ``rep``
    (back)."""

    def __init__(self, title: str, create: bool):
        import iceoryx2 as iox2  # type: ignore[import-untyped,import-not-found,unused-ignore]
        iox2.set_log_level_from_env_or(iox2.LogLevel.Error)
        self.iox2 = iox2
        tag = f"wb{title.rsplit('-', 1)[-1][:12]}"
        self.root = os.path.join(tempfile.gettempdir(), f"{tag}.iox2") + os.sep
        self.prefix = f"{tag}_"
        config = iox2.config.default()
        config.global_cfg.root_path = iox2.Path.new(self.root)
        config.global_cfg.prefix = iox2.FileName.new(self.prefix)
        # No signal handlers of iceoryx2's: Ctrl+C stays Python's.
        self.node = (iox2.NodeBuilder.new().config(config)
                     .signal_handling_mode(iox2.SignalHandlingMode.Disabled)
                     .create(iox2.ServiceType.Ipc))
        payload = iox2.Slice[ctypes.c_uint8]

        def service(name: str) -> Any:
            return self.node.service_builder(iox2.ServiceName.new(name))

        rr = service("rr").request_response(payload, payload)
        req, rep = service("req").event(), service("rep").event()
        self.rr, self.req, self.rep = ((b.create() if create else b.open())
                                       for b in (rr, req, rep))

    def drop(self, *ports: str) -> None:
        """Deletes ``ports`` (attributes, those made), then the services and the node."""
        for name in ports:
            if hasattr(self, name):
                getattr(self, name).delete()
                delattr(self, name)
        for name in ("rr", "req", "rep", "node"):
            if hasattr(self, name):
                delattr(self, name)

    def remove_files(self) -> None:
        """Removes the run's iceoryx2 folder and shared memory (what a node
        leaves behind even when every port, service and node is gone)."""
        shutil.rmtree(self.root, ignore_errors=True)
        for path in glob.glob(os.path.join("/dev/shm", glob.escape(self.prefix) + "*")):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


class IceoryxServer(_Iceoryx):
    """The server half, on a thread of its own, waiting on its listener
    between requests; ``close()`` rings it to stop, then removes the run's
    iceoryx2 folder and shared memory."""

    PORTS = ("wake", "notifier", "listener", "server")

    def __init__(self, title: str, size: int, compute: Callable[[bytes], bytes]):
        try:
            super().__init__(title, create=True)
            self.server = (self.rr.server_builder().initial_max_slice_len(max(size, 1))
                           .allocation_strategy(self.iox2.AllocationStrategy.PowerOfTwo)
                           .create())
            self.listener = self.req.listener_builder().create()
            self.notifier = self.rep.notifier_builder().create()
            self.wake = self.req.notifier_builder().create()      # close()'s
        except BaseException:
            if hasattr(self, "root"):
                self.drop(*self.PORTS)
                self.remove_files()
            raise
        self.compute = compute
        self.recheck = self.iox2.Duration.from_secs_f64(_ICEORYX_RECHECK)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            self.listener.timed_wait(self.recheck)
            if self.stopping:
                return
            while (request := self.server.receive()) is not None:
                n = request.payload().len()
                answer = self.compute(ctypes.string_at(request.payload_ptr, n))
                response = request.loan_slice_uninit(len(answer))
                ctypes.memmove(response.payload_ptr, answer, len(answer))
                response.assume_init().send()
                request.delete()
                self.notifier.notify()

    def close(self) -> None:
        self.stopping = True
        self.wake.notify()
        self.thread.join(5)
        self.drop(*self.PORTS)
        self.remove_files()


class IceoryxClient(_Iceoryx):
    """The client half: ``call(data)`` loans a request, writes, sends, rings
    the server and waits on its listener for the answer."""

    def __init__(self, title: str, size: int):
        super().__init__(title, create=False)
        self.client = (self.rr.client_builder().initial_max_slice_len(max(size, 1))
                       .allocation_strategy(self.iox2.AllocationStrategy.PowerOfTwo).create())
        self.notifier = self.req.notifier_builder().create()
        self.listener = self.rep.listener_builder().create()
        self.recheck = self.iox2.Duration.from_secs_f64(_ICEORYX_RECHECK)

    def call(self, data: Any) -> bytes:
        n = len(data)
        request = self.client.loan_slice_uninit(n)
        ctypes.memmove(request.payload_ptr, bytes(data), n)
        pending = request.assume_init().send()
        self.notifier.notify()
        deadline = time.monotonic() + _ANSWER_TIMEOUT
        while (response := pending.receive()) is None:
            if not self.listener.timed_wait(self.recheck) and time.monotonic() > deadline:
                raise RuntimeError(f"the {ICEORYX_ROW} server did not answer")
        answer = ctypes.string_at(response.payload_ptr, response.payload().len())
        response.delete()
        pending.delete()
        return answer

    def close(self) -> None:
        self.drop("listener", "notifier", "client")
