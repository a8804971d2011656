"""A client process that takes all a server lets it hold, from a process of
its own: python attack_bounds.py TITLE SECONDS SEED.  Prints
"bounds cycles C allocated A refused R connections N".

In cycles until SECONDS have passed: it opens many connections (Windows:
each with a doorbell), allocates buffers of every size on them, round robin,
until the server refuses each connection (the per-connection, per-process
and server-wide bounds of README's "What a client can make a server hold"),
holds them a moment and drops them all by closing its connections; the last
cycle's go when the process exits without closing anything.  On Linux the
allocations go on the wire, 64 at a time before their replies are read, as
fast as any client could ask.  Every refusal must be a documented one
(WinIPCError 8 or 1816, ServerFull); anything else exits 1."""

import os
import random
import socket
import struct
import sys
import time

import winipc

WINDOWS = sys.platform == "win32"
# Linux: buffers per connection and per process are bounded alike (4,096),
# so a few connections reach the process's bound; Windows: doorbells are
# bounded per process (32), so more are asked for than it may hold.
CONNECTIONS = 40 if WINDOWS else 4
# Mostly small (each is a mapping, or a section), some large (the byte bounds).
SIZES = [1, 1, 1, 8, 64, 4096, 4096, 1 << 20] + ([256 << 20] if WINDOWS else [1 << 30])
REFUSED = {8, 1816}         # ERROR_NOT_ENOUGH_MEMORY, ERROR_NOT_ENOUGH_QUOTA


def documented(error):
    """A refusal the README documents for a bound reached."""
    return isinstance(error, winipc.ServerFull) or (
        type(error) is winipc.WinIPCError and error.winerror in REFUSED)


REQUEST = struct.Struct("=IIQQQ")      # op, msg, seq, wparam, lparam
REPLY = struct.Struct("=QqQII")        # seq, result, value, error, pad


def hoard_on_the_wire(s, rng, deadline):
    """Linux: ALLOC requests on raw connection ``s``, 64 before their replies
    are read, until a one-byte buffer is refused -> (allocated, refused)."""
    allocated = refused = 0
    sizes = SIZES
    while time.monotonic() < deadline:
        asked = [rng.choice(sizes) for _ in range(64)]
        for i, size in enumerate(asked):
            s.sendall(REQUEST.pack(1, int(rng.random() < 0.3), i + 1, size, 0))
        small_refused = False
        for size in asked:
            data, anc, _, _ = s.recvmsg(REPLY.size, socket.CMSG_SPACE(4))
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    for fd in struct.unpack(f"{len(payload) // 4}i", payload[:len(payload) // 4 * 4]):
                        os.close(fd)    # the server keeps its mapping
            if len(data) != REPLY.size:
                raise SystemExit(f"attack_bounds: the server hung up ({data!r})")
            error = REPLY.unpack(data)[3]
            if not error:
                allocated += 1
            elif error in REFUSED:
                refused += 1
                sizes = [1]
                small_refused = small_refused or size == 1
            else:
                raise SystemExit(f"attack_bounds: ALLOC of {size} refused with error {error}")
        if small_refused:
            break
    return allocated, refused


def main():
    title, seconds, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    cycles = allocated = refused = opened = 0
    conns, bufs = [], []
    while time.monotonic() < deadline:
        for b in bufs:
            b._leave_allocated()        # the server frees them with the connection
            b.close()
        for c in conns:
            c.close()
        conns, bufs = [], []
        for _ in range(CONNECTIONS):
            try:
                conns.append(winipc.connect(title, timeout=30, shared=WINDOWS))
                opened += 1
            except winipc.WinIPCError as e:
                if not documented(e):
                    raise
                refused += 1
                break
        # A connection refused a large buffer goes on with small ones (the
        # bounds on their number), and leaves the round once refused those.
        if not WINDOWS:
            from winipc import _rpc
            for _ in range(len(conns)):
                raw = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                raw.connect(_rpc._title_link(title))     # (blocking: the queue may be full)
                raw.settimeout(30)
                got, no = hoard_on_the_wire(raw, rng, deadline)
                allocated, refused = allocated + got, refused + no
                conns.append(raw)
        live = {c: SIZES for c in conns if not isinstance(c, socket.socket)}
        i = 0
        while live and time.monotonic() < deadline:
            c = list(live)[i % len(live)]
            i += 1
            size = rng.choice(live[c])
            try:
                # Windows: only shared sections are the server's to bound
                # (VirtualAllocEx memory is the client's own doing).
                bufs.append(c.alloc(size, shared=WINDOWS or rng.random() < 0.5))
                allocated += 1
            except winipc.WinIPCError as e:
                if not documented(e):
                    raise
                refused += 1
                if size > 1:
                    live[c] = [1]
                else:
                    del live[c]
        cycles += 1
        time.sleep(rng.uniform(0.05, 0.3))
    print("bounds cycles", cycles, "allocated", allocated, "refused", refused,
          "connections", opened, flush=True)
    os._exit(0)                         # the last cycle's go with the process


if __name__ == "__main__":
    main()
