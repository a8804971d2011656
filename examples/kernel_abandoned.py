"""An abandoned mutex: a child takes a named mutex and dies holding it; the
parent's wait reports AbandonedMutex, and the parent then owns the mutex.

    python examples/kernel_abandoned.py
"""

import os
import subprocess
import sys
from contextlib import closing

import winipc

NAME = "Local\\winipc-example-abandoned"

if sys.argv[1:] == ["--child"]:
    m = winipc.Mutex.open(NAME)
    m.acquire()
    winipc.Event.open(NAME + "-ready").set()
    os._exit(1)                      # dies owning it: no release, no close

with closing(winipc.Mutex(NAME)) as m, closing(winipc.Event(NAME + "-ready")) as ready:
    subprocess.run([sys.executable, __file__, "--child"])
    ready.wait(30)
    try:
        m.acquire(timeout=30)
        print("acquired normally (unexpected)")
    except winipc.AbandonedMutex as e:
        print("abandoned:", e)
        print("we own it now; check the shared state, then release")
    m.release()
