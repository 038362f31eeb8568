"""Live features from the SAME SQL that dbt uses to build the training set.

Training/serving skew is the classic way a backtest lies, so there is one definition of each feature:
the macros in `dbt/macros/features.sql`. dbt calls them with `ref(...)`/`var(...)`; this module renders
them with plain jinja2 (no dbt import, so the trader stays light) and runs them on the trader's DuckDB
connection over its in-memory buffer. Parameters live only in `dbt/dbt_project.yml` `vars:`.

For the live result to equal the dbt row, the buffer must hold at least the last 24 hours of scored
tweets and 4 hours of prices before the decision time (the longest windows).
"""

from __future__ import annotations

import functools
import uuid
from pathlib import Path

import duckdb
import jinja2
import pandas as pd
import yaml

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt"
MACROS_FILE = DBT_PROJECT_DIR / "macros" / "features.sql"

FEATURE_COLUMNS: list[str] = [
    "n_tweets_1h",
    "n_tweets_24h",
    "sent_mean_1h",
    "sent_mean_4h",
    "sent_mean_24h",
    "sent_shift",
    "pos_share_1h",
    "neg_share_1h",
    "cred_sent_4h",
    "verified_share_4h",
    "volume_ratio",
    "price",
    "ret_1h",
    "ret_4h",
    "hour_sin",
    "hour_cos",
]

_TWEET_COLUMNS = ["market", "created_at", "author_followers", "author_verified", "sentiment", "confidence"]
_PRICE_COLUMNS = ["market", "ts", "price"]


@functools.lru_cache(maxsize=1)
def _project_vars() -> dict:
    with open(DBT_PROJECT_DIR / "dbt_project.yml") as fh:
        return yaml.safe_load(fh).get("vars") or {}


def dbt_vars() -> dict:
    """The `vars:` of dbt_project.yml (bar_minutes, decision_minutes, horizon_minutes, ...), as a copy."""
    return dict(_project_vars())


@functools.lru_cache(maxsize=1)
def _macros():
    # StrictUndefined: a missing argument must fail loudly, not render as an empty string.
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    return env.from_string(MACROS_FILE.read_text()).module


def render_macro(name: str, **kwargs) -> str:
    """Render one macro of dbt/macros/features.sql to SQL; relation arguments are names or `(subqueries)`."""
    macro = getattr(_macros(), name, None)
    if macro is None:
        raise KeyError(f"no macro {name!r} in {MACROS_FILE}")
    return str(macro(**kwargs))


def _utc_naive(series: pd.Series) -> pd.Series:
    """Timestamps as UTC-naive microseconds, the lake's convention (tz-aware input is converted, not relabelled)."""
    series = pd.to_datetime(series)
    if series.dt.tz is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series.astype("datetime64[us]")


def compute_features(
    con: duckdb.DuckDBPyConnection,
    tweets: pd.DataFrame,
    prices: pd.DataFrame,
    decision_times: pd.DataFrame,
) -> pd.DataFrame:
    """Features at each (market, ts) of `decision_times`, exactly as dbt's `features` model computes them.

    `tweets` has the scored_tweets schema, `prices` the price_history schema. Returns
    [market, ts, *FEATURE_COLUMNS] ordered by market, ts; `price` is NaN where no price is known yet.
    """
    v = dbt_vars()
    frames = {
        "tweets": tweets[_TWEET_COLUMNS].assign(created_at=_utc_naive(tweets["created_at"])),
        "prices": prices[_PRICE_COLUMNS].assign(ts=_utc_naive(prices["ts"])),
        "decision_times": decision_times[["market", "ts"]].assign(ts=_utc_naive(decision_times["ts"])),
    }
    # Unique names: the trader's connection may hold its own tables, and calls may interleave.
    suffix = uuid.uuid4().hex[:12]
    names = {key: f"_sentitrade_{key}_{suffix}" for key in frames}
    for key, frame in frames.items():
        con.register(names[key], frame)
    try:
        bars = render_macro("sentiment_bars_sql", tweets=names["tweets"], bar_minutes=v["bar_minutes"])
        sql = render_macro(
            "window_features_sql",
            bars=f"({bars})",
            prices=names["prices"],
            decision_times=names["decision_times"],
            bar_minutes=v["bar_minutes"],
        )
        return con.execute(sql).df()
    finally:
        for name in names.values():
            con.unregister(name)


def _naive_timestamp(ts) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return t.tz_convert("UTC").tz_localize(None) if t.tz is not None else t


def latest_decision_time(ts) -> pd.Timestamp:
    """The decision time the trader is at: `ts` floored to the epoch-aligned decision grid (UTC-naive).

    Flooring (never rounding up) keeps the live decision at or before the wall clock, so a live feature
    never sees a bar the backtest could not have seen.
    """
    return _naive_timestamp(ts).floor(f"{dbt_vars()['decision_minutes']}min")


def decision_grid(start, end) -> pd.DatetimeIndex:
    """Every decision time in [start, end] on the same grid as dbt's `decision_times` (epoch-aligned)."""
    freq = f"{dbt_vars()['decision_minutes']}min"
    return pd.date_range(_naive_timestamp(start).ceil(freq), latest_decision_time(end), freq=freq, unit="us")


class LiveFeatures:
    """The same features for a stream: tweets are aggregated into bars as they arrive (by the bars
    macro), and a decision runs only the window macro over the last day of bars and the prices.

    Bars are sums, so the partial bars of two batches add up to dbt's bar for the same tweets (to
    floating-point rounding, far inside 1e-9). A round then costs the same however many tweets the
    day held, instead of re-aggregating 24 hours of tweets at every decision.
    """

    def __init__(self) -> None:
        self.con = duckdb.connect(config={"threads": 1})  # one thread: sums in one order, so reruns are bit-identical
        self._bar_minutes = dbt_vars()["bar_minutes"]
        self._sums: list[str] | None = None

    def add_tweets(self, scored: pd.DataFrame) -> None:
        """Aggregate scored tweets (the scored_tweets schema) into the bar table."""
        if scored.empty:
            return
        frame = scored[_TWEET_COLUMNS].assign(created_at=_utc_naive(scored["created_at"]))
        self.con.register("_new_tweets", frame)
        try:
            bars = render_macro("sentiment_bars_sql", tweets="_new_tweets", bar_minutes=self._bar_minutes)
            if self._sums is None:
                self.con.execute(f"create table bars as {bars}")
                self._sums = [c for c in self.con.table("bars").columns if c not in ("market", "bar_start")]
            else:
                self.con.execute(f"insert into bars {bars}")
        finally:
            self.con.unregister("_new_tweets")

    def at(self, ts, prices: pd.DataFrame, markets: list[str]) -> pd.DataFrame:
        """Features of `markets` at `ts` (as `compute_features` returns them); bars no window reaches
        any more are dropped. `prices` must reach back to the last price at or before ts - 4 hours."""
        t = _naive_timestamp(ts)
        if self._sums is None:
            return pd.DataFrame(columns=["market", "ts", *FEATURE_COLUMNS])
        self.con.execute("delete from bars where bar_start < ?", [(t - pd.Timedelta(hours=24, minutes=self._bar_minutes)).to_pydatetime()])
        bars = (f"(select market, bar_start, {', '.join(f'sum({c}) as {c}' for c in self._sums)} "
                "from bars group by market, bar_start)")
        frames = {"_prices": prices[_PRICE_COLUMNS].assign(ts=_utc_naive(prices["ts"])),
                  "_decision_times": pd.DataFrame({"market": markets, "ts": t}).astype({"ts": "datetime64[us]"})}
        for name, frame in frames.items():
            self.con.register(name, frame)
        try:
            sql = render_macro("window_features_sql", bars=bars, prices="_prices", decision_times="_decision_times",
                               bar_minutes=self._bar_minutes)
            return self.con.execute(sql).df()
        finally:
            for name in frames:
                self.con.unregister(name)
