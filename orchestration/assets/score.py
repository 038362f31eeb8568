"""Score asset: each day's tweets with their sentiment and confidence."""

from datetime import date

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from models.sentiment import SCORER, score_tweets
from orchestration.assets.tweets import raw_tweets
from orchestration.partitions import daily
from orchestration.resources import LakeResource


@asset(partitions_def=daily, deps=[raw_tweets], group_name="score", kinds={"parquet"}, code_version=SCORER)
def scored_tweets(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """Sentiment in [-1, 1] per tweet, with the scorer's name; the trader scores with the same code."""
    day = date.fromisoformat(context.partition_key)
    scored = score_tweets(lake.get().read("raw_tweets", day).to_pandas())
    path = lake.get().write("scored_tweets", scored, day)
    sentiment = scored["sentiment"].to_pandas()
    return MaterializeResult(
        metadata={
            "rows": scored.num_rows,
            "mean_sentiment": float(sentiment.mean()) if len(sentiment) else 0.0,
            "scorer": SCORER,
            "path": MetadataValue.path(str(path)),
        }
    )
