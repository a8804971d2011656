"""What a Windows module links to, read from its PE headers with pefile.

    python pe_check.py check MODULE.pyd PyInit_NAME
        fails unless MODULE.pyd exports PyInit_NAME and imports nothing but
        python3.dll, the UCRT and DLLs of Windows itself (bad_imports)
    python pe_check.py def python3.dll OUT.def
        writes the module-definition file of a DLL's exports, from which
        `python -m ziglang dlltool` makes an import library

compile.sh runs `check` on every module it builds, and
tests/test_windows_build.py applies bad_imports to the installed modules.
Used by the host's Python (Linux) and by the Windows CPython alike.
"""

import re
import sys

import pefile

# What a module of a wheel for python.org's CPython may need at run time:
# the stable ABI's python3.dll; the Universal C Runtime that CPython itself
# uses (ucrtbase.dll and its api-ms-win-crt-* API sets, part of Windows 10
# and later); and DLLs of Windows itself.  Not msvcrt.dll (the old C runtime
# of MinGW-w64 GCC's default target, a second C runtime beside CPython's),
# nor vcruntime140.dll (MSVC's runtime, which CPython ships but a module
# built by clang for the GNU target does not need).
ALLOWED = re.compile(
    r"python3\.dll|ucrtbase\.dll|api-ms-win-crt-[a-z0-9-]+\.dll"
    r"|kernel32\.dll|user32\.dll|advapi32\.dll|ntdll\.dll",
    re.IGNORECASE)


def bad_imports(dlls):
    """The names in ``dlls`` that a module may not import, sorted."""
    return sorted(d for d in dlls if not ALLOWED.fullmatch(d))


def _pe(path, *directories):
    pe = pefile.PE(path, fast_load=True)
    pe.parse_data_directories(
        directories=[pefile.DIRECTORY_ENTRY[d] for d in directories])
    return pe


def imports(path):
    """The DLLs that the PE file ``path`` imports from (its import table)."""
    pe = _pe(path, "IMAGE_DIRECTORY_ENTRY_IMPORT")
    return [e.dll.decode("ascii") for e in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])]


def exports(path):
    """The names that the PE file ``path`` exports."""
    pe = _pe(path, "IMAGE_DIRECTORY_ENTRY_EXPORT")
    table = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
    return [s.name.decode("ascii") for s in (table.symbols if table else []) if s.name]


def machine(path):
    """The PE machine type of ``path``: 'x64', 'x86' or the number."""
    number = pefile.PE(path, fast_load=True).FILE_HEADER.Machine
    return {0x8664: "x64", 0x14C: "x86"}.get(number, hex(number))


def main(argv):
    if len(argv) == 3 and argv[0] == "check":
        path, init = argv[1], argv[2]
        dlls = imports(path)
        bad = bad_imports(dlls)
        if bad:
            sys.exit(f"{path} imports {', '.join(bad)}: only python3.dll, the UCRT "
                     "(ucrtbase.dll, api-ms-win-crt-*.dll) and Windows' own DLLs may be")
        if init not in exports(path):
            sys.exit(f"{path} does not export {init}")
        print(f"{machine(path)} imports: {' '.join(sorted(dlls, key=str.lower))}")
        return
    if len(argv) == 3 and argv[0] == "def":
        dll, out = argv[1], argv[2]
        names = exports(dll)
        if not names:
            sys.exit(f"{dll} exports nothing")
        name = dll.replace("\\", "/").rsplit("/", 1)[-1]
        with open(out, "w", encoding="ascii", newline="\n") as f:
            f.write(f"; The {len(names)} exports of {name}, written by\n"
                    "; `python scripts/windows/pe_check.py def`.\n"
                    f"LIBRARY {name}\nEXPORTS\n")
            f.writelines(export + "\n" for export in names)
        return
    sys.exit(__doc__.strip().split("\n\n")[1])


if __name__ == "__main__":
    main(sys.argv[1:])
