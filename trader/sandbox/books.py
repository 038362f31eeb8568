"""The market maker's quotes the sandbox serves: one `Book` per token, from a JSON file or a replay data set.

From a replay (`--data-dir`): each market's YES book is centred on the median of that token's replayed
prices (`ReplaySource.prices_history` over the whole span), one tick either side (a 2-tick spread),
`LEVELS` levels of `LEVEL_SIZE` shares a side one tick apart; the NO book is its complement
(bid = 1 - YES ask). The median, not the last price, so the book sits where the market spent its time
rather than wherever the replay happened to end. Tick, minimum size, neg-risk and the fee schedule come
from the replay's Gamma market (`orderPriceMinTickSize`, `orderMinSize`, `negRisk`, `feeSchedule`).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from eth_utils.crypto import keccak

LEVELS = 3
LEVEL_SIZE = Decimal(300)
TICKS = {Decimal(t) for t in ("0.1", "0.01", "0.005", "0.0025", "0.001", "0.0001")}


class BookError(ValueError):
    """A book specification the sandbox cannot serve (bad tick, price off the grid, unknown field)."""


@dataclass
class Book:
    """One token's quotes and trading rules. `bids`/`asks` are [price, size] levels, best first."""

    token_id: str
    market: str
    outcome: str
    tick_size: Decimal
    bids: list[list[Decimal]] = field(default_factory=list)
    asks: list[list[Decimal]] = field(default_factory=list)
    min_order_size: Decimal = Decimal(5)
    neg_risk: bool = False
    fee_rate: Decimal = Decimal(0)
    fee_exponent: Decimal = Decimal(1)
    last_trade_price: Decimal | None = None

    @classmethod
    def from_spec(cls, token_id: str, spec: dict) -> Book:
        known = {"bids", "asks", "tick_size", "min_order_size", "neg_risk", "fee_rate", "fee_exponent", "market", "outcome"}
        if unknown := set(spec) - known:
            raise BookError(f"book {token_id}: unknown field(s) {sorted(unknown)}")
        if not token_id.isdecimal():
            raise BookError(f"book {token_id}: a token id is a decimal uint256")
        tick = Decimal(str(spec.get("tick_size", "0.01")))
        if tick not in TICKS:
            raise BookError(f"book {token_id}: tick_size {tick} is not one of {sorted(TICKS)}")
        book = cls(
            token_id=token_id,
            market=spec.get("market") or "0x" + keccak(text=f"sandbox-market:{token_id}").hex(),
            outcome=spec.get("outcome", "Yes"),
            tick_size=tick,
            bids=_levels(token_id, spec.get("bids", []), tick),
            asks=_levels(token_id, spec.get("asks", []), tick),
            min_order_size=Decimal(str(spec.get("min_order_size", 5))),
            neg_risk=bool(spec.get("neg_risk", False)),
            fee_rate=Decimal(str(spec.get("fee_rate", 0))),
            fee_exponent=Decimal(str(spec.get("fee_exponent", 1))),
        )
        book.bids.sort(key=lambda level: -level[0])
        book.asks.sort(key=lambda level: level[0])
        return book

    def taker_fee(self, shares: Decimal, price: Decimal) -> Decimal:
        """shares x rate x (p(1-p))^exponent, in pUSD, rounded to 6 decimals; zero on fee-free tokens."""
        if not self.fee_rate:
            return Decimal(0)
        fee = shares * self.fee_rate * (price * (1 - price)) ** self.fee_exponent
        return fee.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)

    def to_wire(self, now_ms: int) -> dict:
        """`GET /book`: bids ascending and asks descending (best last), numbers as strings."""
        levels = lambda side: [{"price": str(p), "size": str(s)} for p, s in reversed(side)]  # noqa: E731
        return {
            "market": self.market,
            "asset_id": self.token_id,
            "timestamp": str(now_ms),
            "bids": levels(self.bids),
            "asks": levels(self.asks),
            "min_order_size": str(self.min_order_size),
            "tick_size": str(self.tick_size),
            "neg_risk": self.neg_risk,
            "last_trade_price": "" if self.last_trade_price is None else str(self.last_trade_price),
            "hash": keccak(text=json.dumps([self.token_id, str(self.bids), str(self.asks), now_ms])).hex()[:40],
        }


def _levels(token_id: str, raw: list, tick: Decimal) -> list[list[Decimal]]:
    levels = []
    for entry in raw:
        price, size = (Decimal(str(x)) for x in entry)
        if price % tick or not tick <= price <= 1 - tick or size <= 0:
            raise BookError(f"book {token_id}: level {entry} is off the {tick} grid or not a positive size")
        levels.append([price, size])
    return levels


def books_from_file(path: Path) -> dict[str, Book]:
    """`--books FILE`: JSON token_id -> {bids, asks, tick_size, min_order_size, neg_risk, fee_rate, fee_exponent}."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BookError(f"cannot read books from {path}: {exc}") from None
    if not isinstance(raw, dict) or not raw:
        raise BookError(f"{path}: expected a JSON object token_id -> book")
    return {token: Book.from_spec(str(token), spec) for token, spec in raw.items()}


def books_from_replay(replay_dir: Path) -> dict[str, Book]:
    """Each replayed market's YES and NO books, centred on the YES token's median replayed price."""
    from connectors.replay import ReplaySource

    source = ReplaySource(replay_dir)
    books: dict[str, Book] = {}
    for market in source.gamma_markets():
        yes, no = json.loads(market["clobTokenIds"])
        points = [p["p"] for p in source.prices_history(yes, 0, 2**63)["history"]]
        tick = Decimal(str(market.get("orderPriceMinTickSize", "0.01")))
        mid = _on_grid(Decimal(str(statistics.median(points))) if points else Decimal("0.5"), tick)
        fees = market.get("feeSchedule") if market.get("feesEnabled") else None
        common = {
            "tick_size": tick, "market": market["conditionId"], "min_order_size": market.get("orderMinSize", 5),
            "neg_risk": market.get("negRisk", False),
            "fee_rate": fees["rate"] if fees else 0, "fee_exponent": fees["exponent"] if fees else 1,
        }
        yes_bids = [[mid - tick * i, LEVEL_SIZE] for i in range(1, LEVELS + 1)]
        yes_asks = [[mid + tick * i, LEVEL_SIZE] for i in range(1, LEVELS + 1)]
        books[yes] = Book.from_spec(yes, {**common, "outcome": "Yes", "bids": yes_bids, "asks": yes_asks})
        books[no] = Book.from_spec(no, {
            **common, "outcome": "No",
            "bids": [[1 - p, s] for p, s in yes_asks], "asks": [[1 - p, s] for p, s in yes_bids],
        })
    return books


def _on_grid(price: Decimal, tick: Decimal) -> Decimal:
    """The price on the tick grid, kept LEVELS+1 ticks inside (0, 1) so every level is a valid price."""
    snapped = (price / tick).quantize(Decimal(1), rounding=ROUND_HALF_UP) * tick
    return min(max(snapped, tick * (LEVELS + 1)), 1 - tick * (LEVELS + 1))
