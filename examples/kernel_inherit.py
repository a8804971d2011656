"""Handle inheritance: the parent creates an event and a mapping, starts a
child that inherits exactly those two, closes its own handles at once, and
tells the child the values in the environment (the default), on its command
line, or by a message.  The child is a subprocess.Popen: here it also
reports through a pipe.

    python examples/kernel_inherit.py [env|argv|message]
"""

import subprocess
import sys
from contextlib import closing

import winipc


def child() -> None:
    ev_value, map_value = winipc.inherited_handles()      # env, argv or message
    with closing(winipc.Event.from_handle(ev_value)) as ev, \
            closing(winipc.FileMapping.from_handle(map_value)) as fm, \
            fm.map() as view:
        view[:17] = b"written by child\0"
        ev.set()
    print("child: done")


def parent(mode: str) -> None:
    ev = winipc.Event()                       # not inheritable: spawn lists it anyway
    fm = winipc.FileMapping(size=4096)
    stray = winipc.Event(inheritable=True)    # inheritable, but not listed: not inherited
    proc = winipc.spawn([sys.executable, __file__, "--child"], inherit=[ev, fm],
                        pass_handles=mode, stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE, text=True)   # a subprocess.Popen
    view = fm.map()
    waiter = winipc.Event.from_handle(ev.duplicate())
    ev.close()                                # the child's handles keep the objects alive
    fm.close()
    assert waiter.wait(timeout=30), "the child did not answer"
    said = bytes(view).split(b"\0")[0].decode()
    print(f"[{mode}] child says: {said}")
    view.close()
    waiter.close()
    stray.close()
    out, _ = proc.communicate(timeout=30)    # its output; it has exited then
    print(f"child printed {out.strip()!r}, exit code {proc.returncode}")


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    else:
        parent(sys.argv[1] if len(sys.argv) > 1 else "env")
