"""Process-memory RPC, both halves: this script starts itself as the server
in a child process, then calls it as a client.

    python examples/rpc_compare.py
"""

import ctypes
import subprocess
import sys
import uuid

import winipc


class MyInfo(ctypes.Structure):
    _fields_ = [("red", ctypes.c_double), ("blue", ctypes.c_double)]


WM_COMPARE = winipc.WM_USER + 100          # a Python handler
WM_COMPARE_C = winipc.WM_USER + 101        # the same, compiled (a shipped sample)


def server(title: str) -> None:
    srv = winipc.Server(title)

    @srv.handler(WM_COMPARE, MyInfo)       # wParam must cover MyInfo
    def compare(info: MyInfo) -> int:      # in place, in this process's memory
        info.red, info.blue = info.blue + 1, info.red * 2
        return 0

    srv.handler(WM_COMPARE_C, MyInfo, native=winipc.sample_handlers()["compare"])
    with srv:                              # serves on a thread until stdin closes
        print("ready", flush=True)
        sys.stdin.read()


def client(title: str) -> None:
    with winipc.connect(title, timeout=5.0, wait=30) as conn:
        out = conn.call(WM_COMPARE, MyInfo(3333, 20.01))
        print(f"server {conn.pid} answered red={out.red} blue={out.blue}")
        out = conn.call(WM_COMPARE_C, MyInfo(3333, 20.01))
        print(f"compiled handler: red={out.red} blue={out.blue}")
        with conn.alloc(MyInfo) as buf:    # VirtualAllocEx ... VirtualFreeEx
            buf.write(MyInfo(1, 2))
            rc = conn.send(WM_COMPARE, buf)
            res = buf.read()
            print(f"explicit buffer: rc={rc} red={res.red} blue={res.blue}")
        try:
            conn.call(WM_COMPARE, ctypes.c_double(1.0))     # 8 bytes for a 16-byte struct
        except winipc.BufferTooSmall as e:
            print("refused:", e)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "server":
        server(sys.argv[2])
    else:
        title = f"CompareServer-{uuid.uuid4()}"
        child = subprocess.Popen([sys.executable, __file__, "server", title],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert child.stdin is not None and child.stdout is not None    # both are pipes
        assert child.stdout.readline().strip() == "ready"
        try:
            client(title)
        finally:
            child.stdin.close()
            child.wait(30)
