"""ws_upstream.py - the WebSocket upstream of test_websocket.py, on Python's `websockets` package
(Debian's python3-websockets 10.4, run by /usr/bin/python3: test_websocket.py installs it).

    /usr/bin/python3 ws_upstream.py PORT

Paths are matched on their end, so they work behind any route prefix:
  .../echo        every message sent back as it came (text as text, binary as binary)
  .../headers     first a text message: the upgrade request's fields as JSON; then echo
  .../close       echo one message, then close the WebSocket from this side
  .../_status/N   no upgrade: a plain response with status N (the connection then closes)
  .../_stats      no upgrade: JSON {"connections": TCP connections accepted so far,
                  "requests": {path: upgrade requests seen}}
Prints "ready" on stdout once listening."""

import asyncio
import http
import json
import sys

import websockets
import websockets.server

STATS = {"connections": 0, "requests": {}}


class CountingProtocol(websockets.server.WebSocketServerProtocol):
    """Counts every TCP connection, even one that never sends a request."""

    def connection_made(self, transport):
        STATS["connections"] += 1
        super().connection_made(transport)


async def process_request(path, headers):
    if path.endswith("/_stats"):
        return http.HTTPStatus.OK, [("Content-Type", "application/json")], \
            json.dumps(STATS).encode()
    STATS["requests"][path] = STATS["requests"].get(path, 0) + 1
    if "/_status/" in path:
        code = int(path.rsplit("/", 1)[1])
        return http.HTTPStatus(code), [("Content-Type", "text/plain")], b"status %d\n" % code
    return None


async def handler(ws, path):
    if path.endswith("/headers"):
        await ws.send(json.dumps({k.lower(): v for k, v in ws.request_headers.raw_items()}))
    async for msg in ws:
        await ws.send(msg)
        if path.endswith("/close"):
            await ws.close(code=1000, reason="bye")
            return


async def main(port):
    async with websockets.serve(handler, "127.0.0.1", port, create_protocol=CountingProtocol,
                                process_request=process_request, max_size=None,
                                compression=None, ping_interval=None):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
