"""The sandbox exchange's state and matching, without HTTP: accounts, books, orders, trades, heartbeats.

A marketable order crosses the market maker's quotes level by level at the resting price, never worse
than its own limit (BUY: makerAmount/takerAmount, SELL: takerAmount/makerAmount). FAK/FOK BUYs spend
their makerAmount (pUSD), SELLs sell their makerAmount (shares); GTC/GTD orders trade their size and
rest the remainder, which the market maker lifts when new quotes (`set_books`) cross it (maker fills,
no fee). Only the market maker's quotes are matched: two sandbox accounts never trade with each other.
By default a level is not used up by a fill (the maker always re-quotes), so a long rehearsal keeps
filling; `deplete=True` consumes it. Taker fees (shares x rate x (p(1-p))^exponent) are paid in pUSD.

Trades start MATCHED and settle after `settle_s`: CONFIRMED, or FAILED (the `trade-fails` fault) with
the fill's balance, fee and position reverted. Every posted order id is counted in `post_counts`, so a
test can prove a signed order was never posted twice. Error texts come from FACTS.md and
`clob-post-order/` where recorded (balance, FOK, execution, cancel-only); the tick, size, duplicate and
unknown-token texts follow the old CLOB error codes and are not recorded verbatim.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from trader.sandbox.books import Book
from trader.sandbox.faults import CANCEL_ONLY, Fault
from trader.sandbox.signing import EXCHANGE_V2, NEG_RISK_ADAPTER, NEG_RISK_EXCHANGE_V2, SignatureError, verify_order
from trader.sandbox.wire import UNIT, order_wire, trade_wire, tx_hash, wire_amount

FOK_NOT_FILLED = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_NOT_FILLED = "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."
NOT_ENOUGH = "not enough balance / allowance"
MAX_ALLOWANCE = Decimal(2**64 - 1) * UNIT  # "approved for all", in pUSD


class OrderRejected(Exception):
    """A refused request: the HTTP status and the single-field JSON body the CLOB answers with."""

    def __init__(self, status: int, body: dict):
        super().__init__(body.get("error"))
        self.status, self.body = status, body


def _reject(message: str, status: int = 400) -> OrderRejected:
    return OrderRejected(status, {"error": message})


@dataclass
class Account:
    address: str
    balance: Decimal
    allowance: Decimal = MAX_ALLOWANCE
    positions: dict[str, Decimal] = field(default_factory=dict)


@dataclass
class Order:
    id: str
    owner: str
    address: str
    token_id: str
    side: str
    price: Decimal
    original_size: Decimal
    order_type: str
    created_at: int
    expiration: int = 0
    size_matched: Decimal = Decimal(0)
    status: str = "LIVE"
    trades: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.original_size - self.size_matched


@dataclass
class Trade:
    id: str
    order_id: str
    owner: str
    address: str
    token_id: str
    side: str
    price: Decimal
    size: Decimal
    fee: Decimal
    trader_side: str
    match_time: float
    settle_at: float
    fails: bool = False
    status: str = "MATCHED"
    last_update: float = 0.0


@dataclass
class Heartbeat:
    expected: str
    last: float


class Exchange:
    """All state behind one lock; `tick(now)` runs the clock (settlement, GTD expiry, heartbeat deadlines)."""

    def __init__(self, books: dict[str, Book], *, balance: Decimal = Decimal(1000), deplete: bool = False,
                 heartbeat_timeout_s: float = 10.0, settle_s: float = 0.2, clock=time.time):
        self.books, self.balance, self.deplete = dict(books), Decimal(balance), deplete
        self.heartbeat_timeout_s, self.settle_s, self.clock = heartbeat_timeout_s, settle_s, clock
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self.credentials: dict[tuple[str, int], dict] = {}  # (address, nonce) -> the API creds issued
        self.keys: dict[str, dict] = {}  # api key -> {address, secret, passphrase}
        self.orders: dict[str, Order] = {}
        self.trades: dict[str, Trade] = {}
        self.post_counts: Counter[str] = Counter()
        self.heartbeats: dict[str, Heartbeat] = {}
        self.heartbeat_cancels: list[dict] = []

    # --- accounts and API keys -------------------------------------------------------------------

    def account(self, address: str) -> Account:
        key = address.lower()
        if key not in self.accounts:
            self.accounts[key] = Account(address, self.balance)
        return self.accounts[key]

    def create_api_key(self, address: str, nonce: int, creds: dict) -> dict:
        with self.lock:
            if (address.lower(), nonce) in self.credentials:
                raise _reject("Could not create api key")
            self.account(address)
            self.credentials[(address.lower(), nonce)] = creds
            self.keys[creds["apiKey"]] = {"address": address, **creds}
            return creds

    def derive_api_key(self, address: str, nonce: int) -> dict:
        with self.lock:
            if (creds := self.credentials.get((address.lower(), nonce))) is None:
                raise _reject("Could not derive api key!")
            return creds

    # --- orders ----------------------------------------------------------------------------------

    def post_order(self, api_key: str, payload: dict, fault: Fault | None = None) -> dict:
        """Validate, count, match and record one `POST /order` body; the CLOB's 200 answer or `OrderRejected`."""
        with self.lock:
            self.tick()
            signed = payload.get("order") or {}
            if payload.get("owner") != api_key:
                raise _reject("the order owner has to be the owner of the API KEY")
            book = self.books.get(str(signed.get("tokenId")))
            if book is None:
                raise _reject(f"market for token {signed.get('tokenId')} not found")
            try:
                order_id = verify_order(signed, neg_risk=book.neg_risk)
            except (SignatureError, KeyError, TypeError, ValueError) as exc:
                raise _reject(str(exc) if isinstance(exc, SignatureError) else "invalid order payload") from None
            self.post_counts[order_id] += 1
            if fault is not None and fault.kind == "503":
                raise OrderRejected(503, dict(CANCEL_ONLY))
            if fault is not None and fault.kind == "reject":
                raise OrderRejected(fault.status, dict(fault.body))
            if order_id in self.orders:
                raise _reject(f"order {order_id} is invalid. Duplicated. Same order has already been placed, can't be placed again")
            order, budget = self._validate(order_id, api_key, signed, payload, book)
            fills = self._match(order, book, budget)
            if order.order_type == "FOK" and not self._complete(order, fills, budget):
                raise _reject(FOK_NOT_FILLED)
            if order.order_type == "FAK" and not fills:
                raise _reject(FAK_NOT_FILLED)
            if payload.get("postOnly") and fills:
                raise _reject("invalid post-only order: order crosses book")
            trades = [self._fill(order, book, price, size, "TAKER", fails=fault is not None and fault.kind == "trade-fails")
                      for price, size in fills]
            if order.order_type in ("FAK", "FOK") or order.remaining <= 0:
                order.status = "MATCHED" if trades else "CANCELED"
            self.orders[order_id] = order
            cost = sum((t.price * t.size for t in trades), Decimal(0))
            shares = sum((t.size for t in trades), Decimal(0))
            making, taking = (cost, shares) if order.side == "BUY" else (shares, cost)
            return {
                "success": True, "errorMsg": "", "orderID": order_id,
                "status": "matched" if trades else "live",
                "makingAmount": wire_amount(making), "takingAmount": wire_amount(taking),
                "transactionsHashes": [tx_hash(t.id) for t in trades], "tradeIDs": [t.id for t in trades],
            }

    def _validate(self, order_id: str, api_key: str, signed: dict, payload: dict, book: Book) -> tuple[Order, Decimal | None]:
        """The order as the book sees it, plus the pUSD budget of a market BUY; refuses what the CLOB refuses."""
        side, kind = signed["side"], payload.get("orderType", "GTC")
        maker, taker = Decimal(int(signed["makerAmount"])) * UNIT, Decimal(int(signed["takerAmount"])) * UNIT
        if kind not in ("GTC", "GTD", "FOK", "FAK") or maker <= 0 or taker <= 0 or side not in ("BUY", "SELL"):
            raise _reject("invalid order payload")
        price, size = (maker / taker, taker) if side == "BUY" else (taker / maker, maker)
        tick = book.tick_size
        if kind in ("GTC", "GTD") and price % tick:
            raise _reject(f"order {order_id} is invalid. Price ({wire_amount(price)}) breaks minimum tick size rule: {tick}")
        if not tick <= price.quantize(tick, rounding=ROUND_DOWN) <= 1 - tick:
            raise _reject(f"invalid price ({wire_amount(price)}), min: {tick} - max: {1 - tick}")
        if size < book.min_order_size:
            raise _reject(f"order {order_id} is invalid. Size ({wire_amount(size)}) lower than the minimum: {book.min_order_size}")
        expiration, now = int(signed.get("expiration") or 0), self.clock()
        if kind == "GTD" and expiration <= now + 60:
            raise _reject("invalid expiration")
        account = self.account(signed["maker"])
        if side == "BUY":
            needed = maker + book.taker_fee(taker, price)
            free = min(account.balance, account.allowance) - self._locked_collateral(account.address)
        else:
            needed, free = maker, account.positions.get(book.token_id, Decimal(0)) - self._locked_shares(account.address, book.token_id)
        if needed > free:
            raise _reject(NOT_ENOUGH)
        order = Order(order_id, api_key, account.address, book.token_id, side, price, size, kind, int(now), expiration)
        return order, maker if side == "BUY" and kind in ("FAK", "FOK") else None

    def _locked_collateral(self, address: str) -> Decimal:
        return sum((o.remaining * o.price for o in self._live(address) if o.side == "BUY"), Decimal(0))

    def _locked_shares(self, address: str, token_id: str) -> Decimal:
        return sum((o.remaining for o in self._live(address) if o.side == "SELL" and o.token_id == token_id), Decimal(0))

    def _live(self, address: str | None = None, owner: str | None = None) -> list[Order]:
        return [o for o in self.orders.values() if o.status == "LIVE"
                and (address is None or o.address.lower() == address.lower()) and (owner is None or o.owner == owner)]

    def _match(self, order: Order, book: Book, budget: Decimal | None) -> list[tuple[Decimal, Decimal]]:
        """(price, shares) taken from the opposite quotes, best first, never past the order's limit."""
        levels = book.asks if order.side == "BUY" else book.bids
        fills, shares_left, spend_left = [], order.remaining, budget
        for price, size in levels:
            if (order.side == "BUY" and price > order.price) or (order.side == "SELL" and price < order.price):
                break
            want = (spend_left / price).quantize(UNIT, rounding=ROUND_DOWN) if spend_left is not None else shares_left
            take = min(size, want)
            if take <= 0:
                break
            fills.append((price, take))
            if spend_left is not None:
                spend_left -= (price * take).quantize(UNIT, rounding=ROUND_UP)
            else:
                shares_left -= take
        return fills

    def _complete(self, order: Order, fills: list, budget: Decimal | None) -> bool:
        if budget is None:
            return sum(s for _, s in fills) >= order.remaining
        spent = sum(((p * s).quantize(UNIT, rounding=ROUND_UP) for p, s in fills), Decimal(0))
        return budget - spent < Decimal("0.0001")

    def _fill(self, order: Order, book: Book, price: Decimal, size: Decimal, trader_side: str, *, fails: bool) -> Trade:
        """Book one fill: balances, position, the order's matched size, the quote (when depleting), a trade."""
        now = self.clock()
        fee = book.taker_fee(size, price) if trader_side == "TAKER" else Decimal(0)
        trade = Trade(str(uuid.uuid4()), order.id, order.owner, order.address, order.token_id, order.side,
                      price, size, fee, trader_side, now, now + self.settle_s, fails, last_update=now)
        self._apply(trade, +1)
        order.size_matched += size
        order.trades.append(trade.id)
        book.last_trade_price = price
        if self.deplete:
            levels = book.asks if order.side == "BUY" else book.bids
            level = next(lv for lv in levels if lv[0] == price)
            level[1] -= size
            levels[:] = [lv for lv in levels if lv[1] > 0]
        self.trades[trade.id] = trade
        return trade

    def _apply(self, trade: Trade, sign: int) -> None:
        account = self.account(trade.address)
        cost = (trade.price * trade.size).quantize(UNIT, rounding=ROUND_UP)
        direction = 1 if trade.side == "BUY" else -1
        account.balance -= sign * (direction * cost + trade.fee)
        account.positions[trade.token_id] = account.positions.get(trade.token_id, Decimal(0)) + sign * direction * trade.size

    # --- cancels, queries ------------------------------------------------------------------------

    def cancel(self, api_key: str, order_ids: list[str] | None = None, *, market: str | None = None,
               asset_id: str | None = None) -> dict:
        """Cancel the caller's live orders: the ids given, or all (optionally one market / asset)."""
        with self.lock:
            self.tick()
            canceled, not_canceled = [], {}
            if order_ids is None:
                targets = [o for o in self._live(owner=api_key)
                           if (asset_id is None or o.token_id == asset_id) and (market is None or self.books[o.token_id].market == market)]
            else:
                targets = []
                for oid in order_ids:
                    order = self.orders.get(oid)
                    if order is None or order.owner != api_key:
                        not_canceled[oid] = "order not found"
                    elif order.status != "LIVE":
                        not_canceled[oid] = "order can't be canceled because it's already matched or canceled"
                    else:
                        targets.append(order)
            for order in targets:
                order.status = "CANCELED"
                canceled.append(order.id)
            return {"canceled": canceled, "not_canceled": not_canceled}

    def open_orders(self, api_key: str, *, order_id=None, market=None, asset_id=None) -> list[dict]:
        with self.lock:
            self.tick()
            return [order_wire(o, self.books[o.token_id]) for o in self._live(owner=api_key)
                    if (order_id is None or o.id == order_id) and (asset_id is None or o.token_id == asset_id)
                    and (market is None or self.books[o.token_id].market == market)]

    def get_order(self, api_key: str, order_id: str) -> dict | None:
        with self.lock:
            self.tick()
            order = self.orders.get(order_id)
            return order_wire(order, self.books[order.token_id]) if order is not None and order.owner == api_key else None

    def account_trades(self, api_key: str, *, trade_id=None, market=None, asset_id=None) -> list[dict]:
        with self.lock:
            self.tick()
            return [trade_wire(t, self.books[t.token_id]) for t in self.trades.values() if t.owner == api_key
                    and (trade_id is None or t.id == trade_id) and (asset_id is None or t.token_id == asset_id)
                    and (market is None or self.books[t.token_id].market == market)]

    def balance_allowance(self, address: str, asset_type: str, token_id: str | None) -> dict:
        with self.lock:
            self.tick()
            account = self.account(address)
            if asset_type == "COLLATERAL":
                balance, allowance = account.balance, account.allowance
            else:
                balance, allowance = account.positions.get(token_id or "", Decimal(0)), MAX_ALLOWANCE
            units = str(int(allowance / UNIT))
            return {"balance": str(int(balance / UNIT)),
                    "allowances": {EXCHANGE_V2: units, NEG_RISK_EXCHANGE_V2: units, NEG_RISK_ADAPTER: units}}

    def fund(self, address: str, balance: Decimal | None = None, allowance: Decimal | None = None) -> None:
        with self.lock:
            account = self.account(address)
            account.balance = account.balance if balance is None else Decimal(str(balance))
            account.allowance = account.allowance if allowance is None else Decimal(str(allowance))

    # --- heartbeats and the clock ----------------------------------------------------------------

    def heartbeat(self, api_key: str, heartbeat_id: str) -> str:
        """Accept the chain's latest id (or start a chain) and hand out the next; a mismatch names the expected id."""
        with self.lock:
            self.tick()
            chain = self.heartbeats.get(api_key)
            if chain is not None and heartbeat_id != chain.expected:
                raise OrderRejected(400, {"error_msg": "Invalid Heartbeat ID", "heartbeat_id": chain.expected})
            next_id = str(uuid.uuid4())
            self.heartbeats[api_key] = Heartbeat(next_id, self.clock())
            return next_id

    def tick(self, now: float | None = None) -> None:
        """Settle due trades, expire GTD orders, and cancel every live order of a key whose heartbeat lapsed."""
        with self.lock:
            now = self.clock() if now is None else now
            for trade in self.trades.values():
                if trade.status == "MATCHED" and trade.settle_at <= now:
                    trade.status, trade.last_update = ("FAILED" if trade.fails else "CONFIRMED"), now
                    if trade.fails:
                        self._apply(trade, -1)
            for order in self._live():
                if order.expiration and order.expiration <= now:
                    order.status = "EXPIRED"
            for api_key, chain in list(self.heartbeats.items()):
                if now - chain.last > self.heartbeat_timeout_s:
                    del self.heartbeats[api_key]
                    canceled = self.cancel(api_key)["canceled"]
                    self.heartbeat_cancels.append({"api_key": api_key, "at": now, "canceled": canceled})

    # --- the market maker's quotes ---------------------------------------------------------------

    def set_books(self, books: dict[str, Book]) -> None:
        """Replace or add books; resting orders the new quotes cross are filled as makers (no fee)."""
        with self.lock:
            self.books.update(books)
            for order in self._live():
                if order.token_id in books:
                    for price, size in self._match(order, self.books[order.token_id], None):
                        self._fill(order, self.books[order.token_id], price, size, "MAKER", fails=False)
                    if order.remaining <= 0:
                        order.status = "MATCHED"

    def set_tick_size(self, token_id: str, tick_size: Decimal) -> None:
        with self.lock:
            if token_id not in self.books:
                raise _reject(f"market for token {token_id} not found", 404)
            self.books[token_id].tick_size = Decimal(tick_size)

    def state(self) -> dict:
        """Everything a test asserts on (`GET /_sandbox/state`), numbers as strings."""
        with self.lock:
            self.tick()
            return {
                "orders": [{**order_wire(o, self.books[o.token_id]), "post_count": self.post_counts[o.id]} for o in self.orders.values()],
                "post_counts": dict(self.post_counts),
                "trades": [trade_wire(t, self.books[t.token_id]) for t in self.trades.values()],
                "accounts": {a.address: {"balance": wire_amount(a.balance), "allowance": wire_amount(a.allowance),
                                         "positions": {k: wire_amount(v) for k, v in a.positions.items()}}
                             for a in self.accounts.values()},
                "api_keys": sorted(self.keys),
                "heartbeats": {k: {"expected": h.expected, "last": h.last} for k, h in self.heartbeats.items()},
                "heartbeat_cancels": list(self.heartbeat_cancels),
                "books": {t: b.to_wire(int(self.clock() * 1000)) for t, b in self.books.items()},
            }

