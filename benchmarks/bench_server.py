"""The benchmark's server process: python bench_server.py TITLE.

Serves the compiled ``bump`` sample and a Python handler on the same bytes,
and answers a plain pipe (the peer the round trip is compared with) until
its stdin closes."""

import os
import sys
from multiprocessing.connection import Client

import winipc

WM_BUMP = winipc.WM_USER + 1          # compiled handler, in place
WM_PYBUMP = winipc.WM_USER + 2        # Python handler, in place
PLUS_ONE = bytes((i + 1) & 0xFF for i in range(256))


def main():
    title, address = sys.argv[1], sys.argv[2]
    server = winipc.Server(title)
    server.handler(WM_BUMP, 1, native=winipc.sample_handlers()["bump"])

    @server.handler(WM_PYBUMP)
    def pybump(view):
        view[:] = bytes(view).translate(PLUS_ONE)
        return len(view)

    with server:
        # The peer: the same request and answer over a multiprocessing pipe.
        with Client(address, family="AF_PIPE" if os.name == "nt" else "AF_UNIX") as pipe:
            pipe.send_bytes(b"ready")
            while True:
                try:
                    data = pipe.recv_bytes()
                except EOFError:
                    break
                pipe.send_bytes(data.translate(PLUS_ONE))


if __name__ == "__main__":
    main()
