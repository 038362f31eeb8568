"""Signed orders through the official SDK (`polymarket-client`'s `SecureClient`): `dry-run` and `live`.

Each order the engine sends becomes, in this order:
0. nothing for a market whose earlier order has an unknown outcome, and no BUY while its earlier
   trades are unconfirmed (one that fails would hand back shares the engine counts as sold);
1. a price from the exchange's current book (never the decision's mid): the level that completes the
   size, on the book's tick, bounded by the decision's price plus `price_protection` (a BUY priced above
   the engine's own price buys fewer shares for the same stake, so no cap is passed); an order the
   book cannot meet within that bound, below the book's minimum size, or beyond the balance, is
   declined and recorded as such;
2. a marketable limit order (FAK or FOK), or a GTD limit order whose unfilled rest stays on the book until
   the next decision round withdraws it (or its expiry, or the heartbeat dead-man switch: `trader.heartbeat`),
   built and signed by the SDK;
3. an intent in the ledger under the order's exchange id (its EIP-712 digest), committed;
4. live only: the post. An answer settles it (accepted with its trades, or refused: final, never
   re-sent); no clear answer (a timeout, a 5xx, a dropped connection) leaves it `unknown`, and it is
   resolved by asking the exchange (the order by its id, the account's trades) before anything else
   is sent for its market. An order is never re-signed for an intent that is still unknown.
Dry-run stops after step 3 and fills on the book it read, as paper would; the exchange sees nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal

from polymarket import SecureClient
from polymarket.errors import PolymarketError, RateLimitError, RequestRejectedError, TransportError
from polymarket.models import OrderBook
from polymarket.models.clob.order_response import AcceptedOrder

from connectors.polymarket import order_id
from models.engine import Fill, MarketInfo, Order, token_mid
from sentitrade.redact import one_line
from trader.execution import walk_book
from trader.feeds.events import BookEvent
from trader.journal import JournaledOrder, OrderJournal, Trade

log = logging.getLogger("trader.live")
_DUST = 1e-9
_TRADE_STATUS = {"MATCHED": "matched", "MATCHED_NOT_BROADCASTED": "matched", "MINED": "mined", "RETRYING": "retrying",
                 "CONFIRMED": "confirmed", "FAILED": "failed"}


class OrderBookUnavailable(RuntimeError):
    """The exchange's book could not be read, so no price can be set."""


@dataclasses.dataclass
class BookRef:
    """Which ledger book the orders are for (the champion's), set once the run is open."""

    run_id: str
    book_id: str
    model_version: Callable[[], str]


class SignedExecution:
    """Orders signed by the SDK; posted when `post` is True (live), only recorded otherwise (dry-run)."""

    def __init__(self, client: SecureClient, journal: OrderJournal, markets: Mapping[str, MarketInfo], *, post: bool,
                 price_protection: float, order_type: str = "FAK", rest_s: float = 300.0):
        self.client, self.journal, self.markets = client, journal, markets
        self.post, self.protection, self.order_type, self.rest_s = post, price_protection, order_type, rest_s
        self.name = "live" if post else "dry-run"
        self.book: BookRef | None = None
        self.on_rest: Callable[[], None] = lambda: None  # an order came to rest on the book (the heartbeat wakes)
        self.arm: Callable[[], bool] = lambda: True  # before an order that may rest: the dead-man switch armed (a beat)
        self.late_changes = 0  # fills or reversals found outside an `execute` call: the book must be rebuilt

    # --- one order ----------------------------------------------------------------------------------

    def execute(self, order: Order, mid_yes: float) -> Fill | None:
        if self.journal.unresolved(order.market):
            self.resolve_unknown(order.market)
            if self.journal.unresolved(order.market):
                return self._decline(order, "an earlier order's outcome on this market is still unknown")
        if order.side == "BUY" and self.journal.provisional_trades(order.market):
            # A trade that may still fail could give back what the engine thinks is sold: no new exposure on it.
            reversed_ = self.confirm_trades()
            if reversed_:
                return self._decline(order, "a trade failed on chain: the book is rebuilt before the next decision")
            if self.journal.provisional_trades(order.market):
                return self._decline(order, "earlier trades on this market are not confirmed yet")
        try:
            book = self.client.get_order_book(token_id=order.token_id)
        except PolymarketError as exc:
            return self._decline(order, f"the order book could not be read ({type(exc).__name__}: {one_line(exc)})")
        minimum = float(book.min_order_size)
        if order.shares < minimum - _DUST:
            return self._decline(order, f"{order.shares:g} shares is below the book's minimum size {minimum:g}")
        limit = protected_limit(order, book, token_mid(order.token, mid_yes), self.protection)
        if limit is None:
            best = _best(book, order.side)
            return self._decline(order, f"the book ({'best ask' if order.side == 'BUY' else 'best bid'} {best}) is beyond the "
                                        f"price protection of {self.protection:g} from {token_mid(order.token, mid_yes):.4f}")
        if order.side == "BUY" and limit > order.limit_price + _DUST:
            # The engine sized the stake at its own price: a dearer book buys fewer shares, never more dollars.
            order = dataclasses.replace(order, shares=math.floor(order.shares * order.limit_price / limit * 100 + _DUST) / 100)
            if order.shares < minimum - _DUST:
                return self._decline(order, f"at the book's {limit:g} the stake buys {order.shares:g} shares, below the minimum size {minimum:g}")
        try:
            short = self._short_of_balance(order, limit, book.neg_risk)
            signed = None if short else self._sign(order, limit)
        except PolymarketError as exc:
            short = f"the order could not be checked or signed ({type(exc).__name__}: {one_line(exc)})"
        if short:
            return self._decline(order, short)
        oid = order_id(signed, neg_risk=book.neg_risk, environment=self.client.environment)
        ref = self.book
        self.journal.intent(ref.run_id, ref.book_id, ref.model_version(), dataclasses.replace(order, limit_price=limit), oid,
                            limit, signed.order_type, dataclasses.asdict(signed))
        if not self.post:
            return self._simulate(order, oid, limit, book)
        if self.rests and not self.arm():
            self.journal.settle(oid, "unsent", error="not posted: the order heartbeat that keeps a resting order in check failed")
            return None
        return self._post(order, oid, signed)

    def _sign(self, order: Order, limit: float):
        price = Decimal(str(limit))
        if self.order_type == "GTD":
            return self.client.create_limit_order(token_id=order.token_id, price=price, size=Decimal(str(order.shares)),
                                                  side=order.side, expiration=int(time.time() + self.rest_s))
        if order.side == "BUY":
            amount = (Decimal(str(order.shares)) * price).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
            return self.client.create_market_order(token_id=order.token_id, side="BUY", amount=amount, max_price=price,
                                                   order_type=self.order_type)
        return self.client.create_market_order(token_id=order.token_id, side="SELL", shares=Decimal(str(order.shares)),
                                               min_price=price, order_type=self.order_type)

    def _post(self, order: Order, oid: str, signed) -> Fill | None:
        try:
            response = self.client.post_order(signed)
        except RateLimitError as exc:
            self.journal.settle(oid, "rejected", error=f"HTTP 429: {one_line(exc)}")
            return None
        except RequestRejectedError as exc:
            if exc.status < 500:
                self.journal.settle(oid, "rejected", error=f"HTTP {exc.status}: {one_line(exc)}")
                log.warning("%s %s %g %s refused: HTTP %s %s", order.market, order.side, order.shares, order.token, exc.status, one_line(exc))
                return None
            return self._unknown(order, oid, f"HTTP {exc.status}: {one_line(exc)}")
        except TransportError as exc:
            return self._unknown(order, oid, f"no answer: {one_line(exc)}")
        if not isinstance(response, AcceptedOrder):
            status = "unfilled" if response.code in ("fak_not_filled", "fok_not_filled", "unmatched") else "rejected"
            self.journal.settle(oid, status, error=f"{response.code}: {response.message}")
            return None
        try:
            return self.settle_from_exchange(order, oid)
        except PolymarketError as exc:  # accepted, but its trades could not be read: resolved before the market trades again
            self.journal.settle(oid, "unknown", error=f"accepted; trades not read: {one_line(exc)}")
            return None

    def _unknown(self, order: Order, oid: str, why: str) -> Fill | None:
        """No clear answer: the order may or may not be on the exchange. Ask it now; if it cannot say,
        the order stays unknown and its market sends nothing until it can."""
        self.journal.settle(oid, "unknown", error=why)
        log.warning("%s: order %s outcome unknown (%s); asking the exchange", order.market, oid[:12], why)
        try:
            return self.settle_from_exchange(order, oid)
        except PolymarketError as exc:
            log.warning("%s: order %s still unknown: %s", order.market, oid[:12], one_line(exc))
            return None

    def settle_from_exchange(self, order: Order | JournaledOrder, oid: str) -> Fill | None:
        """The order's state and trades as the exchange reports them, recorded; the fill they add up to."""
        try:
            state = self.client.get_order(order_id=oid)
        except RequestRejectedError as exc:
            if exc.status != 404:
                raise
            state = None
        trades = self._trades_of(order.token_id, oid)
        if state is None and not trades:
            status = "unsent"  # the exchange never saw it: nothing was traded, and it is never re-sent
        else:
            matched = sum(t.shares for t in trades if t.status != "failed")
            resting = state is not None and state.status.upper() in ("LIVE", "OPEN")
            status = "live" if resting else "filled" if matched >= order.shares - 0.01 else "partial" if matched > 0 else "unfilled"
        self.journal.settle(oid, status, trades)
        if status == "live":
            self.on_rest()
        return _aggregate(order, [t for t in trades if t.status != "failed"])

    def _trades_of(self, token_id: str, oid: str) -> list[Trade]:
        info = self._info(token_id)
        found = []
        for trade in self.client.list_account_trades(asset_id=token_id).iter_items():
            if trade.taker_order_id == oid:
                shares, price = float(trade.size), float(trade.price)
            elif mine := [m for m in trade.maker_orders if m.order_id == oid]:
                shares, price = float(sum(m.matched_amount for m in mine)), float(mine[0].price)
            else:
                continue
            fee = info.fee(shares, price) if trade.taker_order_id == oid else 0.0  # makers pay no fee
            found.append(Trade(trade.id, shares, price, fee, _TRADE_STATUS.get(trade.status, "matched")))
        return found

    def _simulate(self, order: Order, oid: str, limit: float, book: OrderBook) -> Fill | None:
        info = self.markets[order.market]
        fill = walk_book(dataclasses.replace(order, limit_price=limit), book_event(order.market, book), info)
        trades = [Trade(None, fill.shares, fill.price, fill.fee, "simulated")] if fill else []
        self.journal.settle(oid, "dry-run", trades)
        return fill

    def _decline(self, order: Order, why: str) -> None:
        ref = self.book
        self.journal.declined(ref.run_id, ref.book_id, ref.model_version(), order, f"declined-{uuid.uuid4().hex}", why)
        log.info("%s: %s %g %s not sent: %s", order.market, order.side, order.shares, order.token, why)
        return None

    def _short_of_balance(self, order: Order, limit: float, neg_risk: bool) -> str | None:
        """Why the wallet cannot cover the order (collateral for a BUY, shares for a SELL), or None."""
        if order.side == "BUY":
            need = order.shares * limit + self.markets[order.market].fee(order.shares, limit)
            have = self.client.get_balance_allowance(asset_type="COLLATERAL")
            what = "pUSD"
        else:
            need = order.shares
            have = self.client.get_balance_allowance(asset_type="CONDITIONAL", token_id=order.token_id)
            what = f"{order.token} shares"
        balance = have.balance / 1e6
        if balance < need - _DUST:
            return f"not enough balance: {balance:.2f} {what}, {need:.2f} needed"
        config = self.client.environment._config
        spender = (config.neg_risk_exchange if neg_risk else config.standard_exchange).lower()
        allowance = {k.lower(): v for k, v in have.allowances.items()}.get(spender)
        if allowance is not None and allowance / 1e6 < need - _DUST:
            return f"not enough allowance for the exchange {spender}: {allowance / 1e6:.2f} {what}, {need:.2f} needed"
        return None

    @property
    def rests(self) -> bool:
        """Whether orders may stay on the exchange's book (live GTD): then heartbeats must keep them."""
        return self.post and self.order_type == "GTD"

    # --- between rounds -----------------------------------------------------------------------------

    def resolve_unknown(self, market: str | None = None) -> int:
        """Ask the exchange about every order whose outcome is not known; returns how many were resolved."""
        resolved = 0
        for pending in self.journal.unresolved(market):
            try:
                self.settle_from_exchange(pending, pending.order_id)
            except PolymarketError as exc:
                log.warning("order %s (%s) still unknown: %s", pending.order_id[:12], pending.market, one_line(exc))
                continue
            resolved += 1
            self.late_changes += 1
            log.warning("order %s (%s %s %g %s) resolved as %s", pending.order_id[:12], pending.market, pending.side,
                        pending.shares, pending.token, self.journal.order(pending.order_id).status)
        return resolved

    def withdraw_resting(self) -> int:
        """Cancel every order of this ledger still resting and record what it traded; returns how many.

        Called before each decision round, so the engine decides on a book that no resting order can
        still change, and at start for what a dead process left."""
        resting = self.journal.resting()
        if not resting:
            return 0
        try:
            self.client.cancel_orders(order_ids=[o.order_id for o in resting])
        except PolymarketError as exc:
            log.warning("cancelling %d resting orders failed (%s); their state is read anyway", len(resting), one_line(exc))
        for order in resting:
            try:
                self.settle_from_exchange(order, order.order_id)
            except PolymarketError as exc:
                self.journal.settle(order.order_id, "unknown", error=f"withdrawn; state not read: {one_line(exc)}")
        self.late_changes += 1
        return len(resting)

    def confirm_trades(self) -> int:
        """Follow provisional trades to CONFIRMED or FAILED; a failed one no longer counts. Returns the reversals."""
        provisional = set(self.journal.provisional_trades())
        if not provisional:
            return 0
        reversed_ = 0
        for trade in self.client.list_account_trades().iter_items():
            if trade.id in provisional:
                status = _TRADE_STATUS.get(trade.status, "matched")
                self.journal.trade_status(trade.id, status)
                if status == "failed":
                    reversed_ += 1
                    self.late_changes += 1
                    log.warning("trade %s (%s) failed on chain: reversed in the ledger", trade.id, trade.asset_id[:12])
        return reversed_

    def cancel_all(self) -> int:
        """The kill switch: every open order of the account cancelled, ours settled with what they traded."""
        if not self.post:
            return 0
        cancelled = len(self.client.cancel_all().canceled)
        self.withdraw_resting()
        return cancelled

    def _info(self, token_id: str) -> MarketInfo:
        return next(i for i in self.markets.values() if token_id in (i.yes_token_id, i.no_token_id))


def protected_limit(order: Order, book: OrderBook, decision_price: float, protection: float) -> float | None:
    """The limit that takes the order's size from the book, never past decision price ± protection, on the
    book's tick; None when even the best level is past that bound."""
    tick = float(book.tick_size)
    if order.side == "BUY":
        bound = math.floor((decision_price + protection) / tick + 1e-9) * tick
        levels = sorted((float(l.price), float(l.size)) for l in book.asks)
        within = [lv for lv in levels if lv[0] <= bound + _DUST]
    else:
        bound = math.ceil((decision_price - protection) / tick - 1e-9) * tick
        levels = sorted(((float(l.price), float(l.size)) for l in book.bids), reverse=True)
        within = [lv for lv in levels if lv[0] >= bound - _DUST]
    if not within:
        return None
    left, price = order.shares, within[0][0]
    for price, size in within:
        left -= size
        if left <= _DUST:
            break
    # On the tick the book has now: levels quoted on a finer, older tick are rounded toward the bound.
    ticks = math.ceil(price / tick - 1e-9) if order.side == "BUY" else math.floor(price / tick + 1e-9)
    return round(min(max(ticks * tick, tick), 1 - tick), 6)


def book_event(market: str, book: OrderBook) -> BookEvent:
    """The SDK's book as the trader's (levels best first)."""
    bids = sorted(((float(l.price), float(l.size)) for l in book.bids), reverse=True)
    asks = sorted((float(l.price), float(l.size)) for l in book.asks)
    return BookEvent(book.timestamp, market, book.asset_id, tuple(bids), tuple(asks))


def _aggregate(order: Order | JournaledOrder, trades: list[Trade]) -> Fill | None:
    shares = round(sum(t.shares for t in trades), 6)
    if shares <= _DUST:
        return None
    price = sum(t.shares * t.price for t in trades) / shares
    return Fill(order.ts, order.market, order.token, order.token_id, order.side, shares, round(price, 6),
                round(sum(t.fee for t in trades), 5))


def _best(book: OrderBook, side: str) -> str:
    prices = [float(l.price) for l in (book.asks if side == "BUY" else book.bids)]
    if not prices:
        return "none"
    return f"{min(prices) if side == 'BUY' else max(prices):g}"
