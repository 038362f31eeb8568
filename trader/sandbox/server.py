"""The sandbox over HTTP: the CLOB endpoints polymarket-client 0.14.0 calls, with its auth, and `/_sandbox/` admin.

Public: `/book`, `/books`, `/tick-size`, `/neg-risk`, `/fee-rate`, `/markets-by-token/{token}`,
`/clob-markets/{condition}`, `/midpoint`, `/time`, `/version`. L1 (ClobAuth signature): `POST /auth/api-key`,
`GET /auth/derive-api-key`. L2 (HMAC): `/auth/api-keys`, `/order(s)`, `/cancel-all`, `/cancel-market-orders`,
`/data/orders`, `/data/order/{id}`, `/data/trades`, `/balance-allowance`, `/v1/heartbeats`. A bad or missing
signature is 401. Admin (no auth; bind to 127.0.0.1): `GET /_sandbox/state`, `PUT /_sandbox/books`,
`POST /_sandbox/tick-size`, `POST /_sandbox/faults`, `POST /_sandbox/fund`, `POST /_sandbox/reset`.
"""

from __future__ import annotations

import copy
import json
import sys
import threading
import time
import urllib.request
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from trader.sandbox.books import Book, BookError
from trader.sandbox.exchange import Exchange, OrderRejected
from trader.sandbox.faults import EXECUTION_ERROR, Fault, FaultError, FaultPlan
from trader.sandbox.signing import SignatureError, new_credentials, verify_l1, verify_l2

_L2_MAX_SKEW_S = 300


class Sandbox:
    """The exchange, its faults and the books it started with (what `reset` goes back to)."""

    def __init__(self, books: dict[str, Book], *, faults: list[Fault] | None = None, seed: int = 0,
                 stall_s: float = 12.0, **exchange_options):
        self.initial_books, self.exchange_options, self.seed = copy.deepcopy(books), exchange_options, seed
        self.exchange = Exchange(copy.deepcopy(books), **exchange_options)
        self.faults = FaultPlan(faults, seed=seed, stall_s=stall_s)

    def reset(self) -> None:
        self.exchange = Exchange(copy.deepcopy(self.initial_books), **self.exchange_options)
        self.faults = FaultPlan(seed=self.seed, stall_s=self.faults.stall_s)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature; requests are not logged
        pass

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.route, self.query = url.path, {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        self.raw_body = self.rfile.read(length).decode() if length else None
        try:
            status, body = _route(self, method)
        except OrderRejected as exc:
            status, body = exc.status, exc.body
        except (BookError, FaultError, SignatureError, ValueError, KeyError, TypeError) as exc:
            status, body = 400, {"error": str(exc) or type(exc).__name__}
        self._send(status, body)

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a stall fault): nothing to say
            pass

    def json(self) -> object:
        return json.loads(self.raw_body) if self.raw_body else None

    def l2(self) -> tuple[str, dict]:
        """The API key (and its record) whose HMAC headers sign this request; 401 otherwise."""
        headers = {name: self.headers.get(name, "") for name in
                   ("POLY_API_KEY", "POLY_PASSPHRASE", "POLY_SIGNATURE", "POLY_TIMESTAMP", "POLY_ADDRESS")}
        record = self.server.sandbox.exchange.keys.get(headers["POLY_API_KEY"])
        if (record is None or record["passphrase"] != headers["POLY_PASSPHRASE"]
                or record["address"].lower() != headers["POLY_ADDRESS"].lower()
                or not headers["POLY_TIMESTAMP"].isdecimal()
                or abs(time.time() - int(headers["POLY_TIMESTAMP"])) > _L2_MAX_SKEW_S):
            raise OrderRejected(401, {"error": "Unauthorized/Invalid api key"})
        try:
            verify_l2(record["secret"], headers["POLY_SIGNATURE"], headers["POLY_TIMESTAMP"], self.command, self.route, self.raw_body)
        except SignatureError:
            raise OrderRejected(401, {"error": "Unauthorized/Invalid api key"}) from None
        return headers["POLY_API_KEY"], record

    def l1(self) -> tuple[str, int]:
        address, nonce = self.headers.get("POLY_ADDRESS", ""), self.headers.get("POLY_NONCE", "0")
        try:
            return verify_l1(address, self.headers.get("POLY_SIGNATURE", ""), self.headers.get("POLY_TIMESTAMP", ""), nonce), int(nonce)
        except (SignatureError, ValueError):
            raise OrderRejected(401, {"error": "Invalid L1 Request headers"}) from None


def _route(request: _Handler, method: str) -> tuple[int, object]:
    sandbox = request.server.sandbox
    exchange, route, query = sandbox.exchange, request.route, request.query
    if route.startswith("/_sandbox/"):
        return _admin(request, sandbox, method, route.removeprefix("/_sandbox/"))
    public = _public(exchange, method, route, query, request)
    if public is not None:
        return public
    if (method, route) == ("POST", "/auth/api-key"):
        address, nonce = request.l1()
        return 200, exchange.create_api_key(address, nonce, new_credentials())
    if (method, route) == ("GET", "/auth/derive-api-key"):
        return 200, exchange.derive_api_key(*request.l1())
    api_key, record = request.l2()
    body = request.json()
    if (method, route) == ("GET", "/auth/api-keys"):
        return 200, {"apiKeys": [k for k, r in exchange.keys.items() if r["address"].lower() == record["address"].lower()]}
    if (method, route) == ("POST", "/order"):
        return _post_order(request, sandbox, api_key, body)
    if (method, route) == ("POST", "/orders"):
        return 200, [_post_order(request, sandbox, api_key, item, batch=True)[1] for item in body]
    if (method, route) == ("DELETE", "/order"):
        return 200, exchange.cancel(api_key, [body["orderID"]])
    if (method, route) == ("DELETE", "/orders"):
        return 200, exchange.cancel(api_key, list(body))
    if (method, route) == ("DELETE", "/cancel-all"):
        return 200, exchange.cancel(api_key)
    if (method, route) == ("DELETE", "/cancel-market-orders"):
        return 200, exchange.cancel(api_key, market=(body or {}).get("market"), asset_id=(body or {}).get("asset_id"))
    if (method, route) == ("GET", "/data/orders"):
        orders = exchange.open_orders(api_key, order_id=query.get("id"), market=query.get("market"), asset_id=query.get("asset_id"))
        return 200, {"data": orders, "next_cursor": "LTE=", "limit": len(orders), "count": len(orders)}
    if method == "GET" and route.startswith("/data/order/"):
        order = exchange.get_order(api_key, route.removeprefix("/data/order/"))
        return (200, order) if order is not None else (404, {"error": "order not found"})
    if (method, route) == ("GET", "/data/trades"):
        trades = exchange.account_trades(api_key, trade_id=query.get("id"), market=query.get("market"), asset_id=query.get("asset_id"))
        return 200, {"data": trades, "next_cursor": "LTE=", "limit": len(trades), "count": len(trades)}
    if (method, route) == ("GET", "/balance-allowance"):
        return 200, exchange.balance_allowance(record["address"], query.get("asset_type", "COLLATERAL"), query.get("token_id"))
    if (method, route) == ("POST", "/v1/heartbeats"):
        return 200, {"heartbeat_id": exchange.heartbeat(api_key, (body or {}).get("heartbeat_id", ""))}
    return 404, {"error": f"{method} {route} is not served by the sandbox"}


def _post_order(request: _Handler, sandbox: Sandbox, api_key: str, payload: dict, batch: bool = False) -> tuple[int, object]:
    """One order through the fault plan: refused, accepted, or accepted and then answered badly."""
    fault = sandbox.faults.draw()
    if batch:  # a batch answers per order: a refusal is that order's errorMsg
        try:
            return 200, sandbox.exchange.post_order(api_key, payload, fault)
        except OrderRejected as exc:
            return 200, {"success": False, "errorMsg": exc.body.get("error", ""), "orderID": "", "status": "",
                         "makingAmount": "0", "takingAmount": "0"}
    answer = sandbox.exchange.post_order(api_key, payload, fault)
    if fault is not None and fault.kind == "fill-then-500":
        return 500, dict(EXECUTION_ERROR)
    if fault is not None and fault.kind == "fill-then-stall":
        time.sleep(sandbox.faults.stall_s)
    return 200, answer


def _public(exchange: Exchange, method: str, route: str, query: dict, request: _Handler) -> tuple[int, object] | None:
    """The unauthenticated market-data endpoints; None when the route is not one of them."""
    now_ms = int(time.time() * 1000)
    book = exchange.books.get(query.get("token_id", ""))
    with exchange.lock:
        if method == "GET" and route in ("/book", "/tick-size", "/neg-risk", "/fee-rate", "/midpoint"):
            if book is None:
                return 404, {"error": "No orderbook exists for the requested token id"}
            return 200, {
                "/book": lambda: book.to_wire(now_ms),
                "/tick-size": lambda: {"minimum_tick_size": float(book.tick_size)},
                "/neg-risk": lambda: {"neg_risk": book.neg_risk},
                "/fee-rate": lambda: {"base_fee": 1000 if book.fee_rate else 0},
                "/midpoint": lambda: {"mid": str((book.bids[0][0] + book.asks[0][0]) / 2) if book.bids and book.asks else ""},
            }[route]()
        if (method, route) == ("POST", "/books"):
            return 200, [exchange.books[item["token_id"]].to_wire(now_ms) for item in request.json()]
        if method == "GET" and route.startswith("/markets-by-token/"):
            book = exchange.books.get(route.removeprefix("/markets-by-token/"))
            return (200, {"condition_id": book.market}) if book else (404, {"error": "market not found"})
        if method == "GET" and route.startswith("/clob-markets/"):
            tokens = [b for b in exchange.books.values() if b.market == route.removeprefix("/clob-markets/")]
            if not tokens:
                return 404, {"error": "market not found"}
            first = tokens[0]
            return 200, {
                "c": first.market, "t": [{"t": b.token_id, "o": b.outcome} for b in tokens],
                "mts": float(first.tick_size), "mos": float(first.min_order_size), "nr": first.neg_risk,
                "fd": {"r": float(first.fee_rate), "e": float(first.fee_exponent), "to": True},
            }
        if (method, route) == ("GET", "/time"):
            return 200, int(time.time())
        if (method, route) == ("GET", "/version"):
            return 200, {"version": 2}
    return None


def _admin(request: _Handler, sandbox: Sandbox, method: str, action: str) -> tuple[int, object]:
    body = request.json() or {}
    if (method, action) == ("GET", "state"):
        return 200, {**sandbox.exchange.state(), "faults": sandbox.faults.to_wire()}
    if (method, action) == ("PUT", "books"):
        sandbox.exchange.set_books({token: Book.from_spec(token, spec) for token, spec in body.items()})
        return 200, {"books": sorted(body)}
    if (method, action) == ("POST", "tick-size"):
        sandbox.exchange.set_tick_size(body["token_id"], Decimal(str(body["tick_size"])))
        return 200, {"token_id": body["token_id"], "tick_size": str(body["tick_size"])}
    if (method, action) == ("POST", "faults"):
        sandbox.faults.faults = [Fault.parse(spec) for spec in body.get("faults", [])]
        sandbox.faults.stall_s = float(body.get("stall_s", sandbox.faults.stall_s))
        return 200, sandbox.faults.to_wire()
    if (method, action) == ("POST", "fund"):
        sandbox.exchange.fund(body["address"], body.get("balance"), body.get("allowance"))
        return 200, {"address": body["address"]}
    if (method, action) == ("POST", "reset"):
        sandbox.reset()
        return 200, {"reset": True}
    return 404, {"error": f"{method} /_sandbox/{action} is not an admin endpoint"}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a stalled answer must not hold up shutdown
    sandbox: Sandbox

    def handle_error(self, request, client_address) -> None:
        """A client that went away mid-request (a killed trader, a timed-out stall) is normal here, not a traceback."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class SandboxServer:
    """The sandbox on a background thread: `with SandboxServer(port=0, books=...) as sandbox: sandbox.url`.

    The helper methods go through the HTTP admin API, so what a test drives is what a user drives.
    """

    def __init__(self, *, books: dict[str, Book | dict], host: str = "127.0.0.1", port: int = 0,
                 tick_interval_s: float = 0.05, **options):
        parsed = {t: b if isinstance(b, Book) else Book.from_spec(t, b) for t, b in books.items()}
        self.sandbox = Sandbox(parsed, **options)
        self.httpd = _HTTPServer((host, port), _Handler)
        self.httpd.sandbox = self.sandbox
        self.tick_interval_s = tick_interval_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SandboxServer:
        self._threads = [threading.Thread(target=self.httpd.serve_forever, name="sandbox-http", daemon=True),
                         threading.Thread(target=self._ticker, name="sandbox-clock", daemon=True)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _ticker(self) -> None:
        """Heartbeat deadlines, GTD expiry and settlement happen even when nobody calls."""
        while not self._stop.wait(self.tick_interval_s):
            self.sandbox.exchange.tick()

    def admin(self, method: str, action: str, body: object | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}/_sandbox/{action}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as response:
            return json.loads(response.read())

    def state(self) -> dict:
        return self.admin("GET", "state")

    def set_books(self, books: dict[str, dict]) -> dict:
        return self.admin("PUT", "books", books)

    def set_tick_size(self, token_id: str, tick_size: str | float) -> dict:
        return self.admin("POST", "tick-size", {"token_id": token_id, "tick_size": str(tick_size)})

    def set_faults(self, faults: list[dict | str], stall_s: float | None = None) -> dict:
        return self.admin("POST", "faults", {"faults": faults, **({} if stall_s is None else {"stall_s": stall_s})})

    def fund(self, address: str, balance: float | None = None, allowance: float | None = None) -> dict:
        return self.admin("POST", "fund", {"address": address, "balance": balance, "allowance": allowance})

    def reset(self) -> dict:
        return self.admin("POST", "reset", {})
