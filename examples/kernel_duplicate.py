"""DuplicateHandle with fewer rights into another process, which learns the
value through a process-memory RPC: a read-only view of a mapping, and an event
it may wait on (SYNCHRONIZE) but not set.

    python examples/kernel_duplicate.py
"""

from contextlib import closing
import ctypes
import subprocess
import sys
import uuid

import winipc

WM_TAKE = winipc.WM_USER + 7


class Take(ctypes.Structure):
    _fields_ = [("mapping", ctypes.c_uint64), ("event", ctypes.c_uint64),
                ("answer", ctypes.c_char * 120)]


def server(title: str, stop: str) -> None:
    srv = winipc.Server(title)

    @srv.handler(WM_TAKE, Take)
    def take(req: Take) -> None:
        with closing(winipc.FileMapping.from_handle(req.mapping)) as fm, \
                fm.map() as view, \
                closing(winipc.Event.from_handle(req.event)) as ev:
            text = bytes(view).split(b"\0")[0].decode()
            try:
                view[0:1] = b"X"
                wrote = "wrote"
            except TypeError:
                wrote = "read-only view"
            try:
                ev.set()
                setr = "set it"
            except winipc.AccessDenied:
                setr = "may not set"
            req.answer = f"{text!r}; {wrote}; event: {setr}".encode()[:119]

    with srv:
        winipc.Event.open(stop).wait(60)


def client() -> None:
    title, stop = f"kernel-dup-{uuid.uuid4()}", f"Local\\kernel-dup-stop-{uuid.uuid4()}"
    with closing(winipc.Event(stop, manual_reset=True)) as ev_stop:
        proc = subprocess.Popen([sys.executable, __file__, "--server", title, stop])
        with winipc.connect(title, wait=30) as conn, \
                winipc.open_process(conn.pid, winipc.Access.DUP_HANDLE) as target, \
                closing(winipc.FileMapping(size=4096)) as fm, \
                closing(winipc.Event(manual_reset=True)) as ev:
            with fm.map() as view:
                view[:13] = b"shared bytes\0"
            req = Take(fm.duplicate(into=target, access=winipc.FILE_MAP_READ),
                       ev.duplicate(into=target, access=winipc.SYNCHRONIZE))
            print("server says:", conn.call(WM_TAKE, req).answer.decode())
        ev_stop.set()
        proc.wait(30)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--server"]:
        server(*sys.argv[2:4])
    else:
        client()
