"""What a feed delivers to the trader: tweets, prices, books and tick-size changes, each stamped
with its event time (UTC, naive, like the lake). A feed is an iterator of these, in event-time
order; the trader's clock runs on their `at`, never on the wall clock, so a replay decides the same
at any speed. A live feed also yields `Tick` when nothing arrived, so the clock moves in a quiet
market.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class TweetEvent:
    """One tweet as a raw_tweets row (`models.ingest.parse_tweet`); `at` is its created_at."""

    at: datetime
    row: dict


@dataclass(frozen=True)
class PriceEvent:
    """The YES token's price (a mid, or the last trade) of one market at `at`."""

    at: datetime
    market: str
    price: float


@dataclass(frozen=True)
class BookEvent:
    """A whole order book of one token (a snapshot, or a snapshot rebuilt after deltas).

    Levels are (price, size) pairs, bids best (highest) first, asks best (lowest) first.
    """

    at: datetime
    market: str
    token_id: str
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class TickSizeEvent:
    """The market's tick changed (Polymarket narrows it near 0 and 1)."""

    at: datetime
    market: str
    tick_size: float


@dataclass(frozen=True)
class Tick:
    """Nothing arrived, but time passed: lets the clock reach a decision in a quiet live market."""

    at: datetime


Event = TweetEvent | PriceEvent | BookEvent | TickSizeEvent | Tick


class Feed(Protocol):
    """A source of events in event-time order. `events()` ends when the feed does (a replay's
    span); a live feed runs until `close()`."""

    feed_lag: float  # seconds the newest delivery ran behind its event time (or its paced schedule)

    def events(self) -> Iterator[Event]: ...

    def close(self) -> None: ...
