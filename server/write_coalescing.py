"""One socket write per burst of output instead of one per protocol event.

Hypercorn writes every piece a protocol produces at once: for a small HTTP/2 response that is the
HEADERS frame, the DATA frame and the end of the stream, three `send` system calls (two over
HTTP/1.1: the head and the body). On a busy server those calls are a tenth of the time a key
lookup takes. `CoalescingTCPServer` collects what the protocol sends while the event loop runs its
current callbacks and writes it in one call right after them (`loop.call_soon`), so a response
produced in one go leaves in one write. Large output is written at once and drained, as before,
so memory stays bounded and a slow reader still pushes back.
"""

from __future__ import annotations

import logging
from typing import Any

import hypercorn.asyncio.run as hypercorn_run
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.events import Closed, RawData

log = logging.getLogger("ksql.server")

# pending output at which it is written at once and drained rather than collected further
WRITE_NOW_BYTES = 64 * 1024


class CoalescingTCPServer(TCPServer):
    """Hypercorn's connection handler, writing what one turn of the event loop produced in one call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._write_scheduled = False

    async def protocol_send(self, event: Any) -> None:
        if not isinstance(event, RawData):
            if isinstance(event, Closed):
                self._write_pending()
            await super().protocol_send(event)
            return
        self._pending.append(event.data)
        self._pending_bytes += len(event.data)
        if self._pending_bytes < WRITE_NOW_BYTES and not self._backlogged():
            if not self._write_scheduled:
                self._write_scheduled = True
                self.loop.call_soon(self._write_pending)
            return
        self._write_pending()
        async with self.send_lock:
            try:
                await self.writer.drain()
            except (ConnectionError, RuntimeError):
                await self.protocol.handle(Closed())

    def _backlogged(self) -> bool:
        """The transport still holds unsent output: the client reads slowly, so wait on it (drain)."""
        return self.writer.transport.get_write_buffer_size() > 0

    def _write_pending(self) -> None:
        self._write_scheduled = False
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        try:
            self.writer.write(data)
        except (ConnectionError, RuntimeError):
            pass  # the connection is gone: its reader sees the end and closes the protocol

    async def _close(self) -> None:
        self._write_pending()
        await super()._close()

    async def _initiate_server_close(self) -> None:
        self._write_pending()
        await super()._initiate_server_close()


def install() -> None:
    """Make Hypercorn's asyncio worker handle connections with CoalescingTCPServer (idempotent)."""
    if getattr(hypercorn_run, "TCPServer", None) is not TCPServer and hypercorn_run.TCPServer is not CoalescingTCPServer:
        log.warning("this Hypercorn version builds connections differently: writes are not coalesced")
        return
    hypercorn_run.TCPServer = CoalescingTCPServer
