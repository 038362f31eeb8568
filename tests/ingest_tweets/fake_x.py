"""A local X API v2 that speaks the filtered-stream protocol, with faults on a script.

`GET /2/tweets/search/stream` answers each connection with the next step of `script`:
`("status", code, headers_of(now))` answers with that status (429 with `x-rate-limit-reset`, 503);
`("stream", actions)` streams chunked, newline-delimited tweets and then ends cleanly; `("idle",
actions)` then sends `\r\n` keep-alives until the client leaves. Actions: `("publish", n)` (only
first: tweets made while the client was away, found by recent search only), `("tweets", n)`,
`("keepalive", None)`, `("drop", None)` (half a tweet, then the socket goes away), `("stall", s)`
and `("close", None)`. `/2/tweets/search/stream/rules` and `/2/tweets/search/recent` work on the
same state, so the client's gap backfill sees what it missed; every request must carry the token.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from models.ingest.tweets import snowflake_at


class FakeX:
    def __init__(self, markets: dict[str, str], token: str, rules: list[dict] | None = None):
        self.markets, self.token = markets, token  # tag -> query
        self.rules = {r["id"]: r for r in rules or []}
        self.script: list[tuple] = []
        self.published: list[dict] = []  # every tweet that exists (searchable), oldest first
        self.streamed: set[str] = set()  # ids sent whole over the stream
        self.searches: list[dict] = []
        self.unauthorized = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._sequence = 0
        self._stopping = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeX:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def publish(self, count: int, at: datetime | None = None) -> list[dict]:
        """Create `count` tweets now (or `at`, UTC), round-robin over the markets; searchable at once."""
        tags = list(self.markets)
        made = []
        with self._lock:
            for _ in range(count):
                self._sequence += 1
                now = at or datetime.now(UTC).replace(tzinfo=None)
                tweet_id = str(snowflake_at(now) + self._sequence)
                tag = tags[self._sequence % len(tags)]
                author = str(1000 + self._sequence % 7)
                payload = {
                    "data": {
                        "id": tweet_id,
                        "text": f"tweet {self._sequence} about {tag}",
                        "created_at": now.isoformat(timespec="milliseconds") + "Z",
                        "author_id": author,
                        "lang": "en",
                        "public_metrics": {"like_count": self._sequence, "retweet_count": 0},
                        "edit_history_tweet_ids": [tweet_id],
                    },
                    "includes": {"users": [{"id": author, "username": f"user{author}", "verified": False, "public_metrics": {"followers_count": 10}}]},
                    "matching_rules": [{"id": self._rule_id(tag), "tag": tag}],
                }
                self.published.append(payload)
                made.append(payload)
        return made

    def _rule_id(self, tag: str) -> str:
        return next((rid for rid, r in self.rules.items() if r.get("tag") == tag), "0")

    def search(self, params: dict) -> dict:
        self.searches.append(params)
        tag = next(t for t, q in self.markets.items() if q == params["query"])
        found = [p for p in reversed(self.published) if p["matching_rules"][0]["tag"] == tag]
        if "since_id" in params:
            found = [p for p in found if int(p["data"]["id"]) > int(params["since_id"])]
        if "until_id" in params:
            found = [p for p in found if int(p["data"]["id"]) < int(params["until_id"])]
        for key, keep in (("start_time", lambda t, b: t >= b), ("end_time", lambda t, b: t < b)):
            if key in params:
                bound = params[key].replace("Z", "")
                found = [p for p in found if keep(p["data"]["created_at"].replace("Z", ""), bound)]
        start = int(params.get("next_token", 0))
        size = int(params.get("max_results", 10))
        page = found[start : start + size]
        meta = {"result_count": len(page)}
        if start + size < len(found):
            meta["next_token"] = str(start + size)
        users = {u["id"]: u for p in page for u in p["includes"]["users"]}
        return {"data": [p["data"] for p in page], "includes": {"users": list(users.values())}, "meta": meta} if page else {"meta": meta}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _json(self, status: int, body: dict, headers: dict | None = None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") == f"Bearer {fake.token}":
                    return True
                fake.unauthorized += 1
                self._json(401, {"title": "Unauthorized"})
                return False

            def do_GET(self):
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                if not self._authorized():
                    return
                if url.path == "/2/tweets/search/stream/rules":
                    rules = list(fake.rules.values())
                    self._json(200, {"data": rules, "meta": {"result_count": len(rules)}} if rules else {"meta": {"result_count": 0}})
                elif url.path == "/2/tweets/search/recent":
                    self._json(200, fake.search(params))
                elif url.path == "/2/tweets/search/stream":
                    fake.connections += 1
                    self._stream(fake.script.pop(0) if fake.script else ("idle", []))
                else:
                    self._json(404, {"title": "Not Found"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if not self._authorized():
                    return
                if "add" in body:
                    added = []
                    for rule in body["add"]:
                        rid = str(9000 + len(fake.rules) + len(added))
                        added.append({"id": rid, **rule})
                    fake.rules.update({r["id"]: r for r in added})
                    self._json(201, {"data": added, "meta": {"summary": {"created": len(added), "valid": len(added)}}})
                else:
                    ids = body["delete"]["ids"]
                    for rid in ids:
                        fake.rules.pop(rid, None)
                    self._json(200, {"meta": {"summary": {"deleted": len(ids)}}})

            def _chunk(self, data: bytes):
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _stream(self, step: tuple):
                kind, *rest = step
                if kind == "status":
                    code, headers = rest
                    self._json(code, {"title": "Too Many Requests" if code == 429 else "Service Unavailable"}, headers(time.time()))
                    return
                actions = list(rest[0])
                while actions and actions[0][0] == "publish":  # created while the client was away
                    fake.publish(actions.pop(0)[1])
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for action, arg in actions:
                        if action == "tweets":
                            for payload in fake.publish(arg):
                                self._chunk(json.dumps(payload).encode() + b"\r\n")
                                fake.streamed.add(payload["data"]["id"])
                        elif action == "keepalive":
                            self._chunk(b"\r\n")
                        elif action == "drop":  # half a tweet, then the socket goes away
                            payload = fake.publish(1)[0]
                            line = json.dumps(payload).encode()
                            self.wfile.write(f"{len(line) + 2:x}\r\n".encode() + line[: len(line) // 2])
                            self.wfile.flush()
                            self.connection.shutdown(socket.SHUT_RDWR)
                            self.close_connection = True
                            return
                        elif action == "stall":
                            time.sleep(arg)
                        elif action == "close":
                            break
                    if kind == "idle":
                        while not fake._stopping.is_set():
                            self._chunk(b"\r\n")
                            time.sleep(0.05)
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except OSError:  # the client left (a stall it gave up on, or its stop)
                    pass
                self.close_connection = True

        return Handler
