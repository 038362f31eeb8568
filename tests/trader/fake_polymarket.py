"""A local CLOB market WebSocket (the `websockets` library), for the SDK's market stream to follow.

Each connection's subscribe frame is recorded; `PING` is answered `PONG` (the SDK's heartbeat);
`send()` pushes a message to every connected client; `down()` aborts their sockets, as a network
drop would (no close frame), and refuses connections until its block ends. The messages themselves
are the shapes the tests build.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


class FakeMarketSocket:
    def __init__(self):
        self.subscriptions: list[dict] = []  # one per connection that subscribed, in order
        self._clients: set[ServerConnection] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> FakeMarketSocket:
        self._thread.start()
        self._server = self._run(self._listen(0))
        self._port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{self._port}/ws/market"
        return self

    def __exit__(self, *exc) -> None:
        self._server.close()
        self._run(self._server.wait_closed())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _listen(self, port: int):
        return await serve(self._serve, "127.0.0.1", port)

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=5)

    async def _serve(self, client: ServerConnection) -> None:
        self._clients.add(client)
        try:
            async for message in client:
                if message == "PING":
                    await client.send("PONG")
                else:
                    self.subscriptions.append(json.loads(message))
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)

    def send(self, message: dict | list) -> None:
        async def broadcast():
            for client in list(self._clients):
                await client.send(json.dumps(message))

        self._run(broadcast())

    @contextmanager
    def down(self) -> Iterator[None]:
        async def stop():
            self._server.close(close_connections=False)  # stop listening
            for client in list(self._clients):
                client.transport.abort()
            await self._server.wait_closed()

        self._run(stop())
        try:
            yield
        finally:
            self._server = self._run(self._listen(self._port))
