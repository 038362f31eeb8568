"""The order journal: a signed order's life in the ledger, written before and after each exchange call.

A round's decisions, equity and engine state are one transaction (`Ledger.record_round`), but an
order that reaches an exchange cannot wait for the round: its intent (with the exchange id it will
carry) is committed before it is sent, and what the exchange answered (accepted and its trades,
refused, or nothing clear) in a second transaction right after. A process killed anywhere in
between leaves an `intent` or `unknown` row, which the next start resolves by asking the exchange.

Trades are keyed by the exchange's trade id, so a trade seen twice (in the post response, then in the
account's trades) is recorded once. The positions and cash of a live book are the sum of its fills
here, never of an in-memory copy: `portfolio` rebuilds them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from models.engine import SHARE_STEP, Fill, Order, Portfolio
from trader.ledger import Ledger, utcnow
from trader.schema import UNRESOLVED, fills, orders

FINAL_FILLS = ("paper", "simulated", "confirmed", "failed")


@dataclass(frozen=True)
class Trade:
    """One exchange trade (or a dry-run's simulated fill) of one of our orders."""

    trade_id: str | None
    shares: float
    price: float
    fee: float
    status: str  # see schema.FILL_STATUSES


@dataclass(frozen=True)
class JournaledOrder:
    order_id: str
    run_id: str
    book_id: str
    model_version: str
    ts: datetime
    market: str
    token: str
    token_id: str
    side: str
    shares: float
    limit_price: float
    status: str
    reason: str | None


class OrderJournal:
    def __init__(self, ledger: Ledger):
        self.engine = ledger.engine
        # How a write is committed: at once here; the trader routes it through `trader.outage`, so a
        # database that goes away pauses trading (no order is sent without its intent) instead of failing.
        self.write: Callable[..., Any] = lambda what, call, written=None: call()

    def declined(self, run_id: str, book_id: str, model_version: str, order: Order, order_id: str, why: str) -> None:
        """An order the trader chose not to sign (price protection, balance, an unresolved earlier order)."""
        self._insert(run_id, book_id, model_version, order, order_id, "declined", error=why)

    def intent(self, run_id: str, book_id: str, model_version: str, order: Order, order_id: str, limit_price: float,
               order_type: str, signed: dict) -> None:
        """The signed order, under its exchange id, committed before it is sent."""
        self._insert(run_id, book_id, model_version, order, order_id, "intent", limit_price=limit_price,
                     order_type=order_type, signed=json.dumps(signed, default=str))

    def _insert(self, run_id, book_id, model_version, order: Order, order_id: str, status: str, **extra) -> None:
        row = dict(run_id=run_id, book_id=book_id, model_version=model_version, ts=order.ts, market=order.market,
                   order_id=order_id, token=order.token, token_id=order.token_id, side=order.side, shares=order.shares,
                   limit_price=order.limit_price, status=status, reason=order.reason, updated_at=utcnow()) | extra

        def insert() -> None:
            with self.engine.begin() as con:
                con.execute(orders.insert().values(**row))

        self.write(f"order {order_id[:14]}'s {status}", insert, lambda: self.order(order_id) is not None)

    def settle(self, order_id: str, status: str, trades: list[Trade] = (), error: str | None = None) -> list[Trade]:
        """The order's new status and its trades not yet recorded, in one transaction; returns those new trades."""
        return self.write(f"order {order_id[:14]}'s outcome", lambda: self._settle(order_id, status, trades, error))

    def _settle(self, order_id: str, status: str, trades: list[Trade], error: str | None) -> list[Trade]:
        with self.engine.begin() as con:
            row = con.execute(sa.select(orders).where(orders.c.order_id == order_id)).mappings().one()
            known = {t for (t,) in con.execute(sa.select(fills.c.trade_id).where(fills.c.order_id == order_id))}
            new = [t for t in trades if t.trade_id is None or t.trade_id not in known]
            # An outcome found later keeps why it was unknown (the 500, the timeout): the order's history in one line.
            con.execute(orders.update().where(orders.c.order_id == order_id).values(
                status=status, error=error if error is not None else row["error"], updated_at=utcnow()))
            if new:
                common = {name: row[name] for name in ("run_id", "book_id", "model_version", "ts", "market", "order_id", "token", "token_id", "side")}
                con.execute(fills.insert(), [dict(common, shares=t.shares, price=t.price, fee=t.fee, trade_id=t.trade_id,
                                                  status=t.status) for t in new])
        return new

    def trade_status(self, trade_id: str, status: str) -> None:
        def update() -> None:
            with self.engine.begin() as con:
                con.execute(fills.update().where(fills.c.trade_id == trade_id).values(status=status))

        self.write(f"trade {trade_id}'s status", update)

    def unresolved(self, market: str | None = None) -> list[JournaledOrder]:
        """Orders whose outcome is not known (sent, or perhaps sent, and never answered), oldest first."""
        query = sa.select(orders).where(orders.c.status.in_(UNRESOLVED)).order_by(orders.c.id)
        if market is not None:
            query = query.where(orders.c.market == market)
        return self._orders(query)

    def resting(self) -> list[JournaledOrder]:
        """Orders the exchange holds on its book (GTD), oldest first."""
        return self._orders(sa.select(orders).where(orders.c.status == "live").order_by(orders.c.id))

    def order(self, order_id: str) -> JournaledOrder | None:
        found = self._orders(sa.select(orders).where(orders.c.order_id == order_id))
        return found[0] if found else None

    def _orders(self, query) -> list[JournaledOrder]:
        with self.engine.connect() as con:
            rows = con.execute(query).mappings().all()
        return [JournaledOrder(**{name: row[name] for name in JournaledOrder.__dataclass_fields__}) for row in rows]

    def provisional_trades(self, market: str | None = None) -> list[str]:
        """Exchange trades not yet confirmed or failed (on one market, or all)."""
        query = sa.select(fills.c.trade_id).where(fills.c.trade_id.is_not(None), fills.c.status.not_in(FINAL_FILLS))
        if market is not None:
            query = query.where(fills.c.market == market)
        with self.engine.connect() as con:
            return [t for (t,) in con.execute(query)]

    def trade_ids(self) -> set[str]:
        with self.engine.connect() as con:
            return {t for (t,) in con.execute(sa.select(fills.c.trade_id).where(fills.c.trade_id.is_not(None)))}

    def order_ids(self) -> set[str]:
        with self.engine.connect() as con:
            return {o for (o,) in con.execute(sa.select(orders.c.order_id))}

    def net_shares(self) -> dict[str, float]:
        """Shares per token id over every exchange trade that counts (all runs): what the wallet should hold."""
        signed = sa.case((fills.c.side == "BUY", fills.c.shares), else_=-fills.c.shares)
        query = (sa.select(fills.c.token_id, sa.func.sum(signed)).where(fills.c.trade_id.is_not(None), fills.c.status != "failed")
                 .group_by(fills.c.token_id))
        with self.engine.connect() as con:
            return {token: round(float(total), 6) for token, total in con.execute(query)}

    def portfolio(self, book_id: str, starting_cash: float, min_sizes: Mapping[str, float]) -> Portfolio:
        """The book's cash and positions from its fills that count, in the order they happened (a remainder
        below the market's minimum order size closed, as the engine closes it)."""
        query = sa.select(fills).where(fills.c.book_id == book_id, fills.c.status != "failed").order_by(fills.c.id)
        with self.engine.connect() as con:
            rows = con.execute(query).mappings().all()
        book = Portfolio(starting_cash)
        for r in rows:
            book.apply(Fill(r["ts"], r["market"], r["token"], r["token_id"], r["side"], r["shares"], r["price"], r["fee"]),
                       unsellable=min_sizes.get(r["market"], SHARE_STEP))
        return book
