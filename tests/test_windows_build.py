"""The Windows wheel as it was built (scripts/windows/compile.sh, zig's clang):
what its installed modules link to, read from their PE import tables with
pefile; the import library's list of python3.dll's exports; and the
hand-written pyconfig.h they were compiled against, compared with the Windows
CPython that runs these tests (its type sizes from ctypes and struct)."""

import ast
import ctypes
import importlib.util
import pathlib
import re
import struct
import sys
import sysconfig
import time

import pytest

if sys.platform != "win32":
    pytest.skip("reads the installed Windows modules and compares pyconfig.h with a "
                "Windows CPython: this is not Windows", allow_module_level=True)

import winipc  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
WINDOWS = ROOT / "scripts" / "windows"
X64 = sys.maxsize > 2**32


def _load_pe_check():
    # The one rule of what a module may import, shared with compile.sh (which
    # runs it on the host): scripts/ is not a package, so loaded by path.
    spec = importlib.util.spec_from_file_location("pe_check", WINDOWS / "pe_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pe_check = _load_pe_check()


def setup_modules():
    """setup.py's MODULES, read without running setup.py."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets
                                             if isinstance(t, ast.Name)] == ["MODULES"]:
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py has no MODULES = [...]")


# --- what the installed modules import ------------------------------------------

def installed_modules():
    folder = pathlib.Path(winipc.__file__).parent
    return sorted(folder.glob("*.pyd"))


def test_the_installed_modules_are_setup_pys():
    assert sorted(p.stem for p in installed_modules()) == sorted(setup_modules())


@pytest.mark.parametrize("name", setup_modules())
def test_module_imports_only_python3_ucrt_and_windows(name):
    path = pathlib.Path(winipc.__file__).parent / f"{name}.pyd"
    dlls = pe_check.imports(path)
    lower = {d.lower() for d in dlls}
    assert pe_check.bad_imports(dlls) == [], f"{path.name} imports {sorted(dlls)}"
    # the stable ABI's DLL, never a python3XY.dll; the UCRT, as CPython
    assert "python3.dll" in lower
    assert any(d.startswith("api-ms-win-crt-") or d == "ucrtbase.dll" for d in lower), dlls
    assert "msvcrt.dll" not in lower and "vcruntime140.dll" not in lower
    assert f"PyInit_{name}" in pe_check.exports(path)
    assert pe_check.machine(path) == ("x64" if X64 else "x86")


@pytest.mark.parametrize("dlls, bad", [
    (["python3.dll", "KERNEL32.dll", "USER32.dll", "ADVAPI32.dll", "ntdll.dll"], []),
    (["python3.dll", "api-ms-win-crt-runtime-l1-1-0.dll", "ucrtbase.dll"], []),
    # MinGW-w64 GCC's default C runtime: a second one beside CPython's UCRT
    (["python3.dll", "KERNEL32.dll", "msvcrt.dll"], ["msvcrt.dll"]),
    (["python3.dll", "VCRUNTIME140.dll"], ["VCRUNTIME140.dll"]),
    # a version's own DLL would tie the abi3 module to that version
    (["python311.dll", "KERNEL32.dll"], ["python311.dll"]),
    (["python3.dll", "libgcc_s_seh-1.dll", "libwinpthread-1.dll"],
     ["libgcc_s_seh-1.dll", "libwinpthread-1.dll"]),
    (["api-ms-win-core-synch-l1-2-0.dll"], ["api-ms-win-core-synch-l1-2-0.dll"]),
])
def test_the_import_rule(dlls, bad):
    assert pe_check.bad_imports(dlls) == bad


def test_python3_def_is_what_this_python3_dll_exports():
    """compile.sh's import library comes from python3.def (CPython 3.11.9's
    python3.dll): each name must be exported by this CPython's python3.dll,
    and on 3.11.9 it is that list exactly."""
    text = (WINDOWS / "python3.def").read_text(encoding="ascii")
    body = [line for line in text.splitlines() if line and not line.startswith(";")]
    assert body[:2] == ["LIBRARY python3.dll", "EXPORTS"]
    names = body[2:]
    assert len(names) == len(set(names)) > 800
    exported = set(pe_check.exports(pathlib.Path(sys.base_prefix) / "python3.dll"))
    assert sorted(set(names) - exported) == []
    if sys.version_info[:3] == (3, 11, 9):
        assert sorted(names) == sorted(exported)


# --- pyconfig.h against this CPython -----------------------------------------------

# The C limits that pyconfig.h's values name.
LIMITS = {"LLONG_MAX": 2**63 - 1, "INT_MAX": 2**31 - 1}
DEFINE = re.compile(r"\s*#\s*define\s+(\w+)(?:[ \t]+(.*?))?\s*(?:/\*.*)?$")
TYPEDEF = re.compile(r"\s*typedef\s+([\w ]+?)\s+Py_ssize_t\s*;")
CTYPES = {"long long": ctypes.c_longlong, "int": ctypes.c_int, "long": ctypes.c_long}


def pyconfig_texts():
    """pyconfig.h and the part of this interpreter's bitness."""
    part = "pyconfig-x64.h" if X64 else "pyconfig-x86.h"
    return [(WINDOWS / name).read_text(encoding="ascii") for name in ("pyconfig.h", part)]


def parse(texts):
    """{macro: its value as written ('' for a flag)} and Py_ssize_t's C type,
    from the #define and typedef lines.  (No C preprocessor on the Windows
    side; what depends on the bitness is in files of its own, so that the
    values compared here are unconditional lines.)"""
    defines, ssize = {}, None
    for text in texts:
        for line in text.splitlines():
            m = DEFINE.match(line)
            if m:
                assert m.group(1) not in defines, f"{m.group(1)} defined twice"
                defines[m.group(1)] = m.group(2) or ""
            m = TYPEDEF.match(line)
            if m:
                assert ssize is None, "Py_ssize_t typedef'd twice"
                ssize = m.group(1)
    return defines, ssize


def value(defines, name):
    """A macro's value: a number, a string, True for a flag; None if not defined."""
    if name not in defines:
        return None
    text = defines[name]
    if text == "":
        return True
    if text in defines:
        return value(defines, text)
    if text in LIMITS:
        return LIMITS[text]
    if text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    return int(text, 0)


def time_t_size():
    # time.gmtime() refuses a number that its time_t cannot hold.
    try:
        time.gmtime(2**33)
    except OverflowError:
        return 4
    return 8


def interpreter():
    """What pyconfig.h must state, as this CPython has it (None: the macro
    must not be defined)."""
    c = ctypes
    return {
        "SIZEOF_SHORT": c.sizeof(c.c_short),
        "SIZEOF_INT": c.sizeof(c.c_int),
        "SIZEOF_LONG": c.sizeof(c.c_long),
        "SIZEOF_LONG_LONG": c.sizeof(c.c_longlong),
        "SIZEOF_FLOAT": c.sizeof(c.c_float),
        "SIZEOF_DOUBLE": c.sizeof(c.c_double),
        "SIZEOF_VOID_P": c.sizeof(c.c_void_p),
        "SIZEOF_SIZE_T": c.sizeof(c.c_size_t),
        "SIZEOF_UINTPTR_T": struct.calcsize("P"),
        "SIZEOF_HKEY": c.sizeof(c.c_void_p),          # a HANDLE
        "SIZEOF_WCHAR_T": c.sizeof(c.c_wchar),
        "SIZEOF__BOOL": c.sizeof(c.c_bool),
        "SIZEOF_OFF_T": c.sizeof(c.c_long),            # the CRT's off_t is a long
        "SIZEOF_FPOS_T": c.sizeof(c.c_longlong),       # and fpos_t an __int64
        "SIZEOF_PID_T": c.sizeof(c.c_int),             # _getpid() returns an int
        "SIZEOF_TIME_T": time_t_size(),
        "ALIGNOF_LONG": c.alignment(c.c_long),
        "ALIGNOF_SIZE_T": c.alignment(c.c_size_t),
        # max_align_t: the strictest alignment of a scalar type
        "ALIGNOF_MAX_ALIGN_T": max(c.alignment(t) for t in (
            c.c_longlong, c.c_double, c.c_longdouble, c.c_void_p)),
        "PY_SSIZE_T_MAX": sys.maxsize,
        "PYLONG_BITS_IN_DIGIT": sys.int_info.bits_per_digit,
        "PLATFORM": sys.platform,
        "MS_WINDOWS": True,
        "MS_WIN32": True,
        "MS_WIN64": True if X64 else None,
        # CPython in a DLL of its own, beside python3.dll
        "Py_ENABLE_SHARED": 1 if (pathlib.Path(sys.base_prefix)
                                  / f"python{sys.version_info[0]}{sys.version_info[1]}.dll").is_file()
                            else None,
        "DOUBLE_IS_LITTLE_ENDIAN_IEEE754":
            1 if float.__getformat__("double") == "IEEE, little-endian" else None,
        "Py_GIL_DISABLED": 1 if sysconfig.get_config_var("Py_GIL_DISABLED") else None,
    }


def mismatches(texts, expected):
    """[(what, pyconfig.h's value, this CPython's)] where they differ, and
    every SIZEOF_/ALIGNOF_ macro of the files that nothing compares."""
    defines, ssize = parse(texts)
    out = [(name, value(defines, name), want) for name, want in expected.items()
           if value(defines, name) != want]
    out += [(name, defines[name], "not compared") for name in defines
            if name.startswith(("SIZEOF_", "ALIGNOF_")) and name not in expected]
    ssize_bytes = ctypes.sizeof(CTYPES[ssize]) if ssize in CTYPES else ssize
    if ssize_bytes != struct.calcsize("n"):
        out.append(("typedef Py_ssize_t", ssize, struct.calcsize("n")))
    return out


def test_pyconfig_h_matches_this_cpython():
    assert mismatches(pyconfig_texts(), interpreter()) == []


def test_this_cpython_is_not_free_threaded():
    # the abi3 wheel is for GIL builds only (pyconfig.h does not define
    # Py_GIL_DISABLED): what interpreter() says of this CPython, plainly
    assert not sysconfig.get_config_var("Py_GIL_DISABLED")


@pytest.mark.parametrize("edit, name", [
    (("#define SIZEOF_LONG 4", "#define SIZEOF_LONG 8"), "SIZEOF_LONG"),
    (("#define SIZEOF_WCHAR_T 2", "#define SIZEOF_WCHAR_T 4"), "SIZEOF_WCHAR_T"),
    (("#define PLATFORM \"win32\"", "#define PLATFORM \"linux\""), "PLATFORM"),
    (("#define HAVE_LONG_LONG 1", "#define HAVE_LONG_LONG 1\n#define Py_GIL_DISABLED 1"),
     "Py_GIL_DISABLED"),
    (("#define ALIGNOF_LONG 4", "#define ALIGNOF_LONG 4\n#define SIZEOF_LONG_DOUBLE 16"),
     "SIZEOF_LONG_DOUBLE"),
])
def test_the_comparison_finds_a_wrong_pyconfig_h(edit, name):
    common, part = pyconfig_texts()
    assert edit[0] in common
    wrong = common.replace(edit[0], edit[1])
    assert [m[0] for m in mismatches([wrong, part], interpreter())] == [name]


def test_the_comparison_finds_a_wrong_bitness():
    # the other bitness's part in place of this one's
    common, _ = pyconfig_texts()
    other = (WINDOWS / ("pyconfig-x86.h" if X64 else "pyconfig-x64.h")).read_text(encoding="ascii")
    found = {m[0] for m in mismatches([common, other], interpreter())}
    assert {"SIZEOF_VOID_P", "SIZEOF_SIZE_T", "PY_SSIZE_T_MAX", "MS_WIN64",
            "typedef Py_ssize_t"} <= found
