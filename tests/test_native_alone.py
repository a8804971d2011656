"""The native modules stand alone: each imports, and fails as a plain
``OSError``, with every facade module (``winipc/*.py``, ``winipc._errors``
first) made unimportable.

Dependencies point one way: the facade calls the native modules, which call
the operating system and nothing of the facade (test_contract.py reads their
sources for facade imports; this test imports the built modules).  Each
module is imported in a fresh interpreter in which a finder refuses every
``winipc.*`` name but the native modules, and ``winipc`` is a bare package
(its ``__init__.py`` is not run), so an import of the facade anywhere in a
native module, at import or in the failing call, fails the test.
"""

import os
import subprocess
import sys
import textwrap

import pytest

import winipc

NATIVE = ["_rpc", "_kernel", "_win32"]

CHILD = textwrap.dedent(r"""
    import importlib
    import os
    import sys
    import time
    import types

    package_dir, module = sys.argv[1], sys.argv[2]
    NATIVE = {"winipc._rpc", "winipc._kernel", "winipc._win32"}

    class FacadeRefused:
        # Every winipc.* name but the native modules' fails to import.
        def find_spec(self, name, path=None, target=None):
            if name.startswith("winipc.") and name not in NATIVE:
                raise ImportError(f"{name}: the facade is unimportable in this test")
            return None

    sys.meta_path.insert(0, FacadeRefused())
    package = types.ModuleType("winipc")
    package.__path__ = [package_dir]
    sys.modules["winipc"] = package

    try:
        import winipc._errors
    except ImportError:
        pass
    else:
        raise SystemExit("winipc._errors was imported: the finder refuses nothing")

    native = importlib.import_module("winipc." + module)
    absent = f"winipc-alone-{os.getpid()}-{time.monotonic_ns()}"
    failed = None
    if module == "_rpc":
        try:
            native.find_window(absent)
        except OSError as e:
            failed = e
    elif module == "_kernel":
        from winipc import _win32
        try:
            native.open_object(native.EVENT, "Local\\" + absent, _win32.EVENT_ALL_ACCESS, False)
        except OSError as e:
            failed = e
        assert failed is not None and failed.winerror == _win32.ERROR_FILE_NOT_FOUND, failed
    else:
        assert native.ERROR_FILE_NOT_FOUND == 2, native.ERROR_FILE_NOT_FOUND
    if module != "_win32":
        assert failed is not None, "the call that must fail succeeded"
        assert type(failed).__module__ == "builtins", type(failed)
        assert failed.errno is not None or failed.winerror is not None, failed
        assert " failed: " in str(failed), str(failed)
    facade = sorted(name for name in sys.modules
                    if name.startswith("winipc.") and name not in NATIVE)
    assert not facade, facade
    print("alone:", module, repr(failed))
""")


@pytest.mark.parametrize("module", NATIVE)
def test_native_module_imports_and_fails_without_the_facade(module):
    package_dir = os.path.dirname(os.path.abspath(winipc.__file__))
    run = subprocess.run([sys.executable, "-c", CHILD, package_dir, module],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, (
        f"winipc.{module} without the facade failed (exit {run.returncode}):\n"
        f"{run.stdout}{run.stderr}")
    assert run.stdout.startswith(f"alone: {module} "), run.stdout
    if module != "_win32":
        assert "Error(" in run.stdout, run.stdout
