"""pytest-benchmark suite of the round trip (run: pytest benchmarks/).

Each size is measured for the Python call, the compiled loop and the pipe
peer, so pytest-benchmark's table and --benchmark-compare show them side by
side; roundtrip.py prints the ratios and checks the targets."""

import os

import pytest

from roundtrip import WM_BUMP, WM_PYBUMP, bench_server

SIZES = [8, 4096, 1 << 20]


@pytest.fixture(scope="module")
def server():
    with bench_server() as pair:
        yield pair


@pytest.mark.parametrize("size", SIZES)
def test_winipc_call(benchmark, server, size):
    conn, _ = server
    data = bytearray(os.urandom(size))
    out = benchmark(conn.call, WM_BUMP, data)
    assert out == data.translate(bytes((i + 1) & 0xFF for i in range(256)))


@pytest.mark.parametrize("size", SIZES)
def test_winipc_call_python_handler(benchmark, server, size):
    conn, _ = server
    data = bytearray(size)
    assert benchmark(conn.call, WM_PYBUMP, data) == b"\1" * size


@pytest.mark.parametrize("size", SIZES)
def test_compiled_loop_of_100(benchmark, server, size):
    conn, _ = server
    times = benchmark(conn.bench, WM_BUMP, bytearray(size), 100)
    assert len(times) == 100 and min(times) > 0


@pytest.mark.parametrize("size", SIZES)
def test_pipe_peer(benchmark, server, size):
    _, pipe = server
    data = bytes(size)

    def round_trip():
        pipe.send_bytes(data)
        return pipe.recv_bytes()
    assert benchmark(round_trip) == b"\1" * size
