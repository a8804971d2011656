"""Builds the native backend of the running platform (see _native/README.md):
the Cython modules of MODULES, from _native/<platform>/<name>.pyx, as the
extensions winipc.<name>."""

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

INCLUDE_DIRS = [os.path.join("_native", "common"), os.path.join("_native", PLATFORM)]


def extensions():
    return [
        Extension(
            "winipc." + name, [os.path.join("_native", PLATFORM, name + ".pyx")],
            include_dirs=INCLUDE_DIRS, libraries=LIBRARIES,
            define_macros=[("UNICODE", None), ("_UNICODE", None)] if PLATFORM == "windows" else [],
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

setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
