import pytest

from models.risk import RiskManager
from models.strategy import Signal
from sentitrade.settings import RiskSettings

RISK = RiskSettings(starting_cash=1000, kelly_fraction=0.25, max_position_fraction=0.20, max_drawdown=0.20)


@pytest.mark.parametrize(
    ("signal", "p_up", "stake"),
    [
        (Signal.BUY, 0.60, 50.0),  # 0.25 × (2·0.6 − 1) × 1000
        (Signal.SELL, 0.30, 100.0),  # 0.25 × (1 − 2·0.3) × 1000
        (Signal.BUY, 0.95, 200.0),  # 0.25 × 0.9 = 0.225, capped at 0.20
        (Signal.SELL, 0.00, 200.0),
        (Signal.BUY, 0.40, 0.0),  # no edge, no negative stake
        (Signal.HOLD, 0.90, 0.0),
    ],
)
def test_fractional_kelly_stake(signal, p_up, stake):
    assert RiskManager(RISK).stake(signal, p_up, 1000.0) == pytest.approx(stake)


def test_stake_scales_with_equity_and_never_goes_negative():
    risk = RiskManager(RISK)
    assert risk.stake(Signal.BUY, 0.6, 400.0) == pytest.approx(20.0)
    assert risk.stake(Signal.BUY, 0.6, -5.0) == 0.0


def test_drawdown_halt_latches():
    risk = RiskManager(RISK)
    assert risk.observe(1000) is False
    assert risk.observe(1100) is False
    assert risk.observe(880) is False  # exactly 20% below the 1100 peak is still allowed
    assert risk.peak == 1100 and risk.drawdown == pytest.approx(0.2)
    assert risk.observe(879.99) is True
    assert risk.observe(5000) is True  # a recovery does not un-halt
    assert risk.halted
