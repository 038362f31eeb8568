import json
import math
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from models.risk import RiskManager, kelly
from sentitrade.settings import RiskSettings, StrategySettings
from tests.trading.conftest import CORE_RISK

T0 = datetime(2025, 1, 1, 12, tzinfo=UTC)
COST = 0.014  # 2 × (half spread 0.005 + slippage 0.002), no fee


def manager(**risk) -> RiskManager:
    return RiskManager(RiskSettings(**{**CORE_RISK, **risk}))


def test_kelly_on_an_even_money_bet_is_the_textbook_2q_minus_1():
    # no costs, and a move as large as the price: the stake doubles or is lost
    assert kelly(0.6, 0.5, 0.0, 0.5) == pytest.approx((0.2, 0.2))


def test_kelly_nets_out_costs():
    net, full = kelly(0.9, 0.51, COST, 0.05)
    assert net == pytest.approx((0.8 * 0.05 - COST) / 0.51)
    assert full == pytest.approx(0.51 * (0.9 / 0.064 - 0.1 / 0.036))
    # it is the growth-optimal stake: nudging it either way grows the log bankroll less
    growth = lambda f: 0.9 * math.log(1 + f * 0.036 / 0.51) + 0.1 * math.log(1 - f * 0.064 / 0.51)  # noqa: E731
    assert growth(full) > max(growth(full * 0.98), growth(full * 1.02))


@pytest.mark.parametrize(("q", "cost", "move"), [(0.6, COST, 0.05), (0.639, COST, 0.05), (0.99, 0.06, 0.05)])
def test_no_kelly_stake_without_a_positive_net_return(q, cost, move):
    # 0.6 is an edge before costs; break-even is q = 0.5 + cost / (2 × move) = 0.64; a move below the costs never pays
    net, full = kelly(q, 0.5, cost, move)
    assert net < 0 and full == 0.0


def test_stake_is_fractional_kelly_with_a_reason():
    stake, notes = manager().stake(0.66, 0.51, COST, 1000.0, 0.0)
    full = 0.51 * (0.66 / 0.064 - 0.34 / 0.036)
    assert stake == pytest.approx(0.25 * full * 1000) and 110 < stake < 111
    assert notes == ["kelly 0.111 of equity on net return +0.39%/$"]


def test_stake_is_capped_per_market():
    stake, notes = manager().stake(0.9, 0.51, COST, 1000.0, 0.0)
    assert stake == pytest.approx(200.0)
    assert notes[1] == "capped at 20% per market"


def test_no_stake_when_costs_eat_the_edge():
    stake, notes = manager().stake(0.6, 0.51, COST, 1000.0, 0.0)
    assert (stake, notes) == (0.0, ["net return -0.78%/$ after costs 0.014/share: no stake"])


def test_total_exposure_cap_shrinks_then_skips():
    risk = manager(max_total_exposure=0.5)
    stake, notes = risk.stake(0.9, 0.51, COST, 1000.0, 350.0)
    assert stake == pytest.approx(150.0)
    assert notes[-1] == "total exposure 350.00 of cap 50% × 1000.00: stake 200.00 -> 150.00"
    stake, notes = risk.stake(0.9, 0.51, COST, 1000.0, 520.0)  # already past the cap
    assert stake == 0.0 and notes[-1].endswith("stake 200.00 -> 0.00")


def test_drawdown_reduces_stakes_from_its_threshold():
    risk = manager(drawdown_reduce_at=0.5, drawdown_reduce_factor=0.5)
    risk.observe(T0, 1000.0)
    risk.observe(T0, 910.0)  # 9% down, below 0.5 × 20%
    assert risk.stake(0.9, 0.51, COST, 910.0, 0.0)[0] == pytest.approx(182.0)
    risk.observe(T0, 890.0)  # 11% down
    stake, notes = risk.stake(0.9, 0.51, COST, 890.0, 0.0)
    assert stake == pytest.approx(0.2 * 0.5 * 890.0)
    assert notes[-1] == "drawdown 11.0% >= 10.0%: stake × 0.5"


def test_drawdown_halt_latches():
    risk = manager()
    assert risk.observe(T0, 1000) is False
    assert risk.observe(T0, 1100) is False
    assert risk.observe(T0, 880) is False  # exactly 20% below the 1100 peak is still allowed
    assert risk.peak == 1100 and risk.drawdown == pytest.approx(0.2)
    assert risk.observe(T0, 879.99) is True
    assert risk.observe(T0 + timedelta(days=3), 5000) is True  # neither a recovery nor a new day un-halts
    assert risk.halted


def test_daily_loss_limit_blocks_until_the_next_utc_day():
    risk = manager(daily_loss_limit=0.05)
    risk.observe(T0, 1000.0)
    risk.observe(T0 + timedelta(hours=1), 951.0)
    assert risk.entry_blocks(T0, None, None) == []
    risk.observe(T0 + timedelta(hours=2), 949.0)
    assert risk.entry_blocks(T0, None, None) == ["day's loss past 5% of its start 1000.00"]
    risk.observe(T0 + timedelta(hours=3), 990.0)  # a recovery the same day does not lift it
    assert risk.day_stopped
    midnight = datetime(2025, 1, 2, tzinfo=UTC)
    risk.observe(midnight, 985.0)
    assert not risk.day_stopped and risk.day == date(2025, 1, 2)
    assert risk.day_start == 990.0  # the previous close, so the 5 USDC lost overnight count for the new day


def test_the_day_is_the_utc_date_and_naive_times_are_utc():
    risk = manager(daily_loss_limit=0.05)
    risk.observe(datetime(2025, 1, 1, 20), 1000.0)  # naive: UTC
    plus3 = timezone(timedelta(hours=3))
    risk.observe(datetime(2025, 1, 2, 1, 30, tzinfo=plus3), 940.0)  # 22:30 UTC on Jan 1: the same day
    assert risk.day == date(2025, 1, 1) and risk.day_stopped
    risk.observe(datetime(2025, 1, 2, 3, 30, tzinfo=plus3), 940.0)  # 00:30 UTC on Jan 2: a new day
    assert risk.day == date(2025, 1, 2) and not risk.day_stopped


def test_stale_inputs_block_entries_and_unknown_times_are_not_checked():
    risk = manager(max_tweet_age_s=600, max_price_age_s=300)
    assert risk.entry_blocks(T0, T0 - timedelta(seconds=600), T0 - timedelta(seconds=300)) == []
    assert risk.entry_blocks(T0, T0 - timedelta(seconds=601), T0 - timedelta(seconds=301)) == [
        "newest tweet 601s old > 600s", "newest price 301s old > 300s"]
    assert risk.entry_blocks(T0, None, None) == []
    assert manager().entry_blocks(T0, T0 - timedelta(days=9), T0 - timedelta(days=9)) == []  # 0: off


def test_stop_loss_and_take_profit_on_the_avg_cost():
    risk = manager(stop_loss=0.2, take_profit=0.5)
    assert risk.exit_reason(0.50, 0.41) is None and risk.exit_reason(0.50, 0.74) is None
    assert risk.exit_reason(0.50, 0.39) == ("stop-loss", "stop-loss: mid 0.39 <= avg cost 0.5 × (1 − 0.2)")
    assert risk.exit_reason(0.50, 0.76) == ("take-profit", "take-profit: mid 0.76 >= avg cost 0.5 × (1 + 0.5)")
    assert manager().exit_reason(0.50, 0.01) is None  # 0: off


def test_state_round_trips_through_json():
    risk = manager(daily_loss_limit=0.05)
    for hours, equity in ((0, 1000.0), (1, 1100.0), (2, 940.0)):
        risk.observe(T0 + timedelta(hours=hours), equity)
    copy = manager(daily_loss_limit=0.05)
    copy.load(json.loads(json.dumps(risk.state())))
    assert copy.state() == risk.state() == {"peak": 1100.0, "equity": 940.0, "halted": False, "day": "2025-01-01",
                                            "day_start": 1000.0, "day_stopped": True}
    assert copy.drawdown == risk.drawdown


def test_defaults_turn_every_rule_on_and_every_setting_is_described():
    defaults = RiskSettings.model_fields
    for name in ("daily_loss_limit", "stop_loss", "take_profit", "max_tweet_age_s", "max_price_age_s"):
        assert defaults[name].default > 0, name
    assert defaults["max_total_exposure"].default < 1 and defaults["drawdown_reduce_factor"].default < 1
    fields = {**defaults, **StrategySettings.model_fields}
    assert [name for name, field in fields.items() if not field.description] == []
