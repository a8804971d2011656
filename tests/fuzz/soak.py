"""Fuzz and fault harness: a winipc server under hostile traffic from other
processes while a legitimate client checks every result it gets.

    python tests/fuzz/soak.py [--seconds 30] [--attackers 2] [--seed N]

The server is tests/server_main.py in a process of its own.  The attackers:
on Linux tests/fuzz/attack_linux.py (raw wire messages, fds, garbage in
doorbell pages, allocation bombs, unread replies, hang-ups); on Windows the
C peer c_fuzz.exe (wild wParam/lParam to application and control messages,
sent and posted, at read-only, no-access, guard, reserved, freed, executable
and kernel addresses; through a doorbell of its own, requests aimed at every
mapped region of the server, other clients' sections among them, garbage
over its page, and that page pulled in the server), found through
WINIPC_PEERS_DIR.  Meanwhile a client
calls with every doorbell and checks each answer.  Before and after, the
server reports its fds or handles, threads and mapped memory.

Three more parts run beside them, their clients in one process of their
own (soak.py --role), so that they never hold the legitimate client up at
the interpreter lock:

- Withdrawal races: clients give up calls at random short timeouts (and,
  with asyncio, cancel acalls at random moments) while the server is busy;
  a handler counts each call's runs.  A CallTimeout with ``started`` False
  must never have run, True must have run once, an answer once; ``started``
  None (Windows' classic path, or given up before the request was posted)
  and a cancelled acall may have run or not, and are counted apart.  The
  server's count of runs must equal what the clients account for.
- The standby socket (Linux): another process floods it with empty kicks
  (attack_linux.py --kick), and a driver makes stale poll results over and
  over (a SEND on a socket runs a handler, another SEND and a new
  connection wait, and a kick comes during the second handler); the server
  must answer through all of it.
- Server-wide bounds: hoarding processes (attack_bounds.py) open many
  connections and take all the buffers, sections and doorbells they are
  let, then drop them, in cycles, from a tenth of the run for half of it; a
  client keeps allocating and connecting, and may be refused only with the
  documented errors.  Once they are gone it must be refused nothing, and
  at the end the server holds for clients what it held before.

Prints its figures and exits 1 on a crash, a wrong result, a failed call
of the legitimate client, an outcome that breaks its rule, a refusal that
is not documented, or growth."""

import argparse
import asyncio
import ctypes
import json
import logging
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)

import winipc  # noqa: E402
from conftest import DOORBELLS, unique_title  # noqa: E402
from structs import (MyInfo, Small, Stats, WM_COMPARE, WM_COMPARE_NATIVE,  # noqa: E402
                     WM_HELD, WM_SLEEP, WM_SMALL, WM_STATS, WM_TALLY, WM_TALLY_READ)

WINDOWS = sys.platform == "win32"

# Growth the server may show after the attack: threads exactly; fds or
# handles within what the runtime opens lazily (the same slack as
# tests/test_robustness.py); memory within the allocator's slack.
HANDLE_SLACK = 2
MEMORY_SLACK = 4 << 20
# A private buffer a given-up call leaves in a Windows server (documented:
# it stays until the server exits) is a page of its memory.
LEFT_PAGE = 4096


def server_stats(conn):
    """What the server process holds, less what it holds for clients
    (Server.held): that is bounded, and on Windows outlives its sender, since
    a window cannot tell who sent it a message."""
    s = conn.call(WM_STATS, Stats())
    return s.handles - s.held_handles, s.threads, s.mapped, s.held_handles, s.held_bytes


def documented_refusal(error):
    """A refusal the README documents for a bound reached: WinIPCError 8
    (ERROR_NOT_ENOUGH_MEMORY) or 1816 (ERROR_NOT_ENOUGH_QUOTA), ServerFull."""
    return isinstance(error, winipc.ServerFull) or (
        type(error) is winipc.WinIPCError and error.winerror in (8, 1816))


def attacker(title, seconds, seed, out):
    if sys.platform == "win32":
        folder = os.environ.get("WINIPC_PEERS_DIR")
        if not folder:
            sys.exit("soak.py: set WINIPC_PEERS_DIR to the folder of c_fuzz.exe "
                     "(scripts/windows/test.sh builds it)")
        argv = [os.path.join(folder, "c_fuzz.exe"), title, str(int(seconds)), str(seed)]
    else:
        argv = [sys.executable, "-P", os.path.join(HERE, "attack_linux.py"), title,
                str(seconds), str(seed)]
    # Output to a file: a pipe could be held open by a grandchild (see tests/children.py).
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)


def legitimate(title, stop, counts, errors):
    """Calls with every doorbell, checking each answer."""
    rng = random.Random(1)
    conns = [winipc.connect(title, timeout=30, **kw) for kw in DOORBELLS.values()]
    try:
        while not stop.is_set():
            for conn in conns:
                red, blue = rng.uniform(-1e6, 1e6), rng.uniform(-1e6, 1e6)
                msg = rng.choice([WM_COMPARE, WM_COMPARE_NATIVE])
                try:
                    out = conn.call(msg, MyInfo(red, blue))
                    v = rng.getrandbits(40)
                    small = conn.call(WM_SMALL, Small(v))
                except winipc.WinIPCError as e:
                    errors.append(repr(e))
                    return
                counts["calls"] += 2
                if (out.red, out.blue) != (blue + 1, red * 2) or small.value != 3 * v:
                    counts["wrong"] += 1
    finally:
        for conn in conns:
            conn.close()


# ------------------------------------------------------------ withdrawal races

BATCH = 200                 # calls between two reads of the server's tally
PAUSES_US = [0, 0, 0, 100, 500, 2000]           # how long each counted handler runs
TIMEOUTS = [0, 0.001, 0.001, 0.002, 0.005, 0.02]  # how soon the client gives up


class Account:
    """What one withdrawing client knows of its calls, and what the server
    says ran."""

    KINDS = ("completed", "withdrawn", "started", "unknown", "cancelled", "refused")

    def __init__(self, first_slot):
        self.first = first_slot
        self.n = dict.fromkeys(self.KINDS, 0)
        self.runs = 0               # what the server counted for this client
        self.ran = {"unknown": 0, "cancelled": 0}
        self.broken = []            # outcomes against their rule

    def state(self):
        return {"n": self.n, "runs": self.runs, "ran": self.ran, "broken": self.broken}

    @classmethod
    def of(cls, state):
        a = cls(0)
        if state:
            a.n, a.runs, a.ran, a.broken = state["n"], state["runs"], state["ran"], state["broken"]
        return a

    def open_reader(self, title):
        """A connection to read the tally on, its buffer taken now (hoarders
        may hold every buffer later)."""
        reader = winipc.connect(title, timeout=60)
        buf = bytearray(8 + BATCH)
        buf[:8] = self.first.to_bytes(8, "little")
        reader.call(WM_TALLY_READ, buf)
        return reader

    def settle(self, reader, outcomes):
        """Read (and clear) the server's count of each slot of this batch;
        an earlier call on this thread has returned, and the server runs
        handlers one at a time, so every request it took has run by now."""
        buf = bytearray(8 + len(outcomes))
        buf[:8] = self.first.to_bytes(8, "little")
        out = reader.call(WM_TALLY_READ, buf, timeout=60)
        for kind, runs in zip(outcomes, out[8:]):
            self.n[kind] += 1
            self.runs += runs
            if kind in self.ran:
                self.ran[kind] += runs
            rule = {"completed": 1, "started": 1, "withdrawn": 0, "refused": 0}.get(kind)
            if (runs not in (0, 1)) if rule is None else runs != rule:
                self.broken.append(f"{kind} call ran {runs} times")


def outcome_of(error):
    """The kind of a call given up with ``error``, or None for an error that
    no call may end with.  ``started`` None is documented for the classic
    Windows path and for a wait before the request was posted (Windows: the
    control message that opens an acall's doorbell)."""
    if isinstance(error, winipc.CallTimeout):
        return {False: "withdrawn", True: "started", None: "unknown"}[error.started]
    if documented_refusal(error):
        return "refused"
    return None


def connect_each(title):
    """A connection of every doorbell, or [] when the server refuses one as
    the documented bounds say (hoarders may hold every doorbell)."""
    conns = []
    try:
        for kw in DOORBELLS.values():
            conns.append(winipc.connect(title, timeout=30, **kw))
    except winipc.WinIPCError as e:
        for conn in conns:
            conn.close()
        if not documented_refusal(e):
            raise
        return []
    return conns


def renew(conns, title):
    """Close the connections in ``conns`` and put a new one of every doorbell
    in their place; False when the server refused one (connect_each), and
    ``conns`` stays empty.  A batch of calls runs on new connections: what a
    call given up after the server took it leaves allocated goes with its
    connection, and would add up to the client process's bounds (Windows:
    256 sections) over a long run."""
    for conn in conns:
        conn.close()
    conns[:] = connect_each(title)
    return bool(conns)


def withdrawing(title, stop, account, errors):
    """Synchronous calls on every doorbell, given up at random short timeouts."""
    rng = random.Random(2)
    conns = []
    reader = account.open_reader(title)
    try:
        while not stop.is_set():
            if not renew(conns, title):
                stop.wait(0.05)
                continue
            outcomes = []
            for slot in range(BATCH):
                if stop.is_set():
                    break
                conn = rng.choice(conns)
                pause = rng.choice(PAUSES_US)
                try:
                    conn.call(WM_TALLY, Small(account.first + slot | pause << 32),
                              timeout=rng.choice(TIMEOUTS))
                    outcomes.append("completed")
                except winipc.WinIPCError as e:
                    kind = outcome_of(e)
                    if kind is None:
                        errors.append(f"withdrawing call: {e!r}")
                        return
                    outcomes.append(kind)
            account.settle(reader, outcomes)
    except winipc.WinIPCError as e:
        errors.append(f"withdrawing client: {e!r}")
    finally:
        reader.close()
        for conn in conns:
            conn.close()


def cancelling(title, stop, account, errors):
    """acalls on every doorbell, given up at random short timeouts or
    cancelled at random moments."""
    rng = random.Random(3)

    async def one(conn, value):
        timeout = rng.choice(TIMEOUTS + [None])
        task = asyncio.ensure_future(conn.acall(WM_TALLY, Small(value), timeout=timeout))
        if rng.random() < 0.5:
            await asyncio.sleep(rng.choice([0, 0, 0.0002, 0.001, 0.003]))
            task.cancel()
        try:
            await task
            return "completed"
        except asyncio.CancelledError:
            return "cancelled"
        except winipc.WinIPCError as e:
            kind = outcome_of(e)
            if kind is None:
                raise
            return kind

    async def run():
        conns = []
        reader = account.open_reader(title)
        try:
            while not stop.is_set():
                if not renew(conns, title):
                    await asyncio.sleep(0.05)
                    continue
                outcomes = []
                for slot in range(BATCH):
                    if stop.is_set():
                        break
                    pause = rng.choice(PAUSES_US)
                    outcomes.append(await one(rng.choice(conns),
                                              account.first + slot | pause << 32))
                account.settle(reader, outcomes)
        finally:
            reader.close()
            for conn in conns:
                conn.close()

    try:
        asyncio.run(run())
    except winipc.WinIPCError as e:
        errors.append(f"cancelling client: {e!r} (started={getattr(e, 'started', '-')})")


# ------------------------------------------------------------ the standby socket

def stale_polls(title, stop, counts, errors):
    """Linux: over and over, a SEND on a connection's socket runs handler 1;
    during it another SEND and a new connection wait; during handler 2 a
    kick (a datagram and an allocation) wakes the standby thread, which
    accepts the new connection.  The dispatch thread's poll result about
    the listening socket is stale then: the server must keep answering."""
    from winipc import _rpc
    from winipc._remote import VM_ACCESS
    window = winipc.find_window(title)
    size = ctypes.sizeof(Small)
    kick = _rpc._kick_path(os.path.realpath(_rpc._title_link(title)))
    # No doorbell: their calls go on their sockets.
    senders = [_rpc.Process(window.pid, VM_ACCESS, window.handle) for _ in range(2)]
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    kicker = winipc.connect(title, timeout=30)
    try:
        bufs = [p.alloc(size, 30000) for p in senders]
        while not stop.is_set():
            results = []

            def send(p, address):
                try:
                    results.append(p.send(WM_SLEEP, size, address, 30000))
                except winipc.WinIPCError as e:
                    errors.append(f"stale poll: a SEND failed: {e!r}")

            for p, address in zip(senders, bufs):
                p.write(address, Small(10))
            calls = [threading.Thread(target=send, args=pa) for pa in zip(senders, bufs)]
            calls[0].start()                # handler 1: 10 ms
            time.sleep(0.004)
            calls[1].start()                # waits on its socket
            queued = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                queued.connect(_rpc._title_link(title))     # waits in the accept queue
                time.sleep(0.012)           # handler 2 runs, from the same poll
                try:
                    dgram.sendto(b"k", kick)
                except OSError:
                    pass
                try:
                    kicker.alloc(Small).close()     # the standby thread takes over, accepts
                except winipc.WinIPCError as e:
                    if not documented_refusal(e):   # (hoarders may hold every buffer)
                        raise
                for t in calls:
                    t.join(60)
            finally:
                queued.close()
            out = Small()
            for p, address in zip(senders, bufs):
                p.read_into(address, out)
                if out.value != (-10) & (2**64 - 1):
                    counts["wrong"] += 1
            v = counts["stale"] + 1
            if kicker.call(WM_SMALL, Small(v)).value != 3 * v or results != [0, 0]:
                counts["wrong"] += 1
            counts["stale"] += 1
            stop.wait(0.1)
        for p, address in zip(senders, bufs):
            p.free(address, 30000)
    except winipc.WinIPCError as e:
        errors.append(f"stale poll: {e!r}")
    finally:
        kicker.close()
        dgram.close()
        for p in senders:
            p.close()


# ------------------------------------------------------------ server-wide bounds

def hoarder(title, seconds, seed, out):
    argv = [sys.executable, "-P", os.path.join(HERE, "attack_bounds.py"), title,
            str(seconds), str(seed)]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)


def probing(title, stop, gone, counts, errors):
    """The legitimate client's new resources while hoarders come and go: a
    buffer (shared) and a new connection, each used and checked.  Refused
    only with the documented errors, and not at all once the hoarders have
    gone (``gone`` set)."""
    rng = random.Random(4)
    conn = winipc.connect(title, timeout=30, shared=True)
    try:
        while not stop.is_set():
            after = gone.is_set()
            v = rng.getrandbits(40)
            try:
                with conn.alloc(Small, shared=True) as buf:
                    buf.write(Small(v))
                    conn.send(WM_SMALL, buf)
                    ok = buf.read().value == 3 * v
                with winipc.connect(title, timeout=30, shared=True) as other:
                    ok = ok and other.call(WM_SMALL, Small(v)).value == 3 * v
                counts["probes"] += 1
                if not ok:
                    counts["wrong"] += 1
                if after:
                    counts["after"] += 1
                    if counts["after"] == 1:
                        print("after", flush=True)      # soak.py waits for it
            except winipc.WinIPCError as e:
                if not documented_refusal(e):
                    errors.append(f"probe: {e!r}")
                    print("error", flush=True)
                    return
                counts["refused"] += 1
                if after:
                    errors.append(f"probe refused after the hoarders left: {e!r}")
                    print("error", flush=True)
                    return
            stop.wait(0.01)
    finally:
        conn.close()


def sampling(title, stop, peak, errors):
    """The most the server held for clients, looked at every 20 ms."""
    try:
        with winipc.connect(title, timeout=30) as conn:
            while not stop.wait(0.02):
                held = conn.call(WM_HELD, Stats())      # (not WM_STATS: that reads all maps)
                peak[0] = max(peak[0], held.held_handles)
                peak[1] = max(peak[1], held.held_bytes)
    except winipc.WinIPCError as e:
        errors.append(f"sampling: {e!r}")


# ------------------------------------------------------------ parts in processes of their own

LEFT = [0]      # buffers left allocated in the server by calls given up (Windows)


def left_allocated(record):
    """A logging filter: counts, and silences, "left allocated" warnings."""
    if "left allocated" in record.getMessage():
        LEFT[0] += 1
        return False
    return True


class Role:
    """Parts of the run in a process of their own (soak.py --role NAME,...
    TITLE), whose threads then never take the legitimate client's turns at
    the interpreter lock: told "gone" and stopped through its stdin, its
    lines come back on its stdout, the last one its result (JSON)."""

    def __init__(self, name, title):
        self.name = name
        self.proc = subprocess.Popen([sys.executable, "-P", os.path.abspath(__file__), "--role",
                                      name, title], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def ready(self, timeout):
        """Wait until it runs (a process starts slowly under Wine)."""
        deadline = time.monotonic() + timeout
        while not self.lines and self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    def tell(self, word):
        try:
            self.proc.stdin.write(word + "\n")
            self.proc.stdin.flush()
        except OSError:
            pass

    def finish(self, timeout):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
        self.reader.join(30)
        for line in reversed(self.lines):
            if line.startswith("{"):
                return json.loads(line)
        return {"errors": [f"{self.name}: ended without its result "
                           f"(exit code {self.proc.returncode})"]}


def role_main(names, title):
    """The parts ``names`` (comma-separated), each on a thread, until stdin
    is closed; prints their result."""
    stop, gone = threading.Event(), threading.Event()

    def watch():
        for line in sys.stdin:
            if line.strip() == "gone":
                gone.set()
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    print("ready", flush=True)
    errors = []
    counts = {"stale": 0, "wrong": 0, "probes": 0, "refused": 0, "after": 0, "left": 0}
    accounts = {"withdraw": Account(0), "cancel": Account(BATCH)}
    parts = {"withdraw": (withdrawing, (title, stop, accounts["withdraw"], errors)),
             "cancel": (cancelling, (title, stop, accounts["cancel"], errors)),
             "probe": (probing, (title, stop, gone, counts, errors)),
             "stale": (stale_polls, (title, stop, counts, errors))}
    threads = [threading.Thread(target=parts[name][0], args=parts[name][1])
               for name in names.split(",")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts["left"] = LEFT[0]
    print(json.dumps({"errors": errors, "counts": counts,
                      "accounts": {k: a.state() for k, a in accounts.items()}}), flush=True)
    return 0


def main(argv=None):
    # Calls given up after the server took them leave their buffers
    # allocated, and say so (Windows); here that is the point: count them.
    logging.getLogger("winipc").addFilter(left_allocated)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--attackers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    # Enough to reach the server-wide bounds: Linux 16,384 buffers (4,096 a
    # process); Windows 256 doorbells (32 a process) and 1,024 sections (256).
    ap.add_argument("--hoarders", type=int, default=9 if WINDOWS else 5)
    ap.add_argument("--role", nargs=2, metavar=("NAMES", "TITLE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.role:
        return role_main(*args.role)

    title = unique_title("winipc-soak")
    runtime = None
    if sys.platform != "win32" and not os.environ.get("WINIPC_RUNTIME_DIR"):
        runtime = tempfile.TemporaryDirectory(prefix="winipc-soak-")
        os.environ["WINIPC_RUNTIME_DIR"] = runtime.name
    server = subprocess.Popen([sys.executable, os.path.join(TESTS, "server_main.py"), title],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    failures = []
    try:
        line = server.stdout.readline().split()
        if not line or line[0] != "ready":
            sys.exit(f"soak.py: the server did not start: {line!r}")
        with winipc.connect(title, timeout=30) as probe:
            for _ in range(50):
                probe.call(WM_SMALL, Small(1))
            before = server_stats(probe)

            stop, counts, errors = threading.Event(), {"calls": 0, "wrong": 0}, []
            peak = [0, 0]
            threads = [threading.Thread(target=legitimate, args=(title, stop, counts, errors)),
                       threading.Thread(target=sampling, args=(title, stop, peak, errors))]
            for t in threads:
                t.start()
            # The other legitimate clients, in a process of their own.
            others = Role("withdraw,cancel,probe" + ("" if WINDOWS else ",stale"), title)
            others.ready(120)
            with tempfile.TemporaryFile() as out:
                attackers = [attacker(title, args.seconds, args.seed + i, out)
                             for i in range(args.attackers)]
                if not WINDOWS:
                    attackers.append(subprocess.Popen(
                        [sys.executable, "-P", os.path.join(HERE, "attack_linux.py"), "--kick",
                         title, str(args.seconds), str(args.seed)],
                        stdin=subprocess.DEVNULL, stdout=out, stderr=out))
                # The hoarders come a little after the start and leave well
                # before the end: then the legitimate client must get all it asks.
                time.sleep(args.seconds * 0.1)
                hoarders = [hoarder(title, args.seconds * 0.5, args.seed + 100 + i, out)
                            for i in range(args.hoarders)]
                hoarded = [h.wait(args.seconds + 120) for h in hoarders]
                # Their connections are closed by then (Windows: their
                # doorbells are reclaimed within 250 ms of their exit).
                time.sleep(1)
                others.tell("gone")
                codes = [a.wait(args.seconds + 120) for a in attackers] + hoarded
                # At least one probe after the hoarders left (on a slow
                # machine they may leave late).
                deadline = time.monotonic() + 30
                while (not {"after", "error"} & set(others.lines)
                       and time.monotonic() < deadline):
                    time.sleep(0.05)
                stop.set()
                for t in threads:
                    t.join(120)
                result = others.finish(120)
                out.seek(0)
                report = out.read().decode(errors="replace")
            messages = sum(int(line.split()[1]) for line in report.splitlines()
                           if line.startswith("messages "))
            kicks = sum(int(line.split()[1]) for line in report.splitlines()
                        if line.startswith("kicks "))
            rings = sum(int(line.split()[1]) for line in report.splitlines()
                        if line.startswith("rings "))
            # attack_bounds: "bounds cycles C allocated A refused R connections N"
            hoards = [line.split() for line in report.splitlines()
                      if line.startswith("bounds ")]
            extra = {"stale": 0, "wrong": 0, "probes": 0, "refused": 0, "after": 0, "left": 0}
            errors += result.get("errors", [])
            extra.update(result.get("counts", {}))
            accounts = result.get("accounts", {})
            races = {"sync": Account.of(accounts.get("withdraw")),
                     "async": Account.of(accounts.get("cancel"))}
            # c_fuzz: "rung N pulled M own-view found|none", through its doorbell
            rung = [line.split() for line in report.splitlines() if line.startswith("rung ")]
            left_bytes = extra["left"] * LEFT_PAGE if WINDOWS else 0
            crashed = server.poll() is not None
            after = before
            runs_server = None
            if not crashed:
                # The server's count of the counted handler's runs, against
                # the clients' accounts (their threads have ended).
                probe.call(WM_TALLY_READ, bytearray(8))
                runs_server = probe.last_result
                # What hung-up attackers held is released as the server
                # notices them; give it a moment.
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    after = server_stats(probe)
                    if (after[0] <= before[0] + HANDLE_SLACK
                            and after[2] <= before[2] + MEMORY_SLACK + left_bytes
                            and after[3:] == before[3:]):
                        break
                    time.sleep(0.1)
    finally:
        if server.poll() is None:
            server.stdin.close()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(30)
        server.stdout.close()

    growth = (after[0] - before[0], after[1] - before[1], after[2] - before[2])
    held = after[3:]
    print(f"soak {winipc.BACKEND}: {args.seconds:g} s, seed {args.seed}, "
          f"{args.attackers} attackers")
    print(f"  hostile messages   {messages}")
    print(f"  legitimate calls   {counts['calls']} ({len(DOORBELLS)} doorbells), "
          f"wrong results {counts['wrong']}, failed calls {len(errors)}")
    runs_client = sum(a.runs for a in races.values())
    matches = runs_client == runs_server and not any(a.broken for a in races.values())
    sync, asy = races["sync"].n, races["async"].n
    print(f"  withdrawal races   calls: withdrawn {sync['withdrawn'] + asy['withdrawn']}, "
          f"started-and-given-up {sync['started'] + asy['started']}, completed "
          f"{sync['completed'] + asy['completed']}, refused {sync['refused'] + asy['refused']}")
    print(f"                     of them acalls cancelled {asy['cancelled']} (ran "
          f"{races['async'].ran['cancelled']}), started unknown "
          f"{sync['unknown'] + asy['unknown']} (ran "
          f"{races['sync'].ran['unknown'] + races['async'].ran['unknown']})")
    print(f"                     runs counted by the server {runs_server}, accounted for "
          f"{runs_client}: count matches {'yes' if matches else 'NO'}")
    if WINDOWS:
        print("  standby socket     Linux only (a Windows server has no standby thread)")
    else:
        print(f"  standby socket     kicks sent {kicks}, stale-poll rounds {extra['stale']}")
        print(f"  doorbell rings     {rings} of the messages wrote, filled, blocked or "
              f"closed a ring")
    print(f"  server-wide bounds {len(hoards)} hoarders: {sum(int(h[2]) for h in hoards)} cycles, "
          f"{sum(int(h[4]) for h in hoards)} buffers/sections taken, "
          f"{sum(int(h[6]) for h in hoards)} refusals, {sum(int(h[8]) for h in hoards)} "
          f"connections")
    print(f"                     peak held {peak[0]} handles, {peak[1]} bytes; legitimate "
          f"client: {extra['probes']} probes, refused {extra['refused']} (documented), "
          f"{extra['after']} after they left, refused 0")
    if rung:
        print(f"  through a doorbell {sum(int(r[1]) for r in rung)} requests and garbage, "
              f"its page pulled {sum(int(r[3]) for r in rung)} times "
              f"(own view found: {sum(r[5] == 'found' for r in rung)} of {len(rung)})")
    print(f"  server crashed     {f'yes, exit code {server.returncode}' if crashed else 'no'}")
    print(f"  server growth      fds/handles {growth[0]:+d}, threads {growth[1]:+d}, "
          f"mapped {growth[2]:+d} bytes"
          + (f" (given-up calls left {extra['left']} buffers, as documented)"
             if left_bytes else ""))
    print(f"  held for clients   {held[0]} handles, {held[1]} bytes (bounded; "
          f"the probe's before: {'yes' if held == before[3:] else 'no'})")
    if any(codes):
        failures.append(f"an attacker failed: exit codes {codes}\n{report[-2000:]}")
    if crashed:
        failures.append("the server crashed")
    if counts["wrong"] or errors:
        failures.append(f"legitimate calls: {counts['wrong']} wrong, errors {errors[:3]}")
    if counts["calls"] == 0 or messages == 0:
        failures.append("nothing was exchanged")
    if extra["wrong"]:
        failures.append(f"{extra['wrong']} wrong answers to the stale-poll driver or the probes")
    for name, a in races.items():
        if a.broken:
            failures.append(f"{name} withdrawal races: {a.broken[:5]}")
    unknown = races["sync"].n["unknown"] + races["async"].n["unknown"]
    if not WINDOWS and unknown:
        # Linux has no classic path, and each connection here is one
        # thread's: every call given up must say what became of it.
        failures.append(f"{unknown} calls given up said started None")
    if runs_client != runs_server:
        failures.append(f"the server ran the counted handler {runs_server} times, the clients "
                        f"account for {runs_client}")
    if len(hoards) != args.hoarders or extra["after"] == 0:
        failures.append(f"the bounds part did not run through: {len(hoards)} hoarders reported, "
                        f"{extra['after']} probes after they left")
    if not crashed and held != before[3:]:
        failures.append(f"the server still holds {held} for clients, not the probe's "
                        f"{before[3:]}")
    if growth[0] > HANDLE_SLACK or growth[1] != 0 or growth[2] > MEMORY_SLACK + left_bytes:
        failures.append(f"the server grew: {growth}")
    for f in failures:
        print("FAILED:", f)
    if runtime is not None:
        runtime.cleanup()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
