"""Builds the native backend of the running platform (see _native/README.md)."""

import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

if sys.platform == "win32":
    PLATFORM, LIBRARIES = "windows", ["user32", "kernel32", "advapi32"]
elif sys.platform.startswith("linux"):
    PLATFORM, LIBRARIES = "linux", []
else:
    sys.exit(f"winipc has no backend for {sys.platform}")

MODULES = ["_rpc", "_kernel"]


def extensions():
    exts = []
    for name in MODULES:
        source = os.path.join("_native", PLATFORM, name + ".pyx")
        exts.append(Extension(
            "winipc." + name, [source],
            include_dirs=[os.path.join("_native", "common"), os.path.join("_native", PLATFORM)],
            libraries=LIBRARIES,
            define_macros=[("UNICODE", None), ("_UNICODE", None)] if PLATFORM == "windows" else [],
        ))
    return cythonize(exts, include_path=["_native/common", "_native/" + PLATFORM],
                     compiler_directives={"language_level": "3"})


setup(ext_modules=extensions())
