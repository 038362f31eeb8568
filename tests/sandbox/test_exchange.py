"""The exchange without HTTP, on a clock the test moves: GTD expiry, replenished vs depleted quotes, SELLs, books from a replay."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from eth_account import Account

from tests.sandbox.conftest import ADDRESS, BOOKS, DEEP, KEY
from trader.sandbox.books import Book, BookError, books_from_replay
from trader.sandbox.exchange import Exchange, OrderRejected
from connectors.polymarket import order_typed_data

ZERO32 = "0x" + "00" * 32


class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self):
        return self.now


def _post(exchange: Exchange, side: str, maker: float, taker: float, order_type: str, *, expiration: int = 0, salt: int = 1) -> dict:
    """Sign and post one order the way the SDK builds it (amounts in 1e-6 units)."""
    order = {"salt": salt, "maker": ADDRESS, "signer": ADDRESS, "tokenId": DEEP, "makerAmount": str(int(maker * 1e6)),
             "takerAmount": str(int(taker * 1e6)), "side": side, "signatureType": 0, "timestamp": str(salt),
             "metadata": ZERO32, "builder": ZERO32, "expiration": str(expiration)}
    order["signature"] = "0x" + Account.sign_typed_data(KEY, full_message=order_typed_data(order, neg_risk=False)).signature.hex()
    return exchange.post_order("key", {"order": order, "owner": "key", "orderType": order_type})


def _exchange(**options) -> tuple[Exchange, Clock]:
    clock = Clock()
    exchange = Exchange({DEEP: Book.from_spec(DEEP, BOOKS[DEEP])}, clock=clock, settle_s=1, **options)
    exchange.create_api_key(ADDRESS, 0, {"apiKey": "key", "secret": "c2VjcmV0", "passphrase": "p"})
    return exchange, clock


def test_gtd_rests_until_its_expiration():
    exchange, clock = _exchange()
    answer = _post(exchange, "BUY", 4.5, 10, "GTD", expiration=int(clock.now) + 120)
    assert exchange.orders[answer["orderID"]].status == "LIVE"
    clock.now += 119
    exchange.tick()
    assert exchange.orders[answer["orderID"]].status == "LIVE"
    clock.now += 2
    exchange.tick()
    assert exchange.orders[answer["orderID"]].status == "EXPIRED"
    with pytest.raises(OrderRejected, match="invalid expiration"):
        _post(exchange, "BUY", 4.5, 10, "GTD", expiration=int(clock.now) + 30, salt=2)


def test_quotes_are_replenished_by_default_and_used_up_with_deplete():
    for deplete, second_price in ((False, "0.5"), (True, "0.51")):
        exchange, _ = _exchange(deplete=deplete)
        _post(exchange, "BUY", 100, 200, "FAK", salt=1)  # the whole 0.50 level
        _post(exchange, "BUY", 5.1, 10, "FAK", salt=2)
        last = list(exchange.trades.values())[-1]
        assert str(last.price) == second_price


def test_fak_buy_walks_the_book_level_by_level_never_past_its_limit():
    exchange, _ = _exchange(deplete=True)
    answer = _post(exchange, "BUY", 150, 294, "FAK")  # $150 at a limit of 150/294 = 0.5102 (the SDK's amounts for 0.51)
    assert [(str(t.price), str(t.size)) for t in exchange.trades.values()] == [("0.5", "200"), ("0.51", "98.039215")]
    assert answer["makingAmount"] == "150" and answer["takingAmount"] == "298.039215"


def test_sell_pays_out_minus_the_fee_and_settles():
    exchange, clock = _exchange()
    _post(exchange, "BUY", 10, 20, "FAK", salt=1)
    answer = _post(exchange, "SELL", 20, 9.6, "FOK", salt=2)  # 20 shares at >= 0.48
    assert answer["takingAmount"] == "9.6"
    sell = list(exchange.trades.values())[-1]
    assert (sell.side, str(sell.price), sell.fee) == ("SELL", "0.48", Decimal("0.19968"))  # 20 x 0.04 x 0.48 x 0.52
    clock.now += 1
    assert {t["status"] for t in exchange.state()["trades"]} == {"CONFIRMED"}
    assert exchange.accounts[ADDRESS.lower()].positions[DEEP] == 0


def test_a_forged_signature_is_refused():
    exchange, _ = _exchange()
    order = {"salt": 1, "maker": ADDRESS, "signer": ADDRESS, "tokenId": DEEP, "makerAmount": "10000000", "takerAmount": "20000000",
             "side": "BUY", "signatureType": 0, "timestamp": "1", "metadata": ZERO32, "builder": ZERO32, "expiration": "0"}
    other = Account.create().key
    order["signature"] = "0x" + Account.sign_typed_data(other, full_message=order_typed_data(order, neg_risk=False)).signature.hex()
    with pytest.raises(OrderRejected, match="invalid signature"):
        exchange.post_order("key", {"order": order, "owner": "key", "orderType": "FAK"})
    assert not exchange.trades


def test_book_spec_errors_say_what_is_wrong():
    with pytest.raises(BookError, match="off the 0.01 grid"):
        Book.from_spec(DEEP, {"asks": [[0.505, 10]], "tick_size": "0.01"})
    with pytest.raises(BookError, match="tick_size 0.02"):
        Book.from_spec(DEEP, {"tick_size": "0.02"})


def test_replay_books_centre_on_the_median_replayed_price(tmp_path):
    replay = tmp_path / "replay"
    (replay / "prices").mkdir(parents=True)
    (replay / "manifest.json").write_text("{}")
    market = {"conditionId": "0x" + "ab" * 32, "clobTokenIds": json.dumps(["111", "222"]), "orderPriceMinTickSize": 0.001,
              "orderMinSize": 5, "negRisk": False, "feesEnabled": True, "feeSchedule": {"rate": 0.04, "exponent": 1}}
    (replay / "markets.json").write_text(json.dumps([market]))
    (replay / "prices" / "111.json").write_text(json.dumps({"history": [{"t": i, "p": p} for i, p in enumerate([0.2, 0.61, 0.62, 0.63, 0.9])]}))
    books = books_from_replay(replay)
    yes, no = books["111"], books["222"]
    assert (yes.bids[0][0], yes.asks[0][0]) == (Decimal("0.619"), Decimal("0.621"))  # 2 ticks around the median 0.62
    assert (no.bids[0][0], no.asks[0][0]) == (Decimal("0.379"), Decimal("0.381"))
    assert yes.fee_rate == Decimal("0.04") and yes.market == no.market
