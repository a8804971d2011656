"""A short run of the fuzz and fault harness (tests/fuzz/soak.py): hostile
traffic from other processes while a legitimate client checks its results;
no crash, no wrong result, no growth.  The long run is in the README."""

import os
import sys

import children

HERE = os.path.dirname(os.path.abspath(__file__))


def test_short_soak_under_hostile_traffic():
    out = children.run([sys.executable, os.path.join(HERE, "fuzz", "soak.py"), "--seconds", "4",
                        "--seed", "7"], 300, text=True, merge_stderr=True)
    assert out.returncode == 0, out.stdout
    assert "server crashed     no" in out.stdout
    assert int(out.stdout.split("hostile messages")[1].split()[0]) > 100, out.stdout
