"""The Win32 numbers: written once (windows.h on Windows, win32_values.h on
Linux), exported by winipc._win32, and exposed as enums by winipc.constants."""

import ast
import enum
import os
import re

import pytest

import winipc
from winipc import _win32, constants as c
from winipc import kernel as k

# Which enum holds each exported number, by its Win32 prefix.
FAMILIES = [
    ("ERROR_", c.WinError), ("WAIT_", c.WaitResult), ("PROCESS_", c.ProcessAccess),
    ("MUTEX_", c.MutexAccess), ("EVENT_", c.EventAccess), ("SEMAPHORE_", c.SemaphoreAccess),
    ("FILE_MAP_", c.FileMapAccess), ("STANDARD_RIGHTS_", c.StandardAccess),
]


def _numbers():
    return {n: v for n, v in vars(_win32).items() if n.isupper() and isinstance(v, int)}


# Numbers only a backend's own code needs (spawn on Windows), not the API's.
INTERNAL = {"CREATE_SUSPENDED"}


def test_every_exported_number_has_its_enum_member():
    for name, value in _numbers().items():
        if name in INTERNAL:
            continue
        if name in ("WM_USER", "WM_APP"):
            assert getattr(c, name) == value
            continue
        for prefix, family in FAMILIES:
            if name.startswith(prefix):
                member = family[name[len(prefix):]]
                break
        else:
            member = c.StandardAccess[name]
        assert member == value, name


@pytest.mark.parametrize("name, sdk", [
    # A sample of the Windows SDK's values (winerror.h, winbase.h, winnt.h,
    # winuser.h): on Linux they check the one header that repeats them.
    ("ERROR_FILE_NOT_FOUND", 2), ("ERROR_ACCESS_DENIED", 5), ("ERROR_INVALID_HANDLE", 6),
    ("ERROR_INSUFFICIENT_BUFFER", 122), ("ERROR_ALREADY_EXISTS", 183),
    ("ERROR_PARTIAL_COPY", 299), ("ERROR_INVALID_ADDRESS", 487),
    ("ERROR_UNHANDLED_EXCEPTION", 574), ("ERROR_INVALID_MESSAGE", 1002),
    ("ERROR_CONNECTION_COUNT_LIMIT", 1238), ("ERROR_INVALID_WINDOW_HANDLE", 1400),
    ("ERROR_TIMEOUT", 1460), ("ERROR_NOT_ENOUGH_QUOTA", 1816),
    ("WAIT_OBJECT_0", 0), ("WAIT_ABANDONED", 0x80), ("WAIT_TIMEOUT", 0x102),
    ("SYNCHRONIZE", 0x00100000), ("STANDARD_RIGHTS_REQUIRED", 0x000F0000),
    ("PROCESS_VM_OPERATION", 0x8), ("PROCESS_VM_READ", 0x10), ("PROCESS_VM_WRITE", 0x20),
    ("PROCESS_DUP_HANDLE", 0x40), ("MUTEX_ALL_ACCESS", 0x1F0001),
    ("EVENT_ALL_ACCESS", 0x1F0003), ("SEMAPHORE_ALL_ACCESS", 0x1F0003),
    ("FILE_MAP_READ", 0x4), ("FILE_MAP_ALL_ACCESS", 0xF001F), ("WM_USER", 0x400),
    ("WM_APP", 0x8000), ("CREATE_SUSPENDED", 0x4),
])
def test_values_are_the_sdks(name, sdk):
    assert _numbers()[name] == sdk


def test_enums_and_the_win32_names_agree():
    assert issubclass(c.WinError, enum.IntEnum) and issubclass(c.FileMapAccess, enum.IntFlag)
    assert k.SYNCHRONIZE is c.StandardAccess.SYNCHRONIZE
    assert k.FILE_MAP_READ is c.FileMapAccess.READ
    assert winipc.Access is c.ProcessAccess
    assert c.EventAccess.ALL_ACCESS & c.EventAccess.MODIFY_STATE
    # Rights of two families combine into an int that access= takes.
    both = c.EventAccess.MODIFY_STATE | c.StandardAccess.SYNCHRONIZE
    assert both == _win32.EVENT_MODIFY_STATE | _win32.SYNCHRONIZE


def test_an_errors_winerror_is_a_winerror_member():
    with pytest.raises(winipc.ObjectNotFound) as info:
        k.Event.open("winipc-test-constants-no-such-event")
    assert info.value.winerror is c.WinError.FILE_NOT_FOUND
    # A code winipc does not know stays a plain int.
    err = winipc._errors.error_from_winerror(0x7FFF, "SomeCall")
    assert type(err.winerror) is int and err.winerror == 0x7FFF


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as f:
        return f.read()


def test_each_win32_name_is_in_every_place_that_types_it():
    # A Win32 name is typed in five places: the Linux value header (Windows:
    # windows.h), win32_values.pxd, _win32.pyx, _win32.pyi and constants.py.
    # Each place has exactly the same names, and only the header has numbers.
    header = set(re.findall(r"^#define[ \t]+([A-Z][A-Z0-9_]*)[ \t]+\S", _read(
        "_native", "linux", "win32_values.h"), re.M))
    pxd_source = _read("_native", "common", "win32_values.pxd")
    pxd = set(re.findall(r"^ {8}([A-Z][A-Z0-9_]*)\s*$", pxd_source, re.M))
    pyx_source = _read("_native", "common", "_win32.pyx")
    pyx = set(re.findall(r"^([A-Z][A-Z0-9_]*) = w\.\1\s*$", pyx_source, re.M))
    assigned = set(re.findall(r"^([A-Z][A-Z0-9_]*)\s*=", pyx_source, re.M))
    stub = {node.target.id for node in ast.parse(_read("winipc", "_win32.pyi")).body
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
            and node.target.id.isupper()}
    used, literals = set(), []
    for node in ast.walk(ast.parse(_read("winipc", "constants.py"))):
        if isinstance(node, ast.Assign) or isinstance(node, ast.AnnAssign):
            value = node.value
            if (isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name)
                    and value.value.id == "_w"):
                used.add(value.attr)
            elif isinstance(value, ast.Constant) and isinstance(value.value, int):
                literals.append(ast.unparse(node))
    runtime = set(_numbers())
    assert len(header) > 40, header
    assert pxd == header, (sorted(pxd - header), sorted(header - pxd))
    assert pyx == assigned == pxd, (sorted(pyx ^ pxd), sorted(assigned - pyx))
    assert stub == pyx, (sorted(stub - pyx), sorted(pyx - stub))
    assert runtime == stub, (sorted(runtime - stub), sorted(stub - runtime))
    assert used == runtime - INTERNAL, (sorted(used - runtime), sorted(runtime - INTERNAL - used))
    assert not literals, f"constants.py writes numbers of its own: {literals}"
