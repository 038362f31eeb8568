"""The backtest compiled: `run_backtest`'s result, from one numba loop over the bars, for sweeps over
thresholds, costs and seeds: `compiled_backtest` for one run, or `prepare` the inputs once and call
`run_prepared` per setting.

The loop calls the functions of `models.rules`, compiled here from the very code the trader runs, so each
rule still has one definition; the bookkeeping around them (positions in the order they opened, the next
observed price after the latency, settlement, the end-of-backtest close) follows `TradingEngine`,
`NextPriceExchange` and `run_backtest` step by step, and `tests/trading/test_compiled.py` holds the two
to the same equity and fills. Only the cost model prices fills here: recorded order books need the
Python engine. The trader never imports this module, so it pays no compile time.
"""

from __future__ import annotations

import inspect
import math
import types
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cached_property
from typing import NamedTuple

import numba
import numpy as np
import pandas as pd
from numba.typed import List

from models import rules
from models.backtest import COLUMNS, _resolutions
from models.engine import SHARE_STEP, Fill, MarketInfo
from models.performance import performance
from sentitrade.settings import Settings


def _compile_rules() -> dict:
    """Every function of `models.rules` under njit, each calling the compiled versions of the others."""
    namespace = dict(vars(rules))
    for name, value in vars(rules).items():
        if inspect.isfunction(value) and value.__module__ == rules.__name__:
            same_code = types.FunctionType(value.__code__, namespace, name, value.__defaults__)
            namespace[name] = numba.njit(cache=False)(same_code)
    return namespace


_R = _compile_rules()
(signal, too_few_tweets, outside_price_band, target, stake, observe, drawdown, stale, exit_kind, token_mid,
 market_fee, market_fee_per_share, round_trip_cost, touch_ticks, model_level, bid_mark, share_floor, inside_limit,
 affordable_take, decimal_round) = (_R[name] for name in (
    "signal", "too_few_tweets", "outside_price_band", "target", "stake", "observe", "drawdown", "stale", "exit_kind",
    "token_mid", "market_fee", "market_fee_per_share", "round_trip_cost", "touch_ticks", "model_level", "bid_mark",
    "share_floor", "inside_limit", "affordable_take", "decimal_round"))

YES, EPS = rules.YES, rules.EPS
NEVER = np.iinfo(np.int64).max
DAY_NS = 86_400 * 10**9
PEAK, LAST, DAY_START, DAY, STOPPED, HALTED = range(6)  # the risk state's slots
FILL = numba.types.Tuple([numba.types.int64] * 4 + [numba.types.float64] * 3)  # ts, market, token, buy; shares, price, fee


class Markets(NamedTuple):
    """Each market's terms (by market code) and every price observed in it, sorted, from p_start to p_end."""

    tick: np.ndarray
    min_size: np.ndarray
    fees_on: np.ndarray
    fee_rate: np.ndarray
    fee_exp: np.ndarray
    end_at: np.ndarray  # ns; NEVER: no end
    closed_at: np.ndarray  # ns of the resolution; NEVER: none in the data
    p_ts: np.ndarray
    p_val: np.ndarray
    p_start: np.ndarray
    p_end: np.ndarray


class Config(NamedTuple):
    buy_above: float
    sell_below: float
    exit_at: float
    min_tweets: int
    min_price: float
    max_price: float
    kelly_fraction: float
    expected_move: float
    max_position_fraction: float
    max_total_exposure: float
    max_drawdown: float
    drawdown_reduce_at: float
    drawdown_reduce_factor: float
    daily_loss_limit: float
    stop_loss: float
    take_profit: float
    max_tweet_age_s: float
    max_price_age_s: float
    half_spread: float
    slippage: float
    depth: float  # shares per model level, already scaled
    latency_ns: int
    scale: float
    starting_cash: float


class State(NamedTuple):
    """The engine's state: mids, resolutions, positions (token, shares, avg cost, value at the bid; `order`
    the markets held, in the order they opened), cash and fees paid, the risk state."""

    mids: np.ndarray
    resolved: np.ndarray
    token: np.ndarray
    shares: np.ndarray
    avg: np.ndarray
    value: np.ndarray  # shares × bid, 0 when flat
    order: np.ndarray
    n_held: np.ndarray
    money: np.ndarray  # cash, fees paid
    risk: np.ndarray


@dataclass(frozen=True)
class CompiledResult:
    equity: pd.Series
    fills: pd.DataFrame
    starting_cash: float
    exposure: pd.Series

    @cached_property
    def metrics(self) -> dict[str, float]:
        """`models.performance`'s figures, computed when first asked: a sweep may need only the equity."""
        return performance(self.equity, self.fills, self.starting_cash, self.exposure)


# The bookkeeping, as TradingEngine, Portfolio and the exchanges do it

@numba.njit(cache=False, inline="always")
def _exposure(order: np.ndarray, n_held: int, value: np.ndarray) -> float:
    """Every position at its bid, summed in the order they opened (as Portfolio sums them, so the floats
    agree). Hot code takes arrays, not the State tuple: passing a tuple costs a reference count per array."""
    total = 0.0
    for k in range(n_held):
        total += value[order[k]]
    return total


@numba.njit(cache=False)
def _revalue(st: State, c: Config, m: int) -> None:
    """A position's value at its bid, kept for `_exposure`: after its mid or its shares change."""
    tok = st.token[m]
    st.value[m] = st.shares[m] * bid_mark(token_mid(tok, st.mids[m]), c.half_spread, c.scale) if tok else 0.0


@numba.njit(cache=False, inline="always")
def _observe(r: np.ndarray, c: Config, ts: int, equity: float) -> bool:
    """`RiskManager.observe` on the risk state `r`."""
    day = ts // DAY_NS
    r[PEAK], r[DAY_START], stopped, halted = observe(day != r[DAY], equity, r[LAST], r[PEAK], r[DAY_START],
                                                     r[STOPPED] != 0, r[HALTED] != 0, c.daily_loss_limit,
                                                     c.max_drawdown)
    r[STOPPED], r[HALTED], r[LAST], r[DAY] = 1.0 if stopped else 0.0, 1.0 if halted else 0.0, equity, day
    return halted


@numba.njit(cache=False)
def _limit(mk: Markets, c: Config, m: int, mid: float, buy: bool, shares: float) -> float:
    """The worst model price needed to fill `shares` of a token at `mid` (the last level if never); NaN: no quote."""
    worst, left, level, at = math.nan, shares, 0, touch_ticks(mid, buy, mk.tick[m], c.half_spread, c.slippage, c.scale)
    while True:
        price = model_level(at, buy, mk.tick[m], level)
        if math.isnan(price):
            return worst
        worst, left, level = price, left - c.depth, level + 1
        if left <= EPS:
            return worst


@numba.njit(cache=False)
def _walk(mk: Markets, c: Config, m: int, mid: float, buy: bool, shares: float, limit: float):
    """`models.costs.walk` over the model levels: (shares, average price, fee); 0 shares: no fill."""
    left, taken, notional, fees, level = shares, 0.0, 0.0, 0.0, 0
    at = touch_ticks(mid, buy, mk.tick[m], c.half_spread, c.slippage, c.scale)
    while True:
        price = model_level(at, buy, mk.tick[m], level)
        if math.isnan(price) or left < 0.01 - EPS or not inside_limit(price, limit, buy):
            break
        take = share_floor(min(left, c.depth))
        taken, notional, left = taken + take, notional + take * price, left - take
        fees += market_fee(take, price, mk.fees_on[m], mk.fee_rate[m], mk.fee_exp[m], c.scale)
        level += 1
    if taken < 0.01 - EPS:
        return 0.0, math.nan, 0.0
    taken = decimal_round(taken, 2)
    return taken, notional / taken, decimal_round(fees, 5)


@numba.njit(cache=False)
def _affordable(mk: Markets, c: Config, m: int, mid: float, amount: float, cash: float):
    """`models.costs.affordable` over the model's asks: (shares, worst price; NaN when none)."""
    shares, spent, paid, worst, level = 0.0, 0.0, 0.0, math.nan, 0
    at = touch_ticks(mid, True, mk.tick[m], c.half_spread, c.slippage, c.scale)
    while True:
        price = model_level(at, True, mk.tick[m], level)
        if math.isnan(price):
            break
        fee = c.scale * market_fee_per_share(price, mk.fees_on[m], mk.fee_rate[m], mk.fee_exp[m])
        take = affordable_take(c.depth, amount, spent, price, cash, paid, fee)
        if take <= 0:
            break
        shares, spent, worst = shares + take, spent + take * price, price
        paid += take * (price + fee)
        if take < c.depth:
            break
        level += 1
    return decimal_round(shares, 2), worst


@numba.njit(cache=False)
def _apply(st: State, c: Config, fills, ts: int, m: int, tok: int, buy: bool, shares: float, price: float,
           fee: float, unsellable: float) -> None:
    """`Portfolio.apply`, and the fill recorded."""
    if buy:
        old = st.shares[m] if st.token[m] else 0.0
        cost = old * (st.avg[m] if st.token[m] else 0.0) + shares * price
        if not st.token[m]:
            st.order[st.n_held[0]] = m
            st.n_held[0] += 1
        st.token[m], st.shares[m], st.avg[m] = tok, old + shares, cost / (old + shares)
        st.money[0] -= shares * price + fee
    else:
        st.shares[m] -= shares
        if st.shares[m] < unsellable - EPS:
            st.token[m] = 0
            k = 0
            while st.order[k] != m:
                k += 1
            for j in range(k, st.n_held[0] - 1):
                st.order[j] = st.order[j + 1]
            st.n_held[0] -= 1
        st.money[0] += shares * price - fee
    st.money[1] += fee
    _revalue(st, c, m)
    fills.append((ts, m, tok, 1 if buy else 0, shares, price, fee))


@numba.njit(cache=False)
def _send(mk: Markets, c: Config, st: State, fills, ts: int, m: int, tok: int, buy: bool, shares: float,
          limit: float, now_only: bool) -> None:
    """`TradingEngine._send` through `NextPriceExchange` (or, `now_only`, the paper exchange at the mid)."""
    if shares < mk.min_size[m] or st.resolved[m] or ts >= mk.end_at[m]:
        return
    mid_yes, at = st.mids[m], ts
    if not now_only:
        start, end = mk.p_start[m], mk.p_end[m]
        i = start + np.searchsorted(mk.p_ts[start:end], ts + c.latency_ns)
        if i == end or mk.p_ts[i] >= mk.closed_at[m]:
            return
        now = mk.p_val[i]
        if buy:
            planned, price, fee = _walk(mk, c, m, token_mid(tok, mid_yes), True, shares, limit)
            if planned == 0:
                return
            spend = planned * price
            shares = min(shares, _affordable(mk, c, m, token_mid(tok, now), spend, spend + fee)[0])
        limit = _limit(mk, c, m, token_mid(tok, now), buy, shares)
        if math.isnan(limit) or shares <= 0:
            return
        mid_yes, at = now, mk.p_ts[i]
    taken, price, fee = _walk(mk, c, m, token_mid(tok, mid_yes), buy, shares, limit)
    if taken > 0:
        _apply(st, c, fills, at, m, tok, buy, taken, price, fee, mk.min_size[m])


@numba.njit(cache=False)
def _sell(mk: Markets, c: Config, st: State, fills, ts: int, m: int, now_only: bool) -> None:
    """Sell the whole position limited at the worst bid its size needs; without any bid nothing is sent
    (nor below the minimum size: checked first here, as nothing is sent either way)."""
    tok, shares = st.token[m], st.shares[m]
    if shares < mk.min_size[m]:
        return
    limit = _limit(mk, c, m, token_mid(tok, st.mids[m]), False, shares)
    if not math.isnan(limit):
        _send(mk, c, st, fills, ts, m, tok, False, shares, limit, now_only)


@numba.njit(cache=False, inline="always")
def _any_sellable(order: np.ndarray, n_held: int, shares: np.ndarray, min_size: np.ndarray) -> bool:
    """Whether any position is at least its market's minimum size: after a halt the rest is dust that no
    order can sell, and checking here spares every later row a call (each costs a reference count per array)."""
    for k in range(n_held):
        if shares[order[k]] >= min_size[order[k]]:
            return True
    return False


@numba.njit(cache=False)
def _close_all(mk: Markets, c: Config, st: State, fills, ts: int, now_only: bool) -> None:
    """Sell every position in the order they opened. A sale that closes one removes it from `order`, so the
    next one moves into its place: no copy of `order` is made."""
    k = 0
    while k < st.n_held[0]:
        held = st.n_held[0]
        _sell(mk, c, st, fills, ts, st.order[k], now_only)
        if st.n_held[0] == held:
            k += 1


@numba.njit(cache=False)
def _settle(st: State, c: Config, fills, ts: int, m: int, outcome: int) -> None:
    """The market resolved: what is held pays 1 a winning share and 0 a losing one, no fee."""
    st.resolved[m] = True
    if st.token[m]:
        _apply(st, c, fills, ts, m, st.token[m], False, st.shares[m], 1.0 if st.token[m] == outcome else 0.0, 0.0,
               SHARE_STEP)


@numba.njit(cache=False)
def _open(mk: Markets, c: Config, st: State, fills, ts: int, m: int, tok: int, p_up: float) -> None:
    """`TradingEngine._size` then the BUY: the risk stake walking the asks, within cash and fees."""
    mid = token_mid(tok, st.mids[m])
    best = model_level(touch_ticks(mid, True, mk.tick[m], c.half_spread, c.slippage, c.scale), True, mk.tick[m], 0)
    if math.isnan(best):
        return
    fee = market_fee_per_share(best, mk.fees_on[m], mk.fee_rate[m], mk.fee_exp[m])
    q = p_up if tok == YES else 1.0 - p_up
    exposure = _exposure(st.order, st.n_held[0], st.value)
    amount = stake(q, best, round_trip_cost(c.half_spread, c.slippage, fee, c.scale), st.money[0] + exposure,
                   exposure, drawdown(st.risk[LAST], st.risk[PEAK]), c.kelly_fraction, c.expected_move,
                   c.max_position_fraction, c.drawdown_reduce_at, c.drawdown_reduce_factor, c.max_drawdown,
                   c.max_total_exposure)[0]
    shares, limit = _affordable(mk, c, m, mid, amount, max(st.money[0], 0.0))
    if shares > 0 and not math.isnan(limit):
        _send(mk, c, st, fills, ts, m, tok, True, shares, limit, False)


@numba.njit(cache=False)
def _run(mk: Markets, c: Config, st: State, fills, ts, market, p_up, n_tweets, mid, tweet_age_s, price_age_s,
         due_market, due_at, due_outcome, settle_until: int):
    """`run_backtest`'s loop: settle what resolved, decide every row of a timestamp (`on_decision`, without
    the reasons), mark; then settle what resolved after the last row and sell the rest at the bid. Returns
    equity, exposure and their timestamps."""
    mids, token, value, order, n_held, risk = st.mids, st.token, st.value, st.order, st.n_held, st.risk
    resolved, end_at, avg, money, shares = st.resolved, mk.end_at, st.avg, st.money, st.shares
    n = len(ts)
    equity, exposure, stamps = np.empty(n), np.empty(n), np.empty(n, dtype=np.int64)
    marks, start = 0, 0
    while start < n:
        now, stop = ts[start], start
        while stop < n and ts[stop] == now:
            stop += 1
        for d in range(len(due_market)):
            if not resolved[due_market[d]] and due_at[d] <= now:
                _settle(st, c, fills, now, due_market[d], due_outcome[d])
        for i in range(start, stop):
            m = market[i]
            mids[m] = mid[i]
            held = token[m]
            if held:
                value[m] = shares[m] * bid_mark(token_mid(held, mid[i]), c.half_spread, c.scale)  # as _revalue
            wanted = signal(p_up[i], held, c.buy_above, c.sell_below, c.exit_at)
            if resolved[m] or now >= end_at[m]:
                continue
            if _observe(risk, c, now, money[0] + _exposure(order, n_held[0], value)):
                if _any_sellable(order, n_held[0], shares, mk.min_size):
                    _close_all(mk, c, st, fills, now, False)
                continue
            if held and exit_kind(avg[m], token_mid(held, mid[i]), c.stop_loss, c.take_profit):
                _sell(mk, c, st, fills, now, m, False)
                continue
            blocked = (too_few_tweets(n_tweets[i], c.min_tweets) or outside_price_band(mid[i], c.min_price, c.max_price)
                       or risk[STOPPED] != 0 or stale(tweet_age_s[i], c.max_tweet_age_s)
                       or stale(price_age_s[i], c.max_price_age_s))
            goal = target(wanted, held, blocked)
            if held and held == goal:
                continue
            if held:
                _sell(mk, c, st, fills, now, m, False)
            if goal and not token[m]:
                _open(mk, c, st, fills, now, m, goal, p_up[i])
        exposure[marks] = _exposure(order, n_held[0], value)
        equity[marks], stamps[marks] = money[0] + exposure[marks], now
        _observe(risk, c, now, equity[marks])
        marks, start = marks + 1, stop
    if marks:
        for d in range(len(due_market)):
            if not resolved[due_market[d]] and due_at[d] <= settle_until:
                _settle(st, c, fills, due_at[d], due_market[d], due_outcome[d])
        _close_all(mk, c, st, fills, ts[n - 1], True)
        exposure[marks - 1] = _exposure(order, n_held[0], value)
        equity[marks - 1] = money[0] + exposure[marks - 1]
    return equity[:marks], exposure[:marks], stamps[:marks]


@numba.njit(cache=False)
def _unpack(fills):
    """The fills as arrays: (ts, market, token, buy) and (shares, price, fee); iterating them from Python is slow."""
    ints, floats = np.empty((len(fills), 4), dtype=np.int64), np.empty((len(fills), 3))
    for k, (ts, market, token, buy, shares, price, fee) in enumerate(fills):
        ints[k, 0], ints[k, 1], ints[k, 2], ints[k, 3] = ts, market, token, buy
        floats[k, 0], floats[k, 1], floats[k, 2] = shares, price, fee
    return ints, floats


# Inputs to arrays, arrays to the backtest's result

def _codes(markets: pd.Series, names: list[str]) -> np.ndarray:
    """Each row's market code (its index in `names`), -1 if unknown; a categorical column maps its categories only."""
    if isinstance(markets.dtype, pd.CategoricalDtype):
        lookup = np.append(pd.Index(names).get_indexer(markets.cat.categories), -1)
        return lookup[markets.cat.codes.to_numpy()]  # code -1 (missing) reads the appended -1
    return pd.Index(names).get_indexer(markets)


def _in_order(ts: np.ndarray, code: np.ndarray) -> bool:
    """Sorted by time, then market code, already (a bar feed usually is): no sort needed."""
    if len(ts) < 2:
        return True
    step, same = np.diff(ts), np.diff(code)
    return bool(((step > 0) | ((step == 0) & (same >= 0))).all())


def _ns(values) -> np.ndarray:
    """Nanoseconds since the epoch (UTC) of datetimes; NaT stays NaT's integer."""
    return pd.DatetimeIndex(values).as_unit("ns").asi8


def _age_s(frame: pd.DataFrame, column: str, ts_ns: np.ndarray) -> np.ndarray:
    """Seconds since the row's newest tweet or price; NaN where unknown (not checked)."""
    if column not in frame:
        return np.full(len(frame), np.nan)
    at = pd.DatetimeIndex(frame[column])
    return np.where(at.isna(), np.nan, (ts_ns - at.as_unit("ns").asi8) / 1e9)


def _markets(info: list[MarketInfo], observed: tuple[np.ndarray, np.ndarray, np.ndarray],
             closed: dict[str, pd.Timestamp]) -> Markets:
    """The markets' terms by code, and the (code, ns, price) observations of the known ones by market then time."""
    when = lambda at: NEVER if at is None else int(_ns([pd.Timestamp(at)])[0])  # noqa: E731
    code, p_ts, p_val = observed
    known = code >= 0
    if _in_order(p_ts[known], np.zeros(known.sum(), dtype=np.int64)):
        order = np.argsort(code[known], kind="stable")  # already in time order: by market keeps it
    else:
        order = np.lexsort((p_ts[known], code[known]))  # by market, then time; stable for equal times, as the engine's
    code, p_ts, p_val = code[known][order], p_ts[known][order], p_val[known][order]
    bounds = np.arange(len(info))
    return Markets(np.array([m.tick_size for m in info], dtype=float), np.array([m.min_order_size for m in info], dtype=float),
                   np.array([m.fees_enabled for m in info]), np.array([m.fee_rate for m in info], dtype=float),
                   np.array([m.fee_exponent for m in info], dtype=float),
                   np.array([when(m.end) for m in info], dtype=np.int64),
                   np.array([when(closed.get(m.market)) for m in info], dtype=np.int64), p_ts, p_val,
                   np.searchsorted(code, bounds, side="left"), np.searchsorted(code, bounds, side="right"))


def _config(settings: Settings, cost_scale: float) -> Config:
    s, r, k = settings.strategy, settings.risk, settings.costs
    return Config(s.buy_above, s.sell_below, s.exit_at, s.min_tweets, s.min_price, s.max_price, r.kelly_fraction,
                  r.expected_move, r.max_position_fraction, r.max_total_exposure, r.max_drawdown, r.drawdown_reduce_at,
                  r.drawdown_reduce_factor, r.daily_loss_limit, r.stop_loss, r.take_profit, r.max_tweet_age_s,
                  r.max_price_age_s, k.half_spread, k.slippage, rules.model_depth(k.depth_shares, cost_scale),
                  pd.Timedelta(seconds=k.latency_s).value, float(cost_scale), r.starting_cash)


def _state(n_markets: int, cash: float) -> State:
    return State(np.full(n_markets, np.nan), np.zeros(n_markets, dtype=np.bool_), np.zeros(n_markets, dtype=np.int64),
                 np.zeros(n_markets), np.zeros(n_markets), np.zeros(n_markets), np.zeros(n_markets, dtype=np.int64),
                 np.zeros(1, dtype=np.int64), np.array([cash, 0.0]),
                 np.array([np.nan, np.nan, np.nan, np.iinfo(np.int64).min, 0.0, 0.0]))


def _times(ns: np.ndarray, like: pd.Series) -> pd.DatetimeIndex:
    """Nanoseconds back to datetimes in the time zone of `like`."""
    times = pd.DatetimeIndex(ns.view("datetime64[ns]"))
    tz = getattr(like.dt, "tz", None)
    return times.tz_localize("UTC").tz_convert(tz) if tz is not None else times


class Inputs(NamedTuple):
    """A backtest's inputs as the loop reads them, made once by `prepare`: a sweep over thresholds, costs
    and seeds runs `run_prepared` on them again and again (the setting-free part of every run)."""

    info: list[MarketInfo]  # by market code
    markets: Markets
    ts: np.ndarray  # the decision rows that can trade (with a price), in (ts, market) order
    code: np.ndarray
    p_up: np.ndarray
    n_tweets: np.ndarray
    price: np.ndarray
    tweet_age_s: np.ndarray
    price_age_s: np.ndarray
    due_market: np.ndarray  # the resolutions, by market code
    due_at: np.ndarray
    due_outcome: np.ndarray
    settle_until: int
    like: pd.Series  # the frame's timestamps, whose time zone the results keep


def prepare(frame: pd.DataFrame, markets: Mapping[str, MarketInfo], *, prices: pd.DataFrame | None = None,
            resolutions: pd.DataFrame | None = None) -> Inputs:
    """`run_backtest`'s inputs (the decision frame, the markets' terms, the observed prices, the resolutions)
    as arrays in the loop's order."""
    if missing := set(COLUMNS) - set(frame.columns):
        raise ValueError(f"backtest frame lacks columns {sorted(missing)}")
    names = sorted(markets)  # codes in name order: rows sorted by (ts, code) are sorted by (ts, market)
    info = [markets[name] for name in names]
    price = frame["price"].to_numpy(float)
    code = _codes(frame["market"], names)
    keep = ~np.isnan(price)  # rows without a price cannot trade
    if (unknown := keep & (code < 0)).any():
        raise ValueError(f"no MarketInfo for markets {sorted(set(frame['market'][unknown]))}")
    ts = _ns(frame["ts"])
    rows = np.flatnonzero(keep)
    if not _in_order(ts[rows], code[rows]):
        rows = rows[np.lexsort((code[rows], ts[rows]))]  # stable, as run_backtest's sort
    if prices is None:
        observed = (code[rows], ts[rows], price[rows])
    else:
        seen = prices[prices["price"].notna()]
        observed = (_codes(seen["market"], names), _ns(seen["ts"]), seen["price"].to_numpy(float))
    due = list(_resolutions(resolutions, markets).items())
    return Inputs(
        info, _markets(info, observed, {m: at for m, (at, _) in due}), ts[rows], code[rows].astype(np.int64),
        frame["p_up"].to_numpy(float)[rows], frame["n_tweets_1h"].fillna(0).to_numpy(np.int64)[rows], price[rows],
        _age_s(frame, "last_tweet_at", ts)[rows], _age_s(frame, "last_price_at", ts)[rows],
        np.array([names.index(m) for m, _ in due], dtype=np.int64), _ns([at for _, (at, _) in due]),
        np.array([rules.YES if outcome == "YES" else rules.NO for _, (_, outcome) in due], dtype=np.int64),
        int(max(ts[rows].max(), observed[1].max())) if len(rows) else 0, frame["ts"])


def run_prepared(inputs: Inputs, settings: Settings, cost_scale: float = 1.0) -> CompiledResult:
    """The compiled loop on prepared inputs under `settings`' strategy, risk and cost rules. The first call
    in a process compiles the loop (seconds); later ones run at once."""
    fills = List.empty_list(FILL)
    equity, exposure, stamps = _run(
        inputs.markets, _config(settings, cost_scale), _state(len(inputs.info), settings.risk.starting_cash), fills,
        inputs.ts, inputs.code, inputs.p_up, inputs.n_tweets, inputs.price, inputs.tweet_age_s, inputs.price_age_s,
        inputs.due_market, inputs.due_at, inputs.due_outcome, inputs.settle_until)
    index = _times(stamps, inputs.like).rename("ts")
    return CompiledResult(pd.Series(equity, index, name="equity"), _fills(fills, inputs.info, inputs.like),
                          settings.risk.starting_cash, pd.Series(exposure, index, name="exposure"))


def compiled_backtest(frame: pd.DataFrame, markets: Mapping[str, MarketInfo], settings: Settings, *,
                      prices: pd.DataFrame | None = None, resolutions: pd.DataFrame | None = None,
                      books: Mapping | None = None, cost_scale: float = 1.0) -> CompiledResult:
    """`models.backtest.run_backtest` on the same inputs, with the same equity and fills, compiled.

    Recorded order books are not supported (only the cost model prices fills here): pass them to
    `run_backtest`.
    """
    if books:
        raise ValueError("compiled_backtest prices fills with the cost model only: use run_backtest for recorded books")
    return run_prepared(prepare(frame, markets, prices=prices, resolutions=resolutions), settings, cost_scale)


def _fills(fills, info: list[MarketInfo], like: pd.Series) -> pd.DataFrame:
    """The compiled fills as `run_backtest`'s fills frame (`Fill` columns)."""
    columns = [f.name for f in fields(Fill)]
    if not len(fills):
        return pd.DataFrame(columns=columns)
    ints, floats = _unpack(fills)
    token = np.where(ints[:, 2] == rules.YES, "YES", "NO")
    frame = pd.DataFrame({
        "ts": _times(ints[:, 0], like), "market": [info[m].market for m in ints[:, 1]], "token": token,
        "token_id": [info[m].token_id(t) for m, t in zip(ints[:, 1], token)],
        "side": np.where(ints[:, 3] == 1, "BUY", "SELL"), "shares": floats[:, 0], "price": floats[:, 1],
        "fee": floats[:, 2]})
    return frame[columns]
