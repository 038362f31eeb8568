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


def test_signed_orders_are_priced_from_the_exchanges_book_within_the_price_protection():
    """On the one recorded real CLOB book (levels as the API sends them: best last), with its tick and size."""
    import json

    from polymarket.models import OrderBook

    from tests.conftest import SHARED_DATA
    from trader.live import protected_limit

    raw = json.loads((SHARED_DATA / "polymarket-fixtures" / "clob-book" / "nautilus-py__book.json").read_text())
    book = OrderBook.model_validate(raw | {"tick_size": "0.01", "min_order_size": "5", "neg_risk": False})
    assert protected_limit(_order("BUY", 200, 0.2), book, 0.14, 0.03) == 0.14  # the best ask holds it all
    assert protected_limit(_order("BUY", 800, 0.2), book, 0.14, 0.10) == 0.20  # 775 within 0.24: FAK takes those
    assert protected_limit(_order("BUY", 50, 0.2), book, 0.05, 0.03) is None  # best ask 0.14 is past 0.05 + 0.03
    assert protected_limit(_order("SELL", 100, 0.1), book, 0.11, 0.03) == 0.10
    assert protected_limit(_order("SELL", 500, 0.1), book, 0.11, 0.03) == 0.08  # 125 + 294 + 120 reach it at 0.08
    assert protected_limit(_order("SELL", 50, 0.1), book, 0.20, 0.03) is None  # best bid 0.10 is below 0.20 - 0.03
    coarse = book.model_copy(update={"tick_size": book.tick_size * 10})  # the tick changed to 0.1; levels still on 0.01
    assert protected_limit(_order("BUY", 200, 0.2), coarse, 0.14, 0.10) == 0.2  # 0.14 rounded up to the new tick, within 0.24
    assert protected_limit(_order("SELL", 100, 0.1), coarse, 0.11, 0.03) == 0.1


def test_paper_is_the_only_execution_built_without_the_sdk():
    with pytest.raises(ValueError, match="needs the SDK client"):
        build_execution("live", {"m": MARKET}, CostSettings(), None)
