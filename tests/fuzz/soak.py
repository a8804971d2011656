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

Prints its figures and exits 1 on a crash, a wrong result, a failed call
of the legitimate client, or growth."""

import argparse
import os
import random
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
                     WM_SMALL, WM_STATS)

# Growth the server may show after the attack: threads exactly; fds or
# handles within what the runtime opens lazily (the same slack as
# tests/test_robustness.py); memory within the allocator's slack.
HANDLE_SLACK = 2
MEMORY_SLACK = 4 << 20


def server_stats(conn):
    """What the server process holds, less what it holds for clients
    (Server.held): that is bounded, and on Windows outlives its sender, since
    a window cannot tell who sent it a message."""
    s = conn.call(WM_STATS, Stats())
    return s.handles - s.held_handles, s.threads, s.mapped, s.held_handles, s.held_bytes


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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--attackers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args(argv)

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
            client = threading.Thread(target=legitimate, args=(title, stop, counts, errors))
            client.start()
            with tempfile.TemporaryFile() as out:
                attackers = [attacker(title, args.seconds, args.seed + i, out)
                             for i in range(args.attackers)]
                codes = [a.wait(args.seconds + 120) for a in attackers]
                stop.set()
                client.join(60)
                out.seek(0)
                report = out.read().decode(errors="replace")
            messages = sum(int(line.split()[1]) for line in report.splitlines()
                           if line.startswith("messages "))
            # c_fuzz: "rung N pulled M own-view found|none", through its doorbell
            rung = [line.split() for line in report.splitlines() if line.startswith("rung ")]
            crashed = server.poll() is not None
            after = before
            if not crashed:
                # What hung-up attackers held is released as the server
                # notices them; give it a moment.
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    after = server_stats(probe)
                    if (after[0] <= before[0] + HANDLE_SLACK
                            and after[2] <= before[2] + MEMORY_SLACK):
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
    if rung:
        print(f"  through a doorbell {sum(int(r[1]) for r in rung)} requests and garbage, "
              f"its page pulled {sum(int(r[3]) for r in rung)} times "
              f"(own view found: {sum(r[5] == 'found' for r in rung)} of {len(rung)})")
    print(f"  server crashed     {f'yes, exit code {server.returncode}' if crashed else 'no'}")
    print(f"  server growth      fds/handles {growth[0]:+d}, threads {growth[1]:+d}, "
          f"mapped {growth[2]:+d} bytes")
    print(f"  held for clients   {held[0]} handles, {held[1]} bytes (bounded)")
    if any(codes):
        failures.append(f"an attacker failed: exit codes {codes}\n{report[-2000:]}")
    if crashed:
        failures.append("the server crashed")
    if counts["wrong"] or errors:
        failures.append(f"legitimate calls: {counts['wrong']} wrong, errors {errors[:3]}")
    if counts["calls"] == 0 or messages == 0:
        failures.append("nothing was exchanged")
    if growth[0] > HANDLE_SLACK or growth[1] != 0 or growth[2] > MEMORY_SLACK:
        failures.append(f"the server grew: {growth}")
    for f in failures:
        print("FAILED:", f)
    if runtime is not None:
        runtime.cleanup()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
