"""pytest-benchmark suite of the round trip (run: pytest benchmarks/).

Each size is measured for the Python call (process memory and shared
buffer), one compiled round trip, and the pipe peer, so pytest-benchmark's
table and --benchmark-compare show them side by side.  Every row times one
round trip per round, so every row is per call and comparable with the
others.  ``python -m winipc bench`` (winipc.bench, whose server and
connections these are) prints the ratios and the CPU cost, and checks the
targets."""

import os

import pytest

from winipc.bench import PLUS_ONE, WM_BUMP, bench_server, connections

SIZES = [16, 4096, 1 << 20]


@pytest.fixture(scope="module")
def server():
    with bench_server() as (title, pipe, _), connections(title) as conns:
        yield conns, pipe


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("conn", ["default", "shared"])
def test_winipc_call(benchmark, server, size, conn):
    conns, _ = server
    data = bytearray(os.urandom(size))
    out = benchmark(conns[conn].call, WM_BUMP, data)
    assert out == data.translate(PLUS_ONE)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("conn", ["default", "shared"])
def test_compiled_round_trip(benchmark, server, size, conn):
    """One round trip per round, in C (the list it returns is its duration)."""
    conns, _ = server
    times = benchmark(conns[conn].bench, WM_BUMP, bytearray(size), 1)
    assert len(times) == 1 and times[0] > 0


@pytest.mark.parametrize("size", SIZES)
def test_pipe_peer(benchmark, server, size):
    _, pipe = server
    data = bytes(size)

    def round_trip():
        pipe.send_bytes(data)
        return pipe.recv_bytes()
    assert benchmark(round_trip) == b"\1" * size
