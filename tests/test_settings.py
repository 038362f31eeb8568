"""Settings sections given to the constructor are the ones used; the rest come from the environment."""

from sentitrade.settings import ResearchSettings, RiskSettings, Settings


def test_sections_passed_to_settings_are_used_and_the_others_read_the_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("SENTITRADE_RESEARCH_FOLDS", "4")
    monkeypatch.setenv("SENTITRADE_RISK_STARTING_CASH", "70")
    given = Settings(research=ResearchSettings(folds=6), data_dir=tmp_path)
    assert given.research.folds == 6  # not the environment's 4, and not silently dropped
    assert given.risk.starting_cash == 70.0 and given.data_dir == tmp_path.resolve()
    assert Settings(risk=RiskSettings(starting_cash=5)).risk.starting_cash == 5.0
    assert Settings().research.folds == 4
