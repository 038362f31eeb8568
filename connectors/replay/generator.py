"""A deterministic replay data set in the real wire formats, with a planted (or absent) signal.

Synthetic on purpose: the demo and the tests need data whose truth is known. A hidden event
process drives both sides of each market:

* at an event (about `events_per_day` per market, direction up or down) the tweets about that
  market turn positive or negative and grow in number for `tweet_effect_minutes`;
* `price_lag_minutes` later the market's YES price starts to drift the same way (in log-odds) for
  `price_effect_minutes`, on top of random-walk noise.

So sentiment leads price by the lag, and a model has something real to find. With
`signal=False` (the control set) tweets keep their events but the price is a pure random walk of
the same volatility: tweets and prices are independent, and nothing should be found.

Output, under `out_dir`: `tweets/YYYY-MM-DD.jsonl` (X API v2 filtered-stream payloads, one per
line, in time order), `markets.json` (Gamma market objects), `prices/<token_id>.json` (CLOB
`prices-history` responses, one point every 5 minutes) and `manifest.json`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from connectors.replay import phrases

PRICE_STEP_MINUTES = 5
TWITTER_EPOCH_MS = 1288834974657
# The generator holds the whole data set in memory (about 9 KB and 0.2 ms a tweet) to sort it by
# time: this caps it near 5 GB and two minutes, instead of swapping for hours.
MAX_TWEETS = 500_000


class ReplayConfigError(ValueError):
    """A size the generator cannot honour; the message names the options to change."""


@dataclass(frozen=True)
class ReplayConfig:
    seed: int = 7
    markets: int = 2
    days: int = 7
    tweets_per_day: int = 7200  # across all markets
    signal: bool = True
    start: date = date(2026, 11, 1)
    events_per_day: float = 6.0
    tweet_effect_minutes: int = 120
    price_lag_minutes: int = 30
    price_effect_minutes: int = 120
    event_move_logit: float = 0.5
    step_noise_logit: float = 0.02
    authors: int = 2000

    def __post_init__(self):
        for name in ("markets", "days", "tweets_per_day"):
            if getattr(self, name) <= 0:
                raise ReplayConfigError(f"{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.seed < 0:
            raise ReplayConfigError(f"seed must be zero or more, got {self.seed}")
        if self.days * self.tweets_per_day > MAX_TWEETS:
            raise ReplayConfigError(
                f"--days {self.days} x --tweets-per-day {self.tweets_per_day:,} is {self.days * self.tweets_per_day:,} tweets, "
                f"more than the {MAX_TWEETS:,} the replay generator holds in memory: lower one of them"
            )


def _digest(*parts) -> bytes:
    return hashlib.sha256("|".join(map(str, parts)).encode()).digest()


def _token_id(*parts) -> str:
    return str(int.from_bytes(_digest(*parts), "big") >> 4)  # 76-77 decimal digits, like the CLOB's


def _market(cfg: ReplayConfig, index: int) -> dict:
    slug, question, _ = phrases.THEMES[index % len(phrases.THEMES)]
    if index >= len(phrases.THEMES):
        slug, question = f"{slug}-{index // len(phrases.THEMES) + 1}", f"{question} (#{index // len(phrases.THEMES) + 1})"
    yes, no = _token_id(cfg.seed, slug, "yes"), _token_id(cfg.seed, slug, "no")
    fees = index % 2 == 0  # one fee market, one fee-free, to exercise both cost paths
    return {
        "id": str(500000 + index),
        "question": question,
        "conditionId": "0x" + _digest(cfg.seed, slug).hex(),
        "slug": slug,
        "endDate": f"{cfg.start.year + 1}-12-31T00:00:00Z",
        "outcomes": json.dumps(["Yes", "No"]),
        "outcomePrices": json.dumps(["0.5", "0.5"]),
        "clobTokenIds": json.dumps([yes, no]),
        "active": True,
        "closed": False,
        "volume": "250000.0",
        "orderPriceMinTickSize": 0.001,
        "orderMinSize": 5,
        "negRisk": False,
        "feesEnabled": fees,
        "feeSchedule": {"exponent": 1, "rate": 0.04, "takerOnly": True, "rebateRate": 0.25} if fees else None,
    }


def _events(rng: np.random.Generator, cfg: ReplayConfig, minutes: int) -> tuple[np.ndarray, np.ndarray]:
    count = rng.poisson(cfg.events_per_day * cfg.days)
    return rng.integers(0, minutes, count), rng.choice([-1.0, 1.0], count)


def _mood(times, directions, minutes: int, effect: int) -> np.ndarray:
    mood = np.zeros(minutes)
    for start, direction in zip(times, directions):
        mood[start : start + effect] += direction
    return np.clip(mood, -1.0, 1.0)


def _price_path(rng, cfg: ReplayConfig, times, directions, minutes: int) -> np.ndarray:
    steps = minutes // PRICE_STEP_MINUTES + 1
    effect_steps = cfg.price_effect_minutes // PRICE_STEP_MINUTES
    drift = np.zeros(steps)
    for start, direction in zip(times, directions):
        first = (start + cfg.price_lag_minutes) // PRICE_STEP_MINUTES
        drift[first : first + effect_steps] += direction * cfg.event_move_logit / effect_steps
    sigma = cfg.step_noise_logit
    if not cfg.signal:  # the control: same volatility, no structure (a martingale with i.i.d. steps)
        sigma, drift = float(np.sqrt(sigma**2 + np.mean(np.square(drift)))), np.zeros(steps)
    logit = np.empty(steps)
    logit[0] = rng.uniform(-1.0, 1.0)
    for k in range(1, steps):
        nxt = logit[k - 1] + drift[k - 1] + rng.normal(0.0, sigma)
        logit[k] = nxt if abs(nxt) < 3.5 else logit[k - 1] - (nxt - logit[k - 1])  # reflect off the edges
    return np.round(1.0 / (1.0 + np.exp(-logit)), 4)


class _Authors:
    """A fixed pool of accounts: heavy-tailed follower counts, a few verified."""

    def __init__(self, rng: np.random.Generator, count: int):
        self.ids = [str(10**17 + int(x)) for x in rng.integers(0, 9 * 10**17, count)]
        self.followers = np.round(np.exp(rng.normal(6.0, 1.6, count))).astype(int)
        self.verified = rng.random(count) < 0.05
        adjectives, nouns = ["quiet", "macro", "degen", "sharp", "daily", "odds"], ["trader", "watcher", "desk", "fan", "owl"]
        self.names = [f"{adjectives[i % 6]}_{nouns[(i // 6) % 5]}{i}" for i in range(count)]

    def user(self, i: int) -> dict:
        return {
            "id": self.ids[i],
            "name": self.names[i].replace("_", " ").title(),
            "username": self.names[i],
            "verified": bool(self.verified[i]),
            "public_metrics": {"followers_count": int(self.followers[i]), "following_count": 200, "tweet_count": 5000, "listed_count": 3},
        }


def _text(rng: np.random.Generator, subject: str, tone: str) -> str:
    pool = {"pos": phrases.POSITIVE, "neg": phrases.NEGATIVE, "neu": phrases.NEUTRAL}[tone]
    text = f"{rng.choice(phrases.OPENERS)}{subject} {rng.choice(pool)} {rng.choice(phrases.EMOJI[tone])}".strip()
    extra = rng.random()
    if extra < 0.15:
        text += f" https://t.co/{_digest(text, extra).hex()[:10]}"
    elif extra < 0.30:
        text = f"@{rng.choice(['PolymarketWhale', 'newsdesk', 'odds_bot'])} {text}"
    return text


def _tweets(rng, cfg: ReplayConfig, market: dict, rule_id: str, subjects, mood, authors: _Authors):
    """Yield (created_at, payload) for one market, minute by minute."""
    rate = 1.0 + np.abs(mood)  # events make people talk
    rate *= cfg.tweets_per_day / cfg.markets / 1440.0 / rate.mean()
    counts = rng.poisson(rate)
    start = datetime.combine(cfg.start, datetime.min.time(), tzinfo=UTC)
    for minute in np.flatnonzero(counts):
        p_pos, p_neg = 0.30 + 0.25 * mood[minute], 0.30 - 0.25 * mood[minute]
        for _ in range(counts[minute]):
            created = start + timedelta(minutes=int(minute), milliseconds=int(rng.integers(0, 60_000)))
            tone = rng.choice(["pos", "neg", "neu"], p=[p_pos, p_neg, 1.0 - p_pos - p_neg])
            author = int(rng.integers(0, len(authors.ids)))
            yield created, {
                "data": {
                    "author_id": authors.ids[author],
                    "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.") + f"{created.microsecond // 1000:03d}Z",
                    "text": _text(rng, rng.choice(subjects), tone),
                    "lang": "en",
                    "public_metrics": {
                        "retweet_count": int(rng.poisson(1)),
                        "reply_count": int(rng.poisson(0.5)),
                        "like_count": int(rng.poisson(4)),
                        "quote_count": 0,
                    },
                },
                "includes": {"users": [authors.user(author)]},
                "matching_rules": [{"id": rule_id, "tag": market["slug"]}],
            }


def _snowflake(created: datetime, sequence: int) -> str:
    """X ids grow with time: (milliseconds since the Twitter epoch << 22) | sequence."""
    return str(((int(created.timestamp() * 1000) - TWITTER_EPOCH_MS) << 22) | (sequence & 0x3FFFFF))


def generate_replay(out_dir: Path, cfg: ReplayConfig = ReplayConfig()) -> dict:
    """Write the replay data set to `out_dir` (replacing one already there) and return its manifest."""
    rng = np.random.default_rng(cfg.seed)
    price_rng = np.random.default_rng([cfg.seed, 1])  # the price noise never shares draws with tweets
    minutes = cfg.days * 1440
    authors = _Authors(rng, cfg.authors)
    markets, streams = [], []
    for index in range(cfg.markets):
        market = _market(cfg, index)
        times, directions = _events(rng, cfg, minutes)
        mood = _mood(times, directions, minutes, cfg.tweet_effect_minutes)
        prices = _price_path(price_rng, cfg, times, directions, minutes)
        rule_id = str(int.from_bytes(_digest("rule", market["slug"]), "big") % 10**19)
        subjects = phrases.THEMES[index % len(phrases.THEMES)][2]
        markets.append((market, prices))
        streams.append(list(_tweets(rng, cfg, market, rule_id, subjects, mood, authors)))

    staging = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "tweets").mkdir(parents=True)
    (staging / "prices").mkdir()
    tweets = sorted((item for stream in streams for item in stream), key=lambda item: item[0])
    by_day: dict[date, list[str]] = {}
    for sequence, (created, payload) in enumerate(tweets):
        payload["data"]["id"] = _snowflake(created, sequence)
        payload["data"]["edit_history_tweet_ids"] = [payload["data"]["id"]]
        by_day.setdefault(created.date(), []).append(json.dumps(payload, ensure_ascii=False))
    for day, lines in by_day.items():
        (staging / "tweets" / f"{day.isoformat()}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    start_ts = int(datetime.combine(cfg.start, datetime.min.time(), tzinfo=UTC).timestamp())
    for market, prices in markets:
        yes_token = json.loads(market["clobTokenIds"])[0]
        history = [{"t": start_ts + 60 * PRICE_STEP_MINUTES * k, "p": float(p)} for k, p in enumerate(prices)]
        market["outcomePrices"] = json.dumps([str(prices[-1]), str(round(1 - prices[-1], 4))])
        (staging / "prices" / f"{yes_token}.json").write_text(json.dumps({"history": history}))
    (staging / "markets.json").write_text(json.dumps([m for m, _ in markets], indent=1))
    manifest = {**asdict(cfg), "start": cfg.start.isoformat(), "tweets": len(tweets), "synthetic": True}
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    return manifest
