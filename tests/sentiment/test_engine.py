"""The scoring stage: VADER alone by default (no torch), the seed's gate and ensemble with a
transformer, an honest fallback when its weights are missing, VADER across processes, and a scorer
change that Dagster sees as stale scored tweets."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pyarrow as pa
import pytest

from models.sentiment import SCORER, SentimentEngine, SentimentSettings, engine_for, score_tweets, scorer_version
from models.sentiment.vader import PARALLEL_MIN_ROWS, clean_and_score
from tests.conftest import REPO

MIXED = ["love this, great news!", "meeting at 3pm", "awful, a total disaster", "the market is up", "ok", "I hate it"]


def test_default_is_vader_alone_and_never_imports_torch():
    code = (
        "import sys; from models.sentiment import score_texts, scorer_version, SCORER; "
        "assert score_texts(['great'])[0] > 0 and scorer_version() == SCORER; assert 'torch' not in sys.modules"
    )
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_gate_and_ensemble_follow_the_seed(tiny_bert, raw_tweets):
    settings = SentimentSettings(transformer=str(tiny_bert))
    engine = engine_for(settings)
    scored = score_tweets(raw_tweets(MIXED), engine).to_pandas()
    vader = np.asarray(score_tweets(raw_tweets(MIXED), SentimentEngine(SentimentSettings()))["sentiment"])
    gated = np.abs(vader) > 0.3
    assert 0 < gated.sum() < len(MIXED)
    t = engine.transformer.scores([m for m, g in zip(MIXED, gated, strict=True) if g])
    np.testing.assert_allclose(scored["sentiment"][gated], 0.3 * vader[gated] + 0.7 * t)
    np.testing.assert_allclose(scored["confidence"][gated], np.clip(1 - np.abs(vader[gated] - t), 0, 1))
    assert (scored["sentiment"][~gated] == vader[~gated]).all() and (scored["confidence"][~gated] == 1).all()
    assert set(scored["scorer"][~gated]) == {SCORER}
    assert set(scored["scorer"][gated]) == {f"{SCORER}*0.3+{engine.transformer.identity}*0.7"}
    assert engine.transformer.identity.startswith("finbert-order@")


def test_missing_weights_warn_once_then_vader_scores_alone(tmp_path, monkeypatch, raw_tweets):
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache; the hub is off (conftest)
    settings = SentimentSettings(transformer="ProsusAI/finbert", gate=0.01)
    from models.sentiment.transformer import TransformerUnavailable

    with pytest.warns(TransformerUnavailable, match="'ProsusAI/finbert' could not be loaded.*VADER alone"):
        engine = engine_for(settings)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert engine_for(settings) is engine  # loaded (or not) once per configuration
        scored = score_tweets(raw_tweets(MIXED), engine).to_pandas()
    assert set(scored["scorer"]) == {SCORER} and (scored["confidence"] == 1).all()
    assert scorer_version(settings).startswith(f"{SCORER}*0.3+ProsusAI/finbert@uncached*0.7")


def test_vader_across_processes_matches_one_process():
    texts = [f"{m} #{i} 🚀 @someone https://t.co/x{i}" for i in range(PARALLEL_MIN_ROWS // len(MIXED) + 1) for m in MIXED]
    texts[7:10] = [None, b"\xff bad", "x" * 5_000]
    assert clean_and_score(texts, workers=2) == clean_and_score(texts, workers=1)


def test_scorer_version_names_everything_that_changes_scores(tiny_bert, tiny_bert_reordered):
    versions = {
        scorer_version(SentimentSettings()),
        scorer_version(SentimentSettings(transformer=str(tiny_bert))),
        scorer_version(SentimentSettings(transformer=str(tiny_bert_reordered))),
        scorer_version(SentimentSettings(transformer=str(tiny_bert), int8=True)),
        scorer_version(SentimentSettings(transformer=str(tiny_bert), gate=0.5)),
        scorer_version(SentimentSettings(transformer=str(tiny_bert), vader_weight=0.5, transformer_weight=0.5)),
    }
    assert len(versions) == 6
    same = SentimentSettings(transformer=str(tiny_bert), batch_size=4, threads=1)
    assert scorer_version(same) == scorer_version(SentimentSettings(transformer=str(tiny_bert)))


def test_changing_the_scorer_makes_dagster_see_scored_tweets_stale(tmp_path, tiny_bert, raw_tweets):
    from dagster import AssetKey, DagsterInstance, Definitions, materialize
    from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
    from dagster._core.loader import LoadingContextForTest

    from connectors.lake import RAW_TWEETS, Lake
    from orchestration.assets.score import build_scored_tweets
    from orchestration.resources import LakeResource

    raw = raw_tweets(MIXED).assign(author_id="a", author_username="u", author_verified=False, lang="en", like_count=0,
                                   retweet_count=0, payload="{}")
    Lake(tmp_path).write("raw_tweets", pa.Table.from_pandas(raw, schema=RAW_TWEETS, preserve_index=False), raw["created_at"][0].date())
    instance, resources, day = DagsterInstance.ephemeral(), {"lake": LakeResource(root=str(tmp_path))}, "2026-11-01"
    vader_only = build_scored_tweets(scorer_version(SentimentSettings()))
    assert materialize([vader_only], partition_key=day, resources=resources, instance=instance).success

    def status(asset) -> StaleStatus:
        graph = Definitions(assets=[asset], resources=resources).resolve_asset_graph()
        return CachingStaleStatusResolver(instance, graph, LoadingContextForTest(instance)).get_status(AssetKey("scored_tweets"), day)

    assert status(vader_only) == StaleStatus.FRESH
    assert status(build_scored_tweets(scorer_version(SentimentSettings(transformer=str(tiny_bert))))) == StaleStatus.STALE
