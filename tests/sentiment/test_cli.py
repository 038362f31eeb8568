"""`sentitrade sentiment score`: one line per text with the scorer that produced it."""

from __future__ import annotations

from typer.testing import CliRunner

from models.sentiment import SCORER
from sentitrade.commands.sentiment import app


def test_score_prints_sentiment_confidence_scorer_and_notes(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTITRADE_DATA_DIR", str(tmp_path))  # restored afterwards; the command points it at --data-dir
    monkeypatch.delenv("SENTITRADE_SENTIMENT_TRANSFORMER", raising=False)
    result = CliRunner().invoke(app, ["score", "great news, love it", "https://t.co/x", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    great, link = (line.split("\t") for line in result.output.splitlines())
    assert float(great[0]) > 0.5 and great[1:] == ["1.000", SCORER]
    assert link[:3] == ["+0.0000", "0.000", SCORER] and "empty after preprocessing" in link[3]
