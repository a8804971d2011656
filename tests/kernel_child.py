"""The other process of tests/test_kernel.py and tests/test_kernel_sharing.py.

    python kernel_child.py COMMAND RESULT_FILE [ARGS...]

Each command writes what it saw as JSON to RESULT_FILE (written to a temporary
name, then renamed, so the test never reads half a result) and exits 0.
"""

from contextlib import closing
import ctypes
import json
import os
import subprocess
import sys

import winipc
import winipc.kernel

k = winipc if hasattr(winipc, "Mutex") else winipc.kernel

WAIT = 60.0


def report(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)


def token_of(value):
    """What FileMapping.from_handle(value) holds, or the error's class name."""
    try:
        fm = k.FileMapping.from_handle(int(value))
    except Exception as e:
        return type(e).__name__
    with closing(fm), fm.map(0, 64, write=False) as view:
        return bytes(view).split(b"\0")[0].decode()


def cmd_tokens(result, control=None, go=None):
    """Reads the tokens of the inherited mappings; with CONTROL and GO names,
    first waits for GO, then also probes the values listed in CONTROL."""
    listed = k.inherited_handles()
    extra = []
    if control:
        k.Event.open(go).wait(WAIT)
        with closing(k.FileMapping.open(control)) as fm, fm.map(0, 256, write=False) as view:
            extra = json.loads(bytes(view).split(b"\0")[0].decode())
    report(result, {"listed": listed, "tokens": [token_of(v) for v in listed],
                    "extra": [token_of(v) for v in extra]})


def cmd_values(result, *values):
    """Probes explicit handle values (for inheritance outside spawn)."""
    report(result, {"tokens": [token_of(v) for v in values]})


def cmd_probe(result, kind, name):
    """Opens NAME as KIND: "ok" or the error's class name."""
    try:
        getattr(k, kind).open(name).close()
        report(result, "ok")
    except Exception as e:
        report(result, type(e).__name__)


def cmd_guard(result, name):
    with k.single_instance(name) as inst:
        report(result, {"already_running": inst.already_running})


def cmd_argparse(result, *_):
    """A command line of its own, read by argparse: spawn's default way of
    passing the handles must leave it alone."""
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument("--name")
    parser.add_argument("--count", type=int)
    ns = parser.parse_args(sys.argv[3:])        # exits 2 on anything it does not know
    listed = k.inherited_handles()
    report(result, {"argv": sys.argv[3:], "name": ns.name, "count": ns.count,
                    "tokens": [token_of(v) for v in listed]})


def cmd_hold(result, stop):
    """Keeps the inherited mutex handle open until the event STOP is set."""
    (value,) = k.inherited_handles()
    m = k.Mutex.from_handle(value)
    report(result, {"held": value})
    k.Event.open(stop).wait(WAIT)
    m.close()


def cmd_scenario(result, name, stop, hold_result):
    """The issue's parent: creates an inheritable named mutex, starts a child
    that inherits it, closes its handle and exits at once."""
    m = k.Mutex(name, inheritable=True)
    created = m.created
    if created:
        # Not our stdout: the test reads it to its end, which the holder would delay.
        # Not waited for: this process exits at once, the holder lives on.
        k.spawn([sys.executable, __file__, "hold", hold_result, stop], inherit=[m],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
    m.close()
    report(result, {"created": created})


def cmd_die_holding(result, name, ready):
    """Acquires the mutex NAME and dies holding it."""
    m = k.Mutex.open(name)
    m.acquire()
    report(result, "holding")
    k.Event.open(ready).set()
    os._exit(3)


def cmd_try_acquire(result, name):
    m = k.Mutex.open(name)
    try:
        report(result, m.acquire(0))
    except Exception as e:
        report(result, type(e).__name__)


def cmd_mapping_roundtrip(result, name):
    with closing(k.FileMapping.open(name)) as fm, fm.map() as view:
        seen = bytes(view[:5]).decode()
        view[5:10] = b"world"
    report(result, seen)


def cmd_signal(result, wait_name, set_name):
    """Waits for event WAIT_NAME, then sets SET_NAME and releases semaphore 'SEM'."""
    ok = k.Event.open(wait_name).wait(WAIT)
    k.Event.open(set_name).set()
    report(result, ok)


def cmd_serve_token(result, token, stop):
    """Holds an unnamed mapping with TOKEN and reports its handle value."""
    fm = k.FileMapping(size=4096)
    with fm.map() as view:
        view[:len(token)] = token.encode()
    report(result, {"pid": os.getpid(), "value": fm.handle})
    k.Event.open(stop).wait(WAIT)
    fm.close()


class DupRequest(ctypes.Structure):
    _fields_ = [("value", ctypes.c_uint64), ("kind", ctypes.c_uint32),
                ("status", ctypes.c_int32), ("text", ctypes.c_char * 96)]


WM_DUP = winipc.WM_USER + 41


def check_duplicate(req):
    """What a reduced-rights duplicate lets this process do."""
    seen = {}
    if req.kind == 1:
        with closing(k.Event.from_handle(req.value)) as ev:
            seen["wait"] = ev.wait(10)
            try:
                ev.set()
                seen["set"] = "ok"
            except Exception as e:
                seen["set"] = type(e).__name__
    else:
        with closing(k.FileMapping.from_handle(req.value)) as fm:
            with fm.map(0, 64) as view:
                seen["read"] = bytes(view).split(b"\0")[0].decode()
                try:
                    view[0:1] = b"X"
                    seen["write"] = "ok"
                except Exception as e:
                    seen["write"] = type(e).__name__
            try:
                fm.map(0, 64, write=True).close()
                seen["map_write"] = "ok"
            except Exception as e:
                seen["map_write"] = type(e).__name__
    return seen


def cmd_dup_server(result, title, stop):
    """A winipc Server that adopts the handles duplicated into it, until STOP is set."""
    server = winipc.Server(title)
    seen = []

    @server.handler(WM_DUP, DupRequest)
    def on_dup(req):
        try:
            s = check_duplicate(req)
        except Exception as e:
            s = {"error": f"{type(e).__name__}: {e}"}
        seen.append(s)
        req.text = json.dumps(s).encode()[:95]
        return 0

    with server:
        k.Event.open(stop).wait(WAIT)
    report(result, seen)


def main():
    command, result, *args = sys.argv[1:]
    # spawn(pass_handles="argv") appended the handle values; they are not ours.
    if os.environ.get(k.HANDLES_ENV, "").startswith("argv:"):
        n = int(os.environ[k.HANDLES_ENV].split(":")[1])
        if n:
            args = args[:-n]
    globals()["cmd_" + command.replace("-", "_")](result, *args)


if __name__ == "__main__":
    main()
