"""The winipc command:

    python -m winipc bench [options]     (or: winipc bench [options])
    python -m winipc ls                  (Linux)
    python -m winipc clean               (Linux)

bench: the round-trip latency benchmark of winipc.bench, against a server
in a child process; ``python -m winipc bench --help`` for its options.

ls: this user's named kernel objects (their files in /dev/shm) and servers
(their endpoints), with the processes that hold them, and which of them no
process holds any more.  clean: removes those.  On Windows an object goes
with its last handle, also when a process dies, so neither has anything to
do there."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class _Endpoint:
    """One server endpoint (its socket) of this user."""
    path: str
    tid: int
    pid: int | None         # None: its thread is gone
    command: str
    title: str | None       # None: the server wrote none (or it is gone)


def _command_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


if sys.platform != "win32":
    # ls and clean: what Linux leaves in files (Windows has nothing to list).

    def _endpoints() -> tuple[str, list[_Endpoint]]:
        """The endpoint folder and the server sockets in it."""
        from . import _rpc
        folder = _rpc.endpoint_dir()
        found = []
        for name in sorted(os.listdir(folder)):
            if not (name.startswith("s-") and name.endswith(".sock") and name[2:-5].isdigit()):
                continue
            tid = int(name[2:-5])
            pid = None
            try:
                with open(f"/proc/{tid}/status") as f:
                    for line in f:
                        if line.startswith("Tgid:"):
                            pid = int(line.split()[1])
            except (OSError, ValueError):
                pass
            title = None
            try:
                with open(os.path.join(folder, f"n-{tid}.title"), encoding="utf-8",
                          errors="replace") as f:
                    title = f.read()
            except OSError:
                pass
            found.append(_Endpoint(os.path.join(folder, name), tid, pid,
                                   "" if pid is None else _command_of(pid), title))
        return folder, found


    def _ls() -> int:
        from . import _shm
        write = sys.stdout.write
        uid = os.geteuid()
        objects = _shm.objects()
        write(f"named objects of uid {uid} ({_shm.SHM_DIR}): {len(objects)}\n")
        for o in objects:
            if not o.in_use:
                state = "unused: nothing holds it (clean removes it)"
            elif o.pids:
                state = "held by pid " + ", ".join(map(str, o.pids))
            else:
                state = "held (by processes of another user)"
            write(f"  {o.kind:<11} {o.name}  {o.size} bytes  {state}\n")
        folder, endpoints = _endpoints()
        write(f"servers of uid {uid} ({folder}): {len(endpoints)}\n")
        for e in endpoints:
            title = "(no title)" if e.title is None else repr(e.title)
            if e.pid is None:
                write(f"  {title}  {os.path.basename(e.path)}  gone: its thread {e.tid} ended "
                      "(clean removes it)\n")
            else:
                write(f"  {title}  {os.path.basename(e.path)}  pid {e.pid}  {e.command}\n")
        return 0


    def _clean() -> int:
        from . import _rpc, _shm
        removed = _shm.sweep()
        for name in removed:
            sys.stdout.write(f"removed {name}\n")
        _, before = _endpoints()
        _rpc._sweep()
        _, after = _endpoints()
        left = {e.path for e in after}
        gone = [e for e in before if e.path not in left]
        for e in gone:
            sys.stdout.write(f"removed the endpoint {os.path.basename(e.path)} (thread {e.tid})\n")
        sys.stdout.write(f"{len(removed)} objects and {len(gone)} server endpoints removed; "
                         "what a live process holds stays\n")
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m winipc``: runs the command in ``argv`` (by default the
    command line's), and returns the exit status."""
    from . import __version__, bench

    ap = argparse.ArgumentParser(
        prog="winipc", description="Windows-style inter-process communication: commands.")
    ap.add_argument("--version", action="version", version=f"winipc {__version__}")
    commands = ap.add_subparsers(dest="command", metavar="COMMAND")
    bench.add_arguments(commands.add_parser(
        "bench", help="the round-trip latency benchmark (p50/p99/mean per size and path)",
        description=bench.parser().description, epilog=bench.parser().epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter))
    commands.add_parser(
        "ls", help="this user's named objects and servers, with the pids that hold them "
        "(Linux)", description="Lists this user's named kernel objects (files in /dev/shm) "
        "and servers (endpoints), with the processes that hold them, and what no process "
        "holds any more.")
    commands.add_parser(
        "clean", help="removes what no process holds any more (Linux)",
        description="Removes this user's named objects that no process holds any more, and "
        "the endpoints of servers that are gone.  Anything a live process holds stays.")
    args = ap.parse_args(argv)
    if args.command == "bench":
        return bench.main(args=args)
    if args.command in ("ls", "clean"):
        if sys.platform == "win32":
            sys.stdout.write("nothing to do on Windows: an object goes with its last handle, "
                             "also when a process ends, and a server's window with its "
                             "thread\n")
            return 0
        else:
            return _ls() if args.command == "ls" else _clean()
    ap.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
