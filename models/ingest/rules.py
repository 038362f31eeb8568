"""Which market a tweet is about: each tracked market's keyword and regex rules, from one YAML file.

```yaml
markets:
  fed-rate-cut-in-june:
    keywords: [fed, rate cut, FOMC]      # whole words or phrases, any case
    regex: ['\\bpowell\\b.*\\bcut']      # Python regexes, searched in the text
    query: '(fed OR "rate cut") lang:en'  # the X stream rule; default: the keywords OR-ed
```

`sentitrade markets rules --from rules.yaml` stores them (the `market_rules` table); `sentitrade markets
map` re-tags every landed tweet by them into `tweet_markets` (tweet_id, market, created_at; one row per
market a tweet matches, so a tweet about two markets counts for both), which the `scored_tweets` asset
reads: a re-tag changes the features once the days are scored again (`sentitrade research` does).
A tweet no rule matches keeps the market it landed with. The live stream follows the same rules' queries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from connectors.lake import Lake

RULES_TABLE, MAPPING_TABLE = "market_rules", "tweet_markets"
MARKET_RULES = pa.schema([("market", pa.string()), ("keywords", pa.list_(pa.string())), ("regex", pa.list_(pa.string())), ("query", pa.string())])
TWEET_MARKETS = pa.schema([("tweet_id", pa.string()), ("market", pa.string()), ("created_at", pa.timestamp("us"))])


class BadRules(ValueError):
    """The rules file cannot be used; nothing was stored."""


@dataclass(frozen=True)
class MarketRule:
    market: str
    keywords: tuple[str, ...]
    regex: tuple[str, ...]
    query: str

    def patterns(self) -> list[re.Pattern]:
        """Each keyword as a whole word or phrase in any case, and each regex compiled alone (its own flags kept)."""
        words = [re.compile(r"(?<!\w)" + re.escape(k).replace(r"\ ", r"\s+") + r"(?!\w)", re.IGNORECASE) for k in self.keywords]
        return words + [re.compile(r) for r in self.regex]


def read_rules(path: Path) -> list[MarketRule]:
    """The rules of a YAML file, every one checked (a regex that does not compile names its market)."""
    try:
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BadRules(f"{path} is not YAML: {str(exc).splitlines()[0]}") from None
    markets = spec.get("markets") if isinstance(spec, dict) else None
    if not isinstance(markets, dict) or not markets:
        raise BadRules(f"{path}: expected `markets:` mapping each market slug to its keywords, regex and query")
    rules = []
    for market, rule in markets.items():
        if not isinstance(rule, dict):
            raise BadRules(f"{path}: market {market!r}: expected keywords, regex and query under it")
        keywords, patterns = rule.get("keywords") or [], rule.get("regex") or []
        if not all(isinstance(v, list) and all(isinstance(s, str) and s.strip() for s in v) for v in (keywords, patterns)):
            raise BadRules(f"{path}: market {market!r}: keywords and regex must be lists of non-empty strings")
        if not keywords and not patterns:
            raise BadRules(f"{path}: market {market!r} has no keywords or regex: give it at least one")
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise BadRules(f"{path}: market {market!r}: regex {pattern!r} does not compile: {exc}") from None
        query = rule.get("query") or " OR ".join(f'"{k}"' if " " in k else k for k in keywords)
        if not query:
            raise BadRules(f"{path}: market {market!r} has only regex rules: give it a `query` for the X stream")
        rules.append(MarketRule(str(market), tuple(keywords), tuple(patterns), str(query)))
    return rules


def store_rules(lake: Lake, rules: list[MarketRule]) -> None:
    """The current rules replace the former ones whole: the file is what the user tracks."""
    rows = [{"market": r.market, "keywords": list(r.keywords), "regex": list(r.regex), "query": r.query} for r in rules]
    lake.write(RULES_TABLE, pa.Table.from_pylist(rows, schema=MARKET_RULES))


def stored_rules(lake: Lake) -> list[MarketRule]:
    if not lake.exists(RULES_TABLE):
        return []
    return [MarketRule(r["market"], tuple(r["keywords"]), tuple(r["regex"]), r["query"]) for r in lake.read(RULES_TABLE).to_pylist()]


def stream_queries(lake: Lake) -> dict[str, str]:
    """{market: X query} of the stored rules: the filtered stream's rules when SENTITRADE_X_MARKETS is not set."""
    return {r.market: r.query for r in stored_rules(lake)}


def with_stored_rules(x_settings, lake: Lake):
    """The X settings with the rules file's queries as the tracked markets, when one was stored; else as
    SENTITRADE_X_MARKETS sets them. The stream, the trader's feed and a search backfill all go through here."""
    queries = stream_queries(lake)
    return x_settings.model_copy(update={"markets": queries}) if queries else x_settings


def matches(rules: list[MarketRule], tweets: pa.Table) -> pa.Table:
    """tweet_markets rows: one per (tweet, market) whose rule matches the tweet's text."""
    texts = tweets["text"].to_pylist()
    compiled = [(rule.market, rule.patterns()) for rule in rules]
    rows = [(i, market) for market, patterns in compiled for i, text in enumerate(texts) if any(p.search(text or "") for p in patterns)]
    index = pa.array([i for i, _ in rows], pa.int64())
    return pa.table({"tweet_id": pc.take(tweets["tweet_id"], index), "market": pa.array([m for _, m in rows], pa.string()),
                     "created_at": pc.take(tweets["created_at"], index)}, schema=TWEET_MARKETS)


def map_tweets(lake: Lake, rules: list[MarketRule]) -> dict:
    """Re-tag every landed day by `rules`, each day's mapping replaced whole; the counts, for the summary."""
    tagged, days, read = 0, 0, 0
    for day in lake.days("raw_tweets"):
        tweets = lake.read("raw_tweets", day).select(["tweet_id", "created_at", "text"])
        mapping = matches(rules, tweets)
        lake.write(MAPPING_TABLE, mapping, day)
        read, days = read + tweets.num_rows, days + 1
        tagged += len(pc.unique(mapping["tweet_id"]))
    return {"days": days, "tweets": read, "matched": tagged, "unmatched": read - tagged}


def retagged(scored: pa.Table, mapping: pa.Table | None) -> pa.Table:
    """Scored tweets under the markets the mapping gives them (one row per market); the others as they landed."""
    if mapping is None or not mapping.num_rows:
        return scored
    frame, pairs = scored.to_pandas(), mapping.select(["tweet_id", "market"]).to_pandas()
    mapped = frame.drop(columns="market").merge(pairs, on="tweet_id")
    rest = frame[~frame["tweet_id"].isin(pairs["tweet_id"])]
    return pa.Table.from_pandas(pd.concat([rest, mapped], ignore_index=True)[scored.column_names], schema=scored.schema, preserve_index=False)


def day_mapping(lake: Lake, day) -> pa.Table | None:
    return lake.read(MAPPING_TABLE, day) if lake.exists(MAPPING_TABLE, day) else None
