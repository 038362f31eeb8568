"""The trader's order heartbeat (`trader.heartbeat`) against the sandbox, through the real SDK."""

from __future__ import annotations

import time

from polymarket.errors import TransportError

from tests.sandbox.conftest import connect
from trader.heartbeat import Heartbeat


def test_beats_chain_their_ids_and_recover_from_a_stale_one(sandbox):
    client = connect(sandbox.url)
    heartbeat = Heartbeat(client, resting=lambda: True)
    assert heartbeat.beat() and heartbeat.beat()
    key = client.credentials.key
    assert sandbox.state()["heartbeats"][key]["expected"] == heartbeat.heartbeat_id  # each beat carried the last id

    heartbeat.heartbeat_id = "stale-id"  # as after a lost answer: the exchange expects another
    assert heartbeat.beat() and heartbeat.failures == 0
    assert sandbox.state()["heartbeats"][key]["expected"] == heartbeat.heartbeat_id

    client.close()


def test_a_failing_exchange_is_counted_each_time_and_said_once(caplog):
    class Unreachable:
        def send_order_heartbeat(self, heartbeat_id: str):
            raise TransportError("connection refused")

    errors = []
    heartbeat = Heartbeat(Unreachable(), resting=lambda: True, on_error=lambda: errors.append(1))
    assert not heartbeat.beat() and not heartbeat.beat()
    assert heartbeat.failures == 2 and len(errors) == 2 and caplog.text.count("order heartbeat failed") == 1


def test_the_thread_beats_only_while_an_order_rests_and_wakes_at_once(sandbox):
    client = connect(sandbox.url)
    resting = {"now": False}
    heartbeat = Heartbeat(client, resting=lambda: resting["now"], every_s=60).start()  # a minute between beats ...
    time.sleep(0.3)
    assert heartbeat.sent == 0 and not sandbox.state()["heartbeats"]
    resting["now"] = True
    heartbeat.wake()  # ... but an order that comes to rest is covered at once
    deadline = time.monotonic() + 5
    while heartbeat.sent == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    heartbeat.stop()
    assert heartbeat.sent == 1 and client.credentials.key in sandbox.state()["heartbeats"]
    client.close()
