"""The benchmark's server process (winipc.bench starts it):

    python -P -m winipc._bench_server TITLE ADDRESS [--cpus=A,B] [--peer-size=N] [SPIN...]

Serves the compiled ``bump`` sample and a Python handler on the same bytes
as two windows: TITLE, whose serving thread spins for the next request
(the default), TITLE-nospin, which sleeps at once, and TITLE-steady, in
steady mode (STEADY_US); each reports the process's CPU time (WM_CPU) and
its serving thread's (WM_THREAD_CPU).  For each SPIN (µs) also TITLE-spinSPIN,
whose thread spins that long.  And it answers a plain multiprocessing pipe
at ADDRESS (the peer the round trip is compared with) until the pipe
closes.  --cpus pins the process to those CPUs before any thread starts;
--peer-size N serves the other peers of winipc._bench_peers (those whose
library is installed: the semaphores, pyzmq, iceoryx2) for requests up to N
bytes, each on a thread of its own that sleeps between requests.  It also serves the asyncio
rows' stream (winipc._bench_aio), and says where after "ready" on the pipe."""

import contextlib
import os
import sys
import time
from multiprocessing.connection import Client

import winipc
from winipc import _bench_aio, _bench_peers

WM_BUMP = winipc.WM_USER + 1          # compiled handler, in place
WM_PYBUMP = winipc.WM_USER + 2        # Python handler, in place
WM_CPU = winipc.WM_USER + 3           # the process's CPU time so far, in ns
WM_THREAD_CPU = winipc.WM_USER + 4    # the serving thread's CPU time so far, in ns
# The steady-mode window's steady (µs): it bridges every idle gap measured, calls
# to it coming one in three or four (the gap rows are interleaved).
STEADY_US = 100000
PLUS_ONE = bytes((i + 1) & 0xFF for i in range(256))


def serve(title: str, spin: "int | None", steady: "int | None" = None) -> winipc.Server:
    server = winipc.Server(title, spin=spin, steady=steady)
    server.handler(WM_BUMP, 1, native=winipc.sample_handlers()["bump"])

    @server.handler(WM_PYBUMP)
    def pybump(view: memoryview) -> int:
        view[:] = bytes(view).translate(PLUS_ONE)
        return len(view)

    @server.handler(WM_CPU, 8)
    def cpu(view: memoryview) -> int:
        return time.process_time_ns()

    @server.handler(WM_THREAD_CPU, 8)
    def thread_cpu(view: memoryview) -> int:
        return time.thread_time_ns()      # handlers run on the window's serving thread

    return server


def main(argv: "list[str] | None" = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    title, address = args[0], args[1]
    options = dict(a[2:].split("=", 1) for a in args[2:] if a.startswith("--"))
    if options.get("cpus"):
        if sys.platform == "win32":
            raise SystemExit("winipc._bench_server: --cpus needs os.sched_setaffinity, "
                             "which Windows lacks")
        os.sched_setaffinity(0, {int(c) for c in options["cpus"].split(",")})
    spins = [a for a in args[2:] if not a.startswith("--")]
    extra = [serve(f"{title}-spin{spin}", int(spin)) for spin in spins]
    with serve(title, None), serve(title + "-nospin", 0), \
            serve(title + "-steady", None, STEADY_US), contextlib.ExitStack() as stack:
        for server in extra:
            stack.enter_context(server)
        if options.get("peer-size"):
            for row, why_not in _bench_peers.missing().items():
                if why_not is None:
                    peer = _bench_peers.server(row, title, int(options["peer-size"]),
                                               lambda data: data.translate(PLUS_ONE))
                    stack.callback(peer.close)
        # The event loop's own floor, for the asyncio rows.
        stream = _bench_aio.StreamServer(title, lambda data: data.translate(PLUS_ONE))
        stack.callback(stream.close)
        # The peer: the same request and answer over a multiprocessing pipe.
        with Client(address) as pipe:       # the family follows from the address
            pipe.send_bytes(b"ready " + stream.address.encode())
            while True:
                try:
                    data = pipe.recv_bytes()
                except EOFError:
                    break
                pipe.send_bytes(data.translate(PLUS_ONE))


if __name__ == "__main__":
    main()
