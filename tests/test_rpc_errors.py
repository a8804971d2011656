"""Process-memory RPC against a real server process, on every backend: what
goes wrong, and what each error says."""

import asyncio
import os
import subprocess
import sys
import threading
import time

import pytest

import winipc
from conftest import unique_title
from structs import (MyInfo, Small, WM_BUMP, WM_COMPARE, WM_COUNT, WM_EXIT, WM_RAISE, WM_SLEEP,
                     WM_SMALL, WM_UNHANDLED)


# ------------------------------------------------------------------- errors

def test_window_not_found():
    with pytest.raises(winipc.WindowNotFound) as e:
        winipc.connect(unique_title("absent"))
    assert isinstance(e.value, FileNotFoundError)
    assert "failed" in str(e.value) and "wait=" in str(e.value)


def test_connect_waits_for_the_window(server_process):
    title = unique_title()
    result = {}

    def start_later():
        time.sleep(0.3)
        result["server"] = server_process(title)
    t = threading.Thread(target=start_later)
    t.start()
    try:
        with winipc.connect(title, wait=60) as conn:
            assert conn.call(WM_SMALL, Small(2)).value == 6
    finally:
        t.join()


def test_no_such_process():
    # A process that has exited leaves its id unused for a while.
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    with pytest.raises(winipc.NoSuchProcess) as e:
        winipc.open_process(p.pid)
    assert isinstance(e.value, ProcessLookupError)


def test_read_needs_vm_read(server):
    with winipc.open_process(server.pid) as full, full.allocate(16) as rb:
        with winipc.open_process(server.pid, winipc.Access.VM_OPERATION
                                 | winipc.Access.VM_WRITE) as write_only:
            write_only._native.write(rb.address, b"12345678")
            with pytest.raises(winipc.AccessDenied) as e:
                write_only._native.read_into(rb.address, bytearray(8))
            assert isinstance(e.value, PermissionError)
            assert e.value.winerror == 5 or e.value.errno in (1, 13)
        assert rb.read(8) == b"12345678"


def test_unknown_message(server):
    with server.connect() as conn:
        with pytest.raises(winipc.UnknownMessage) as e:
            conn.call(WM_UNHANDLED, Small(1))
        assert e.value.winerror == 1002
        assert conn.call(WM_SMALL, Small(1)).value == 3


def test_wparam_smaller_than_the_struct_touches_nothing(server):
    with server.connect() as conn, conn.alloc(MyInfo) as buf:
        buf.write(MyInfo(1, 2))
        with pytest.raises(winipc.BufferTooSmall) as e:
            conn.send_raw(WM_COMPARE, 8, buf.address)
        assert isinstance(e.value, ValueError) and e.value.winerror == 122
        res = buf.read()
        assert (res.red, res.blue) == (1.0, 2.0)
        with pytest.raises(winipc.BufferTooSmall) as e:
            conn.call(WM_COMPARE, Small(1))
        assert "needs more than the 8 bytes sent" in str(e.value)
        with pytest.raises(winipc.BufferTooSmall) as e:
            buf.write(bytes(17))
        assert e.value.winerror == 122 and "17 bytes" in str(e.value)


@pytest.mark.parametrize("where", ["null", "low", "freed", "past_end"])
def test_addresses_the_server_did_not_hand_out(server, where):
    with server.connect() as conn:
        buf = conn.alloc(4096)
        address, size = buf.address, 16
        if where == "null":
            address = 0
        elif where == "low":
            address = 0x10
        elif where == "freed":
            buf.close()
        elif where == "past_end":
            address, size = buf.address + 4096 - 8, 16
        with pytest.raises(winipc.InvalidAddress) as e:
            conn.send_raw(WM_BUMP, size, address)
        assert e.value.winerror == 487
        assert conn.call(WM_SMALL, Small(3)).value == 9
        buf.close()


def test_handler_that_raises(server):
    with server.connect() as conn:
        with pytest.raises(winipc.HandlerFailed) as e:
            conn.call(WM_RAISE, Small(1))
        assert e.value.winerror == 574
        assert conn.call(WM_SMALL, Small(4)).value == 12


@pytest.mark.parametrize("how", ["call", "send"])
def test_handler_failed_says_what_the_handler_raised(server, how):
    with server.connect() as conn:
        with pytest.raises(winipc.HandlerFailed) as e:
            if how == "call":
                conn.call(WM_RAISE, bytearray(64))
            else:
                with conn.alloc(64) as buf:
                    conn.send(WM_RAISE, buf)
        assert e.value.winerror == 574
        assert e.value.handler_error == "RuntimeError: handler failure on purpose"
        assert "RuntimeError: handler failure on purpose" in str(e.value)
        # A struct too small to hold the text: through a doorbell the note
        # comes whole in its page; a message's is cut to the struct's size.
        with pytest.raises(winipc.HandlerFailed) as e:
            conn.call(WM_RAISE, Small(1))
        if sys.platform == "win32" and not server.doorbell:     # the classic message
            assert not e.value.handler_error
        else:
            assert e.value.handler_error == "RuntimeError: handler failure on purpose"
        assert conn.call(WM_SMALL, Small(4)).value == 12


def test_a_result_in_the_reserved_range_is_refused_loudly(server_process, caplog):
    title = unique_title()
    server = winipc.Server(title)
    reserved = -2**31 + 3
    server.handler(WM_SMALL, Small, native=winipc.rpc.NATIVE_HANDLER(lambda data, size: reserved))

    @server.handler(WM_BUMP, Small)
    def python(s):
        return reserved
    with server, winipc.connect(title) as conn:
        for msg, who in ((WM_SMALL, "compiled handler"), (WM_BUMP, "handler")):
            with pytest.raises(winipc.HandlerFailed) as e:
                conn.call(msg, bytearray(160))
            assert who in e.value.handler_error and "reserved" in e.value.handler_error
    assert "reserved" in caplog.text           # the server logs it too


@pytest.mark.fresh_server
def test_hung_handler_times_out(server):
    with server.connect(timeout=0.5) as conn:
        t0 = time.monotonic()
        with pytest.raises(winipc.CallTimeout) as e:
            conn.call(WM_SLEEP, Small(3000))
        assert time.monotonic() - t0 < 2.5
        assert isinstance(e.value, TimeoutError)
    # Once the handler returns, the server serves again.
    with server.connect(timeout=30) as conn:
        assert conn.call(WM_SMALL, Small(5)).value == 15


@pytest.mark.fresh_server
def test_server_that_dies_mid_call(server):
    with server.connect(timeout=30) as conn:
        t0 = time.monotonic()
        with pytest.raises(winipc.ServerGone):
            conn.call(WM_EXIT, Small(0))
        assert time.monotonic() - t0 < 20
        server.proc.wait(30)
        # One event, one class: whichever call notices it next says so too.
        for _ in range(2):
            with pytest.raises(winipc.ServerGone) as e:
                conn.call(WM_SMALL, Small(1))
            assert e.value.call and "failed" in str(e.value)
        with pytest.raises(winipc.ServerGone):
            conn.alloc(Small)
    server.proc.wait(30)
    with pytest.raises(winipc.WindowNotFound):
        server.connect()


@pytest.mark.parametrize("call", ["OpenProcess", "DuplicateHandle", "SendMessageTimeoutW"])
def test_access_denied_says_when_elevation_may_be_why(call):
    """Integrity levels are Windows'; Wine does not enforce them, so this
    checks the message only."""
    from winipc._errors import error_from_winerror
    err = error_from_winerror(5, call, "process 4")
    assert isinstance(err, winipc.AccessDenied)
    if sys.platform == "win32":
        assert "integrity level" in str(err)
    else:
        assert "integrity" not in str(err)       # Linux says why with its own words


def test_a_server_may_allow_lower_integrity_senders(server_process):
    """Windows: ChangeWindowMessageFilterEx for each of its messages (Wine
    accepts the call but has no integrity levels to show its effect);
    Linux: no integrity levels, the flag changes nothing."""
    title = unique_title()
    server = winipc.Server(title, allow_lower_integrity=True)

    @server.handler(WM_SMALL, Small)
    def small(s):
        s.value *= 3
    with server, winipc.connect(title) as conn:
        assert conn.call(WM_SMALL, Small(2)).value == 6
    assert server._core.allow_lower_integrity is True


def test_wrong_connect_arguments_are_refused_when_given():
    title = unique_title()            # no such server: the checks come first
    for kwargs, error, text in [({"timeout": "5"}, TypeError, "timeout is a number"),
                                ({"timeout": -1}, ValueError, "timeout must be"),
                                ({"timeout": float("nan")}, ValueError, "timeout must be"),
                                ({"wait": "x"}, TypeError, "wait is a number"),
                                ({"spin": 2.5}, TypeError, "spin is an int"),
                                ({"spin": -3}, ValueError, "spin is a number")]:
        with pytest.raises(error, match=text):
            winipc.connect(title, **kwargs)


def test_a_server_owns_its_resources_as_every_winipc_object_does(server_process):
    import gc
    import warnings
    title = unique_title()
    server = winipc.Server(title)

    @server.handler(WM_SMALL, Small)
    def small(s):
        s.value *= 3
    server.start()
    server.stop()                          # stop() allows serving again
    with server:
        assert not server.closed
        with winipc.connect(title) as conn:
            assert conn.call(WM_SMALL, Small(2)).value == 6
    assert server.closed                   # `with` closes, and close is final
    with pytest.raises(ValueError, match="closed"):
        server.start()
    forgotten = winipc.Server(unique_title())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del forgotten
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)


def test_errors_are_oserrors_naming_the_call():
    err = winipc.CallTimeout(110, "x failed", winerror=1460, call="SendMessageTimeoutW")
    assert isinstance(err, OSError) and isinstance(err, winipc.WinIPCError)
    for cls, builtin in [(winipc.AccessDenied, PermissionError),
                         (winipc.NoSuchProcess, ProcessLookupError),
                         (winipc.WindowNotFound, FileNotFoundError),
                         (winipc.CallTimeout, TimeoutError),
                         (winipc.BufferTooSmall, ValueError)]:
        assert issubclass(cls, builtin) and issubclass(cls, winipc.WinIPCError)


def test_remote_buffer_bounds_are_checked_locally(server):
    with server.connect() as conn, conn.alloc(16) as buf:
        with pytest.raises(winipc.BufferTooSmall):
            buf.write(b"x" * 17)
        with pytest.raises(winipc.BufferTooSmall):
            buf.read(8, offset=9)


def test_handlers_only_for_application_messages():
    server = winipc.Server(unique_title())
    for msg in (0x0010, winipc.WM_USER - 1, 0x10000):
        with pytest.raises(ValueError):
            server.handler(msg, Small)(lambda s: 0)


def test_linux_errors_carry_the_windows_code_too():
    from winipc._errors import error_from_errno
    e = error_from_errno(13, "process_vm_readv")
    assert isinstance(e, winipc.AccessDenied) and e.winerror == 5 and e.errno == 13
    assert "process_vm_readv failed" in str(e)


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT, a POSIX signal; on "
                                                   "Windows Ctrl+C needs a console")
def test_serve_forever_stops_on_ctrl_c():
    import signal
    title = unique_title()
    code = ("import sys, winipc; s = winipc.Server(sys.argv[1]);"
            "s.handler(winipc.WM_USER, 8, native=winipc.sample_handlers()['bump']);"
            "print('serving', flush=True); s.serve_forever()")
    proc = subprocess.Popen([sys.executable, "-P", "-c", code, title], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "serving"
    with winipc.connect(title, wait=30) as conn:
        assert conn.call(winipc.WM_USER, bytes(8)) == b"\1" * 8
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert "KeyboardInterrupt" in err
    with pytest.raises(winipc.WindowNotFound):
        winipc.find_window(title)


# ------------------------------------------------ what became of a timed-out call

@pytest.mark.fresh_server
def test_a_timed_out_call_says_whether_it_ever_runs(server):
    """A call that times out while the server is busy with another client's
    handler is withdrawn: ``CallTimeout.started`` is False and it never runs
    (the counter it would bump stays put).  One that the server took and
    runs past the timeout says True.  Windows' classic SendMessageTimeout
    cannot tell: there it is None, and the message may still run."""
    classic = sys.platform == "win32" and not server.doorbell
    with server.connect(timeout=10) as busy, server.connect(timeout=10) as conn:
        assert conn.call(WM_COUNT, Small(0)) is not None and conn.last_result == 1
        blocker = threading.Thread(target=busy.call, args=(WM_SLEEP, Small(1200)))
        blocker.start()
        try:
            time.sleep(0.3)                          # the server runs busy's handler
            with pytest.raises(winipc.CallTimeout) as e:
                conn.call(WM_COUNT, Small(0), timeout=0.3)
        finally:
            blocker.join(10)
        assert e.value.started is (None if classic else False)
        conn.call(WM_COUNT, Small(0))
        # Withdrawn: it never ran (the classic message ran once the server was free).
        assert conn.last_result == (3 if classic else 2)
        with pytest.raises(winipc.CallTimeout) as e:
            conn.call(WM_SLEEP, Small(800), timeout=0.2)
        assert e.value.started is (None if classic else True)
        # At once, while the server still runs that one: a call that times
        # out says so too (Linux: its bytes no longer ride in the page
        # meanwhile).  Not on a Windows shared connection: the buffer that
        # replaces the one left to the server is a section the busy server
        # makes first, within the connection's timeout, and then the call
        # itself runs.
        if not (sys.platform == "win32" and server.doorbell.get("shared")):
            with pytest.raises(winipc.CallTimeout):
                conn.call(WM_COUNT, Small(0), timeout=0.1)
        time.sleep(0.8)
        assert conn.call(WM_SMALL, Small(2)).value == 6


@pytest.mark.fresh_server
def test_calls_after_a_started_one_get_their_own_answers(server):
    """A call given up after the server took it still has its answer
    written later (this handler writes its buffer after the sleep): the
    calls after it on the connection get their own answers, never that one."""
    with server.connect(timeout=10) as conn:
        with pytest.raises(winipc.CallTimeout):
            conn.call(WM_SLEEP, Small(600), timeout=0.1)
        assert conn.call(WM_SMALL, Small(2)).value == 6      # after the sleeping handler
        assert conn.call(WM_SMALL, Small(7)).value == 21
        assert conn.call(WM_SLEEP, Small(0)).value == 0


def test_swapped_arguments_say_so(server):
    """The message number comes first: a struct in its place is a TypeError
    that says so, not whatever converting it to an int says."""
    with server.connect() as conn:
        with pytest.raises(TypeError, match="message number first"):
            conn.call(MyInfo(1, 2), WM_COMPARE)
        with pytest.raises(TypeError, match="message number first"):
            conn.call("text", MyInfo(1, 2))
        assert conn.call(WM_COMPARE, MyInfo(1, 2)).red == 3


def test_a_handler_must_be_a_plain_function():
    """A coroutine function would never run on the serving thread: refused
    when registered, as are swapped arguments."""
    server = winipc.Server(unique_title())
    try:
        with pytest.raises(TypeError, match="coroutine function"):
            @server.handler(WM_COMPARE, MyInfo)
            async def compare(info):
                return 0
        with pytest.raises(TypeError, match="message number first"):
            server.handler(MyInfo, WM_COMPARE)
    finally:
        server.close()


def test_a_call_says_what_it_sends(server):
    """What is not a struct is refused before anything is sent, with what a
    call sends and what it got (not what bytearray() says of it)."""
    with server.connect() as conn:
        for bad, text in [({"a": 1}, "not dict$"),
                          ("text", r"not str \(text is sent as bytes: encode it first"),
                          (5, r"not int \(an int is not a size here"),
                          (None, "not NoneType$")]:
            with pytest.raises(TypeError, match="call.. sends a ctypes instance or a "
                               "bytes-like object .*" + text):
                conn.call(WM_SMALL, bad)
            with pytest.raises(TypeError, match="acall.. sends a ctypes instance"):
                asyncio.run(conn.acall(WM_SMALL, bad))
        with pytest.raises(ValueError, match=r"out= is a writable buffer of the struct's 8 "
                           r"bytes; got a bytearray of 4"):
            conn.call(WM_SMALL, Small(1), out=bytearray(4))
        with pytest.raises(ValueError, match="got a read-only bytes of 8"):
            conn.call(WM_SMALL, Small(1), out=bytes(8))
        with pytest.raises(TypeError, match="out= is a writable buffer .* not int"):
            conn.call(WM_SMALL, Small(1), out=3)
        out = bytearray(8)
        assert conn.call(WM_SMALL, Small(2), out=out) is out
        assert Small.from_buffer(out).value == 6


def test_find_window_says_find_window_failed():
    with pytest.raises(winipc.WindowNotFound) as e:
        winipc.find_window(unique_title("absent"))
    assert "connect" not in str(e.value)
    assert e.value.call in ("FindWindowW", "find_window"), e.value.call
    assert e.value.strerror.startswith(e.value.call + " failed: ")


def test_a_source_tree_that_shadows_the_package_says_so(tmp_path):
    """Python run in a clone imports its winipc/ folder, which has no
    compiled modules: the ImportError says so and what to do, instead of a
    circular import."""
    probe = subprocess.run([sys.executable, "-c", "import sys; print('' in sys.path)"],
                           capture_output=True, text=True, timeout=60)
    if probe.stdout.strip() != "True":
        pytest.skip("this Python does not put the current folder on sys.path for -c (an "
                    "embeddable distribution's ._pth file): no source tree can shadow winipc")
    # Copied by hand: shutil's copies call CopyFile2 on Windows, which Wine
    # lacks (the process aborts).
    package = os.path.dirname(winipc.__file__)
    source = tmp_path / "winipc"
    source.mkdir()
    for name in os.listdir(package):
        if name.endswith((".py", ".pyi", ".typed")):
            with open(os.path.join(package, name), "rb") as fh:
                (source / name).write_bytes(fh.read())
    proc = subprocess.run([sys.executable, "-c", "import winipc"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "winipc is being imported from " in proc.stderr, proc.stderr
    assert "a source tree without its compiled modules" in proc.stderr, proc.stderr
    assert "shadows the installed package" in proc.stderr and "-P" in proc.stderr
    assert "circular import" not in proc.stderr


def test_wrong_types_say_what_was_expected_and_given(server):
    with pytest.raises(TypeError, match="connect.. title is a str, .* not int"):
        winipc.connect(123)
    with pytest.raises(TypeError, match="a process is given by its pid, an int, not str '1'"):
        winipc.open_process("1")
    s = winipc.Server(unique_title())
    try:
        with pytest.raises(TypeError, match="by its ctypes type .* or a size in bytes .* not "
                           "str 'x'"):
            s.handler(WM_SMALL, "x")
        with pytest.raises(ValueError, match="at least one byte, not -5"):
            s.handler(WM_SMALL, -5)
    finally:
        s.close()
    with server.connect() as conn:
        with pytest.raises(TypeError, match="by its ctypes type .* not float"):
            conn.alloc(2.5)
        with conn.alloc(8) as buf:
            assert buf.size == 8
