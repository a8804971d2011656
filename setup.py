"""Builds the native backend of winipc (see _native/README.md): the Cython
modules of MODULES, from _native/<platform>/<name>.pyx (or, for a module
both platforms build from one source, _native/common/<name>.pyx), as the
extensions winipc.<name>, for the stable ABI of CPython 3.11 and later (abi3, Cython's
limited-API mode).  Everything else about the package is in pyproject.toml.

The platform is the running one, except when the Windows wheel is made on
Linux: scripts/windows/build-wheel.sh cross-compiles the modules with zig's
clang (scripts/windows/compile.sh, with the same limited API) and sets
WINIPC_PREBUILT to the folder of the results (winipc/<name>.pyd), and
WINIPC_PREBUILT_PLAT to their platform (win_amd64, the default, or win32);
setuptools then compiles nothing, but packs those files with the package and
its metadata into the wheel of that platform.  That is how the Windows wheels
that ship are built (.github/workflows/release.yml).  For those scripts:

    python setup.py --list-modules     MODULES, one a line
    python setup.py --source NAME       the .pyx of module NAME for Windows
    python setup.py --limited-api      the Py_LIMITED_API value (hex)
"""

import os
import shutil
import sys
import sysconfig

# The extension modules, winipc.<name>, of every platform.
MODULES = ["_rpc", "_kernel", "_win32"]

# The stable ABI built for; the wheels' tag (cp311-abi3) follows from it.
LIMITED_API = 0x030B0000
LIMITED_API_TAG = "cp311"



def source(platform, name):
    """The .pyx of module ``name``: the platform's own, else the common one."""
    own = os.path.join("_native", platform, name + ".pyx")
    return own if os.path.isfile(own) else os.path.join("_native", "common", name + ".pyx")


if __name__ == "__main__" and sys.argv[1:] in (["--list-modules"], ["--limited-api"]):
    print("\n".join(MODULES) if sys.argv[1] == "--list-modules" else f"0x{LIMITED_API:08X}")
    sys.exit(0)
if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--source":
    print(source("windows", sys.argv[2]))
    sys.exit(0)

# pip on a free-threaded CPython (3.13t, 3.14t) takes no abi3 wheel and comes
# here with the sdist; CPython's headers would then stop the compile with an
# #error about the limited API.  Said plainly instead, before anything else
# (winipc/__init__.py says the same at import).
if sysconfig.get_config_var("Py_GIL_DISABLED") and not os.environ.get("WINIPC_PREBUILT"):
    sys.exit(
        "winipc is built for CPython's stable ABI (abi3), which the free-threaded build "
        f"of CPython (this is {sys.version.split()[0]}, free-threaded) does not support: "
        "use a regular (GIL) build of CPython 3.11 or newer")

from setuptools import Extension, setup  # noqa: E402
from setuptools.command.build_ext import build_ext  # noqa: E402

PREBUILT = os.environ.get("WINIPC_PREBUILT")

if PREBUILT or sys.platform == "win32":
    PLATFORM, LIBRARIES = "windows", ["user32", "kernel32", "advapi32"]
elif sys.platform.startswith("linux"):
    PLATFORM, LIBRARIES = "linux", []
else:
    sys.exit(f"winipc has no backend for {sys.platform}")

INCLUDE_DIRS = [os.path.join("_native", "common"), os.path.join("_native", PLATFORM)]


def extensions():
    macros = [("Py_LIMITED_API", f"0x{LIMITED_API:08X}"), ("CYTHON_LIMITED_API", "1")]
    compile_args, link_args = [], []
    if PLATFORM == "windows":
        macros += [("UNICODE", None), ("_UNICODE", None)]
    else:
        # What ships carries no debug information (Python's CFLAGS have -g).
        compile_args, link_args = ["-g0"], ["-s"]
    return [
        Extension(
            "winipc." + name, [source(PLATFORM, name)],
            include_dirs=INCLUDE_DIRS, libraries=LIBRARIES, define_macros=macros,
            extra_compile_args=compile_args, extra_link_args=link_args,
            py_limited_api=True,
        )
        for name in MODULES
    ]


class BuildExt(build_ext):
    """Cythonizes each module as it builds it, so that an sdist or the
    metadata needs no Cython run (and the sdist ships the .pyx, not C); with
    WINIPC_PREBUILT, takes the cross-compiled modules as they are."""

    def get_ext_filename(self, fullname):
        if PREBUILT:
            return os.path.join(*fullname.split(".")) + ".pyd"
        return super().get_ext_filename(fullname)

    def build_extension(self, ext):
        if PREBUILT:
            src = os.path.join(PREBUILT, *ext.name.split(".")) + ".pyd"
            if not os.path.isfile(src):
                sys.exit(f"setup.py: no {src} (WINIPC_PREBUILT) for {ext.name}")
            dst = self.get_ext_fullpath(ext.name)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)
            return
        from Cython.Build import cythonize

        ext.sources = cythonize(
            [ext], include_path=INCLUDE_DIRS, quiet=True,
            compiler_directives={"language_level": "3", "embedsignature": True})[0].sources
        super().build_extension(ext)


options = {"bdist_wheel": {"py_limited_api": LIMITED_API_TAG}}
if PREBUILT:
    # A build folder of its own, so that no Linux module lands in this wheel.
    options["build"] = {"build_base": os.path.join("build", "windows", "setuptools")}
    options["bdist_wheel"]["plat_name"] = os.environ.get("WINIPC_PREBUILT_PLAT", "win_amd64")

setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt}, options=options)
