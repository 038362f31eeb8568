"""Fine-tuning end to end in seconds: `sentitrade sentiment finetune` on a tiny BERT with a real
MLflow SQLite store, the version registered with its weights' hash, then scored by `models:/` URI;
and the first labeled set read as documented."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from models.sentiment import SentimentSettings, engine_for, score_tweets
from models.sentiment.data import CLASSES, holdout_mask, read_ground_truth
from models.sentiment.vader import VADER
from sentitrade.commands.common import UserError
from sentitrade.commands.sentiment import app
from tests.conftest import SHARED_DATA

GROUND_TRUTH = SHARED_DATA / "sentiment" / "tweets_GroundTruth.txt"
LABELED = {"positive": ["good win", "great love", "happy bull up", "strong win"],
           "negative": ["bad crash", "awful hate", "sad bear down", "weak fear"],
           "neutral": ["the market", "it is a", "this and that", "of the btc"]}


def test_finetune_registers_a_scorer_the_stage_loads_by_uri(tmp_path, tiny_bert, monkeypatch, raw_tweets):
    rows = [(text, label) for label, texts in LABELED.items() for text in texts] * 5
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(tmp_path / "labeled.csv", index=False)
    result = CliRunner().invoke(app, ["finetune", "--data", str(tmp_path / "labeled.csv"), "--base", str(tiny_bert),
                                      "--epochs", "3", "--batch-size", "8", "--alias", "candidate", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "registered models:/sentitrade-sentiment/1" in result.output and "holdout_macro_f1" in result.output

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow/mlflow.db")
    version = client.get_model_version("sentitrade-sentiment", "1")
    run = client.get_run(version.run_id)
    assert run.data.params["base"] == str(tiny_bert) and int(run.data.params["steps"]) > 0
    assert {"holdout_macro_f1", "holdout_accuracy", "train_loss"} <= run.data.metrics.keys()
    assert len(version.tags["weights_sha256"]) == 64

    monkeypatch.setenv("SENTITRADE_DATA_DIR", str(tmp_path))
    for uri in ("models:/sentitrade-sentiment/1", "models:/sentitrade-sentiment@candidate"):
        engine = engine_for(SentimentSettings(transformer=uri, gate=0.0))
        assert engine.transformer.labels == {c: i for i, c in enumerate(CLASSES)}
        scored = score_tweets(raw_tweets(["good win !", "awful crash", "the market"]), engine).to_pandas()
        ensemble = f"{VADER}*0.3+sentitrade-sentiment/v1@{version.tags['weights_sha256'][:12]}*0.7"
        assert set(scored["scorer"]) <= {ensemble, VADER} and ensemble in set(scored["scorer"])


def test_finetune_user_errors_are_user_errors(tmp_path, tiny_bert):
    """`sentitrade.cli.main` prints a UserError as one line and exits 2."""
    (tmp_path / "bad.csv").write_text("text,label\nhi,happy\n")
    (tmp_path / "ok.csv").write_text("text,label\ngood,positive\nbad,negative\n")
    for data, message in (("nope.csv", "not found"), ("bad.csv", "expected negative/neutral/positive")):
        with pytest.raises(UserError, match=message):
            app(["finetune", "--data", str(tmp_path / data), "--base", str(tiny_bert), "--data-dir", str(tmp_path)], standalone_mode=False)
    with pytest.raises(UserError, match="cannot load base model 'no/such-model'"):
        app(["finetune", "--data", str(tmp_path / "ok.csv"), "--base", "no/such-model", "--data-dir", str(tmp_path)], standalone_mode=False)


@pytest.mark.skipif(not GROUND_TRUTH.exists(), reason="shared/data/sentiment is not beside the repo")
def test_the_human_rated_tweets_read_as_documented():
    frame = read_ground_truth(GROUND_TRUTH)
    assert len(frame) == 4_200 and frame["id"].is_unique
    assert frame["label"].value_counts().to_dict() == {"positive": 2_646, "negative": 1_195, "neutral": 359}
    assert "£" in frame.set_index("id").loc[1241, "text"]
    held_out = holdout_mask(frame["id"])
    assert 0.17 < held_out.mean() < 0.23 and (holdout_mask(frame["id"][::-1]) == held_out[::-1]).all()
