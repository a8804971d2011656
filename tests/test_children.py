"""The tests' way of running children (tests/children.py) cannot be held up
by a grandchild that keeps the child's output open, as Wine's desktop
process can."""

import os
import signal
import sys
import time

import children

GRANDCHILD = """
import subprocess, sys
p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                     stdin=subprocess.DEVNULL, stdout=sys.stdout, stderr=sys.stderr)
print("grandchild", p.pid, flush=True)
"""


def test_a_grandchild_holding_the_output_does_not_delay_run():
    t0 = time.monotonic()
    out = children.run([sys.executable, "-c", GRANDCHILD], 120, text=True)
    elapsed = time.monotonic() - t0
    words = out.stdout.split()
    assert words[:1] == ["grandchild"], out
    try:
        assert out.returncode == 0
        assert elapsed < 30, f"run() waited {elapsed:.0f} s for the grandchild"
    finally:
        try:
            os.kill(int(words[1]), signal.SIGTERM)
        except OSError:
            pass
