"""The native contract is code: ``winipc/_rpc.pyi``, ``_kernel.pyi`` and
``_win32.pyi`` declare what every backend's compiled modules export, once,
with what only one platform has under ``sys.platform``.

This test reads those stubs and checks, for the running platform, that the
compiled modules export exactly the declared names, and every function,
method and constructor with the declared parameters (names, kinds and
defaults; a compiled class's constructor as the build embeds it in the
class's docstring).  Run on each
platform, either backend drifting from the contract fails there.  It also
checks that the two platforms' views of the stubs differ in exactly the names
listed in ``PLATFORM_ONLY`` below, each with its reason, and nowhere in a
shared name's parameters: a parameter one side would only ignore, or a
default that differs, cannot creep in.  (mypy's stubtest, in test_types.py,
checks the types as well.)

The native modules also import nothing of the facade (the layers only call
downwards): they raise through the error factory the facade installs,
checked at the end.
"""

import ast
import errno
import glob
import importlib
import inspect
import os
import re
import sys

import pytest

import winipc
from conftest import unique_title

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = ["_rpc", "_kernel", "_win32"]
PLATFORMS = ["linux", "win32"]
RUNNING = "win32" if sys.platform == "win32" else "linux"

# What only one platform's backend has, as "module.name" or
# "module.Class.member", and why.
PLATFORM_ONLY = {
    "win32": {
        # Doorbells are made through the server's window: a registered
        # message, and handles the server duplicates into the client
        # (Linux: the endpoint socket and fds it passes).
        "_rpc.CONTROL_NAME",
        "_rpc.Process.bell",
        # A client may pull the server's view of its doorbell page (it holds
        # PROCESS_VM_OPERATION on the server): restored, and counted.
        "_rpc.ServerCore.healed",
        # A Windows process can go back to SendMessage (Linux: a connection's
        # doorbell lasts as long as its endpoint connection).
        "_rpc.Process.close_bell",
        # How a Windows server reads a client's buffer safely (Linux's
        # process_vm_readv cannot fault).
        "_rpc.SAFE_COPY",
        # A mapping's view is a MappedView (Linux: an mmap), a shared
        # buffer's too.
        "_kernel.MappedView",
        # Handles and processes: Win32 calls that subprocess.Popen lacks, for
        # spawn() and for handles a child is given (winipc/_os_windows.py).
        "_kernel.WM_WINIPC_HANDLE", "_kernel.object_type", "_kernel.inheritable_copy",
        "_kernel.close_handle", "_kernel.std_handle", "_kernel.resume_main_thread",
        "_kernel.wait_for_input_idle", "_kernel.post_handle_message",
        "_kernel.receive_handle_messages", "_kernel.KObject.duplicate_into",
    },
    "linux": {
        # The endpoint socket a server listens on (Windows: its window).
        "_rpc.endpoint_dir",
        # A handle is pushed into another process through its server
        # (Windows: DuplicateHandle into the target's process handle).
        "_rpc.Process.push_fd", "_kernel.fd_from_process",
        # Memory is copied with process_vm_readv/writev, which Yama's ptrace
        # scope governs (Windows: the process handle's rights).
        "_rpc.ptrace_scope",
        # Named objects are files in /dev/shm with a header of a page.
        "_kernel.SHM_DIR", "_kernel.FILE_PREFIX", "_kernel.PAGE", "_kernel.name_path",
        "_kernel.object_files", "_kernel.sweep", "_kernel.sweep_once",
        # The futex and robust-mutex state Win32 keeps in the kernel.
        "_kernel.KObject.owned", "_kernel.KObject.manual_reset", "_kernel.KObject.maximum",
    },
}


def _platform_test(test, platform):
    """The value of ``sys.platform == "win32"`` (or !=, or startswith) for
    ``platform``; None when ``test`` is no platform check."""
    if (isinstance(test, ast.Compare) and len(test.ops) == 1
            and ast.unparse(test.left) == "sys.platform"
            and isinstance(test.comparators[0], ast.Constant)):
        value = test.comparators[0].value
        if isinstance(test.ops[0], ast.Eq):
            return platform == value
        if isinstance(test.ops[0], ast.NotEq):
            return platform != value
    if (isinstance(test, ast.Call) and ast.unparse(test.func) == "sys.platform.startswith"
            and isinstance(test.args[0], ast.Constant)):
        return platform.startswith(test.args[0].value)
    return None


def _params(fn):
    """A stub function's parameters: (name, kind, default source or None)."""
    a = fn.args
    out = []
    positional = [(p, inspect.Parameter.POSITIONAL_ONLY) for p in a.posonlyargs]
    positional += [(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in a.args]
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    for (p, kind), d in zip(positional, defaults):
        out.append((p.arg, kind, None if d is None else ast.unparse(d)))
    if a.vararg:
        out.append((a.vararg.arg, inspect.Parameter.VAR_POSITIONAL, None))
    for p, d in zip(a.kwonlyargs, a.kw_defaults):
        out.append((p.arg, inspect.Parameter.KEYWORD_ONLY, None if d is None else ast.unparse(d)))
    if a.kwarg:
        out.append((a.kwarg.arg, inspect.Parameter.VAR_KEYWORD, None))
    return tuple(out)


def _public(name):
    return not name.startswith("_")


def _walk(body, platform, prefix, out):
    """Fills ``out`` (qualified name -> parameters, or None for a value, a
    property or a class) from a stub body, as ``platform`` sees it."""
    for node in body:
        if isinstance(node, ast.If):
            seen = _platform_test(node.test, platform)
            assert seen is not None, f"{prefix}: a stub branches on {ast.unparse(node.test)}"
            _walk(node.body if seen else node.orelse, platform, prefix, out)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if _public(node.target.id):
                out[prefix + node.target.id] = None
        elif isinstance(node, ast.FunctionDef):
            if _public(node.name) or node.name == "__init__":
                is_property = any(ast.unparse(d).endswith(("property", ".setter"))
                                  for d in node.decorator_list)
                out[prefix + node.name] = None if is_property else _params(node)
        elif isinstance(node, ast.ClassDef):
            if _public(node.name):
                out[prefix + node.name] = None
                _walk(node.body, platform, prefix + node.name + ".", out)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("winipc._"):
            # A re-export ("from winipc._kernel import X as X"): X as that
            # stub declares it, under this module's name.
            source = node.module.rsplit(".", 1)[1]
            theirs = contract(source, platform)
            for alias in node.names:
                if alias.asname == alias.name and _public(alias.name):
                    name = f"{source}.{alias.name}"
                    for key, params in theirs.items():
                        if key == name or key.startswith(name + "."):
                            out[prefix + alias.name + key[len(name):]] = params
    return out


def contract(module, platform):
    path = os.path.join(ROOT, "winipc", module + ".pyi")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    return _walk(tree.body, platform, module + ".", {})


def _runtime_params(obj):
    sig = inspect.signature(obj)
    return tuple((p.name, p.kind, None if p.default is p.empty else repr(p.default))
                 for p in sig.parameters.values())


def _constructor_params(cls):
    """A compiled class's __init__ parameters.  Its slot wrapper has no
    signature, but the build embeds one (Cython's embedsignature) as the
    first line of the class's docstring: ``Process(int pid, ..., size_t window=0)``."""
    first = (cls.__doc__ or "").split("\n", 1)[0]
    assert first.startswith(cls.__name__ + "(") and first.endswith(")"), (
        f"{cls.__name__}'s docstring does not start with its signature: {first!r}")
    inner = first[len(cls.__name__) + 1:-1]
    out = [("self", inspect.Parameter.POSITIONAL_OR_KEYWORD, None)]
    for part in filter(None, (p.strip() for p in inner.split(","))):
        decl, _, default = part.partition("=")
        name = decl.split()[-1].lstrip("*")
        out.append((name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                    default.strip() or None))
    return tuple(out)


def exported(module):
    """What the running backend's module exports: qualified name ->
    parameters (None for what is not a function)."""
    mod = importlib.import_module("winipc." + module)
    out = {}
    for name, value in vars(mod).items():
        # Modules are what a backend uses, not what it exports.
        if not _public(name) or inspect.ismodule(value):
            continue
        key = f"{module}.{name}"
        if inspect.isclass(value):
            out[key] = None
            if "__init__" in vars(value):
                out[f"{key}.__init__"] = _constructor_params(value)
            for member, attr in vars(value).items():
                if _public(member):
                    out[f"{key}.{member}"] = (_runtime_params(attr) if inspect.isroutine(attr)
                                              else None)
        else:
            out[key] = _runtime_params(value) if inspect.isroutine(value) else None
    return out


@pytest.mark.parametrize("module", MODULES)
def test_backend_exports_exactly_the_contract(module):
    want = contract(module, RUNNING)
    have = exported(module)
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    assert not missing, f"the {RUNNING} backend lacks {missing} (winipc/{module}.pyi)"
    assert not extra, f"the {RUNNING} backend exports {extra}, which winipc/{module}.pyi lacks"
    differ = {k: (want[k], have[k]) for k in want if want[k] != have[k]}
    assert not differ, ("parameters differ from the contract (stub, module):\n"
                        + "\n".join(f"  {k}: {a} != {b}" for k, (a, b) in differ.items()))


@pytest.mark.parametrize("module", MODULES)
def test_platforms_differ_only_where_declared(module):
    views = {p: contract(module, p) for p in PLATFORMS}
    for platform, other in (("win32", "linux"), ("linux", "win32")):
        only = {k for k in views[platform] if k not in views[other]}
        declared = {k for k in PLATFORM_ONLY[platform] if k.startswith(module + ".")}
        nested = {k for k in only if k.rsplit(".", 1)[0] in declared}   # a platform-only class's members
        assert only - nested == declared, (
            f"names only the {platform} stubs have: {sorted(only - nested)}; "
            f"declared: {sorted(declared)}")
    shared = set(views["win32"]) & set(views["linux"])
    differ = sorted(k for k in shared if views["win32"][k] != views["linux"][k])
    assert not differ, "the platforms' stubs give these different parameters: " + ", ".join(
        f"{k}: win32 {views['win32'][k]} / linux {views['linux'][k]}" for k in differ)


def test_contract_sees_the_backends_names():
    # The reading of the stubs works: a name every backend has is found,
    # with its parameters, in both views and in the running module.
    for platform in PLATFORMS:
        c = contract("_rpc", platform)
        assert c["_rpc.find_window"] == (
            ("title", inspect.Parameter.POSITIONAL_OR_KEYWORD, None),)
        assert "_rpc.Process.pid" in c and c["_rpc.Process.pid"] is None
    assert exported("_rpc")["_rpc.find_window"] == contract("_rpc", RUNNING)["_rpc.find_window"]
    # A compiled class's constructor is read from its embedded signature.
    assert [p[0] for p in exported("_rpc")["_rpc.Process.__init__"]] == [
        "self", "pid", "access", "window"]


# What native code still imports of the facade, by source file, and why:
# nothing.  (A native module may use another: Windows _rpc cimports
# _kernel's MappedView.)
FACADE_IMPORTS: dict[str, set[str]] = {}
NATIVE_MODULES = {"winipc." + m for m in MODULES}

_IMPORT = re.compile(r"^\s*(?:from\s+(winipc(?:\.\w+)*)\s+c?import\s+(.*)"
                     r"|c?import\s+(winipc(?:\.\w+)*))")


def _imported(line):
    """The facade modules an import line takes (a set), or None."""
    m = _IMPORT.match(line)
    if not m:
        return None
    if m.group(3):
        return {m.group(3)}
    if m.group(1) != "winipc":
        return {m.group(1)}
    # from winipc import a, b as c
    names = m.group(2).strip("()\\ \n").split(",")
    return {f"winipc.{n.split()[0]}" for n in names if n.strip()}


def test_native_code_imports_nothing_of_the_facade_but_what_is_listed():
    found = {}
    sources = glob.glob(os.path.join(ROOT, "_native", "**", "*.pyx"), recursive=True)
    sources += glob.glob(os.path.join(ROOT, "_native", "**", "*.pxi"), recursive=True)
    assert len(sources) > 20, sources
    for path in sources:
        rel = os.path.relpath(path, os.path.join(ROOT, "_native")).replace(os.sep, "/")
        with open(path, encoding="utf-8") as f:
            for line in f:
                modules = (_imported(line) or set()) - NATIVE_MODULES
                if modules:
                    found.setdefault(rel, set()).update(modules)
    assert found == FACADE_IMPORTS, (
        f"native sources import of the facade {found}; FACADE_IMPORTS lists {FACADE_IMPORTS}")
    # The pattern finds what it must.
    assert _imported("from winipc._errors import (raise_errno,") == {"winipc._errors"}
    assert _imported("from winipc import _errors, _os as os_") == {"winipc._errors", "winipc._os"}
    assert _imported("    import winipc") == {"winipc"}
    assert _imported("# from winipc._errors import raise_errno") is None


@pytest.mark.parametrize("module", ["_rpc", "_kernel"])
def test_native_modules_raise_the_facades_errors(module):
    from winipc import _errors
    native = importlib.import_module("winipc." + module)
    # The names a native module may raise by are the facade's classes.
    assert native.ERROR_CLASSES == set(_errors.__all__) == set(_errors._BY_NAME)

    def fail():
        if module == "_rpc":     # a class named by native code (cls="WindowNotFound")
            native.find_window(unique_title("absent"))
        else:                    # the class the code maps to
            native.open_object(native.EVENT, "Local\\" + unique_title("absent"),
                               int(winipc.EventAccess.ALL_ACCESS), False)

    expected = winipc.WindowNotFound if module == "_rpc" else winipc.ObjectNotFound
    with pytest.raises(expected) as e:
        fail()
    assert e.value.call and f"{e.value.call} failed: " in str(e.value)
    assert e.value.errno is not None and e.value.winerror is not None

    # Without the facade's factory, a plain OSError with the same codes.
    native.set_error_factory(None)
    try:
        with pytest.raises(OSError) as plain:
            fail()
    finally:
        native.set_error_factory(_errors.native_error)
    assert not isinstance(plain.value, winipc.WinIPCError)
    if RUNNING == "win32" or module == "_kernel":
        assert plain.value.winerror == e.value.winerror
    else:
        assert plain.value.errno == e.value.errno
    assert f"{e.value.call} failed: " in str(plain.value)
    with pytest.raises(expected):        # the factory is back
        fail()


def test_the_error_factory_words_errors_as_the_facade_does():
    from winipc._errors import error_from_errno, error_from_winerror, native_error
    from winipc.constants import WinError
    for args, same in [
            (("winerror", 5, "OpenProcess", "no process 4", None),
             error_from_winerror(5, "OpenProcess", "no process 4")),
            (("winerror", 6, "DuplicateHandle", None, "InvalidHandle"),
             error_from_winerror(6, "DuplicateHandle", None, winipc.InvalidHandle)),
            (("errno", 2, "connect", None, "WindowNotFound"),
             error_from_errno(2, "connect", None, winipc.WindowNotFound))]:
        err = native_error(*args)
        assert (type(err), err.errno, err.winerror, err.call, err.strerror) == (
            type(same), same.errno, same.winerror, same.call, same.strerror)
    # A callable detail is given the facade's words for the code.
    err = native_error("winerror", WinError.INVALID_MESSAGE, "SendMessageTimeoutW",
                       lambda words: f"the server refused the message 0x401: {words}", None)
    assert isinstance(err, winipc.UnknownMessage)
    assert err.strerror.startswith("SendMessageTimeoutW failed: the server refused the "
                                   "message 0x401: the server has no handler for this message")
    # "message": the message whole, the class and codes by the Win32 code.
    err = native_error("message", WinError.NOT_SUPPORTED, "WaitForSingleObject",
                       "pthread_mutex_timedlock failed: no", None)
    assert isinstance(err, winipc.NotSupported)
    assert err.strerror == "pthread_mutex_timedlock failed: no"
    assert (err.errno, err.winerror, err.call) == (errno.EOPNOTSUPP, 50, "WaitForSingleObject")
    with pytest.raises(KeyError):
        native_error("winerror", 5, "OpenProcess", None, "NoSuchClass")
