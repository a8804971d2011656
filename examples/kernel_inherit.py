"""Handle inheritance: the parent creates an event and a mapping, starts a
child that inherits exactly those two, closes its own handles at once, and
tells the child the values by argv, env or message.

    python examples/kernel_inherit.py [argv|env|message]
"""

from contextlib import closing
import sys

import winipc


def child() -> None:
    ev_value, map_value = winipc.inherited_handles()      # argv, env or message
    with closing(winipc.Event.from_handle(ev_value)) as ev, \
            closing(winipc.FileMapping.from_handle(map_value)) as fm, \
            fm.map() as view:
        view[:17] = b"written by child\0"
        ev.set()


def parent(mode: str) -> None:
    ev = winipc.Event()                       # not inheritable: spawn lists it anyway
    fm = winipc.FileMapping(size=4096)
    stray = winipc.Event(inheritable=True)    # inheritable, but not listed: not inherited
    proc = winipc.spawn([sys.executable, __file__, "--child"], inherit=[ev, fm],
                        pass_handles=mode)
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
    with proc:
        print("child exit code:", proc.wait(30))


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    else:
        parent(sys.argv[1] if len(sys.argv) > 1 else "argv")
