"""Every trading rule once, as a plain numeric function: the trader calls them per decision, the compiled
backtest (`models.compiled`) compiles these very functions with numba and calls them per bar.

Only floats, ints and bools go in and out (tuples of them where a rule yields several numbers), no
objects and no strings, so `numba.njit` compiles each as written; the classes around them (strategy,
risk, costs, engine) keep the reasons and the bookkeeping. A missing value is NaN, not None. Tokens and
signals are int codes: FLAT/HOLD 0, YES/BUY 1, NO/SELL 2 (a signal's code is the token it wants held).
"""

from __future__ import annotations

import math

FLAT, YES, NO = 0, 1, 2
EPS = 1e-9  # absorbs float noise so a price already on the tick is not pushed one tick further
CAPPED, REDUCED, EXPOSURE_CAPPED = 1, 2, 4  # `stake`'s flags: which limits cut the stake


def decimal_round(x: float, digits: int) -> float:
    """`round(x, digits)` as Python rounds it (the exact binary value, half to even), also when compiled:
    numba's round scales by 10**digits first, and a product that rounds onto a half (0.183074999… × 1e5
    = 18307.5) would round the other way."""
    scale = 10.0 ** digits
    y = x * scale
    whole = math.floor(y)
    if y - whole > 0.5 or (y - whole == 0.5 and _product_error(x, scale) > 0):
        whole += 1
    elif y - whole == 0.5 and _product_error(x, scale) == 0 and whole % 2 == 1:
        whole += 1  # an exact tie: to even
    return whole / scale


def _product_error(a: float, b: float) -> float:
    """a × b − fl(a × b), exactly (Dekker's product with Veltkamp's split)."""
    product, split = a * b, 134217729.0  # 2**27 + 1
    c = split * a
    a_hi = c - (c - a)
    a_lo = a - a_hi
    c = split * b
    b_hi = c - (c - b)
    b_lo = b - b_hi
    return ((a_hi * b_hi - product) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


# The signal (models.strategy)

def signal(p_up: float, held: int, buy_above: float, sell_below: float, exit_at: float) -> int:
    """The token the model wants held, with hysteresis: a held one is kept until p_up crosses back over
    `exit_at`; without a prediction (NaN) what is held stays."""
    if math.isnan(p_up):
        return held
    if p_up > buy_above:
        return YES
    if p_up < sell_below:
        return NO
    if held == YES and p_up > exit_at:
        return YES
    if held == NO and p_up < exit_at:
        return NO
    return FLAT


def too_few_tweets(n_tweets: int, min_tweets: int) -> bool:
    return n_tweets < min_tweets


def outside_price_band(mid_yes: float, min_price: float, max_price: float) -> bool:
    return not min_price <= mid_yes <= max_price


def target(wanted: int, held: int, blocked: bool) -> int:
    """A blocked entry may keep what is held or go flat, never open or flip into a new position."""
    return wanted if not blocked or wanted == held else FLAT


# The risk rules (models.risk)

def kelly(q: float, price: float, cost: float, move: float) -> tuple[float, float]:
    """Expected net return per dollar staked, and its full Kelly fraction (0 when that return is <= 0);
    the derivation is in `models.risk`."""
    net = ((2 * q - 1) * move - cost) / price
    if net <= 0:
        return net, 0.0
    return net, price * (q / (move + cost) - (1 - q) / (move - cost))


def stake(q: float, price: float, cost: float, equity: float, exposure: float, drawdown: float,
          kelly_fraction: float, expected_move: float, max_position_fraction: float, drawdown_reduce_at: float,
          drawdown_reduce_factor: float, max_drawdown: float, max_total_exposure: float
          ) -> tuple[float, float, float, float, int]:
    """USDC for a new position: (stake, net return, full Kelly, the fraction of equity before the total
    cap, flags of the limits applied). Fractional Kelly, capped per market, reduced in a drawdown, then
    shrunk so that all positions together stay within `max_total_exposure` of equity."""
    net, full = kelly(q, price, cost, expected_move)
    if full <= 0:
        return 0.0, net, full, 0.0, 0
    flags = 0
    fraction = kelly_fraction * full
    if fraction > max_position_fraction:
        fraction = max_position_fraction
        flags |= CAPPED
    if drawdown_reduce_factor < 1 and drawdown >= drawdown_reduce_at * max_drawdown:
        fraction *= drawdown_reduce_factor
        flags |= REDUCED
    equity = max(equity, 0.0)
    amount = fraction * equity
    room = max_total_exposure * equity - exposure
    if amount > room:
        amount = max(room, 0.0)
        flags |= EXPOSURE_CAPPED
    return amount, net, full, fraction, flags


def observe(new_day: bool, equity: float, last_equity: float, peak: float, day_start: float, day_stopped: bool,
            halted: bool, daily_loss_limit: float, max_drawdown: float) -> tuple[float, float, bool, bool]:
    """The risk state after seeing `equity`: (peak, day_start, day_stopped, halted). A day starts from the
    equity last seen before it (NaN: none yet, then this one); the day stops past its loss limit, the
    halt latches below peak × (1 − max_drawdown) and never clears."""
    if new_day:
        day_stopped = False
        day_start = equity if math.isnan(last_equity) else last_equity
    peak = equity if math.isnan(peak) else max(peak, equity)
    if daily_loss_limit != 0 and equity < day_start * (1 - daily_loss_limit):
        day_stopped = True
    if equity < peak * (1 - max_drawdown):
        halted = True
    return peak, day_start, day_stopped, halted


def drawdown(equity: float, peak: float) -> float:
    """Fall of `equity` below `peak` as a fraction; 0 before any observation (NaN)."""
    return 1.0 - equity / peak if peak != 0 and not math.isnan(peak) and not math.isnan(equity) else 0.0


def stale(age_s: float, bound_s: float) -> bool:
    """An input older than its bound (0: the guard is off; NaN age: unknown, not checked)."""
    return bound_s != 0 and age_s > bound_s


def exit_kind(avg_cost: float, mid: float, stop_loss: float, take_profit: float) -> int:
    """1 stop-loss, 2 take-profit, 0 neither, for a position bought at `avg_cost` now at its token's `mid`."""
    if stop_loss != 0 and mid <= avg_cost * (1 - stop_loss):
        return 1
    if take_profit != 0 and mid >= avg_cost * (1 + take_profit):
        return 2
    return 0


# The costs (models.costs)

def token_mid(token: int, mid_yes: float) -> float:
    """YES and NO pay out 1 together, so the NO mid is 1 − the YES mid."""
    return mid_yes if token == YES else 1.0 - mid_yes


def fee_per_share(price: float, rate: float, exponent: float) -> float:
    """Unrounded taker fee of one share, feeRate × (p × (1 − p))^exponent."""
    return rate * (price * (1.0 - price)) ** exponent


def taker_fee(shares: float, price: float, rate: float, exponent: float) -> float:
    """Polymarket's taker fee in USDC, to 5 decimals (see `models.costs.taker_fee`)."""
    return decimal_round(shares * fee_per_share(price, rate, exponent), 5)


def market_fee(shares: float, price: float, fees_enabled: bool, rate: float, exponent: float, scale: float) -> float:
    """The fee a fill pays in a market (none unless it has fees enabled), times the cost scale, to 5 decimals."""
    return decimal_round(scale * (taker_fee(shares, price, rate, exponent) if fees_enabled else 0.0), 5)


def market_fee_per_share(price: float, fees_enabled: bool, rate: float, exponent: float) -> float:
    return fee_per_share(price, rate, exponent) if fees_enabled else 0.0


def round_trip_cost(half_spread: float, slippage: float, fee_per_share: float, scale: float) -> float:
    """Price units a share loses buying and later selling it: half spread, slippage and taker fee, each way."""
    return 2 * scale * (half_spread + slippage + fee_per_share)


def on_grid(ticks: int, tick: float) -> float:
    """The price `ticks` ticks up, NaN outside [tick, 1 − tick]: the book quotes nothing there."""
    price = decimal_round(ticks * tick, 10)  # 7 × 0.1 is 0.7000000000000001
    return price if tick - EPS <= price <= 1.0 - tick + EPS else math.nan


def touch_ticks(mid: float, buy: bool, tick: float, half_spread: float, slippage: float, scale: float) -> int:
    """The cost model's best price for a taker in ticks: the mid moved against us by half the spread plus
    slippage, snapped to the tick adversely (a BUY rounds up, a SELL down)."""
    cost = scale * (half_spread + slippage)
    return math.ceil((mid + cost) / tick - EPS) if buy else math.floor((mid - cost) / tick + EPS)


def model_level(touch_at: int, buy: bool, tick: float, level: int) -> float:
    """The price of the cost model's `level`-th level (0: the touch at `touch_at` ticks), one tick further out
    each; NaN outside the grid, never a clamp to a better price."""
    return on_grid(touch_at + level if buy else touch_at - level, tick)


def model_depth(depth_shares: float, scale: float) -> float:
    """Shares at each model level: twice the costs halve it, no costs make it unlimited."""
    return depth_shares / scale if scale > 0 else math.inf


def bid_mark(token_mid: float, half_spread: float, scale: float) -> float:
    """What one share sells for now under the cost model: the mid less half the spread, 0 at most."""
    return max(token_mid - scale * half_spread, 0.0)


def share_floor(shares: float) -> float:
    """Down to the exchange's size step, hundredths of a share."""
    return math.floor(shares * 100 + EPS) / 100


def inside_limit(price: float, limit: float, buy: bool) -> bool:
    return price <= limit + EPS if buy else price >= limit - EPS


def affordable_take(size: float, stake: float, spent: float, price: float, cash: float, paid: float,
                    fee_per_share: float) -> float:
    """Shares a BUY takes from one level: what it offers, what is left of the stake and of the cash with fees."""
    return share_floor(min(size, (stake - spent) / price, (cash - paid) / (price + fee_per_share)))
