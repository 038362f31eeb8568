"""Real Polymarket daily bars and resolutions from Pancake's `polymarket-history` dataset (Parquet).

Layout `<root>/<table>/<YYYY>/<MM>/part-0000.parquet` for the tables `candles_1d`, `outcomes` and
`resolutions` (see the dataset's SOURCE.md). Only Yes/No markets are read: their "Yes" outcome is the
YES token the engine trades. Timestamps are each row's `released_at` (unix seconds, UTC): when the bar
was known, so a backtest never sees a close before it was published. Research use only (its license).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class DailyBars:
    prices: pd.DataFrame  # market, ts, price: the YES token's daily close
    resolutions: pd.DataFrame  # market, resolved_at, outcome "YES" | "NO"
    markets: list[dict]  # rows for `MarketInfo.by_name`: market, yes_token_id, no_token_id


def load_daily_bars(root: Path, *, markets: Iterable[str] | None = None) -> DailyBars:
    """Prices, resolutions and market rows of every Yes/No market in `root` (or only `markets`), keyed by
    Pancake's `market_id`. Tick size, minimum size and fees are left at `MarketInfo`'s defaults (0.01, 5,
    none): the dataset does not carry them, and Polymarket charged no taker fees on these 2024 markets."""
    candles = _table(root, "candles_1d", ["instrument_id", "market_id", "released_at", "close", "external_ids"])
    outcomes = _table(root, "outcomes", ["instrument_id", "market_id", "label"])
    outcomes = outcomes[outcomes["label"].isin(["Yes", "No"])]
    both = outcomes.groupby("market_id")["label"].transform("nunique") == 2
    outcomes = outcomes[both]
    if markets is not None:
        outcomes = outcomes[outcomes["market_id"].isin(set(markets))]
    tokens = candles.drop_duplicates("instrument_id")[["instrument_id", "external_ids"]]
    tokens = tokens.assign(token_id=[json.loads(ids)["token_id"] for ids in tokens["external_ids"]])
    sides = outcomes.merge(tokens[["instrument_id", "token_id"]], on="instrument_id")
    wide = sides.pivot(index="market_id", columns="label", values=["instrument_id", "token_id"]).dropna()
    yes_of = wide["instrument_id"]["Yes"]

    yes_bars = candles[candles["instrument_id"].isin(set(yes_of))]
    prices = pd.DataFrame({"market": yes_bars["market_id"], "ts": _utc(yes_bars["released_at"]),
                           "price": yes_bars["close"].astype(float)})
    prices = prices.sort_values(["market", "ts"], ignore_index=True)

    resolved = _table(root, "resolutions", ["market_id", "winning_outcome_instrument_id", "resolved_at"])
    resolved = resolved[resolved["market_id"].isin(set(wide.index))]
    either = set(wide["instrument_id"]["Yes"]) | set(wide["instrument_id"]["No"])
    resolved = resolved[resolved["winning_outcome_instrument_id"].isin(either)]
    winner_is_yes = resolved["winning_outcome_instrument_id"].to_numpy() == yes_of.loc[resolved["market_id"]].to_numpy()
    resolutions = pd.DataFrame({"market": resolved["market_id"].to_numpy(), "resolved_at": _utc(resolved["resolved_at"]),
                                "outcome": ["YES" if yes else "NO" for yes in winner_is_yes]})

    rows = [{"market": market, "yes_token_id": ids["Yes"], "no_token_id": ids["No"]}
            for market, ids in wide["token_id"].iterrows()]
    return DailyBars(prices, resolutions.sort_values("market", ignore_index=True), rows)


def _table(root: Path, table: str, columns: list[str]) -> pd.DataFrame:
    parts = sorted((root / table).glob("*/*/part-0000.parquet"))
    if not parts:
        raise FileNotFoundError(f"no {table} parquet under {root / table}")
    return pd.concat([pd.read_parquet(part, columns=columns) for part in parts], ignore_index=True)


def _utc(seconds: pd.Series) -> pd.Series:
    return pd.to_datetime(seconds.to_numpy(), unit="s", utc=True)
