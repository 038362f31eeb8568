"""The production path: a Dagster instance on the real PostgreSQL (dagster-postgres) materializes assets."""

from __future__ import annotations

from datetime import date

import yaml
from dagster import AssetKey, DagsterInstance, materialize

from connectors.replay import ReplayConfig, generate_replay
from orchestration.assets.markets import markets, price_history
from orchestration.assets.tweets import raw_tweets
from orchestration.resources import LakeResource, ReplayMarketsResource, ReplayTweetsResource
from tests.postgres import scratch_database


def test_ingest_assets_materialize_into_a_postgres_instance(tmp_path):
    generate_replay(tmp_path / "replay", ReplayConfig(seed=1, markets=2, days=3, tweets_per_day=300))
    replay = str(tmp_path / "replay")
    resources = {
        "lake": LakeResource(root=str(tmp_path / "lake")),
        "tweets": ReplayTweetsResource(replay_dir=replay),
        "market_data": ReplayMarketsResource(replay_dir=replay),
    }
    with scratch_database() as name:
        storage = {"postgres": {"postgres_url": f"postgresql://postgres@127.0.0.1:5432/{name}"}}
        (tmp_path / "home").mkdir()
        (tmp_path / "home" / "dagster.yaml").write_text(yaml.safe_dump({"storage": storage, "telemetry": {"enabled": False}}))
        instance = DagsterInstance.from_config(str(tmp_path / "home"))
        try:
            assert materialize([markets], instance=instance, resources=resources).success
            day = date(2026, 11, 2).isoformat()
            result = materialize([markets, raw_tweets, price_history], selection=[raw_tweets, price_history],
                                 partition_key=day, instance=instance, resources=resources)
            assert result.success
            assert instance.get_materialized_partitions(AssetKey("raw_tweets")) == {day}
            event = instance.get_latest_materialization_event(AssetKey("raw_tweets"))
            assert event.asset_materialization.metadata["rows"].value > 0
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        finally:
            instance.dispose()
