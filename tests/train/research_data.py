"""A research data set as the pipeline builds it, without Dagster or dbt: replay -> lake -> dbt SQL in DuckDB.

The replay is landed through the real ingest code (tweet parsing, VADER scoring, Gamma and CLOB parsing)
into a real lake, one partition a day as the daily assets write it; then every dbt model the research
assets read is rendered from its own file (staging selects, the feature and label macros, the
training_set join) and run in dependency order on DuckDB, over the lake as dbt's source reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import jinja2
import pandas as pd
import pyarrow as pa

from connectors.lake import Lake
from connectors.replay.generator import ReplayConfig, generate_replay
from connectors.replay.source import ReplaySource
from models.engine import MarketInfo
from models.features import DBT_PROJECT_DIR, MACROS_FILE, dbt_vars
from models.ingest.markets import binary_markets, markets_table, prices_table
from models.ingest.tweets import parse_tweet
from models.sentiment.engine import SentimentEngine, score_tweets
from models.sentiment.settings import SentimentSettings

# dbt's build order of the models the research assets read (stg_markets: the assets read the lake's markets).
DBT_MODELS = ("staging/stg_scored_tweets", "staging/stg_prices", "features/sentiment_bars",
              "features/decision_times", "features/features", "training/labels", "training/training_set")


@dataclass(frozen=True)
class ResearchLake:
    """What the research assets read: dbt's `features`, `training_set` and `stg_prices`, and the markets."""

    lake: Path
    features: pd.DataFrame
    training_set: pd.DataFrame
    prices: pd.DataFrame
    markets: dict[str, MarketInfo]


def land_replay(config: ReplayConfig, folder: Path) -> Lake:
    """Generate the replay under `folder` and land it as the daily ingest and score assets do, one day a partition."""
    replay = folder / "replay"
    generate_replay(replay, config)
    source, lake = ReplaySource(replay), Lake(folder / "lake")
    engine = SentimentEngine(SentimentSettings(transformer=""))  # VADER: no model download, deterministic
    markets = markets_table(binary_markets(source.gamma_markets()).markets)
    lake.write("markets", markets)
    for day in source.days:
        raw = pd.DataFrame([parse_tweet(line) for line in source.tweet_lines(day)])
        lake.write("scored_tweets", score_tweets(raw, engine), day)
        start = int(datetime.combine(day, datetime.min.time(), UTC).timestamp())
        end = int((datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=1)).timestamp())
        lake.write("price_history", pa.concat_tables(
            prices_table(m["market"], m["yes_token_id"], source.prices_history(m["yes_token_id"], start, end))
            for m in markets.to_pylist()), day)
    return lake


def dbt_tables(lake: Lake) -> dict[str, pd.DataFrame]:
    """Every model of DBT_MODELS rendered from its file as dbt would (ref, var, source resolved) and run on DuckDB."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    macros = MACROS_FILE.read_text()
    names = {"ref": lambda name: name, "var": lambda name: dbt_vars()[name],
             "source": lambda _, table: (f"read_parquet('{lake.root}/{table}/**/data.parquet', "
                                         "hive_partitioning=false, union_by_name=true)")}
    con = duckdb.connect(config={"threads": 1})
    for model in DBT_MODELS:
        sql = env.from_string(macros + (DBT_PROJECT_DIR / "models" / f"{model}.sql").read_text()).render(**names)
        con.execute(f"create table {model.split('/')[1]} as {sql}")
    return {model.split("/")[1]: con.execute(f"select * from {model.split('/')[1]}").df() for model in DBT_MODELS}


def research_lake(config: ReplayConfig, folder: Path) -> ResearchLake:
    lake = land_replay(config, folder)
    tables = dbt_tables(lake)
    return ResearchLake(lake.root, tables["features"], tables["training_set"], tables["stg_prices"],
                        MarketInfo.by_name(lake.read("markets").to_pylist()))
