"""Paper execution: against the book where the feed delivers one, on the cost model where not."""

from __future__ import annotations

from datetime import datetime

import pytest

from models.engine import MarketInfo, Order, PaperExchange
from sentitrade.settings import CostSettings
from trader.execution import OrderBooks, PaperExecution, build_execution, walk_book
from trader.feeds.events import BookEvent

TS = datetime(2026, 11, 5, 12, 0)
MARKET = MarketInfo("m", "yes-1", "no-1", tick_size=0.01, fees_enabled=True, fee_rate=0.04)
# The one recorded real book's shape: thin at the top, so a large buy walks it.
BOOK = BookEvent(TS, "m", "yes-1", bids=((0.13, 100.0), (0.12, 500.0)), asks=((0.14, 50.0), (0.15, 200.0), (0.30, 1000.0)))


def _order(side: str, shares: float, limit: float) -> Order:
    return Order(TS, "m", "YES", "yes-1", side, shares, limit, "open")


def test_a_buy_walks_the_asks_up_to_its_limit_and_pays_each_levels_fee():
    fill = walk_book(_order("BUY", 150, 0.20), BOOK, MARKET)
    assert fill.shares == 150
    assert fill.price == pytest.approx((50 * 0.14 + 100 * 0.15) / 150, abs=1e-6)
    assert fill.fee == pytest.approx(50 * 0.04 * 0.14 * 0.86 + 100 * 0.04 * 0.15 * 0.85, abs=1e-5)


def test_a_buy_larger_than_the_book_within_its_limit_fills_in_part():
    fill = walk_book(_order("BUY", 400, 0.20), BOOK, MARKET)
    assert fill.shares == 250 and fill.price == pytest.approx((50 * 0.14 + 200 * 0.15) / 250, abs=1e-6)


def test_a_sell_hits_the_bids_and_nothing_fills_past_the_limit():
    assert walk_book(_order("SELL", 150, 0.12), BOOK, MARKET).price == pytest.approx((100 * 0.13 + 50 * 0.12) / 150, abs=1e-6)
    assert walk_book(_order("SELL", 10, 0.135), BOOK, MARKET) is None


def test_paper_execution_uses_the_book_when_there_is_one_and_the_cost_model_when_not():
    costs = CostSettings(half_spread=0.005, slippage=0.002)
    books = OrderBooks()
    execution = PaperExecution({"m": MARKET}, costs, books)
    order = _order("BUY", 20, 0.16)
    assert execution.execute(order, 0.145) == PaperExchange({"m": MARKET}, costs).execute(order, 0.145)
    books.update(BOOK)
    assert execution.execute(order, 0.145).price == 0.14  # the book's best ask, not the model's mid + cost
    assert execution.cancel_all() == 0


def test_only_paper_execution_exists_yet():
    with pytest.raises(ValueError, match="not available yet: use paper"):
        build_execution("live", {"m": MARKET}, CostSettings(), None)
