"""The benchmark's asyncio rows, both halves: the server's asyncio stream
echo (the event loop's own floor, in winipc._bench_server's process), and
the client's rows, each on one event loop kept for the run.

  acall               await conn.acall() (a Python handler), one at a time
  acall x8 in turn    eight acall()s awaited one after another: the time per
                      call of each batch of eight, timed as the row below is
  acall x8 tasks      eight tasks awaiting acall() on one connection at once:
                      the time per call of each batch of eight
  x8 tasks, no call   the same eight tasks doing nothing: what asyncio itself
                      costs per task (creating, scheduling and gathering it),
                      the floor under the row above
  asyncio stream (peer)  the same bytes there and back over an asyncio
                      stream (a Unix socket; TCP on loopback on Windows)
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from ._client import Connection

TASKS_FLOOR = "x8 tasks, no call"
IN_TURN = "acall x8 in turn"
ROWS = ["acall", IN_TURN, "acall x8 tasks", TASKS_FLOOR, "asyncio stream (peer)"]
TASKS = 8
# A request on the stream: its length (4 bytes, little-endian), then the bytes.
_HEADER = 4


async def _nothing() -> None:
    return None


class StreamServer:
    """The echo server (it adds one to every byte, as the other peers do),
    on a thread of its own with its own loop; ``address`` says where."""

    def __init__(self, title: str, compute: Callable[[bytes], bytes]):
        self.compute = compute
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.address = ""
        self.thread = threading.Thread(target=self._run, args=(title, started), daemon=True)
        self.thread.start()
        if not started.wait(60) or not self.address:
            raise RuntimeError("the asyncio stream peer did not start")

    def _run(self, title: str, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    n = int.from_bytes(await reader.readexactly(_HEADER), "little")
                    data = await reader.readexactly(n)
                    writer.write(self.compute(data))
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            except asyncio.CancelledError:
                # The loop is closing (see below).  Ending quietly: on Python 3.11,
                # the stream's own callback raises on a handler that was cancelled.
                pass
            finally:
                writer.close()

        async def start() -> asyncio.base_events.Server:
            if sys.platform == "win32":
                server = await asyncio.start_server(serve, "127.0.0.1", 0)
                host, port = server.sockets[0].getsockname()[:2]
                self.address = f"tcp:{host}:{port}"
            else:
                path = os.path.join(tempfile.gettempdir(), f"{title}.aio")
                server = await asyncio.start_unix_server(serve, path)
                os.chmod(path, 0o600)
                self.address = f"unix:{path}"
            return server

        self.server = self.loop.run_until_complete(start())
        started.set()
        self.loop.run_forever()
        # A closed server's accept is a task on Windows' proactor loop, cancelled
        # only on a later round, and a connection's handler may still be waiting:
        # both end here, before the loop closes, or exit reports them destroyed
        # while pending.
        tasks = asyncio.all_tasks(self.loop)
        for task in tasks:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self.loop.close()

    def close(self) -> None:
        def stop() -> None:
            self.server.close()
            self.loop.stop()
        self.loop.call_soon_threadsafe(stop)
        self.thread.join(10)
        if self.address.startswith("unix:"):
            try:
                os.unlink(self.address[5:])
            except OSError:
                pass


class Rows:
    """The client's asyncio rows: one loop for the run, the stream opened
    once."""

    conn: Connection
    msg: int
    loop: asyncio.AbstractEventLoop
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def __init__(self, conn: Connection, msg: int, address: str):
        self.conn, self.msg = conn, msg
        self.loop = asyncio.new_event_loop()
        self.reader, self.writer = self.loop.run_until_complete(self._open(address))

    async def _open(self, address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        kind, _, where = address.partition(":")
        if kind == "unix":
            if sys.platform == "win32":
                raise ValueError(f"{address!r}: Windows has no Unix sockets for asyncio")
            return await asyncio.open_unix_connection(where)
        host, _, port = where.rpartition(":")
        return await asyncio.open_connection(host, int(port))

    def timed(self, row: str, data: bytearray, n: int) -> list[int]:
        """``n`` calls of ``row``, each one's duration in ns (the x8 row: each
        batch's time per call, once per call of the batch)."""
        return self.loop.run_until_complete(self._timed(row, data, n))

    async def _timed(self, row: str, data: bytearray, n: int) -> list[int]:
        clock = time.perf_counter_ns
        out: list[int] = []
        conn, msg = self.conn, self.msg
        if row == "acall":
            for _ in range(n):
                t0 = clock()
                await conn.acall(msg, data)
                out.append(clock() - t0)
        elif row == IN_TURN:
            # Timed per batch as the tasks' row is: a call timed alone
            # leaves out what the loop around it costs between calls.
            for _ in range(max(1, n // TASKS)):
                t0 = clock()
                for _ in range(TASKS):
                    await conn.acall(msg, data)
                out += [(clock() - t0) // TASKS] * TASKS
        elif row == "acall x8 tasks":
            for _ in range(max(1, n // TASKS)):
                t0 = clock()
                await asyncio.gather(*(conn.acall(msg, data) for _ in range(TASKS)))
                out += [(clock() - t0) // TASKS] * TASKS
        elif row == TASKS_FLOOR:
            for _ in range(max(1, n // TASKS)):
                t0 = clock()
                await asyncio.gather(*(_nothing() for _ in range(TASKS)))
                out += [(clock() - t0) // TASKS] * TASKS
        else:
            reader, writer = self.reader, self.writer
            header = len(data).to_bytes(_HEADER, "little")
            for _ in range(n):
                t0 = clock()
                writer.write(header + data)
                await reader.readexactly(len(data))
                out.append(clock() - t0)
        return out

    def call(self, row: str, data: bytearray) -> bytes | bytearray:
        """One call of ``row``'s kind, its answer (to check it; the floor
        row's check is an acall's: its tasks call nothing)."""
        async def one() -> bytes | bytearray:
            if row == "asyncio stream (peer)":
                self.writer.write(len(data).to_bytes(_HEADER, "little") + data)
                return await self.reader.readexactly(len(data))
            return await self.conn.acall(self.msg, data)
        return self.loop.run_until_complete(one())

    def close(self) -> None:
        """Closes the stream and the loop."""
        self.writer.close()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()
