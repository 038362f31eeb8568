"""`--feed replay`: the replay data set's tweets and prices, delivered in event-time order.

Tweets and prices of every market are merged by event time, as a live feed would deliver them. With
`speed` N > 0 an event `e` is delivered `(e.at - pace_from) / N` seconds after the feed started
(events before `pace_from`, the lookback that fills the trader's windows, arrive at once); with
speed 0 as fast as the trader takes them. The trader's clock runs on `at`, so the speed changes
only when decisions happen on the wall clock, never what they are.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

from connectors.replay import ReplaySource
from models.engine import MarketInfo
from models.ingest import BadRecord, parse_tweet
from trader.feeds.events import Event, PriceEvent, TweetEvent


class ReplayFeed:
    def __init__(self, source: ReplaySource, markets: Mapping[str, MarketInfo], start: datetime, end: datetime,
                 speed: float = 0.0, pace_from: datetime | None = None):
        if speed < 0:
            raise ValueError("speed must be 0 (as fast as possible) or positive")
        self.source, self.markets, self.start, self.end = source, markets, start, end
        self.speed, self.pace_from = speed, pace_from or start
        self.bad_lines = 0
        self.delivered = 0
        self.feed_lag = 0.0  # how far delivery runs behind the paced schedule (the trader's feed lag)
        self._closed = threading.Event()

    def events(self) -> Iterator[Event]:
        """Every tweet with start <= created_at < end and every price with start <= ts <= end, in time order."""
        started = time.monotonic()
        for event in heapq.merge(self._prices(), self._tweets(), key=lambda e: e.at):
            if self._closed.is_set():
                return
            if self.speed > 0 and event.at > self.pace_from:
                due = started + (event.at - self.pace_from).total_seconds() / self.speed
                wait = due - time.monotonic()
                if wait > 0 and self._closed.wait(wait):
                    return
                self.feed_lag = max(0.0, -wait)
            self.delivered += 1
            yield event

    def close(self) -> None:
        self._closed.set()

    def _tweets(self) -> Iterator[TweetEvent]:
        """Day files in order; within a day the stream's arrival order, which is created_at order."""
        for day in self.source.days:
            if not self.start.date() <= day <= self.end.date():
                continue
            for line in self.source.tweet_lines(day):
                try:
                    row = parse_tweet(line)
                except BadRecord:
                    self.bad_lines += 1
                    continue
                if row["created_at"] >= self.end:
                    return  # the day files are in created_at order: nothing later is in the span
                if row["created_at"] >= self.start:
                    yield TweetEvent(row["created_at"], row)

    def _prices(self) -> Iterator[PriceEvent]:
        first, last = _epoch(self.start), _epoch(self.end) + 1
        series = []
        for name, info in self.markets.items():
            history = self.source.prices_history(info.yes_token_id, first, last)["history"]
            series.append([PriceEvent(datetime.fromtimestamp(p["t"], UTC).replace(tzinfo=None), name, float(p["p"])) for p in history])
        return heapq.merge(*series, key=lambda e: e.at)


def _epoch(t: datetime) -> int:
    return int(t.replace(tzinfo=UTC).timestamp())
