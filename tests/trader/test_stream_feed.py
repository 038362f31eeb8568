"""`LiveFeed` with real components on local servers: the real tweepy StreamingClient against the fake
X (`tests/ingest_tweets/fake_x.py`), the real polymarket SDK's market stream against a local
WebSocket and its REST book call against a local HTTP server serving the recorded `/book` shape.
The stream messages are the recorded book and `tick_size_change` (shared/data/polymarket-fixtures)
with the ids of the test's markets, and price changes and trades in the shape the SDK parses."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest
from werkzeug import Response

from connectors.lake import Lake
from connectors.polymarket import PolymarketSettings
from connectors.x_api import XSettings
from models.engine import MarketInfo
from models.ingest.landing import TABLE, DeadLetters, TweetLanding, dead_letter_path
from tests.conftest import SHARED_DATA
from tests.ingest_tweets.fake_x import FakeX
from tests.trader.fake_polymarket import FakeMarketSocket
from trader.feeds.events import BookEvent, PriceEvent, Tick, TickSizeEvent, TweetEvent
from trader.feeds.stream import CLOSE_TIMEOUT_S, FeedFailed, LiveFeed

FIXTURES = SHARED_DATA / "polymarket-fixtures"
BOOK = json.loads((FIXTURES / "clob-book/nautilus-py__book.json").read_text())
TICK_SIZE_CHANGE = json.loads((FIXTURES / "clob-ws-market/nautilus-py__tick_size_change.json").read_text())
QUERIES = {"fed-cut": "fed rate cut -is:retweet", "btc-100k": "bitcoin 100k lang:en"}
TOKEN = "test-bearer-token-7f3a"
# The recorded book's token is fed-cut's YES, the recorded tick change's token btc-100k's YES.
FED = MarketInfo("fed-cut", yes_token_id=BOOK["asset_id"], no_token_id="71321045679252212594626385532706912750332728571942532289631379312455583992563")
BTC = MarketInfo("btc-100k", yes_token_id=TICK_SIZE_CHANGE["asset_id"], no_token_id="48331043336612883890938759509493159234755048973500640148014422747788308965732")
MARKETS = {m.market: m for m in (FED, BTC)}
TOKENS = {FED.yes_token_id, FED.no_token_id, BTC.yes_token_id, BTC.no_token_id}
CONDITION = {FED.yes_token_id: BOOK["market"], FED.no_token_id: BOOK["market"], BTC.yes_token_id: TICK_SIZE_CHANGE["market"], BTC.no_token_id: TICK_SIZE_CHANGE["market"]}


def now_ms() -> str:
    return str(int(time.time() * 1000))


def at_ms(stamp: str) -> datetime:
    return datetime.fromtimestamp(int(stamp) / 1000, UTC).replace(tzinfo=None)


def levels(*pairs: tuple[str, str]) -> list[dict]:
    return [{"price": price, "size": size} for price, size in pairs]


class RestBooks:
    """`GET /book?token_id=` in the recorded shape (best level last) with the fields the SDK's
    OrderBook also requires (as in test_polymarket_source), stamped now; the levels a test sets,
    else an empty book."""

    def __init__(self, httpserver):
        self.levels: dict[str, tuple[list, list]] = {}
        self.requests = 0
        httpserver.expect_request("/book").respond_with_handler(self._answer)

    def _answer(self, request) -> Response:
        token = request.args["token_id"]
        self.requests += 1
        bids, asks = self.levels.get(token, ([], []))
        body = {**BOOK, "market": CONDITION[token], "asset_id": token, "bids": bids, "asks": asks, "timestamp": now_ms(),
                "min_order_size": "5", "tick_size": "0.01", "neg_risk": False}
        return Response(json.dumps(body), content_type="application/json")


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


@pytest.fixture
def x():
    with FakeX(QUERIES, TOKEN) as server:
        yield server


@pytest.fixture
def market_socket():
    with FakeMarketSocket() as server:
        yield server


@pytest.fixture
def unreachable() -> str:
    """A market WebSocket URL on a port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"ws://127.0.0.1:{probe.getsockname()[1]}/ws/market"


@pytest.fixture
def rest(httpserver) -> RestBooks:
    return RestBooks(httpserver)


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake(tmp_path / "lake")


@pytest.fixture
def make_feed(x, market_socket, rest, httpserver, lake):
    """`make_feed(ws_url=..., poll_interval_s=..., **x_settings)` -> a started LiveFeed, closed afterwards."""
    feeds = []

    def make(ws_url: str | None = None, poll_interval_s: float = 0.2, **x_overrides) -> LiveFeed:
        x_settings = XSettings(_env_file=None, bearer_token=TOKEN, markets=QUERIES, api_url=x.url, **{
            "stall_timeout_s": 0.5, "backoff_initial_s": 0.05, "backoff_max_s": 0.4, "flush_interval_s": 0.2, "gap_overlap_s": 30,
            "search_lag_s": 0.3, **x_overrides,
        })
        poly = PolymarketSettings(
            _env_file=None, clob_url=httpserver.url_for("/"), clob_market_ws_url=ws_url or market_socket.url, max_retries=1, backoff_seconds=0.05,
        )
        landing = TweetLanding(lake, DeadLetters(dead_letter_path(lake, "stream"), "stream"))
        feeds.append(LiveFeed(MARKETS, x_settings, landing, poly, poll_interval_s=poll_interval_s))
        return feeds[-1]

    yield make
    for feed in feeds:
        feed.close()


def collect(events, done, timeout: float = 10.0) -> list:
    """Events until `done(events so far)`; a Tick comes at least every second, so the timeout holds."""
    seen, deadline = [], time.monotonic() + timeout
    for event in events:
        seen.append(event)
        if done(seen):
            return seen
        assert time.monotonic() < deadline, f"timed out; the last events: {seen[-10:]}"
    raise AssertionError("the feed ended")


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def settle(rest: RestBooks) -> None:
    """Wait until REST has gone quiet: the fetch at the stream's connect may still be under way, and
    this fake's REST books do not follow what the test sends on the stream."""
    before = -1
    while rest.requests != before:
        before = rest.requests
        time.sleep(0.3)


def priced(market: str):
    return lambda seen: any(isinstance(e, PriceEvent) and e.market == market for e in seen)


def books_of(events, token: str) -> list[BookEvent]:
    return [e for e in events if isinstance(e, BookEvent) and e.token_id == token]


def stored_ids(lake: Lake) -> list[str]:
    return [tid for day in lake.days(TABLE) for tid in pq.read_table(lake.path(TABLE, day), columns=["tweet_id"])["tweet_id"].to_pylist()]


def test_tweets_become_events_once_and_land_once_across_a_dropped_x_connection(make_feed, x, lake):
    x.script = [
        ("stream", [("tweets", 3), ("keepalive", None), ("drop", None)]),  # the 4th tweet is cut off mid-line
        ("idle", [("publish", 2), ("tweets", 2)]),  # 2 made while away: the gap search finds them
    ]
    feed = make_feed()
    published = lambda: {p["data"]["id"] for p in x.published}  # noqa: E731
    delivered = lambda seen: [e for e in seen if isinstance(e, TweetEvent)]  # noqa: E731
    seen = collect(feed.events(), lambda seen: not x.script and {e.row["tweet_id"] for e in delivered(seen)} == published())
    tweets = delivered(seen)
    assert len(tweets) == len(published()) == 3 + 1 + 2 + 2  # each once, though the gap search repeated the streamed ones
    assert len(published() - x.streamed) == 3 and len(x.searches) >= 2
    assert all(e.at == e.row["created_at"] and e.row["market"] in MARKETS for e in tweets)
    assert 0 <= feed.feed_lag < 10
    feed.close()
    ids = stored_ids(lake)
    assert sorted(ids) == sorted(published())  # in the lake exactly once


def test_a_book_snapshot_a_price_change_and_a_trade_become_book_and_price_events(make_feed, market_socket, rest):
    feed = make_feed()
    events = feed.events()
    collect(events, lambda seen: {e.token_id for e in seen if isinstance(e, BookEvent)} == TOKENS)  # the first books, over REST
    wait_for(lambda: market_socket.subscriptions)
    settle(rest)
    assert market_socket.subscriptions[0]["type"] == "market" and set(market_socket.subscriptions[0]["assets_ids"]) == TOKENS

    snapshot = {**BOOK, "event_type": "book", "timestamp": now_ms()}  # the recorded book, as the stream sends one
    market_socket.send(snapshot)
    seen = collect(events, priced("fed-cut"))
    [book] = books_of(seen, FED.yes_token_id)
    assert book.market == "fed-cut" and book.at == at_ms(snapshot["timestamp"])
    assert book.bids == ((0.1, 125), (0.09, 294), (0.08, 120), (0.06, 200), (0.01, 1000))  # best first
    assert book.asks == ((0.14, 705), (0.2, 70), (0.38, 192.3), (0.46, 10), (0.47, 50), (0.5, 30), (0.98, 5000))
    assert [e for e in seen if isinstance(e, PriceEvent)] == [PriceEvent(at=book.at, market="fed-cut", price=pytest.approx(0.12))]

    change = {"event_type": "price_change", "market": BOOK["market"], "timestamp": now_ms(), "price_changes": [
        {"asset_id": FED.yes_token_id, "price": "0.12", "size": "40", "side": "BUY", "hash": "a1", "best_bid": "0.12", "best_ask": "0.14"},
        {"asset_id": FED.yes_token_id, "price": "0.14", "size": "0", "side": "SELL", "hash": "a2", "best_bid": "0.12", "best_ask": "0.2"},
    ]}
    market_socket.send(change)
    seen = collect(events, priced("fed-cut"))
    [book] = books_of(seen, FED.yes_token_id)
    assert book.bids[:2] == ((0.12, 40), (0.1, 125)) and book.asks[0] == (0.2, 70) and book.at == at_ms(change["timestamp"])
    assert [e.price for e in seen if isinstance(e, PriceEvent)] == [pytest.approx(0.16)]

    # btc-100k's YES book is empty (REST said so): its price is the last trade
    trade = {"event_type": "last_trade_price", "market": TICK_SIZE_CHANGE["market"], "asset_id": BTC.yes_token_id, "price": "0.57",
             "size": "10", "side": "BUY", "fee_rate_bps": "0", "timestamp": now_ms()}
    market_socket.send(trade)
    seen = collect(events, priced("btc-100k"))
    assert [e for e in seen if isinstance(e, PriceEvent)] == [PriceEvent(at=at_ms(trade["timestamp"]), market="btc-100k", price=0.57)]


def test_the_recorded_tick_size_change_becomes_one_tick_size_event(make_feed, market_socket, rest):
    feed = make_feed()
    wait_for(lambda: market_socket.subscriptions)
    settle(rest)
    market_socket.send(TICK_SIZE_CHANGE)  # exactly as recorded: btc-100k's YES token, 0.01 -> 0.001
    market_socket.send({**TICK_SIZE_CHANGE, "asset_id": BTC.no_token_id})  # its NO token reports the same change
    ticked = lambda seen: any(isinstance(e, TickSizeEvent) for e in seen) and isinstance(seen[-1], Tick)  # noqa: E731 - then a quiet second
    seen = collect(feed.events(), ticked)
    assert [e for e in seen if isinstance(e, TickSizeEvent)] == [TickSizeEvent(at=datetime(2025, 2, 9, 2, 27, 21, 853000), market="btc-100k", tick_size=0.001)]


def test_after_the_websocket_drops_books_come_over_rest_and_the_stream_reconnects(make_feed, market_socket, rest, caplog):
    caplog.set_level(logging.INFO, logger="trader.feeds.stream")
    feed = make_feed(poll_interval_s=60)  # no polling within the test: every fetch below is a drop's or a reconnect's
    events = feed.events()
    collect(events, lambda seen: {e.token_id for e in seen if isinstance(e, BookEvent)} == TOKENS)
    wait_for(lambda: market_socket.subscriptions)

    rest.levels[FED.yes_token_id] = (levels(("0.40", "10")), levels(("0.44", "5")))  # the book moved...
    with market_socket.down():  # ...and the socket went away, refusing connections for a while
        seen = collect(events, priced("fed-cut"))
        assert books_of(seen, FED.yes_token_id)[0].bids == ((0.40, 10),)  # fetched over REST at the drop
        assert [e.price for e in seen if isinstance(e, PriceEvent)] == [pytest.approx(0.42)]
        rest.levels[FED.yes_token_id] = (levels(("0.41", "10")), levels(("0.44", "5")))  # it moves again while down
        time.sleep(0.5)
    seen = collect(events, priced("fed-cut"))
    assert books_of(seen, FED.yes_token_id)[0].bids == ((0.41, 10),)  # re-fetched over REST at the reconnect
    assert [e.price for e in seen if isinstance(e, PriceEvent)] == [pytest.approx(0.425)]

    wait_for(lambda: len(market_socket.subscriptions) == 2)  # the SDK resubscribed the same tokens
    assert set(market_socket.subscriptions[1]["assets_ids"]) == TOKENS
    settle(rest)
    market_socket.send({**TICK_SIZE_CHANGE, "asset_id": FED.yes_token_id, "market": BOOK["market"], "timestamp": now_ms()})
    seen = collect(events, lambda seen: any(isinstance(e, TickSizeEvent) for e in seen))  # the stream flows again
    assert [e.market for e in seen if isinstance(e, TickSizeEvent)] == ["fed-cut"]

    said = [r.getMessage() for r in caplog.records if r.name == "trader.feeds.stream" and r.levelno >= logging.WARNING]
    assert len(said) == 2  # one per change of state
    assert said[0].startswith("market stream dropped; books by REST") and said[1].startswith("market stream connected")


def test_with_the_websocket_unreachable_books_come_by_rest_polling(make_feed, unreachable, rest, caplog):
    caplog.set_level(logging.INFO, logger="trader.feeds.stream")
    rest.levels[BTC.yes_token_id] = (levels(("0.60", "10")), levels(("0.64", "5")))  # before the first poll can run
    feed = make_feed(ws_url=unreachable, poll_interval_s=0.2)
    events = feed.events()
    seen = collect(events, priced("btc-100k"))
    assert books_of(seen, BTC.yes_token_id)[0].asks == ((0.64, 5),)
    rest.levels[BTC.yes_token_id] = (levels(("0.61", "10")), levels(("0.64", "5")))
    seen = collect(events, priced("btc-100k"))
    assert books_of(seen, BTC.yes_token_id)[0].bids == ((0.61, 10),)
    assert [e.price for e in seen if isinstance(e, PriceEvent)] == [pytest.approx(0.625)]
    time.sleep(1.6)  # the stream is retried at 0.5 s, 1.5 s: still one warning
    warned = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING
    assert rest.requests >= 3 * len(TOKENS)


def test_close_returns_promptly_and_lands_what_the_x_stream_buffered(make_feed, x, market_socket, lake):
    # X sends 4 tweets, then nothing at all (no keep-alive) for 10 s; nothing lands before close()
    x.script = [("stream", [("tweets", 4), ("stall", 10)])]
    feed = make_feed(stall_timeout_s=30, flush_interval_s=60)
    events = feed.events()
    seen = collect(events, lambda seen: len([e for e in seen if isinstance(e, TweetEvent)]) == 4)
    wait_for(lambda: market_socket.subscriptions)
    tick = collect(events, lambda seen: isinstance(seen[-1], Tick))[-1]
    assert abs((datetime.now(UTC).replace(tzinfo=None) - tick.at).total_seconds()) < 2
    assert stored_ids(lake) == []

    started = time.monotonic()
    feed.close()  # cuts the stalled X read: it does not wait for the next line or keep-alive
    assert time.monotonic() - started < CLOSE_TIMEOUT_S  # its first landing takes most of it
    assert not [t for t in threading.enumerate() if t.name in ("X stream", "market stream", "book poller")]
    assert sorted(stored_ids(lake)) == sorted(e.row["tweet_id"] for e in seen if isinstance(e, TweetEvent))
    assert list(events) == []  # the feed ended
    feed.close()  # twice is harmless


def test_rest_errors_are_retried_and_said_once_per_change(make_feed, unreachable, httpserver, rest, caplog):
    caplog.set_level(logging.INFO, logger="trader.feeds.stream")
    for _ in range(3):  # with one retry each: the first token fails for good this round, the second gets through
        httpserver.expect_oneshot_request("/book").respond_with_json({"error": "busy"}, status=503)
    feed = make_feed(ws_url=unreachable, poll_interval_s=0.2)
    collect(feed.events(), lambda seen: {e.token_id for e in seen if isinstance(e, BookEvent)} == TOKENS)
    wait_for(lambda: rest.requests >= 3 * len(TOKENS))  # polling on, answered
    said = [r.getMessage() for r in caplog.records if r.name == "trader.feeds.stream" and "REST books" in r.getMessage()]
    assert len(said) == 2 and said[0].startswith("REST books failing for 1 of 4 tokens") and said[1].startswith("REST books answering")


def test_an_x_refusal_ends_the_feed_with_the_reason(make_feed, x):
    x.token = "another-token"  # every request is refused: 401
    feed = make_feed()
    with pytest.raises(FeedFailed, match="X stream stopped: 401 Unauthorized"):
        collect(feed.events(), lambda seen: False)
