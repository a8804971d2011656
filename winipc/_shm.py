"""The Linux backend's named kernel objects in /dev/shm, as ``python -m
winipc ls`` and ``clean`` see them.

Where the objects live, how a file found at a name is trusted and when a
name goes are the native module's (``_native/linux/names.pxi``, in
winipc._kernel): this module re-exports what the facade uses of it, and adds
what only the listing needs, the processes that hold each object.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

# Linux only (the Linux winipc._kernel has these names): type checkers skip
# the rest of the module for Windows.
assert sys.platform != "win32"

from ._kernel import (FILE_PREFIX, SHM_DIR, name_path, object_files,  # noqa: E402
                      sweep, sweep_once)

__all__ = ["FILE_PREFIX", "SHM_DIR", "ObjectFile", "name_path", "objects", "sweep",
           "sweep_once"]


@dataclass
class ObjectFile:
    """One named object's file of this user in /dev/shm."""
    name: str                   # the Win32 name (Local\\x, Global\\x)
    path: str
    kind: str                   # Mutex, Event, Semaphore, FileMapping; "?" if not ours
    size: int                   # the file's bytes
    in_use: bool                # some open file description holds its flock
    pids: list[int] = field(default_factory=list)   # processes with an fd or a view of it


def _locked_inodes() -> set[tuple[int, int]]:
    """(major:minor, inode) of every file with a flock, from /proc/locks."""
    held: set[tuple[int, int]] = set()
    try:
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except OSError:
        return held
    for line in lines:
        parts = line.split()
        if "FLOCK" not in parts or "->" in parts:
            continue
        try:
            major, minor, inode = parts[parts.index("FLOCK") + 4].split(":")
            held.add((os.makedev(int(major, 16), int(minor, 16)), int(inode)))
        except (IndexError, ValueError):
            continue
    return held


def _holders() -> dict[tuple[int, int], set[int]]:
    """The processes (of this user; others' cannot be seen) that hold a file
    of /dev/shm, by its (st_dev, st_ino): by an fd, or by a mapping (a view,
    an owned mutex).  By inode, since the fd of a creator names the unnamed
    file it published (``/dev/shm/#N (deleted)``), not the name."""
    found: dict[tuple[int, int], set[int]] = {}
    shm = SHM_DIR + "/"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(shm):
                    st = os.stat(f"/proc/{pid}/fd/{fd}")
                    found.setdefault((st.st_dev, st.st_ino), set()).add(pid)
            except OSError:
                continue
        try:
            with open(f"/proc/{pid}/maps") as maps:
                for line in maps:
                    parts = line.split(None, 5)
                    if len(parts) == 6 and parts[5].startswith(shm):
                        major, minor = parts[3].split(":")
                        key = (os.makedev(int(major, 16), int(minor, 16)), int(parts[4]))
                        found.setdefault(key, set()).add(pid)
        except (OSError, ValueError):
            continue
    return found


def objects() -> list[ObjectFile]:
    """This user's named objects in /dev/shm, with the processes that hold
    each (``python -m winipc ls``)."""
    held = _locked_inodes()
    holders = _holders()
    out = []
    for name, path, kind, st in object_files():
        ident = (st.st_dev, st.st_ino)
        out.append(ObjectFile(name, path, kind, st.st_size, ident in held,
                              sorted(holders.get(ident, ()))))
    return out
