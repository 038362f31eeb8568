"""Ledger writes that outlive a database outage (PostgreSQL stopped, a network drop).

A write that fails because the database cannot be reached is kept pending: the trader's one loop
waits inside `LedgerWrites.write`, so it makes no decision and sends no order, and retries the same
write with backoff until it commits. Trading then goes on from exactly where it was, so a run with
an outage leaves the same ledger as one without. A decision round's orders went out before its
transaction, so the round is retried, never dropped; events and lease renewals are retried the
same way (the loop is paused anyway, and the ledger keeps the trail it would have had).

Before each retry the lease is renewed: it is re-taken if it expired and nobody took it, and a
lease another trader took stops this one (`LeaseHeld`), so two writers never share a run. An outage
longer than SENTITRADE_TRADER_LEDGER_OUTAGE_S (or a signal during one) ends the trader with
`LedgerDown`; the pending write is not made, and the next start continues from the last whole round.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

from sentitrade.redact import redact
from trader.ledger import Ledger
from trader.metrics import TraderMetrics

log = logging.getLogger("trader")

FIRST_RETRY_S = 0.25
MAX_RETRY_S = 5.0  # a database that is back is noticed within this long
T = TypeVar("T")


class LedgerDown(RuntimeError):
    """The ledger stayed unreachable past the limit, or the trader was stopped while it was: nothing was half-written."""

    exit_code = 75  # EX_TEMPFAIL: start again once the database is back


def unreachable(exc: BaseException) -> bool:
    """A lost or refused connection (worth waiting out), as opposed to a bad statement (a bug)."""
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) or (
        isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated)


class LedgerWrites:
    def __init__(self, ledger: Ledger, limit_s: float, metrics: TraderMetrics, stop: threading.Event,
                 killed: Callable[[], bool]):
        self.ledger, self.limit_s, self.metrics, self.stop, self.killed = ledger, limit_s, metrics, stop, killed
        self.down = False  # gave up on the ledger: the lease cannot be released (it expires, or the next start here takes it)

    def write(self, what: str, call: Callable[[], T], written: Callable[[], bool] | None = None) -> T | None:
        """`call()`, committed; while the database is unreachable, retried until it commits.

        `written()` says whether a commit whose answer was lost went through after all, so a retry
        does not write it twice (writes without it are idempotent or harmless to repeat).
        """
        try:
            return call()
        except sa.exc.DBAPIError as exc:
            if not unreachable(exc):
                raise
            return self._wait_out(what, call, written, exc)

    def _wait_out(self, what: str, call: Callable[[], T], written: Callable[[], bool] | None, error: sa.exc.DBAPIError) -> T | None:
        where, began, delay, kill_said = redact(self.ledger.url), time.monotonic(), FIRST_RETRY_S, False
        self.metrics.errors.labels("ledger").inc()
        log.error("ledger %s unreachable (%s): trading stopped, %s pending; retrying until it is back, for at most %g s "
                  "(SENTITRADE_TRADER_LEDGER_OUTAGE_S)", where, _first_line(error), what, self.limit_s)
        while True:
            left = self.limit_s - (time.monotonic() - began)
            if left <= 0:
                self.down = True
                raise LedgerDown(f"the ledger {where} was unreachable for {self.limit_s:g} s (SENTITRADE_TRADER_LEDGER_OUTAGE_S): "
                                 f"stopped without writing {what}; the next start continues the run from its last whole round")
            if self.stop.wait(min(delay, left)):
                self.down = True
                raise LedgerDown(f"stopped by a signal while the ledger {where} was unreachable: {what} not written; "
                                 "the next start continues the run from its last whole round")
            if not kill_said and self.killed():
                log.warning("kill file seen while the ledger is unreachable: it is carried out once the ledger is back")
                kill_said = True
            try:
                self.ledger.renew()
                result = None if written is not None and written() else call()
            except sa.exc.DBAPIError as exc:
                if not unreachable(exc):
                    raise
                self.metrics.errors.labels("ledger").inc()
                delay = min(delay * 2, MAX_RETRY_S)
                continue
            log.warning("ledger %s back after %.1f s: %s written, trading resumes", where, time.monotonic() - began, what)
            return result


def _first_line(exc: sa.exc.DBAPIError) -> str:
    text = str(exc.orig) if exc.orig is not None else str(exc)
    return redact(f"{type(exc.orig or exc).__name__}: {text.strip().splitlines()[0][:200] if text.strip() else '?'}")
