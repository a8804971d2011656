"""Hostile traffic on a winipc server's Linux endpoint, from a process of its
own: python attack_linux.py TITLE SECONDS SEED.  Prints "messages N" and
"rings N" (how many of them did something to a doorbell's ring).

Everything a same-user client can do on the wire: random bytes, requests
with any op, message, size and address, fds attached to any message, a
doorbell page full of garbage, its ring (the pipe the server reads)
written, filled, made blocking or closed, allocation up to the limits and
beyond, requests whose replies are never read, and abrupt hang-ups.

    python attack_linux.py --kick TITLE SECONDS SEED

floods the server's standby socket instead (the datagram socket beside its
endpoint that clients kick when a request waits behind a running handler):
bursts of empty datagrams, as fast as they go, with short pauses.  Prints
"kicks N"."""

import fcntl
import mmap
import os
import stat
import random
import socket
import struct
import sys
import time

from winipc import _rpc

REQUEST = struct.Struct("=IIQQQ")      # op, msg, seq, wparam, lparam
REPLY = struct.Struct("=QqQII")        # seq, result, value, error, pad
OPS = range(0, 9)                      # the real ones are 1..7
WM_USER = 0x400
# The test server's own handlers that end it or sleep on request: an attack
# on the library, not on those, leaves them alone.
SPARED = {WM_USER + 108, WM_USER + 109}


def message(rng):
    while True:
        msg = rng.choice([0, 1, WM_USER + rng.randrange(200), rng.getrandbits(32)])
        if msg not in SPARED:
            return msg


def wild(rng, known):
    """An address or size an attacker might try."""
    return rng.choice([
        0, 1, 8, 16, 4096, (1 << 64) - 1, (1 << 63), (1 << 47), 0x7FFF_FFFF_FFFF,
        rng.getrandbits(64), rng.getrandbits(32), rng.getrandbits(12),
        *(a + rng.choice([-8, -1, 0, 1, 8, 4088, 4096, 1 << 20]) & ((1 << 64) - 1)
          for a in known[-4:]),
    ])


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.s.connect(path)
        self.s.setblocking(False)
        self.addresses = []
        self.bell = None
        self.ring = None        # the write end of the doorbell's ring, once given

    def send(self, data, fds=()):
        try:
            self.s.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                     struct.pack(f"{len(fds)}i", *fds))] if fds else [])
            return True
        except (BlockingIOError, BrokenPipeError, ConnectionResetError, OSError):
            return False

    def drain(self):
        """Read what replies there are; keep addresses, map doorbells."""
        while True:
            try:
                data, anc, _, _ = self.s.recvmsg(64, socket.CMSG_SPACE(16 * 4))
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return False
            if not data:
                return False
            fds = []
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds += struct.unpack(f"{len(payload) // 4}i", payload[:len(payload) // 4 * 4])
            if len(data) == REPLY.size:
                seq, result, value, error, _ = REPLY.unpack(data)
                if not error and value:
                    self.addresses.append(value)
                    del self.addresses[:-16]
            for fd in fds:
                st = os.fstat(fd)
                writable = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY
                if self.ring is None and stat.S_ISFIFO(st.st_mode) and writable:
                    self.ring = fd          # the ring's write end, to abuse
                    continue
                try:
                    if self.bell is None and st.st_size == 4096:
                        self.bell = mmap.mmap(fd, 4096)
                finally:
                    os.close(fd)

    def abuse_ring(self, rng):
        """Ring, fill the ring, make it blocking, or close it."""
        what = rng.random()
        flags = fcntl.fcntl(self.ring, fcntl.F_GETFL)
        if what < 0.8:          # (this side's own writes never wait)
            fcntl.fcntl(self.ring, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        try:
            if what < 0.6:
                os.write(self.ring, os.urandom(rng.choice([1, 1, 8, 4096])))
            elif what < 0.8:
                while True:
                    os.write(self.ring, b"x" * 65536)
            elif what < 0.9:
                # Blocking until this side's next write: the server's read
                # end is an open file of its own, which this does not touch.
                fcntl.fcntl(self.ring, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
            else:
                os.close(self.ring)
                self.ring = None
        except BlockingIOError:
            pass
        except OSError:         # the server dropped this connection, and its ring
            os.close(self.ring)
            self.ring = None

    def close(self):
        if self.bell is not None:
            self.bell.close()
        if self.ring is not None:
            os.close(self.ring)
        self.s.close()


def kick_flood(title, seconds, seed):
    """Empty datagrams to the standby socket: bursts of up to 20 ms, pauses
    of up to 20 ms (the server must answer its clients through both)."""
    rng = random.Random(seed)
    kick = _rpc._kick_path(os.path.realpath(_rpc._title_link(title)))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setblocking(False)
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        burst_end = time.monotonic() + rng.uniform(0.001, 0.02)
        while time.monotonic() < burst_end:
            for _ in range(32):
                try:
                    s.sendto(b"k" * rng.choice([0, 1, 64]), kick)
                    sent += 1
                except (BlockingIOError, ConnectionRefusedError, FileNotFoundError, OSError):
                    break           # its queue is full, or the server is gone
        time.sleep(rng.uniform(0, 0.02))
    s.close()
    print("kicks", sent, flush=True)


def main():
    if sys.argv[1] == "--kick":
        kick_flood(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
        return
    title, seconds, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    path = _rpc._title_link(title)
    conns = []
    sent = rings = 0
    devnull = os.open(os.devnull, os.O_RDONLY)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if len(conns) < 2 or (len(conns) < 24 and rng.random() < 0.05):
            try:
                conns.append(Conn(path))
            except OSError:
                pass
            continue
        c = rng.choice(conns)
        action = rng.random()
        known = c.addresses
        if action < 0.10:                           # random bytes
            ok = c.send(os.urandom(rng.choice([0, 1, 7, 31, 32, 33, 64, 200])))
        elif action < 0.45:                         # a request of any kind
            op = rng.choice(OPS)
            msg = message(rng)
            fds = [devnull] * rng.choice([0, 0, 0, 1, 3, 12]) if rng.random() < 0.3 else []
            ok = c.send(REQUEST.pack(op, msg, rng.getrandbits(64), wild(rng, known),
                                     wild(rng, known)), fds)
        elif action < 0.55:                         # allocate, private or shared
            size = rng.choice([1, 16, 4096, 1 << 20, 1 << 31, 1 << 33, rng.getrandbits(40)])
            ok = c.send(REQUEST.pack(1, rng.choice([0, 1, 2]), rng.getrandbits(64), size, 0))
        elif action < 0.60:                         # free something
            ok = c.send(REQUEST.pack(2, 0, rng.getrandbits(64), 0, wild(rng, known)))
        elif action < 0.65 and c.bell is None:      # ask for a doorbell
            ok = c.send(REQUEST.pack(5, 0, rng.getrandbits(64), 0, 0))
        elif action < 0.90 and c.bell is not None:  # garbage into the doorbell, then ring
            for _ in range(rng.randrange(1, 8)):
                where = rng.choice([0, 4, 16, 24, 40, 64, 68, 72, 80, rng.randrange(32, 4088)])
                c.bell[where:where + 8] = struct.pack("=Q", wild(rng, known))
            if rng.random() < 0.5:                  # a plausible request with a wild address
                c.bell[8:32] = struct.pack("=IIQQ", message(rng), 0,
                                           wild(rng, known), wild(rng, known))
                c.bell[0:4] = struct.pack("=I", rng.getrandbits(32))
            if c.ring is not None and rng.random() < 0.5:
                c.abuse_ring(rng)
                rings += 1
                ok = True
            else:
                ok = c.send(REQUEST.pack(rng.choice([6, 7]), 0, 0, 0, 0))
        elif action < 0.95:                         # hang up abruptly
            conns.remove(c)
            c.close()
            continue
        else:                                       # a burst, replies unread
            for _ in range(64):
                c.send(REQUEST.pack(3, WM_USER + 103, 0, 16, wild(rng, known)))
            ok = True
        sent += 1
        if not ok or (rng.random() < 0.8 and not c.drain()):
            conns.remove(c)
            c.close()
    for c in conns:
        c.close()
    print("messages", sent, flush=True)
    print("rings", rings, flush=True)


if __name__ == "__main__":
    main()
