"""The live X filtered stream (`tweepy.StreamingClient`): rules kept in sync with the configured
markets, faults survived, and every outage's gap filled by recent search.

tweepy reconnects by itself, but with fixed waits, a 429 wait that ignores `x-rate-limit-reset`,
and no way to fill the gap an outage leaves. So each `filter()` call here is one connection: every
failure disconnects, and `LiveStream` decides how long to wait. After every connect it searches
recent search for what was missed since a little before the newest id it has seen (once search
has indexed the gap, about 30 s later); the store deduplicates by tweet id, so the overlap between
search and stream is landed once.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime

import tweepy

from connectors.x_api import (
    EXPANSIONS,
    TRANSIENT,
    TWEET_FIELDS,
    USER_FIELDS,
    MissingSetting,
    Retry,
    Stopped,
    XSearch,
    XSettings,
    gap_start,
    prepare,
)
from models.ingest.landing import LandingReport, TweetLanding
from models.ingest.tweets import snowflake_at

log = logging.getLogger(__name__)


class StreamError(RuntimeError):
    """The stream cannot go on: X refused the credentials, the access level or a rule."""


@dataclass(frozen=True)
class RuleChanges:
    added: list[str]
    deleted: list[str]


def sync_rules(client: tweepy.StreamingClient, markets: dict[str, str], retry: Retry) -> RuleChanges:
    """Make the stream's rules exactly one per market (value: its query, tag: its market): rules that
    match no market, or repeat one, are deleted; the missing ones are added."""
    wanted = {(query, tag) for tag, query in markets.items()}
    kept, stale = set(), []
    for rule in retry.call(client.get_rules).data or []:
        if (rule.value, rule.tag) in wanted - kept:
            kept.add((rule.value, rule.tag))
        else:
            stale.append(rule)
    if stale:
        _raise_refusals(retry.call(client.delete_rules, [rule.id for rule in stale]), "delete rules")
    missing = [tweepy.StreamRule(value=query, tag=tag) for query, tag in sorted(wanted - kept)]
    if missing:
        _raise_refusals(retry.call(client.add_rules, missing), "add rules")
    return RuleChanges(added=[rule.tag for rule in missing], deleted=[rule.tag or rule.value for rule in stale])


def _raise_refusals(response, action: str) -> None:
    if response.errors:
        details = "; ".join(str(e.get("title", "")) + ": " + str(e.get("value") or e.get("detail") or "") for e in response.errors)
        raise StreamError(f"X refused to {action}: {details[:500]}")


@dataclass
class _Failure:
    kind: str  # dropped, stalled, closed, http, exception
    status: int | None = None
    reset_time: int | None = None
    detail: str = ""
    error: BaseException | None = None


class _Connection(tweepy.StreamingClient):
    """One filtered-stream connection per `filter()` call, reporting why it ended."""

    def __init__(self, stream: LiveStream, settings: XSettings):
        super().__init__(settings.token())
        prepare(self, settings)
        self.stream, self.stall_timeout = stream, settings.stall_timeout_s
        self.failure: _Failure | None = None
        self.last_activity = time.monotonic()
        self._response = None
        self.session.hooks["response"].append(self._keep_response)

    def _keep_response(self, response, *args, **kwargs):
        self._response = response  # on_request_error gets only the status; the 429 wait needs the headers

    def hang_up(self) -> None:
        """Cut the open stream now: its read would wait for the next line or keep-alive (20 s apart)."""
        connection = self._response.raw.connection if self._response is not None else None
        if connection is not None and connection.sock is not None:
            with suppress(OSError):  # already gone
                connection.sock.shutdown(socket.SHUT_RDWR)

    def on_connect(self):
        self.failure, self.last_activity = None, time.monotonic()
        self.stream.connected()

    def on_data(self, raw_data):
        self.last_activity = time.monotonic()
        self.stream.received(raw_data)

    def on_keep_alive(self):
        self.last_activity = time.monotonic()
        self.stream.received(None)

    def on_closed(self, response):
        self._end(_Failure("closed"))

    def on_connection_error(self):
        stalled = time.monotonic() - self.last_activity >= 0.9 * self.stall_timeout
        self._end(_Failure("stalled" if stalled else "dropped"))

    def on_request_error(self, status_code):
        headers = self._response.headers if self._response is not None else {}
        reset = headers.get("x-rate-limit-reset")
        detail = self._response.text[:300] if self._response is not None else ""
        self._end(_Failure("http", status_code, int(reset) if reset and reset.isdigit() else None, detail))

    def on_exception(self, exception):
        self._end(_Failure("exception", error=exception))

    def _end(self, failure: _Failure) -> None:
        self.failure = failure
        self.disconnect()


@dataclass
class StreamReport:
    connects: int = 0
    failures: Counter = field(default_factory=Counter)  # e.g. dropped, stalled, closed, http 429, http 503
    backfilled: int = 0  # tweets the gap searches returned (landed or found duplicate)
    notices: int = 0  # stream system messages (errors without data), logged not landed
    rules: RuleChanges | None = None
    landing: LandingReport = field(default_factory=LandingReport)


class LiveStream:
    """Follow the filtered stream of the configured markets and land what it delivers.

    A gap (from a little before the newest id seen to the reconnect) is searched `search_lag_s`
    after the reconnect, since recent search shows tweets only about 30 s after they are posted.
    `on_lines`, if given, is called with the lines as they arrive (the stream's, then each gap
    search's), before they are buffered for landing: a live consumer need not wait for a flush.
    It runs in the stream's thread and must not raise."""

    def __init__(
        self, settings: XSettings, landing: TweetLanding, resume_from: int | None = None,
        on_lines: Callable[[list[bytes | str]], None] | None = None,
    ):
        if not settings.markets:
            raise MissingSetting('SENTITRADE_X_MARKETS is empty: set it to {"<market tag>": "<X query>", ...}')
        self.settings, self.landing, self.on_lines = settings, landing, on_lines or (lambda lines: None)
        self._stop = threading.Event()
        self._search_last_gap = True
        self.retry = Retry(settings, self._stop)
        self.search = XSearch(settings, self._stop)
        self.client = _Connection(self, settings)
        # With nothing stored yet, the gap after the first drop starts when following started.
        self.newest_id = resume_from if resume_from is not None else snowflake_at(datetime.now(UTC).replace(tzinfo=None))
        self.report = StreamReport()
        self._buffer: list[bytes] = []
        self._last_flush = time.monotonic()
        self._gap: tuple[int, float] | None = None  # (since_id, monotonic time it becomes searchable)

    def stop(self, search_last_gap: bool = True) -> None:
        """Ask the stream to end now; `run` lands what arrived, then (unless `search_last_gap` is
        False) waits until search has indexed the last gap and fills it."""
        self._search_last_gap = search_last_gap
        self._stop.set()
        self.client.disconnect()
        self.client.hang_up()

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` seconds; True once a stop was asked."""
        return self._stop.wait(timeout)

    def run(self, duration: float | None = None) -> StreamReport:
        """Follow until `stop()` (or for `duration` seconds); then land the rest and search the last gap."""
        timer = threading.Timer(duration, self.stop) if duration else None
        if timer:
            timer.daemon = True
            timer.start()
        try:
            self.report.rules = sync_rules(self.client, self.settings.markets, self.retry)
            while not self._stop.is_set():
                self.client.filter(expansions=EXPANSIONS, tweet_fields=TWEET_FIELDS, user_fields=USER_FIELDS)
                self.flush()
                if not self._stop.is_set():
                    self._wait_after(self.client.failure or _Failure("closed"))
        except Stopped:
            pass
        finally:
            if timer:
                timer.cancel()
            self.flush()
        self._close_gap()
        return self.report

    def _wait_after(self, failure: _Failure) -> None:
        if failure.kind == "exception":
            raise failure.error
        name = f"http {failure.status}" if failure.kind == "http" else failure.kind
        self.report.failures[name] += 1
        if failure.status == 429:
            self.retry.until_reset(failure.reset_time)
        elif failure.kind != "http" or failure.status >= 500:
            self.retry.backoff(f"stream {name}")
        else:  # 401, 403 (no access to the stream), 400: waiting will not help
            raise StreamError(f"X refused the stream with HTTP {failure.status}: {failure.detail}")

    def connected(self) -> None:
        """Each connect opens a gap: from a little before the newest id seen (or an earlier gap not
        searched yet) to now; tweets from now on come by the stream."""
        self.report.connects += 1
        self.flush()
        since = gap_start(self.newest_id, self.settings.gap_overlap_s)
        if self._gap is not None:
            since = min(since, self._gap[0])
        self._gap = (since, time.monotonic() + self.settings.search_lag_s)

    def received(self, raw: bytes | None) -> None:
        """A line from the stream (None for a keep-alive): a healthy connection resets the backoff."""
        self.retry.reset()
        if raw is not None:
            if b'"data"' not in raw and b'"errors"' in raw:  # e.g. an operational-disconnect notice
                self.report.notices += 1
                log.warning("X stream notice: %s", raw[:300].decode("utf-8", "replace"))
            else:
                self.on_lines([raw])
                self._buffer.append(raw)
        if self._gap is not None and time.monotonic() >= self._gap[1]:
            try:
                self._fill_gap()
            except TRANSIENT as exc:  # search is down: keep streaming, try the gap again later
                log.warning("searching the gap since id %s failed (%s); trying again later", self._gap[0], type(exc).__name__)
                self._gap = (self._gap[0], time.monotonic() + self.settings.search_lag_s)
        if len(self._buffer) >= self.settings.flush_rows or time.monotonic() - self._last_flush >= self.settings.flush_interval_s:
            self.flush()
        if self._stop.is_set():
            self.client.disconnect()

    def _fill_gap(self) -> None:
        """Search every market since the gap's start and land it, all or nothing: a later gap starts
        from the newest id stored, so a half-searched gap must not move it."""
        lines = list(self.search.backfill(self.settings.markets, self._gap[0]))
        self._gap = None
        self.report.backfilled += len(lines)
        self.on_lines(lines)
        self._land(lines)

    def _close_gap(self) -> None:
        """On stop the last gap is still searched, once searchable (unless the stop said not to): the
        next run resumes after the newest id stored, which is past it."""
        if self._gap is None:
            return
        try:
            if not self._search_last_gap:
                raise Stopped()
            time.sleep(max(0.0, self._gap[1] - time.monotonic()))
            self._fill_gap()
        except (Stopped, *TRANSIENT) as exc:
            log.warning("the gap since id %s was not searched (%s): run `sentitrade ingest tweets --since-id %s`", self._gap[0], type(exc).__name__, self._gap[0])

    def flush(self) -> None:
        lines, self._buffer = self._buffer, []
        self._land(lines)

    def _land(self, lines: list) -> None:
        self._last_flush = time.monotonic()
        if lines:
            landed = self.landing.land(lines)
            self.report.landing.add(landed)
            self.newest_id = max(self.newest_id, landed.newest_id or 0)
