"""dbt features == live features, and both are point-in-time.

One `dbt build` over a small synthetic lake (module fixture), then: the live path (`compute_features`,
the same macros rendered with plain jinja2) must reproduce the dbt rows, an independent pandas
reference must agree with both, and hand-made cases pin down the point-in-time boundaries.
"""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from dbt.cli.main import dbtRunner

from connectors.lake import MARKETS, PRICE_HISTORY, SCORED_TWEETS, Lake
from models import features as F

START = pd.Timestamp("2024-03-01 00:00:00")
MARKET_IDS = ["will-a-win", "will-b-win", "will-c-win"]
TOL = 1e-9


def _synthetic(seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """~2 days of tweets per market (a quarter exactly on bar boundaries) and a 5-minute YES price series."""
    rng = np.random.default_rng(seed)
    tweets, prices = [], []
    for k, market in enumerate(MARKET_IDS):
        n = 220
        offset = pd.to_timedelta(rng.uniform(600 + 300 * k, 2 * 86400 - 600, n), unit="s")
        created = (START + offset).floor("ms")
        on_boundary = rng.random(n) < 0.25  # tweets created exactly at a decision time
        created = created.where(~on_boundary, created.floor("5min"))
        tweets.append(
            pd.DataFrame(
                {
                    "tweet_id": [f"{market}-{i}" for i in range(n)],
                    "created_at": created,
                    "market": market,
                    "author_followers": rng.integers(0, 200_000, n),
                    "author_verified": rng.random(n) < 0.3,
                    "sentiment": np.round(rng.uniform(-1, 1, n), 3),  # some land exactly on +-0.05 edges
                    "confidence": rng.uniform(0, 1, n),
                    "scorer": "vader",
                }
            )
        )
        ts = pd.date_range(START, START + pd.Timedelta(days=2, hours=2), freq="5min", unit="us")
        walk = np.clip(0.5 + np.cumsum(rng.normal(0, 0.01, len(ts))), 0.01, 0.99)
        prices.append(pd.DataFrame({"market": market, "token_id": f"{market}-yes", "ts": ts, "price": walk}))
    tweets = pd.concat(tweets, ignore_index=True)
    tweets.loc[:4, "sentiment"] = [0.05, -0.05, 0.049, -0.049, 0.0]
    tweets["created_at"] = tweets["created_at"].astype("datetime64[us]")
    return tweets, pd.concat(prices, ignore_index=True)


def _write_lake(root, tweets: pd.DataFrame, prices: pd.DataFrame) -> None:
    lake = Lake(root)
    for day, part in tweets.groupby(tweets["created_at"].dt.date):
        lake.write("scored_tweets", pa.Table.from_pandas(part, schema=SCORED_TWEETS, preserve_index=False), day)
    for day, part in prices.groupby(prices["ts"].dt.date):
        lake.write("price_history", pa.Table.from_pandas(part, schema=PRICE_HISTORY, preserve_index=False), day)
    markets = pd.DataFrame(
        {
            "market": MARKET_IDS,
            "condition_id": [f"0x{i:064x}" for i in range(len(MARKET_IDS))],
            "question": [f"Will {m} happen?" for m in MARKET_IDS],
            "yes_token_id": [f"{m}-yes" for m in MARKET_IDS],
            "no_token_id": [f"{m}-no" for m in MARKET_IDS],
            "end_date": pd.Series([START + pd.Timedelta(days=30)] * len(MARKET_IDS), dtype="datetime64[us]"),
            "tick_size": 0.01,
            "min_order_size": 5.0,
            "fees_enabled": False,
            "fee_rate": 0.0,
            "fee_exponent": 1.0,
            "neg_risk": False,
        }
    )
    lake.write("markets", pa.Table.from_pandas(markets, schema=MARKETS, preserve_index=False))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Synthetic lake -> `dbt build` (models + data tests) -> the warehouse tables as DataFrames."""
    tmp = tmp_path_factory.mktemp("dbt")
    tweets, prices = _synthetic()
    _write_lake(tmp / "lake", tweets, prices)
    warehouse = tmp / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SENTITRADE_LAKE_DIR", str(tmp / "lake"))
        mp.setenv("SENTITRADE_WAREHOUSE_PATH", str(warehouse))
        mp.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        result = dbtRunner().invoke(
            [
                "build",
                "--project-dir", str(F.DBT_PROJECT_DIR),
                "--profiles-dir", str(F.DBT_PROJECT_DIR),
                "--target-path", str(tmp / "target"),
                "--log-path", str(tmp / "logs"),
                "--quiet",
            ]
        )
    # dbt-duckdb keeps its in-process DuckDB instance open after invoke(); a second connection in this
    # process must use the same (default) configuration, so no read_only=True here.
    with duckdb.connect(str(warehouse)) as con:
        tables = {
            name: con.execute(f"select * from {name}").df()
            for name in ["sentiment_bars", "decision_times", "features", "labels", "training_set"]
        }
        feature_types = dict(con.execute("select column_name, data_type from information_schema.columns "
                                         "where table_name = 'features' order by ordinal_position").fetchall())
    return {"result": result, "tweets": tweets, "prices": prices, "types": feature_types, **tables}


# --- dbt build -----------------------------------------------------------------------------------


def test_dbt_build_succeeds_and_runs_data_tests(built):
    result = built["result"]
    assert result.exception is None, result.exception
    assert result.success
    statuses = {r.node.unique_id: str(r.status) for r in result.result}
    tests = {k: v for k, v in statuses.items() if k.startswith("test.")}
    assert all(v == "pass" for v in tests.values()), tests
    assert all(v == "success" for k, v in statuses.items() if k.startswith("model.")), statuses
    assert {k.split(".")[2].split("_")[0] for k in tests} >= {"not", "unique", "assert"}
    assert any("unique_combination_of_columns_features" in k for k in tests)
    assert len([k for k in statuses if k.startswith("model.")]) == 8


def test_features_table_has_exactly_the_feature_columns_as_double(built):
    assert list(built["types"]) == ["market", "ts", *F.FEATURE_COLUMNS]
    assert {built["types"][c] for c in F.FEATURE_COLUMNS} == {"DOUBLE"}
    assert built["types"]["ts"] == "TIMESTAMP"
    assert len(built["features"]) == len(built["decision_times"]) > 1000


def test_training_set_is_features_joined_to_labels(built):
    ts, feats, labels = built["training_set"], built["features"], built["labels"]
    label_facts = ["price_now", "price_fwd", "price_fwd_ts", "fwd_move"]
    assert list(ts.columns) == ["market", "ts", *F.FEATURE_COLUMNS, *label_facts]
    assert len(ts) == len(feats.merge(labels, on=["market", "ts"]))
    assert ts[["ts", "market"]].equals(ts.sort_values(["ts", "market"])[["ts", "market"]])
    assert np.allclose(ts["price"], ts["price_now"], atol=0, rtol=0)


def test_decision_times_follow_the_grid(built):
    tweets, prices, dts = built["tweets"], built["prices"], built["decision_times"]
    v = F.dbt_vars()
    for market, grid in dts.groupby("market"):
        first_tweet = tweets.loc[tweets["market"] == market, "created_at"].min()
        start = first_tweet.floor(f"{v['bar_minutes']}min") + pd.Timedelta(minutes=v["bar_minutes"] + v["warmup_minutes"])
        end = prices.loc[prices["market"] == market, "ts"].max()
        expected = F.decision_grid(start, end)
        assert list(grid["ts"]) == list(expected)


# --- live == dbt -----------------------------------------------------------------------------------


def _compare(live: pd.DataFrame, ref: pd.DataFrame) -> None:
    ref = ref.sort_values(["market", "ts"]).reset_index(drop=True)
    live = live.reset_index(drop=True)
    assert list(live.columns) == ["market", "ts", *F.FEATURE_COLUMNS]
    assert list(live["market"]) == list(ref["market"])
    assert list(live["ts"]) == list(ref["ts"])
    diff = np.abs(live[F.FEATURE_COLUMNS].to_numpy(float) - ref[F.FEATURE_COLUMNS].to_numpy(float))
    assert np.nanmax(diff) < TOL, pd.Series(diff.max(axis=0), index=F.FEATURE_COLUMNS)


def test_compute_features_equals_dbt_rows(built):
    feats = built["features"]
    sample = feats.sample(120, random_state=3)[["market", "ts"]]
    live = F.compute_features(duckdb.connect(), built["tweets"], built["prices"], sample)
    _compare(live, feats.merge(sample, on=["market", "ts"]))


def test_compute_features_from_a_24h_buffer_equals_dbt(built):
    """What the trader actually holds: the last 24h of tweets and a few hours of prices."""
    feats, tweets, prices = built["features"], built["tweets"], built["prices"]
    now = feats["ts"].max() - pd.Timedelta(hours=3)
    at = feats.loc[feats["ts"] == now, ["market", "ts"]]
    buf_tweets = tweets[(tweets["created_at"] >= now - pd.Timedelta(hours=24)) & (tweets["created_at"] < now)]
    buf_prices = prices[(prices["ts"] > now - pd.Timedelta(hours=5)) & (prices["ts"] <= now)]
    live = F.compute_features(duckdb.connect(), buf_tweets, buf_prices, at)
    _compare(live, feats.merge(at, on=["market", "ts"]))


def test_live_features_fed_in_arbitrary_batches_equal_dbt(built):
    """The trader's path: tweets aggregated into bars as they arrive, in uneven batches (bars split
    across batches), each decision over the day of bars and the prices back to the 4-hour anchor."""
    feats, tweets, prices = built["features"], built["tweets"].sort_values("created_at"), built["prices"]
    live = F.LiveFeatures()
    times = sorted(feats["ts"].unique())[::7]
    cuts = np.random.default_rng(11).integers(1, 40, len(tweets)).cumsum()
    start, checked = 0, 0
    for ts in times:
        arrived = tweets[tweets["created_at"] <= ts].iloc[start:]
        edges = [0, *[c for c in cuts - start if 0 < c < len(arrived)], len(arrived)]
        for a, b in zip(edges, edges[1:]):
            live.add_tweets(arrived.iloc[a:b])
        start += len(arrived)
        window = prices[(prices["ts"] > ts - pd.Timedelta(hours=4, minutes=5)) & (prices["ts"] <= ts)]
        rows = live.at(ts, window, MARKET_IDS).dropna(subset=["price"])
        expected = feats[feats["ts"] == ts]
        _compare(rows[rows["market"].isin(expected["market"])], expected)
        checked += len(expected)
    assert checked >= 60


def test_compute_features_accepts_tz_aware_utc_inputs(built):
    feats = built["features"]
    sample = feats.sample(20, random_state=5)[["market", "ts"]]
    tweets = built["tweets"].assign(created_at=built["tweets"]["created_at"].dt.tz_localize("UTC"))
    prices = built["prices"].assign(ts=built["prices"]["ts"].dt.tz_localize("UTC").dt.tz_convert("America/New_York"))
    live = F.compute_features(duckdb.connect(), tweets, prices, sample.assign(ts=sample["ts"].dt.tz_localize("UTC")))
    _compare(live, feats.merge(sample, on=["market", "ts"]))


def _reference_row(tweets: pd.DataFrame, prices: pd.DataFrame, market: str, ts: pd.Timestamp) -> dict:
    """Features straight from the raw rows, with no bars and no SQL: the semantics, spelled out."""
    t = tweets[(tweets["market"] == market) & (tweets["created_at"] < ts)]

    def window(hours):
        return t[t["created_at"] >= ts - pd.Timedelta(hours=hours)]

    def conf_mean(w):
        return (w["sentiment"] * w["confidence"]).sum() / w["confidence"].sum() if w["confidence"].sum() > 0 else 0.0

    def last_price(at):
        p = prices[(prices["market"] == market) & (prices["ts"] <= at)]
        return p.sort_values("ts")["price"].iloc[-1] if len(p) else None

    w1, w4, w24 = window(1), window(4), window(24)
    cred = np.log1p(w4["author_followers"].astype(float)) * (1 + w4["author_verified"].astype(int))
    price, p1, p4 = last_price(ts), last_price(ts - pd.Timedelta(hours=1)), last_price(ts - pd.Timedelta(hours=4))
    hour = ts.hour + ts.minute / 60
    return {
        "n_tweets_1h": len(w1),
        "n_tweets_24h": len(w24),
        "sent_mean_1h": conf_mean(w1),
        "sent_mean_4h": conf_mean(w4),
        "sent_mean_24h": conf_mean(w24),
        "sent_shift": conf_mean(w1) - conf_mean(w24),
        "pos_share_1h": (w1["sentiment"] >= 0.05).mean() if len(w1) else 0.0,
        "neg_share_1h": (w1["sentiment"] <= -0.05).mean() if len(w1) else 0.0,
        "cred_sent_4h": (cred * w4["sentiment"]).sum() / cred.sum() if cred.sum() > 0 else 0.0,
        "verified_share_4h": w4["author_verified"].mean() if len(w4) else 0.0,
        "volume_ratio": len(w1) * 24 / len(w24) if len(w24) else 0.0,
        "price": price,
        "ret_1h": price - p1 if p1 is not None else 0.0,
        "ret_4h": price - p4 if p4 is not None else 0.0,
        "hour_sin": math.sin(2 * math.pi * hour / 24),
        "hour_cos": math.cos(2 * math.pi * hour / 24),
    }


def test_dbt_features_match_an_independent_pandas_reference(built):
    feats, tweets, prices = built["features"], built["tweets"], built["prices"]
    on_tweet = feats.merge(tweets[["market", "created_at"]], left_on=["market", "ts"], right_on=["market", "created_at"])
    rows = pd.concat([on_tweet.head(15), feats.sample(25, random_state=11), feats.head(3)]).drop_duplicates(["market", "ts"])
    assert len(on_tweet) > 0  # some decision times coincide with a tweet's created_at
    for row in rows.itertuples(index=False):
        expected = _reference_row(tweets, prices, row.market, row.ts)
        got = {c: getattr(row, c) for c in F.FEATURE_COLUMNS}
        assert got == pytest.approx(expected, abs=TOL), (row.market, row.ts)


# --- point in time -------------------------------------------------------------------------------

T = pd.Timestamp("2024-01-01 12:00:00")


def _tweet(created_at, sentiment=0.5, confidence=0.8, followers=100, verified=False, market="m"):
    return {
        "tweet_id": f"t{created_at.value}",
        "created_at": created_at,
        "market": market,
        "author_followers": followers,
        "author_verified": verified,
        "sentiment": sentiment,
        "confidence": confidence,
        "scorer": "test",
    }


def _frames(tweet_rows, price_rows):
    tweets = pd.DataFrame(tweet_rows).astype({"created_at": "datetime64[us]"})
    prices = pd.DataFrame(price_rows, columns=["market", "token_id", "ts", "price"]).astype({"ts": "datetime64[us]"})
    return tweets, prices


@pytest.fixture
def base():
    tweets = [_tweet(T - pd.Timedelta(minutes=m), sentiment=s) for m, s in [(3, 0.4), (30, -0.2), (200, 0.9), (1000, -0.7)]]
    grid = pd.date_range(T - pd.Timedelta(hours=6), T + pd.Timedelta(hours=1), freq="5min")
    prices = [("m", "m-yes", ts, 0.40 + 0.001 * i) for i, ts in enumerate(grid)]
    return tweets, prices


def _features_at(tweet_rows, price_rows, times):
    tweets, prices = _frames(tweet_rows, price_rows)
    dts = pd.DataFrame({"market": "m", "ts": pd.Series(times, dtype="datetime64[us]")})
    return F.compute_features(duckdb.connect(), tweets, prices, dts).set_index("ts")[F.FEATURE_COLUMNS]


def test_tweet_created_exactly_at_ts_is_seen_only_from_the_next_decision(base):
    tweets, prices = base
    times = [T, T + pd.Timedelta(minutes=5)]
    before = _features_at(tweets, prices, times)
    after = _features_at(tweets + [_tweet(T, sentiment=-1.0, confidence=1.0, verified=True)], prices, times)
    pd.testing.assert_series_equal(before.loc[T], after.loc[T])
    nxt = T + pd.Timedelta(minutes=5)
    assert after.loc[nxt, "n_tweets_1h"] == before.loc[nxt, "n_tweets_1h"] + 1
    assert after.loc[nxt, "sent_mean_1h"] < before.loc[nxt, "sent_mean_1h"]
    assert after.loc[nxt, "verified_share_4h"] > 0


def test_tweet_just_before_ts_is_seen_at_ts(base):
    tweets, prices = base
    before = _features_at(tweets, prices, [T])
    after = _features_at(tweets + [_tweet(T - pd.Timedelta(microseconds=1))], prices, [T])
    assert after.loc[T, "n_tweets_1h"] == before.loc[T, "n_tweets_1h"] + 1


def test_windows_edges(base):
    """A tweet exactly 24h before ts is in the 24h window; one a microsecond earlier is not."""
    _, prices = base
    at_edge = _features_at([_tweet(T - pd.Timedelta(hours=24))], prices, [T])
    past_edge = _features_at([_tweet(T - pd.Timedelta(hours=24, microseconds=1))], prices, [T])
    assert at_edge.loc[T, "n_tweets_24h"] == 1 and at_edge.loc[T, "n_tweets_1h"] == 0
    assert past_edge.loc[T, "n_tweets_24h"] == 0
    assert past_edge.loc[T, "sent_mean_24h"] == 0 and past_edge.loc[T, "volume_ratio"] == 0


def test_prices_after_ts_never_affect_features_at_ts(base):
    tweets, prices = base
    before = _features_at(tweets, prices, [T])
    later = [(m, tok, ts, 0.99 if ts > T else p) for m, tok, ts, p in prices]
    later += [("m", "m-yes", T + pd.Timedelta(seconds=1), 0.01), ("m", "m-yes", T + pd.Timedelta(days=3), 0.5)]
    after = _features_at(tweets, later, [T])
    pd.testing.assert_frame_equal(before, after)
    assert before.loc[T, "price"] == pytest.approx(0.40 + 0.001 * 72)  # the price stamped exactly at T
    assert before.loc[T, "ret_1h"] == pytest.approx(0.001 * 12)
    assert before.loc[T, "ret_4h"] == pytest.approx(0.001 * 48)


def test_no_price_yet_gives_nan_price_and_zero_returns():
    out = _features_at([_tweet(T - pd.Timedelta(minutes=10))], [("m", "m-yes", T + pd.Timedelta(minutes=1), 0.5)], [T])
    assert math.isnan(out.loc[T, "price"])
    assert out.loc[T, "ret_1h"] == 0 and out.loc[T, "ret_4h"] == 0
    assert out.loc[T, "n_tweets_1h"] == 1


def test_labels_look_forward_by_the_horizon(base):
    _, prices = base
    minutes = F.dbt_vars()["horizon_minutes"]
    horizon = pd.Timedelta(minutes=minutes)
    # a gap across T + horizon: the first price at or after it is stamped 15 minutes later, and says so
    after_gap = T + horizon + pd.Timedelta(minutes=15)
    rows = [r for r in prices if r[2] <= T]
    rows += [("m", "m-yes", T + pd.Timedelta(minutes=1), 0.99),  # inside the horizon: skipped
             ("m", "m-yes", after_gap, 0.5)]
    _, px = _frames([_tweet(T)], rows)
    con = duckdb.connect()
    con.register("px", px)
    con.register("dts", pd.DataFrame({"market": ["m", "m"], "ts": pd.Series([T, T + pd.Timedelta(days=9)], dtype="datetime64[us]")}))
    out = con.execute(F.render_macro("labels_sql", prices="px", decision_times="dts", horizon_minutes=minutes)).df()
    assert list(out["ts"]) == [T]  # no future price for the second row: dropped
    assert "label" not in out.columns  # the label is defined once, in models/labels.py
    row = out.iloc[0]
    assert row["price_now"] == pytest.approx(0.40 + 0.001 * 72)
    assert row["price_fwd"] == pytest.approx(0.5) and row["price_fwd_ts"] == after_gap
    assert row["fwd_move"] == pytest.approx(0.5 - 0.472)


def test_dbt_labels_use_the_price_horizon_minutes_ahead(built):
    labels, prices = built["labels"], built["prices"]
    horizon = pd.Timedelta(minutes=F.dbt_vars()["horizon_minutes"])
    px = prices.set_index(["market", "ts"])["price"]
    fwd = [px[(m, t + horizon)] for m, t in zip(labels["market"], labels["ts"])]
    now = [px[(m, t)] for m, t in zip(labels["market"], labels["ts"])]
    assert np.array_equal(labels["price_fwd"].to_numpy(), np.array(fwd))
    assert np.array_equal(labels["price_now"].to_numpy(), np.array(now))
    assert (labels["price_fwd_ts"] == labels["ts"] + horizon).all()  # no gaps in these prices
    # the last decision time of each market sits on the last price: no future, no label
    last = built["decision_times"].groupby("market")["ts"].max()
    assert not labels.set_index(["market", "ts"]).index.isin(list(last.items())).any()


# --- helpers ---------------------------------------------------------------------------------------


def test_dbt_vars_come_from_dbt_project_yml():
    v = F.dbt_vars()
    assert (v["bar_minutes"], v["decision_minutes"], v["horizon_minutes"]) == (5, 5, 60)
    v["bar_minutes"] = 99
    assert F.dbt_vars()["bar_minutes"] == 5  # a copy: callers cannot change the shared parameters


def test_render_macro_is_plain_sql():
    sql = F.render_macro("sentiment_bars_sql", tweets="some_table", bar_minutes=5)
    assert "from some_table" in sql and "interval '5 minutes'" in sql
    assert "{{" not in sql and "ref(" not in sql
    with pytest.raises(Exception):
        F.render_macro("sentiment_bars_sql", tweets="some_table")  # a missing argument fails loudly
    with pytest.raises(KeyError):
        F.render_macro("no_such_macro")


def test_latest_decision_time_and_grid():
    assert F.latest_decision_time("2024-01-01 12:04:59.999") == pd.Timestamp("2024-01-01 12:00")
    assert F.latest_decision_time(pd.Timestamp("2024-01-01 12:05")) == pd.Timestamp("2024-01-01 12:05")
    assert F.latest_decision_time(pd.Timestamp("2024-01-01 07:07", tz="America/New_York")) == pd.Timestamp("2024-01-01 12:05")
    grid = F.decision_grid("2024-01-01 12:01", "2024-01-01 12:20")
    assert list(grid) == list(pd.date_range("2024-01-01 12:05", "2024-01-01 12:20", freq="5min"))


def test_empty_buffers_give_zero_features_and_nan_price():
    tweets = pd.DataFrame(columns=list(SCORED_TWEETS.names))
    prices = pd.DataFrame(columns=list(PRICE_HISTORY.names))
    out = F.compute_features(duckdb.connect(), tweets, prices, pd.DataFrame({"market": ["a", "b"], "ts": T}))
    assert list(out["market"]) == ["a", "b"]
    assert out["price"].isna().all()
    assert (out[[c for c in F.FEATURE_COLUMNS if c not in ("price", "hour_sin", "hour_cos")]] == 0).all().all()
