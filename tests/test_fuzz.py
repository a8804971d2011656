"""A short run of the fuzz and fault harness (tests/fuzz/soak.py): hostile
traffic from other processes while a legitimate client checks its results;
no crash, no wrong result, no growth.  The long run is in the README."""

import os
import sys

import children

HERE = os.path.dirname(os.path.abspath(__file__))


# WINIPC_SOAK_SECONDS makes it a long run (its figures print with pytest -s).
SECONDS = float(os.environ.get("WINIPC_SOAK_SECONDS", "4"))


def test_short_soak_under_hostile_traffic():
    out = children.run([sys.executable, os.path.join(HERE, "fuzz", "soak.py"), "--seconds",
                        str(SECONDS), "--seed", "7"], 300 + 2 * SECONDS, text=True,
                       merge_stderr=True)
    print(out.stdout)
    assert out.returncode == 0, out.stdout
    assert "server crashed     no" in out.stdout
    assert int(out.stdout.split("hostile messages")[1].split()[0]) > 100, out.stdout
    if sys.platform == "win32":     # the doorbell attacks ran too
        line = out.stdout.split("through a doorbell")[1].splitlines()[0]
        assert int(line.split()[0]) > 10 and "own view found: 0" not in line, out.stdout
