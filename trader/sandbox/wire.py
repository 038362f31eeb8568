"""How the CLOB writes orders, trades and amounts on the wire: the shapes polymarket-client's models parse."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from eth_utils.crypto import keccak

from trader.sandbox.books import Book

if TYPE_CHECKING:
    from trader.sandbox.exchange import Order, Trade

UNIT = Decimal("0.000001")  # amounts on the wire are integers of 1e-6 pUSD / shares
MARKET_MAKER = "0x000000000000000000000000000000000000dEaD"


def order_wire(order: Order, book: Book) -> dict:
    """`GET /data/order/{id}` and the items of `GET /data/orders` (`OpenOrder`)."""
    return {
        "id": order.id, "status": order.status, "owner": order.owner, "maker_address": order.address,
        "market": book.market, "asset_id": order.token_id, "side": order.side,
        "original_size": wire_amount(order.original_size), "size_matched": wire_amount(order.size_matched),
        "price": wire_amount(order.price), "outcome": book.outcome, "expiration": str(order.expiration),
        "order_type": order.order_type, "associate_trades": list(order.trades), "created_at": order.created_at,
    }


def trade_wire(trade: Trade, book: Book) -> dict:
    """An item of `GET /data/trades` (`ClobTrade`); the market maker is the counterparty of every fill."""
    maker_order_id = "0x" + keccak(text=f"market-maker:{trade.id}").hex()
    counterpart = {
        "order_id": trade.order_id if trade.trader_side == "MAKER" else maker_order_id,
        "owner": trade.owner if trade.trader_side == "MAKER" else "sandbox-market-maker",
        "maker_address": trade.address if trade.trader_side == "MAKER" else MARKET_MAKER,
        "matched_amount": wire_amount(trade.size), "price": str(trade.price), "fee_rate_bps": "0",
        "asset_id": trade.token_id, "outcome": book.outcome,
        "side": trade.side if trade.trader_side == "MAKER" else ("SELL" if trade.side == "BUY" else "BUY"),
    }
    return {
        "id": trade.id, "taker_order_id": trade.order_id if trade.trader_side == "TAKER" else maker_order_id,
        "market": book.market, "asset_id": trade.token_id, "side": trade.side, "size": wire_amount(trade.size),
        "fee_rate_bps": str(int(book.fee_rate * 10000)), "fee": wire_amount(trade.fee), "price": str(trade.price),
        "status": trade.status, "match_time": str(int(trade.match_time)), "last_update": str(int(trade.last_update)),
        "outcome": book.outcome, "bucket_index": 0, "owner": trade.owner, "maker_address": trade.address,
        "transaction_hash": tx_hash(trade.id) if trade.status == "CONFIRMED" else "",
        "trader_side": trade.trader_side, "maker_orders": [counterpart],
    }


def wire_amount(amount: Decimal) -> str:
    """A decimal string with at most 6 places and no exponent: "40", "4.999999"."""
    text = f"{amount.quantize(UNIT):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def tx_hash(trade_id: str) -> str:
    return "0x" + keccak(text=f"sandbox-tx:{trade_id}").hex()
