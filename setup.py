"""Builds the native backend of the running platform (see _native/README.md):
the Cython modules of MODULES, from _native/<platform>/<name>.pyx, as the
extensions winipc.<name>, for the stable ABI of CPython 3.11 and later (abi3,
Cython's limited-API mode), as scripts/windows/compile.sh does for Windows."""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

if sys.platform == "win32":
    PLATFORM, LIBRARIES = "windows", ["user32", "kernel32", "advapi32"]
elif sys.platform.startswith("linux"):
    PLATFORM, LIBRARIES = "linux", []
else:
    sys.exit(f"winipc has no backend for {sys.platform}")

# The extension modules, winipc.<name>, of every platform.
MODULES = ["_rpc", "_kernel"]

# The stable ABI built for; the wheels' tag (cp311-abi3) follows from it.
LIMITED_API = 0x030B0000
LIMITED_API_TAG = "cp311"

INCLUDE_DIRS = [os.path.join("_native", "common"), os.path.join("_native", PLATFORM)]


def extensions():
    macros = [("Py_LIMITED_API", hex(LIMITED_API)), ("CYTHON_LIMITED_API", "1")]
    compile_args, link_args = [], []
    if PLATFORM == "windows":
        macros += [("UNICODE", None), ("_UNICODE", None)]
    else:
        # What ships carries no debug information (Python's CFLAGS have -g).
        compile_args, link_args = ["-g0"], ["-s"]
    return [
        Extension(
            "winipc." + name, [os.path.join("_native", PLATFORM, name + ".pyx")],
            include_dirs=INCLUDE_DIRS, libraries=LIBRARIES, define_macros=macros,
            extra_compile_args=compile_args, extra_link_args=link_args,
            py_limited_api=True,
        )
        for name in MODULES
    ]


class BuildExt(build_ext):
    """Cythonizes each module as it builds it, so that an sdist or the
    metadata needs no Cython run (and the sdist ships the .pyx, not C)."""

    def build_extension(self, ext):
        from Cython.Build import cythonize

        ext.sources = cythonize(
            [ext], include_path=INCLUDE_DIRS, quiet=True,
            compiler_directives={"language_level": "3"})[0].sources
        super().build_extension(ext)


setup(
    ext_modules=extensions(),
    cmdclass={"build_ext": BuildExt},
    options={"bdist_wheel": {"py_limited_api": LIMITED_API_TAG}},
)
