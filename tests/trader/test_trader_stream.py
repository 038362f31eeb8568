"""`sentitrade trade --feed stream` end to end: the real trader process, on a copy of the demo's
trained data directory, following the markets of its lake through local servers: the fake X API
(`tests/ingest_tweets/fake_x.py`: filtered stream, rules and recent search), a local HTTP server
answering Polymarket's `GET /book` and a local CLOB market WebSocket (`fake_polymarket.py`)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest
from werkzeug import Response

from connectors.lake import Lake
from models.ingest.landing import TABLE
from tests.conftest import SHARED_DATA, last_json
from tests.ingest_tweets.fake_x import FakeX
from tests.trader.conftest import ledger_engine, scalar, start_trader, wait_for
from tests.trader.fake_polymarket import FakeMarketSocket

TOKEN = "test-bearer-token-e2e"
BOOK = json.loads((SHARED_DATA / "polymarket-fixtures/clob-book/nautilus-py__book.json").read_text())
BAR = pd.Timedelta(minutes=5)  # dbt's bar_minutes: a feature at T sees the 5-minute bars that ended by T


def now_ms() -> str:
    return str(int(time.time() * 1000))


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def levels(*pairs: tuple[str, str]) -> list[dict]:
    return [{"price": price, "size": size} for price, size in pairs]


class RestBooks:
    """`GET /book?token_id=` in the recorded shape, stamped now: the levels set per token, else empty."""

    def __init__(self, httpserver, markets: pd.DataFrame):
        self.levels: dict[str, tuple[list, list]] = {}
        self.requests = 0
        self._market = {row[side]: row for row in markets.to_dict("records") for side in ("yes_token_id", "no_token_id")}
        httpserver.expect_request("/book").respond_with_handler(self._answer)

    def _answer(self, request) -> Response:
        token = request.args["token_id"]
        self.requests += 1
        market = self._market[token]
        bids, asks = self.levels.get(token, ([], []))
        body = {**BOOK, "market": market["condition_id"], "asset_id": token, "bids": bids, "asks": asks, "timestamp": now_ms(),
                "min_order_size": str(market["min_order_size"]), "tick_size": str(market["tick_size"]), "neg_risk": bool(market["neg_risk"])}
        return Response(json.dumps(body), content_type="application/json")


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


def settle(rest: RestBooks, timeout: float = 30.0) -> None:
    """Wait (bounded) until REST has gone quiet for half a second."""
    seen = [-1]

    def quiet():
        """REST books to go quiet"""
        before, seen[0] = seen[0], rest.requests
        return before == seen[0]

    wait_for(quiet, timeout=timeout, every=0.5)


def stored_ids(lake: Lake) -> list[str]:
    """Every tweet id in the lake's raw_tweets, every partition, repeats kept."""
    return [tid for day in lake.days(TABLE) for tid in pq.read_table(lake.path(TABLE, day), columns=["tweet_id"])["tweet_id"].to_pylist()]


def champion_rounds(data) -> list[datetime]:
    with ledger_engine(data).connect() as con:
        frame = pd.read_sql("select e.ts from equity e join books b on b.book_id = e.book_id where b.role = 'champion' order by e.ts", con)
    return list(pd.to_datetime(frame["ts"]))


@contextmanager
def stderr_on_failure(trader: subprocess.Popen):
    """Whatever fails while the trader runs, fail with its last log lines; never leave it running."""
    try:
        yield
    except BaseException as exc:
        trader.kill()
        _, err = trader.communicate(timeout=30)
        raise AssertionError(f"{exc}\n--- trader stderr ---\n{err[-4000:]}") from exc


def test_the_stream_feed_trades_the_lakes_markets_on_live_tweets_and_books(trade_dir, httpserver):
    """One run of `sentitrade trade --feed stream` against the local X and Polymarket servers shows:

    - the markets traded are the lake's `markets` table: the X rules are their tags, the market
      WebSocket subscribes both tokens of each, REST books are fetched for each;
    - tweets reach the trader both ways X delivers them: over the filtered stream (across a
      reconnect) and by the gap search (tweets made before it started, and while it was away), and
      each lands in the lake's raw_tweets exactly once;
    - a whole decision round (1-minute cadence, so the first comes at the next whole minute) is in
      the ledger: the champion's equity mark and one decision per market that has a price, with the
      mid the market WebSocket pushed (a book snapshot, a price change) or else REST's, and the
      tweet count of the 5-minute bars closed by then; a status line per round on stderr;
    - SIGTERM stops it within seconds, exit 0, with the run left `running` for the next start.
    """
    lake = Lake(trade_dir / "lake")
    markets = lake.read("markets").to_pandas()
    names = list(markets["market"])
    n = len(names)
    assert n == 4  # the small demo's
    yes = dict(zip(markets["market"], markets["yes_token_id"], strict=True))
    tokens = set(markets["yes_token_id"]) | set(markets["no_token_id"])
    m0, m1, m2, m3 = names[:4]

    rest = RestBooks(httpserver, markets)
    rest.levels[yes[m0]] = (levels(("0.40", "10")), levels(("0.44", "10")))  # 0.42, until the stream's book replaces it
    rest.levels[yes[m1]] = (levels(("0.50", "10")), levels(("0.54", "10")))  # 0.52, until a price change moves its bid
    rest.levels[yes[m2]] = (levels(("0.30", "10")), levels(("0.34", "10")))  # 0.32: REST's price stands
    # m3's books are empty and nothing trades on it: no price, so no decision row (the model needs one)

    with FakeX({name: f"({name}) lang:en -is:retweet" for name in names}, TOKEN) as x, FakeMarketSocket() as market_socket:
        # Made before the trader starts: only the first gap search finds them (it starts after the newest
        # tweet stored, the demo's, weeks ago: so from the start of recent search's 7 days). They are in
        # 5-minute bars that are closed by the first round.
        x.publish(n, at=utcnow() - timedelta(minutes=20))
        x.publish(n, at=utcnow() - timedelta(minutes=7))
        x.script = [
            ("stream", [("tweets", n), ("stall", 2), ("close", None)]),  # X ends the connection: reconnect
            ("idle", [("publish", n), ("tweets", n)]),  # n made while away (search only), n streamed, then keep-alives
        ]
        trader = start_trader(
            trade_dir, "--feed", "stream",
            SENTITRADE_X_BEARER_TOKEN=TOKEN,
            SENTITRADE_X_MARKETS=json.dumps(x.markets),
            SENTITRADE_X_API_URL=x.url,
            SENTITRADE_X_STALL_TIMEOUT_S="10",
            SENTITRADE_X_BACKOFF_INITIAL_S="0.1",
            SENTITRADE_X_BACKOFF_MAX_S="1",
            SENTITRADE_X_SEARCH_LAG_S="0.5",  # search a gap half a second after the (re)connect
            SENTITRADE_X_FLUSH_INTERVAL_S="1",
            SENTITRADE_POLYMARKET_CLOB_URL=httpserver.url_for("/"),
            SENTITRADE_POLYMARKET_CLOB_MARKET_WS_URL=market_socket.url,
            SENTITRADE_POLYMARKET_MAX_RETRIES="1",
            SENTITRADE_POLYMARKET_BACKOFF_SECONDS="0.05",
            SENTITRADE_TRADER_DECISION_MINUTES="1",
            SENTITRADE_TRADER_STREAM_GRACE_S="1",
        )
        with stderr_on_failure(trader):
            # The market stream subscribed every token of the lake's markets, and the books came over REST.
            wait_for(lambda: market_socket.subscriptions, timeout=60)
            assert set(market_socket.subscriptions[0]["assets_ids"]) == tokens
            settle(rest)  # the REST fetches at start and at the connect are done
            assert rest.requests >= len(tokens)

            # The market stream moves two books (REST keeps its old levels: these mids come by the WebSocket).
            market_socket.send({**BOOK, "event_type": "book", "market": markets["condition_id"][0], "asset_id": yes[m0],
                                "bids": levels(("0.55", "10")), "asks": levels(("0.65", "10")), "timestamp": now_ms()})
            market_socket.send({"event_type": "price_change", "market": markets["condition_id"][1], "timestamp": now_ms(), "price_changes": [
                {"asset_id": yes[m1], "price": "0.53", "size": "10", "side": "BUY", "hash": "e2e1", "best_bid": "0.53", "best_ask": "0.54"}]})

            # Every tweet X has is in the lake (so the trader has it: the feed hands lines over before landing them).
            published = lambda: {p["data"]["id"] for p in x.published}  # noqa: E731
            wait_for(lambda: not x.script and len(published()) == 5 * n and published() <= set(stored_ids(lake)), timeout=60)
            delivered_at = utcnow()
            assert x.connections == 2 and len(published() - x.streamed) == 3 * n  # these by search only

            # The first whole round after that: at the next whole minute (or the one after, if it fell close to one).
            round_at = wait_for(lambda: next((t for t in champion_rounds(trade_dir) if t > delivered_at), None), timeout=140, every=0.5)
            trader.send_signal(signal.SIGTERM)
            stopped = time.monotonic()
            out, err = trader.communicate(timeout=20)
        assert trader.returncode == 0, err[-3000:]
        assert time.monotonic() - stopped < 15

    # The run: the stream feed, stopped by the signal, resumable.
    assert last_json(out)["status"] == "running"
    assert scalar(trade_dir, "select count(*) from runs") == 1
    assert scalar(trade_dir, "select feed from runs") == "stream" and scalar(trade_dir, "select status from runs") == "running"
    assert pd.Timestamp(scalar(trade_dir, "select last_step_at from runs")) >= round_at

    # The round: one decision per priced market, on the mids the feed delivered and the tweets of the closed bars.
    with ledger_engine(trade_dir).connect() as con:
        decided = pd.read_sql("select d.market, d.ts, d.n_tweets, d.mid_yes from decisions d join books b on b.book_id = d.book_id "
                              "where b.role = 'champion'", con, parse_dates=["ts"])
    decided = decided[decided["ts"] == round_at].set_index("market")
    assert set(decided.index) == {m0, m1, m2}
    assert decided["mid_yes"].to_dict() == pytest.approx({m0: 0.60, m1: 0.535, m2: 0.32})
    created = pd.DataFrame([{"market": p["matching_rules"][0]["tag"], "at": pd.Timestamp(p["data"]["created_at"]).tz_localize(None)}
                            for p in x.published])
    bar_start = created["at"].dt.floor(BAR)
    visible = created[(bar_start + BAR <= round_at) & (bar_start >= round_at - pd.Timedelta(hours=1))]
    expected = visible.groupby("market").size().reindex([m0, m1, m2], fill_value=0)
    assert decided["n_tweets"].to_dict() == expected.to_dict()
    assert (expected >= 1).all()  # at least the 7-minute-old tweets

    # A status line per whole round on stderr.
    version = scalar(trade_dir, "select model_version from equity order by ts desc limit 1")
    for t in champion_rounds(trade_dir):
        assert f"trader: {t:%Y-%m-%d %H:%M} v{version}: " in err, err[-3000:]

    # Every tweet in the lake exactly once, whether the stream, a gap search or both delivered it.
    counts = Counter(stored_ids(lake))
    assert {tid: counts[tid] for tid in published()} == dict.fromkeys(published(), 1)
