"""The X API v2 through tweepy: settings, transport, retries, and recent search for backfill.

Search results are turned into filtered-stream payload lines (`search_page_lines`), so backfill,
the live stream and imports share one parser. The bearer token lives in a `SecretStr`, goes only
into the Authorization header, and is scrubbed from tweepy's debug log (which prints headers).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import requests
import tweepy
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from requests.adapters import HTTPAdapter

from models.ingest.tweets import search_page_lines, snowflake_time

log = logging.getLogger(__name__)

TWEEPY_HOST = "https://api.twitter.com"  # tweepy 4.17 hard-codes it in Client.request and StreamingClient._connect
EXPANSIONS = ["author_id"]
TWEET_FIELDS = ["created_at", "lang", "public_metrics", "entities"]
USER_FIELDS = ["username", "verified", "public_metrics"]
RECENT_SEARCH_DAYS = 7
RECENT_SEARCH_LAG = timedelta(seconds=10)  # X refuses an end_time less than 10 s before the request


class XSettings(BaseSettings):
    """How to reach the X API and what to follow; every variable is SENTITRADE_X_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="SENTITRADE_X_", env_file=".env", extra="ignore")

    bearer_token: SecretStr | None = Field(None, description="App-only bearer token; needed for search and the stream.")
    markets: dict[str, str] = Field(
        default_factory=dict, description='Tracked markets, JSON {"<market tag>": "<X query>"}: one search query and one stream rule each.'
    )
    api_url: str = Field(TWEEPY_HOST, description="Base URL of the X API (tests point it at a local server).")
    request_timeout_s: float = Field(30.0, gt=0, description="Read timeout of one API call.")
    stall_timeout_s: float = Field(20.0, gt=0, description="Reconnect when the stream sends no data or keep-alive for this long.")
    backoff_initial_s: float = Field(1.0, gt=0, description="First wait after a dropped connection or a 5xx; doubles each time.")
    backoff_max_s: float = Field(320.0, gt=0, description="Longest wait between reconnects.")
    rate_limit_fallback_s: float = Field(60.0, ge=0, description="Wait after a 429 that names no x-rate-limit-reset.")
    rate_limit_max_wait_s: float = Field(960.0, ge=0, description="Never wait longer than this for a rate limit to reset.")
    max_retries: int = Field(8, ge=0, description="Retries of one search or rules call before giving up.")
    page_size: int = Field(100, ge=10, le=100, description="Tweets per recent-search page (X allows 10 to 100).")
    gap_overlap_s: float = Field(30.0, ge=0, description="After a reconnect, search back this far before the newest id seen.")
    search_lag_s: float = Field(35.0, ge=0, description="Recent search shows tweets about 30 s late: search a gap this long after the reconnect.")
    flush_interval_s: float = Field(60.0, gt=0, description="Land buffered stream tweets at least this often.")
    flush_rows: int = Field(10_000, ge=1, description="...or as soon as this many are buffered.")

    def token(self) -> str:
        if self.bearer_token is None or not self.bearer_token.get_secret_value().strip():
            raise MissingSetting("SENTITRADE_X_BEARER_TOKEN is not set: export it, or put it in .env, to reach the X API")
        return self.bearer_token.get_secret_value()


class MissingSetting(RuntimeError):
    """A credential or setting the command needs is absent; the message names its variable, never a value."""


class _Transport(HTTPAdapter):
    """Points tweepy's hard-coded host at `api_url` and applies our timeouts: tweepy sends API calls
    with none and the stream with a fixed 21 s, while stall detection needs the configured one (a
    read timeout on the stream socket fires when neither a tweet nor a keep-alive arrives in time)."""

    def __init__(self, settings: XSettings):
        super().__init__()
        self.api_url = settings.api_url.rstrip("/")
        self.timeouts = {False: (10.0, settings.request_timeout_s), True: (10.0, settings.stall_timeout_s)}

    def send(self, request, stream=False, timeout=None, **kwargs):
        if request.url.startswith(TWEEPY_HOST) and self.api_url != TWEEPY_HOST:
            request.url = self.api_url + request.url[len(TWEEPY_HOST) :]
        return super().send(request, stream=stream, timeout=self.timeouts[bool(stream)], **kwargs)


class _Redact(logging.Filter):
    """tweepy logs every request's headers at DEBUG, the Authorization header included."""

    secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in sorted(self.secrets, key=len, reverse=True):  # a token holding a shorter one goes whole
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


_REDACT = _Redact()
for _name in ("tweepy.client", "tweepy.streaming"):
    logging.getLogger(_name).addFilter(_REDACT)


def prepare(client: tweepy.client.BaseClient, settings: XSettings) -> None:
    """Route a tweepy client's session through our transport and keep its token out of the logs."""
    _Redact.secrets.add(client.bearer_token)
    client.session.mount(TWEEPY_HOST + "/", _Transport(settings))


TRANSIENT = (tweepy.TooManyRequests, tweepy.TwitterServerError, requests.RequestException)  # worth another try


class Stopped(Exception):
    """A stop was requested while waiting to retry."""


class Retry:
    """Waits between attempts: exponential backoff with jitter for drops and 5xx, and for a 429 until
    the `x-rate-limit-reset` time X names. Setting `stop` cuts a wait short (and raises `Stopped`)."""

    def __init__(self, settings: XSettings, stop: threading.Event | None = None):
        self.settings, self.stop, self.attempt = settings, stop, 0
        self.waits: list[tuple[str, float]] = []  # (why, seconds): what a run spent waiting, for its report

    def reset(self) -> None:
        self.attempt = 0

    def backoff(self, why: str) -> float:
        """Exponential with "equal jitter": half the doubled delay, plus a random share of the other half."""
        ceiling = min(self.settings.backoff_max_s, self.settings.backoff_initial_s * 2**self.attempt)
        self.attempt += 1
        return self.wait(why, ceiling / 2 + random.uniform(0, ceiling / 2))

    def until_reset(self, reset_time: int | None) -> float:
        if reset_time is None:
            return self.wait("rate limited, no reset time", max(self.settings.rate_limit_fallback_s, self._ceiling()))
        seconds = min(max(reset_time - time.time(), 0.0) + 1.0, self.settings.rate_limit_max_wait_s)
        return self.wait("rate limited until x-rate-limit-reset", seconds)

    def _ceiling(self) -> float:
        return min(self.settings.backoff_max_s, self.settings.backoff_initial_s * 2**self.attempt)

    def wait(self, why: str, seconds: float) -> float:
        log.warning("X API: %s; waiting %.1f s", why, seconds)
        self.waits.append((why, seconds))
        if self.stop is None:
            time.sleep(seconds)
        elif self.stop.wait(seconds):
            raise Stopped(why)
        return seconds

    def call(self, fn: Callable, *args, **kwargs):
        """Call `fn`, retrying transient failures (429, 5xx, dropped or timed-out connections)."""
        self.reset()
        while True:
            try:
                return fn(*args, **kwargs)
            except TRANSIENT as exc:
                if self.attempt >= self.settings.max_retries:
                    raise
                if isinstance(exc, tweepy.TooManyRequests):
                    self.attempt += 1
                    self.until_reset(exc.reset_time)
                else:
                    self.backoff(f"{type(exc).__name__} ({str(exc)[:120]})")


@dataclass(frozen=True)
class SearchWindow:
    """Which tweets a search asks for: ids and times, any of them open."""

    since_id: int | None = None
    until_id: int | None = None
    start_time: datetime | None = None  # UTC, naive or aware
    end_time: datetime | None = None

    def params(self, now: datetime) -> dict | None:
        """Request parameters inside what recent search serves (the last 7 days), or None when nothing
        is left. Of an id and a time bound on the same side only the tighter one is sent (an id's
        snowflake carries its time): that loses nothing, and never sends a `since_id` older than the
        search window, which X refuses. With no upper bound X answers up to about 30 s ago."""
        now = _naive(now)
        floor = now - timedelta(days=RECENT_SEARCH_DAYS) + timedelta(minutes=1)
        lower = max(floor, _naive(self.start_time)) if self.start_time else None
        params: dict = {}
        if self.since_id is not None and snowflake_time(self.since_id) >= (lower or floor):
            params["since_id"], lower = self.since_id, snowflake_time(self.since_id)
        elif lower is not None or self.since_id is not None:
            lower = lower or floor
            params["start_time"] = lower.replace(tzinfo=UTC)
        end = min(_naive(self.end_time), now - RECENT_SEARCH_LAG) if self.end_time else None
        if self.until_id is not None and (end is None or snowflake_time(self.until_id) <= end):
            params["until_id"], upper = self.until_id, snowflake_time(self.until_id)
        elif end is not None:
            params["end_time"], upper = end.replace(tzinfo=UTC), end
        else:
            upper = now
        return params if lower is None or lower < upper else None


def _naive(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment is not None and moment.tzinfo else moment


class XSearch:
    """Recent search (`tweepy.Client.search_recent_tweets`) with pagination and retries."""

    def __init__(self, settings: XSettings, stop: threading.Event | None = None):
        self.settings = settings
        self.client = tweepy.Client(bearer_token=settings.token(), return_type=dict)
        prepare(self.client, settings)
        self.retry = Retry(settings, stop)

    def lines(self, tag: str, query: str, window: SearchWindow = SearchWindow(), limit: int | None = None) -> Iterator[str]:
        """Stream payload lines of the tweets matching `query` in `window`, newest first, at most `limit`."""
        params = window.params(datetime.now(UTC))
        if params is None:
            return
        fields = {"expansions": EXPANSIONS, "tweet_fields": TWEET_FIELDS, "user_fields": USER_FIELDS}
        remaining, token = limit, None
        while remaining is None or remaining > 0:
            size = self.settings.page_size if remaining is None else max(10, min(self.settings.page_size, remaining))
            page = self.retry.call(self.client.search_recent_tweets, query, max_results=size, next_token=token, **fields, **params)
            for error in page.get("errors") or []:  # partial errors: a deleted author, a withheld tweet
                log.info("X search %r: %s", tag, str(error.get("detail") or error)[:200])
            lines = search_page_lines(page, tag)
            yield from lines if remaining is None else lines[:remaining]
            remaining = None if remaining is None else remaining - len(lines)
            token = (page.get("meta") or {}).get("next_token")
            if not token:
                return

    def backfill(self, markets: dict[str, str], since_id: int) -> Iterator[str]:
        """Every tracked market's tweets newer than `since_id`: what a stream outage missed."""
        for tag, query in markets.items():
            yield from self.lines(tag, query, SearchWindow(since_id=since_id))


def gap_start(newest_id: int, overlap_s: float) -> int:
    """A `since_id` a little before the newest id seen: the stream delivers tweets a few seconds late
    (P99 about 7 s), so some created before it may still have been in flight; dedup drops the overlap."""
    return max(0, newest_id - (int(overlap_s * 1000) << 22))


class XApiSource:
    """The Dagster `tweets` source in production: a day's tweets of every tracked market, by recent
    search (so only the last 7 days can be filled; the live stream lands the rest as it happens)."""

    def __init__(self, settings: XSettings):
        if not settings.markets:
            raise MissingSetting('SENTITRADE_X_MARKETS is empty: set it to {"<market tag>": "<X query>", ...}')
        self.settings, self.search = settings, XSearch(settings)

    def tweet_lines(self, day: date) -> Iterator[str]:
        start = datetime.combine(day, datetime.min.time())
        window = SearchWindow(start_time=start, end_time=start + timedelta(days=1))
        for tag, query in self.settings.markets.items():
            yield from self.search.lines(tag, query, window)
