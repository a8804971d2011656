"""Access checks of the operating system: another user's or a protected
process's memory is refused with AccessDenied."""

import ctypes
import os
import sys

import pytest

import winipc
from conftest import UNDER_WINE


@pytest.mark.skipif(UNDER_WINE, reason="Wine does not enforce process access checks "
                                       "(DACLs, protected processes)")
@pytest.mark.skipif(sys.platform != "win32", reason="the System process is Windows'")
def test_system_process_refuses_vm_access():
    with pytest.raises(winipc.AccessDenied) as e:
        winipc.open_process(4)            # System: protected even from administrators
    assert e.value.winerror == 5 and "OpenProcess" in str(e.value)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses fork and setuid")
@pytest.mark.skipif(sys.platform.startswith("linux") and os.geteuid() != 0,
                    reason="starting a process as another user needs root")
def test_another_users_memory_is_refused():
    secret = ctypes.create_string_buffer(b"secret", 16)
    parent = os.getpid()
    r, w = os.pipe()
    child = os.fork()
    if child == 0:                     # as nobody, try to read the parent's memory
        try:
            os.close(r)
            os.setgid(65534)
            os.setuid(65534)
            with winipc.open_process(parent) as p:
                try:
                    p._native.read_into(ctypes.addressof(secret), bytearray(6))
                    answer = "read"
                except winipc.AccessDenied as e:
                    answer = f"denied {e.winerror} {e.errno} {e}"
            os.write(w, answer.encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as fh:
        answer = fh.read()
    os.waitpid(child, 0)
    assert answer.startswith("denied 5 1 "), answer
    assert "process_vm_readv failed" in answer
