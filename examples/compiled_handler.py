"""A server whose handlers are compiled C (examples/handler.c), loaded with
ctypes: the server calls them without the GIL and without any Python.

    cc -O2 -shared -fPIC -o handler.so examples/handler.c     # see handler.c
    python examples/compiled_handler.py ./handler.so

This script starts itself as the server in a child process, then calls it.
"""

import ctypes
import subprocess
import sys
import uuid

import winipc


class MyInfo(ctypes.Structure):
    _fields_ = [("red", ctypes.c_double), ("blue", ctypes.c_double)]


WM_COMPARE = winipc.WM_USER + 101
WM_BUMP = winipc.WM_USER + 102


def server(title: str, library: str) -> None:
    lib = ctypes.CDLL(library)
    srv = winipc.Server(title)
    # NATIVE_HANDLER is int64_t (*)(void *data, size_t size): the cast gives
    # the pointer that prototype, which Server.handler checks.  The server
    # keeps it (and so the library) alive for as long as it serves.
    srv.handler(WM_COMPARE, MyInfo, native=winipc.rpc.NATIVE_HANDLER(("compare", lib)))
    srv.handler(WM_BUMP, 1, native=winipc.rpc.NATIVE_HANDLER(("bump", lib)))
    with srv:                              # serves on a thread until stdin closes
        print("ready", flush=True)
        sys.stdin.read()


def client(title: str) -> None:
    with winipc.connect(title, timeout=5.0, wait=30) as conn:
        out = conn.call(WM_COMPARE, MyInfo(3333, 20.01))
        print(f"compiled compare: red={out.red} blue={out.blue} result={conn.last_result}")
        data = conn.call(WM_BUMP, b"HAL")
        print(f"compiled bump: {bytes(data)!r} result={conn.last_result}")
        ns = conn.bench(WM_COMPARE, MyInfo(1, 2), 1000)     # a compiled loop of calls
        print(f"1000 calls, median {sorted(ns)[len(ns) // 2] / 1000:.1f} us")


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "server":
        server(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 2:
        title = f"CompiledServer-{uuid.uuid4()}"
        child = subprocess.Popen([sys.executable, __file__, "server", title, sys.argv[1]],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None and child.stdin is not None
            assert child.stdout.readline().strip() == "ready"
            client(title)
        finally:
            if child.stdin is not None:
                child.stdin.close()
            child.wait(30)
    else:
        sys.exit(__doc__)
