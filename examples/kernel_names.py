"""Named kernel objects: create-or-open, the wrong type, open of a missing name,
and the single-instance guard.

    python examples/kernel_names.py          # run it twice at once to see the guard
"""

import time
from contextlib import closing

import winipc

GUID = "{5ACCA58C-8EAB-410E-9263-C5ADAD0D8F9B}"

with winipc.single_instance(GUID) as inst:
    if inst.already_running:
        print("another instance is running; exiting")
        raise SystemExit(1)

    # Create-or-open: `created` says which happened (ERROR_ALREADY_EXISTS).
    with closing(winipc.Mutex("Local\\winipc-example-mutex")) as m1, \
            closing(winipc.Mutex("Local\\winipc-example-mutex")) as m2:
        print("first created:", m1.created, "second created:", m2.created)
        with m1:                                  # acquire ... release
            took = m2.acquire(timeout=0)          # the same thread: mutexes are recursive
            if took:
                m2.release()
            print("m1 owns the mutex; m2 could take it:", took)

    # A name held by another type of object.
    with closing(winipc.Event("Local\\winipc-example-event")) as ev:
        try:
            winipc.Semaphore("Local\\winipc-example-event", initial=0, maximum=1)
        except winipc.WrongObjectType as e:
            print("wrong type:", e)

    # Open of a name nobody holds.
    try:
        winipc.Event.open("Local\\winipc-example-nobody")
    except FileNotFoundError as e:          # winipc.ObjectNotFound
        print("missing:", e)

    # Named shared memory.
    with closing(winipc.FileMapping("Local\\winipc-example-map", size=4096)) as fm, \
            fm.map() as view:
        view[:5] = b"hello"
        print("mapping:", bytes(view[:5]), "size", fm.size)

    time.sleep(0.5)    # long enough to start a second copy and see the guard
