"""The execution layer: how an order becomes a fill. One interface, chosen by `--execution`.

`paper` (the default) simulates taker fills: against the current order book when the feed delivers
books (the live stream), walking its levels for the order's size; against the replayed price with
the cost model otherwise (the same `PaperExchange` the backtest uses). Both pay the market's taker
fee. `dry-run` and `live` (signed orders through the Polymarket SDK, `trader.live`) implement the same
interface; `trader.run` builds them, since they need the SDK's authenticated client and the journal.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from models.costs import walk
from models.engine import Exchange, Fill, MarketInfo, Order, PaperExchange
from sentitrade.settings import CostSettings
from trader.feeds.events import BookEvent

log = logging.getLogger(__name__)


class Execution(Exchange, Protocol):
    name: str

    def cancel_all(self) -> int:
        """Cancel every resting order; returns how many were cancelled."""


class OrderBooks:
    """The newest whole book of each token, as the feed delivered it."""

    def __init__(self) -> None:
        self.books: dict[str, BookEvent] = {}

    def update(self, book: BookEvent) -> None:
        self.books[book.token_id] = book

    def get(self, token_id: str) -> BookEvent | None:
        return self.books.get(token_id)


class PaperExecution:
    """Paper fills: on the book where one is known, on the cost model at the replayed price where not."""

    name = "paper"

    def __init__(self, markets: Mapping[str, MarketInfo], costs: CostSettings, books: OrderBooks | None = None):
        self.markets, self.books = markets, books
        self.model = PaperExchange(markets, costs)

    def execute(self, order: Order, mid_yes: float) -> Fill | None:
        book = self.books.get(order.token_id) if self.books else None
        if book is None:
            return self.model.execute(order, mid_yes)
        return walk_book(order, book, self.markets[order.market])

    def cancel_all(self) -> int:
        return 0  # paper orders fill or die at once: nothing rests


def walk_book(order: Order, book: BookEvent, info: MarketInfo) -> Fill | None:
    """Take liquidity level by level up to the order's limit (`models.costs.walk`, as the backtest walks a
    recorded book): the fill is the size-weighted price of what was taken, possibly less than asked."""
    taken = walk(book.asks if order.side == "BUY" else book.bids, order.side, order.shares, order.limit_price, info.fee)
    return None if taken is None else Fill(order.ts, order.market, order.token, order.token_id, order.side, *taken)


def build_execution(kind: str, markets: Mapping[str, MarketInfo], costs: CostSettings, books: OrderBooks | None) -> Execution:
    """Paper execution (every shadow book's, and the champion's unless signed orders were asked for)."""
    if kind != "paper":
        raise ValueError(f"--execution {kind} needs the SDK client: `trader.run` builds it")
    return PaperExecution(markets, costs, books)
