"""The live feed (`--feed stream`): tweets from the X filtered stream, books and prices from
Polymarket's market WebSocket, and books over REST whenever that socket is down.

Three threads fill one queue that `events()` drains:

- the X stream, `connectors.x_stream.LiveStream` run as `sentitrade ingest stream` runs it: it
  survives drops, 429s, 5xx and stalls, searches every outage's gap and lands each line in the lake
  once. Its `on_lines` hook hands the same lines (the stream's and the gap searches') to the trader,
  each tweet id at most once; a line that does not parse is skipped (the landing dead-letters it).
- the market stream, the SDK's CLOB market WebSocket: book snapshots, price changes, last trades and
  tick-size changes of both tokens of every market. The SDK reconnects a dropped socket by itself
  and resubscribes, but the server does not replay what was missed meanwhile.
- the book poller: every book over REST (`PolymarketSource.order_book`, which retries) at once after
  each connect or drop of the market stream, then every `poll_interval_s` while it stays down.

Events come in arrival order, each stamped with when it happened (a tweet's `created_at`, a
message's exchange timestamp, else its receipt), so a live `at` trails the wall clock: X delivers
tweets seconds late and a gap search minutes late, after fresher events went out. `feed_lag` says
by how much; a trader's clock should keep the latest `at` it has seen, not move back for a late
tweet. A quiet second yields `Tick(now)` so that clock still moves.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from datetime import UTC, datetime

# The SDK's public `AsyncPublicClient.subscribe(MarketSpec(...))` builds this manager with its own
# heartbeat and gives no sign of its socket coming and going; the feed needs both (REST while down,
# every book re-fetched after a reconnect), so it builds the manager with a heartbeat that tells it.
from polymarket._internal.streams.clob.heartbeat import ClobWebSocketHeartbeat
from polymarket._internal.streams.clob.market import ClobMarketStreamManager
from polymarket.errors import TransportError
from polymarket.models.clob.order_book import OrderBookLevel
from polymarket.streams import MarketBookEvent, MarketLastTradePriceEvent, MarketPriceChangeEvent, MarketTickSizeChangeEvent

from connectors.polymarket import PolymarketApiError, PolymarketSettings, PolymarketSource, sdk_environment
from connectors.x_api import XSettings
from connectors.x_stream import LiveStream
from models.engine import MarketInfo
from models.ingest import BadRecord, parse_tweet
from models.ingest.landing import TweetLanding
from trader.feeds.events import BookEvent, Event, PriceEvent, Tick, TickSizeEvent, TweetEvent

log = logging.getLogger(__name__)

IDLE_S = 1.0  # a Tick after this long without an event
CLOSE_TIMEOUT_S = 5.0  # close() waits this long at most for the threads
RECONNECT_FIRST_S, RECONNECT_MAX_S = 0.5, 30.0  # retrying a market stream that never connected
TWEET_IDS_KEPT = 100_000  # a gap search repeats only recent tweets: remember this many delivered ids


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _naive(at: datetime | None) -> datetime:
    """An SDK timestamp (aware UTC) as the lake keeps times (naive UTC); a message without one: now."""
    return at.astimezone(UTC).replace(tzinfo=None) if at is not None else utcnow()


def _levels(levels: Iterable[OrderBookLevel]) -> dict[float, float]:
    return {float(level.price): float(level.size) for level in levels if level.size}


class FeedFailed(RuntimeError):
    """A part of the feed stopped for good (X refused the credentials, say); raised by `events()`."""


class _Books:
    """Every followed token's book, rebuilt from whole snapshots (the stream's or REST's) and price-change
    deltas, and what each update tells the trader: the book, if it changed; the market's YES price
    (the YES mid when both sides have orders, else its last trade), if it changed; its tick, if it
    changed. Not thread-safe: the feed calls it under one lock."""

    def __init__(self, markets: dict[str, MarketInfo]):
        self.markets = markets
        self.market_of = {token: name for name, m in markets.items() for token in (m.yes_token_id, m.no_token_id)}
        self._levels = {token: ({}, {}) for token in self.market_of}  # (bids, asks), each price -> size
        self._as_of: dict[str, datetime] = {}  # token -> time of the newest update applied
        self._sent: dict[str, tuple] = {}  # token -> (bids, asks) last delivered
        self._last_trade: dict[str, float] = {}  # market -> its YES token's last trade
        self._price: dict[str, float] = {}  # market -> YES price last delivered
        self._tick = {name: m.tick_size for name, m in markets.items()}

    def snapshot(self, token: str, bids: dict, asks: dict, at: datetime, tick: float | None) -> list[Event]:
        """A whole book. One older than the book's newest update (a REST answer the stream overtook)
        is ignored."""
        if token not in self.market_of or at < self._as_of.get(token, at):
            return []
        self._levels[token], self._as_of[token] = (bids, asks), at
        return (self.tick(token, tick, at) if tick else []) + self._updated([token], at)

    def changes(self, at: datetime, changes: Iterable[tuple[str, str, float, float]]) -> list[Event]:
        """Price-change deltas, each (token, side BUY or SELL, price, new size at that price; 0 removes it)."""
        touched = {}
        for token, side, price, size in changes:
            if token in self.market_of:
                levels = self._levels[token][0 if side == "BUY" else 1]
                if size:
                    levels[price] = size
                else:
                    levels.pop(price, None)
                self._as_of[token] = max(at, self._as_of.get(token, at))
                touched[token] = None
        return self._updated(touched, at)

    def trade(self, token: str, price: float, at: datetime) -> list[Event]:
        market = self.market_of.get(token)
        if market is None or token != self.markets[market].yes_token_id:
            return []
        self._last_trade[market] = price
        return self._priced(market, at)

    def tick(self, token: str, tick: float, at: datetime) -> list[Event]:
        """A market's tick, from a `tick_size_change` or a book: an event only when it differs (both
        tokens report each change; a book can show one that happened while the stream was down)."""
        market = self.market_of.get(token)
        if market is None or self._tick[market] == tick:
            return []
        self._tick[market] = tick
        return [TickSizeEvent(at=at, market=market, tick_size=tick)]

    def _updated(self, tokens: Iterable[str], at: datetime) -> list[Event]:
        events: list[Event] = []
        for token in tokens:
            market, (bids, asks) = self.market_of[token], self._levels[token]
            book = (tuple(sorted(bids.items(), reverse=True)), tuple(sorted(asks.items())))
            if book != self._sent.get(token):
                self._sent[token] = book
                events.append(BookEvent(at=at, market=market, token_id=token, bids=book[0], asks=book[1]))
            if token == self.markets[market].yes_token_id:
                events += self._priced(market, at)
        return events

    def _priced(self, market: str, at: datetime) -> list[Event]:
        bids, asks = self._levels[self.markets[market].yes_token_id]
        price = (max(bids) + min(asks)) / 2 if bids and asks else self._last_trade.get(market)
        if price is None or price == self._price.get(market):
            return []
        self._price[market] = price
        return [PriceEvent(at=at, market=market, price=price)]


class _WatchedHeartbeat(ClobWebSocketHeartbeat):
    """The SDK's CLOB PING/PONG heartbeat, which its socket starts on every connect and stops on every
    disconnect: the one place the SDK shows a caller its socket coming and going."""

    def __init__(self, up: Callable[[], None], down: Callable[[], None]):
        super().__init__()
        self._up, self._down, self._open = up, down, False

    async def start(self, send) -> None:
        await super().start(send)  # which calls stop() first: not a drop, the socket was not open
        self._open = True
        self._up()

    async def stop(self) -> None:
        await super().stop()
        if self._open:
            self._open = False
            self._down()


class _Closing(Exception):
    """close() cut a REST retry's wait short."""


class LiveFeed:
    """The trader's live `Feed`: tweets, books, prices and tick changes as they arrive, until `close()`.

    - `markets`: the traded markets by name (the names the X rules tag tweets with); both tokens of
      each are followed.
    - `x_settings`, `landing`, `resume_from`: what `LiveStream` takes. `landing` stores every tweet
      (once); `resume_from` is the newest tweet id stored (`newest_stored_id(landing.lake)`): the
      first gap search starts there (None: from now).
    - `poly_settings`: where Polymarket is (REST base and market WebSocket URL, both through
      `sdk_environment`) and how REST retries.
    - `poll_interval_s`: how often every book is fetched over REST while the market stream is down.

    The threads start here. `feed_lag` is the seconds between the last event's `at` and its delivery.
    """

    def __init__(
        self,
        markets: dict[str, MarketInfo],
        x_settings: XSettings,
        landing: TweetLanding,
        poly_settings: PolymarketSettings,
        resume_from: int | None = None,
        poll_interval_s: float = 5.0,
    ):
        self.poll_interval_s = poll_interval_s
        self.feed_lag = 0.0
        self._queue: queue.SimpleQueue[Event | FeedFailed] = queue.SimpleQueue()
        self._lock = threading.Lock()  # one writer of the books and their events at a time
        self._stop = threading.Event()
        self._books = _Books(markets)
        self._said: dict[str, str] = {}  # subject -> the state last logged
        self._default_market = landing.default_market
        self._tweet_ids: set[str] = set()
        self._tweet_order: deque[str] = deque(maxlen=TWEET_IDS_KEPT)
        self._stream_open = threading.Event()
        self._refetch = threading.Event()
        self._refetch.set()  # the first books come over REST at once
        self._tweets = LiveStream(x_settings, landing, resume_from, on_lines=self._on_tweet_lines)
        self._rest = PolymarketSource(poly_settings, sleep=self._sleep, retry_log_level=logging.DEBUG)
        self._ws_url = sdk_environment(poly_settings)._config.clob_market_ws_url
        self._loop = asyncio.new_event_loop()
        self._market_task = self._loop.create_task(self._follow_markets())
        self._threads = [
            self._thread("X stream", self._tweets.run),
            self._thread("market stream", self._run_market_stream),
            self._thread("book poller", self._poll_books),
        ]
        for thread in self._threads:
            thread.start()

    def events(self) -> Iterator[Event]:
        """Every event as it arrives, and a `Tick` after each quiet second, until `close()`. A part that
        stopped for good raises `FeedFailed` here; the caller then closes the feed."""
        while not self._stop.is_set():
            try:
                event = self._queue.get(timeout=IDLE_S)
            except queue.Empty:
                yield Tick(at=utcnow())
                continue
            if isinstance(event, FeedFailed):
                raise event
            self.feed_lag = (utcnow() - event.at).total_seconds()
            yield event

    def close(self) -> None:
        """Stop every thread, waiting `CLOSE_TIMEOUT_S` at most. The X stream lands what it buffered;
        its last gap is left to the next run, which resumes after the newest tweet stored."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._tweets.stop(search_last_gap=False)
        self._refetch.set()
        with suppress(RuntimeError):  # the loop already ended
            self._loop.call_soon_threadsafe(self._market_task.cancel)
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("the live feed's %s did not stop within %.0f s", thread.name, CLOSE_TIMEOUT_S)
        self._rest.close()

    def __enter__(self) -> LiveFeed:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _thread(self, name: str, work: Callable[[], object]) -> threading.Thread:
        def run() -> None:
            try:
                work()
            except Exception as exc:  # handed to the trader: a feed without tweets or books must not look quiet
                if not self._stop.is_set():
                    failed = FeedFailed(f"the live feed's {name} stopped: {exc}")
                    failed.__cause__ = exc
                    self._queue.put(failed)

        return threading.Thread(target=run, name=name, daemon=True)

    def _say(self, subject: str, state: str, message: str, *args) -> None:
        """Log a subject's state once per change, not once per retry: at info when all is well from the
        start, else as a warning (what went wrong, and that it came back)."""
        with self._lock:
            before = self._said.get(subject)
            if before == state:
                return
            self._said[subject] = state
        level = logging.INFO if before is None and state == "up" else logging.WARNING
        log.log(level, message, *args)

    def _publish(self, update: Callable[..., list[Event]], *args) -> None:
        """Apply an update to the books (a `_Books` method) and queue what it means, in that order."""
        with self._lock:
            for event in update(*args):
                self._queue.put(event)

    # --- tweets (the X stream's thread) ---

    def _on_tweet_lines(self, lines: list[bytes | str]) -> None:
        for line in lines:
            try:
                row = parse_tweet(line, self._default_market)
            except BadRecord:
                continue
            tweet_id = row["tweet_id"]
            if tweet_id in self._tweet_ids:
                continue
            if len(self._tweet_order) == self._tweet_order.maxlen:
                self._tweet_ids.discard(self._tweet_order[0])
            self._tweet_order.append(tweet_id)
            self._tweet_ids.add(tweet_id)
            self._queue.put(TweetEvent(at=row["created_at"], row=row))

    # --- the market stream (its own event loop, in its thread) ---

    def _run_market_stream(self) -> None:
        try:
            with suppress(asyncio.CancelledError):
                self._loop.run_until_complete(self._market_task)
        finally:
            self._loop.close()

    async def _follow_markets(self) -> None:
        """Subscribe to every token until closed. The SDK reconnects an established subscription by
        itself; a first connect that fails is retried here, with backoff."""
        attempt = 0
        while True:
            manager = ClobMarketStreamManager(url=self._ws_url, heartbeat=_WatchedHeartbeat(self._stream_up, self._stream_down))
            try:
                handle = await manager.subscribe(token_ids=list(self._books.market_of))
                attempt = dropped = 0
                async for event in handle:
                    self._on_market_event(event)
                    if handle.dropped > dropped:  # the SDK drops the oldest events when the feed falls behind
                        log.warning("the market stream dropped %d events: re-fetching every book", handle.dropped - dropped)
                        dropped = handle.dropped
                        self._refetch.set()
            except TransportError as exc:
                self._stream_down(f"unreachable ({exc})")
                await asyncio.sleep(min(RECONNECT_MAX_S, RECONNECT_FIRST_S * 2**attempt))
                attempt += 1
            finally:
                await manager.close()

    def _stream_up(self) -> None:
        self._stream_open.set()
        self._refetch.set()  # the stream does not replay what it missed
        self._say("market stream", "up", "market stream connected (%s); books re-fetched over REST", self._ws_url)

    def _stream_down(self, why: str = "dropped") -> None:
        if self._stop.is_set():
            return
        if self._stream_open.is_set():
            self._stream_open.clear()
            self._refetch.set()  # poll at once, not a poll interval later
        self._say("market stream", "down", "market stream %s; books by REST every %g s until it connects", why, self.poll_interval_s)

    def _on_market_event(self, event) -> None:
        p, books = event.payload, self._books
        at = _naive(p.timestamp)
        if isinstance(event, MarketBookEvent):
            tick = float(p.tick_size) if p.tick_size is not None else None
            self._publish(books.snapshot, p.asset_id, _levels(p.bids), _levels(p.asks), at, tick)
        elif isinstance(event, MarketPriceChangeEvent):
            self._publish(books.changes, at, [(c.asset_id, c.side, float(c.price), float(c.size)) for c in p.price_changes])
        elif isinstance(event, MarketLastTradePriceEvent):
            self._publish(books.trade, p.asset_id, float(p.price), at)
        elif isinstance(event, MarketTickSizeChangeEvent):
            self._publish(books.tick, p.asset_id, float(p.new_tick_size), at)

    # --- books over REST (the poller's thread) ---

    def _poll_books(self) -> None:
        """Every book over REST: at once when the market stream connects or drops, then every
        `poll_interval_s` while it is down, or until a round that failed has gone through."""
        owed = False
        while not self._stop.is_set():
            if self._refetch.wait(self.poll_interval_s):
                self._refetch.clear()
                owed = True
            if self._stop.is_set():
                return
            if owed or not self._stream_open.is_set():
                try:
                    owed = not self._fetch_books()
                except _Closing:
                    return

    def _fetch_books(self) -> bool:
        """Fetch every book; False if any could not be (the round is tried again a poll interval later)."""
        failed: list[PolymarketApiError] = []
        for token in self._books.market_of:
            try:
                book = self._rest.order_book(token)
            except PolymarketApiError as exc:
                failed.append(exc)
                continue
            self._publish(self._books.snapshot, token, _levels(book.bids), _levels(book.asks), _naive(book.timestamp), float(book.tick_size))
        if failed:
            self._say("REST books", "down", "REST books failing for %d of %d tokens (%s); trying again every %g s",
                      len(failed), len(self._books.market_of), failed[0], self.poll_interval_s)
        else:
            self._say("REST books", "up", "REST books answering (%s)", self._rest.settings.clob_url or "production")
        return not failed

    def _sleep(self, seconds: float) -> None:
        """A REST retry's wait, cut short by close()."""
        if self._stop.wait(seconds):
            raise _Closing()
