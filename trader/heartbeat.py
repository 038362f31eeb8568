"""The exchange's dead-man switch for resting orders: a heartbeat about every 5 s while any order rests.

The switch is armed before an order that may rest is posted (`beat()` from the trader's own thread),
so a trader killed right after posting leaves nothing resting for long. Once a heartbeat is accepted,
the exchange cancels every open order of the API key when about 10 s
pass without one, so a trader that dies or hangs leaves nothing resting for long. There is no disarm:
the beats go on for as long as the ledger has an order resting, and stop when none does (then a lapse
cancels nothing). Each beat carries the id the previous one returned; a stale id is answered with the
expected one, which the next beat uses at once. Sends are serialized on one thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from polymarket import SecureClient
from polymarket.errors import OrderHeartbeatMismatchError, PolymarketError

from sentitrade.redact import one_line

log = logging.getLogger("trader.heartbeat")


class Heartbeat:
    def __init__(self, client: SecureClient, resting: Callable[[], bool], every_s: float = 5.0,
                 on_error: Callable[[], None] | None = None):
        self.client, self.resting, self.every_s, self.on_error = client, resting, every_s, on_error
        self.heartbeat_id = ""
        self.sent = self.failures = 0
        self._failing = False
        self._stop, self._wake = threading.Event(), threading.Event()
        self._sending = threading.Lock()  # beats are serialized per key: the trader's own and the thread's
        self._thread = threading.Thread(target=self._run, name="order-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=self.every_s + 15)

    def wake(self) -> None:
        """An order just came to rest: beat now, so the switch is armed from its first second."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.resting():
                self.beat()
            self._wake.wait(self.every_s)
            self._wake.clear()

    def beat(self) -> bool:
        """One accepted heartbeat (re-sent once with the expected id after a mismatch), or one failure said."""
        with self._sending:
            return self._beat()

    def _beat(self) -> bool:
        try:
            try:
                answer = self.client.send_order_heartbeat(heartbeat_id=self.heartbeat_id)
            except OrderHeartbeatMismatchError as stale:
                answer = self.client.send_order_heartbeat(heartbeat_id=stale.heartbeat_id)
        except PolymarketError as exc:
            self.failures += 1
            if self.on_error:
                self.on_error()
            if not self._failing:
                log.warning("order heartbeat failed (%s: %s): the exchange cancels resting orders ~10 s after the last "
                            "accepted beat; retrying every %g s", type(exc).__name__, one_line(exc, 200), self.every_s)
            self._failing = True
            return False
        if self._failing:
            log.warning("order heartbeat accepted again")
        self._failing = False
        self.heartbeat_id = answer.heartbeat_id
        self.sent += 1
        return True
