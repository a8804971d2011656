"""The winipc command:

    python -m winipc bench [options]     (or: winipc bench [options])

bench: the round-trip latency benchmark of winipc.bench, against a server
in a child process; ``python -m winipc bench --help`` for its options."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from . import __version__, bench

    ap = argparse.ArgumentParser(
        prog="winipc", description="Windows-style inter-process communication: commands.")
    ap.add_argument("--version", action="version", version=f"winipc {__version__}")
    commands = ap.add_subparsers(dest="command", metavar="COMMAND")
    bench.add_arguments(commands.add_parser(
        "bench", help="the round-trip latency benchmark (p50/p99/mean per size and path)",
        description=bench.parser().description, epilog=bench.parser().epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter))
    args = ap.parse_args(argv)
    if args.command == "bench":
        return bench.main(args=args)
    ap.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
