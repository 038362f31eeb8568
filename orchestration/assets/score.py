"""Score asset: each day's tweets with their sentiment, confidence and the scorer that produced them."""

from collections import Counter
from datetime import date

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, MetadataValue, asset

from models.ingest.rules import day_mapping, retagged
from models.sentiment import score_batch, scorer_version
from orchestration.assets.tweets import raw_tweets
from orchestration.partitions import daily
from orchestration.resources import LakeResource


def build_scored_tweets(code_version: str) -> AssetsDefinition:
    """The asset under a code version naming the configured scorer, so changing the scorer (model,
    weights, quantization, gate, ensemble weights) makes Dagster see every scored day as stale."""

    @asset(name="scored_tweets", partitions_def=daily, deps=[raw_tweets], group_name="score", kinds={"parquet"}, code_version=code_version)
    def scored_tweets(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
        """Sentiment in [-1, 1] per tweet, with the scorer's identity; the trader scores with the same code. Each tweet
        is filed under the markets `sentitrade markets map` tagged it with (one row each), else the one it landed with."""
        day = date.fromisoformat(context.partition_key)
        batch = score_batch(lake.get().read("raw_tweets", day).to_pandas())
        scored = retagged(batch.table, day_mapping(lake.get(), day))
        path = lake.get().write("scored_tweets", scored, day)
        for tweet_id, note in batch.notes[:5]:
            context.log.warning(f"tweet {tweet_id}: {note}")
        sentiment = scored["sentiment"].to_pandas()
        return MaterializeResult(
            metadata={
                "rows": scored.num_rows,
                "mean_sentiment": float(sentiment.mean()) if len(sentiment) else 0.0,
                "scorer": code_version,
                "rows_by_scorer": dict(Counter(scored["scorer"].to_pylist())),
                "rows_by_market": dict(Counter(scored["market"].to_pylist())),
                "rows_with_notes": len(batch.notes),
                "path": MetadataValue.path(str(path)),
            }
        )

    return scored_tweets


scored_tweets = build_scored_tweets(scorer_version())
