"""What a flood of empty kicks costs honest callers (Linux): calls per second
to a handler that runs 200 µs, with and without another process sending
datagrams to the server's standby socket as fast as it can, in alternating
rounds of one run.  Only a kick that finds a request waiting may make the
standby thread take over; the target is a ratio of at least 0.5.

    python benchmarks/kick_flood.py [--seconds S] [--rounds N]

It uses the installed winipc (Linux only: the standby thread is the Linux
server's)."""

import argparse
import os
import socket
import subprocess
import sys
import time
import uuid

import winipc
from winipc import _rpc

WM_WORK = winipc.WM_USER + 7
SERVER = f"""
import sys, time, winipc
s = winipc.Server(sys.argv[1])
@s.handler({WM_WORK}, 8)
def work(view):
    end = time.perf_counter() + 200e-6
    while time.perf_counter() < end:
        pass
    return 0
with s:
    print("ready", flush=True)
    sys.stdin.read()
"""
FLOOD = """
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
while True:
    try:
        s.sendto(b"k", sys.argv[1])
    except OSError:
        pass
"""


def rate(conn, seconds):
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        conn.call(WM_WORK, bytes(8))
        n += 1
    return n / seconds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    if not sys.platform.startswith("linux"):
        raise SystemExit("kick_flood.py: the standby thread is the Linux server's")
    title = f"kick-flood-{uuid.uuid4()}"
    server = subprocess.Popen([sys.executable, "-P", "-c", SERVER, title],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().split() == ["ready"]
        kick = _rpc._kick_path(os.path.realpath(_rpc._title_link(title)))
        with winipc.connect(title, timeout=10) as conn:
            quiet, flooded = [], []
            for _ in range(args.rounds):
                quiet.append(rate(conn, args.seconds))
                flood = subprocess.Popen([sys.executable, "-c", FLOOD, kick])
                try:
                    time.sleep(0.1)
                    flooded.append(rate(conn, args.seconds))
                finally:
                    flood.kill()
                    flood.wait()
        q, f = sorted(quiet)[len(quiet) // 2], sorted(flooded)[len(flooded) // 2]
        print(f"calls/s, median of {args.rounds} rounds: quiet {q:.0f}, flooded {f:.0f}, "
              f"ratio {f / q:.2f} (target >= 0.5)")
        return 0 if f / q >= 0.5 else 1
    finally:
        server.stdin.close()
        server.wait(30)


if __name__ == "__main__":
    sys.exit(main())
