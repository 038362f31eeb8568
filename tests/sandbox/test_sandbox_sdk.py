"""The real polymarket-client SDK against a running sandbox: auth, books, every order type, heartbeats, faults."""

from __future__ import annotations

import base64
import re
import time
from decimal import Decimal

import httpx
import pytest
from eth_account import Account
from polymarket.errors import OrderHeartbeatMismatchError, RequestRejectedError, TransportError

from tests.sandbox.conftest import ADDRESS, DEEP, NEG_RISK, THIN, account, connect, fixture
from trader.sandbox.exchange import FOK_NOT_FILLED
from connectors.polymarket import order_id
from trader.sandbox.signing import hmac_signature


def _digest(signed) -> str:
    """The order id the trader records before posting (`connectors.polymarket.order_id`)."""
    return order_id(signed, neg_risk=signed.token_id == NEG_RISK)


def _wait_for(predicate, timeout_s: float = 3.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_api_key_is_created_then_derived(sandbox):
    first = connect(sandbox.url)
    second = connect(sandbox.url)  # create is refused (400): the SDK derives the same key
    assert first.credentials.key == second.credentials.key and first.credentials.secret == second.credentials.secret
    assert sandbox.state()["api_keys"] == [first.credentials.key]
    assert second.fetch_api_keys() == (first.credentials.key,)


def test_book_and_tick_size(client, sandbox):
    book = client.get_order_book(token_id=DEEP)
    assert (book.bids[-1].price, book.asks[-1].price) == (Decimal("0.48"), Decimal("0.5"))  # best last
    assert book.tick_size == Decimal("0.01") and book.min_order_size == 5 and not book.neg_risk
    assert httpx.get(f"{sandbox.url}/tick-size", params={"token_id": DEEP}).json() == {"minimum_tick_size": 0.01}


def test_fak_buy_fills_at_the_ask_with_the_taker_fee(client, sandbox):
    signed = client.create_market_order(token_id=DEEP, side="BUY", amount=20, order_type="FAK")
    answer = client.post_order(signed)
    assert answer.ok and answer.status == "matched"
    assert (answer.making_amount, answer.taking_amount) == (Decimal(20), Decimal(40))
    assert answer.order_id == _digest(signed)
    assert Account._recover_hash(bytes.fromhex(answer.order_id[2:]), signature=signed.signature) == ADDRESS
    trades = _wait_for(lambda: [t for t in client.list_account_trades().first_page().items if t.status == "CONFIRMED"])
    assert [(t.taker_order_id, t.side, t.price, t.size, t.trader_side) for t in trades] == [
        (answer.order_id, "BUY", Decimal("0.5"), Decimal(40), "TAKER")]
    fee = Decimal(40) * Decimal("0.04") * Decimal("0.25")  # shares x rate x p(1-p)
    assert client.get_balance_allowance(asset_type="COLLATERAL").balance == int((1000 - 20 - fee) * 10**6)
    assert client.get_balance_allowance(asset_type="CONDITIONAL", token_id=DEEP).balance == 40 * 10**6
    assert sandbox.state()["post_counts"] == {answer.order_id: 1}


def test_fak_fills_what_is_there_and_cancels_the_rest(client, sandbox):
    answer = client.post_order(client.create_market_order(token_id=THIN, side="BUY", amount=20, order_type="FAK"))
    assert (answer.making_amount, answer.taking_amount) == (Decimal(6), Decimal(10))  # 10 shares at 0.60 is all there is
    assert client.get_order(order_id=answer.order_id).status == "MATCHED"
    assert client.list_open_orders().first_page().items == ()


def test_fok_that_cannot_fill_is_killed_with_the_recorded_text(client, sandbox):
    recorded = next(q["verbatim"] for q in fixture("clob-post-order/issue-quoted-responses.json")["quotes"] if "FOK" in q["verbatim"])
    assert FOK_NOT_FILLED in recorded
    signed = client.create_market_order(token_id=THIN, side="BUY", amount=100, max_price="0.6", order_type="FOK")
    with pytest.raises(RequestRejectedError) as caught:
        client.post_order(signed)
    assert caught.value.status == 400 and str(caught.value) == FOK_NOT_FILLED
    state = sandbox.state()
    assert state["trades"] == [] and account(state)["balance"] == "1000"


def test_gtc_rests_is_listed_fetched_and_cancelled(client, sandbox):
    first = client.post_order(client.create_limit_order(token_id=DEEP, side="BUY", price="0.45", size=10))
    second = client.post_order(client.create_limit_order(token_id=DEEP, side="BUY", price="0.44", size=10))
    assert first.status == "live" and first.making_amount == 0
    assert {o.id for o in client.list_open_orders(token_id=DEEP).first_page().items} == {first.order_id, second.order_id}
    order = client.get_order(order_id=first.order_id)
    assert (order.status, order.price, order.original_size, order.order_type) == ("LIVE", Decimal("0.45"), 10, "GTC")
    assert client.cancel_orders(order_ids=[first.order_id]).canceled == (first.order_id,)
    assert client.cancel_order(order_id=first.order_id).not_canceled  # already cancelled
    assert client.cancel_all().canceled == (second.order_id,)
    assert client.list_open_orders().first_page().items == ()
    assert client.get_order(order_id=first.order_id).status == "CANCELED"


def test_resting_order_is_lifted_when_the_quotes_cross_it(client, sandbox):
    resting = client.post_order(client.create_limit_order(token_id=DEEP, side="BUY", price="0.45", size=10))
    sandbox.set_books({DEEP: {"bids": [[0.43, 100]], "asks": [[0.44, 100]], "tick_size": "0.01", "fee_rate": 0.04}})
    order = client.get_order(order_id=resting.order_id)
    assert (order.status, order.size_matched) == ("MATCHED", 10)
    trade = client.list_account_trades().first_page().items[0]
    assert (trade.trader_side, trade.price) == ("MAKER", Decimal("0.44"))  # at the resting price of the book's quote
    assert account(sandbox.state())["balance"] == "995.6"  # makers pay no fee


def test_heartbeats_chain_refuse_a_stale_id_and_cancel_on_timeout(client, sandbox):
    client.post_order(client.create_market_order(token_id=DEEP, side="BUY", amount=10, order_type="FAK"))  # shares to sell
    order = client.post_order(client.create_limit_order(token_id=DEEP, side="SELL", price="0.55", size=5))
    beat = client.send_order_heartbeat(heartbeat_id="").heartbeat_id
    for _ in range(4):  # kept alive past the 0.6 s timeout
        time.sleep(0.25)
        beat = client.send_order_heartbeat(heartbeat_id=beat).heartbeat_id
    with pytest.raises(OrderHeartbeatMismatchError) as caught:
        client.send_order_heartbeat(heartbeat_id="not-the-latest")
    assert caught.value.heartbeat_id == beat
    assert client.get_order(order_id=order.order_id).status == "LIVE"
    _wait_for(lambda: client.get_order(order_id=order.order_id).status == "CANCELED")
    cancels = sandbox.state()["heartbeat_cancels"]
    assert [c["canceled"] for c in cancels] == [[order.order_id]]
    assert client.send_order_heartbeat(heartbeat_id="").heartbeat_id  # the chain expired: a new one starts


def test_order_on_the_old_tick_is_refused_after_a_tick_change(client, sandbox):
    client.get_order_book(token_id=DEEP)
    client.create_limit_order(token_id=DEEP, side="BUY", price="0.45", size=10)  # the SDK caches tick 0.01
    sandbox.set_tick_size(DEEP, "0.1")
    with pytest.raises(RequestRejectedError, match="breaks minimum tick size rule: 0.1"):
        client.post_order(client.create_limit_order(token_id=DEEP, side="BUY", price="0.45", size=10))
    assert client.post_order(client.create_limit_order(token_id=DEEP, side="BUY", price="0.4", size=10)).status == "live"
    assert client.get_order_book(token_id=DEEP).tick_size == Decimal("0.1")


def _recorded_rejects() -> list[tuple[int, str]]:
    """(status, error text) of every recorded non-200 POST /order answer: its JSON body, or the text a repr quotes."""
    quotes = fixture("clob-post-order/issue-quoted-responses.json")["quotes"]
    found = []
    for quote in quotes:
        if quote["http_status"] == 200:
            continue
        if "body" in quote:
            found.append((quote["http_status"], quote["body"]["error"]))
        elif match := re.search(r"""error['"]?:\s*['"](.+?)['"]\s*\}""", quote["verbatim"]):
            found.append((quote["http_status"] or 400, match.group(1)))
    return found


def test_every_recorded_reject_surfaces_through_the_sdk(client, sandbox):
    rejects = _recorded_rejects()
    assert len(rejects) >= 6  # the fixture's version, maker, balance, execution and FOK bodies
    for status, text in rejects:
        sandbox.set_faults([{"kind": "reject", "count": 1, "body": {"error": text}, "status": status}])
        with pytest.raises(RequestRejectedError) as caught:
            client.post_order(client.create_market_order(token_id=DEEP, side="BUY", amount=5, order_type="FAK"))
        assert (caught.value.status, str(caught.value)) == (status, text)
    state = sandbox.state()
    assert state["trades"] == [] and len(state["post_counts"]) == len(rejects)


def test_fill_then_500_raises_although_the_exchange_holds_the_fill(client, sandbox):
    sandbox.set_faults([{"kind": "fill-then-500", "count": 1}])
    signed = client.create_market_order(token_id=DEEP, side="BUY", amount=10, order_type="FAK")
    with pytest.raises(RequestRejectedError) as caught:
        client.post_order(signed)
    assert (caught.value.status, str(caught.value)) == (500, "could not run the execution")
    state = sandbox.state()
    assert [o["status"] for o in state["orders"]] == ["MATCHED"] and len(state["trades"]) == 1
    with pytest.raises(RequestRejectedError, match="Duplicated"):  # a blind retry of the same signed order
        client.post_order(signed)
    assert sandbox.state()["post_counts"] == {_digest(signed): 2}


def test_fill_then_stall_times_out_client_side_although_the_exchange_holds_the_fill(client, sandbox):
    # The SDK has no public timeout option (SecureClient.create takes none; the default read timeout is 10 s),
    # so the test shortens its private httpx client's timeout rather than wait 10 s.
    client._ctx.secure_clob._client.timeout = httpx.Timeout(0.5)
    sandbox.set_faults([{"kind": "fill-then-stall", "count": 1}])
    started = time.monotonic()
    with pytest.raises(TransportError):
        client.post_order(client.create_market_order(token_id=DEEP, side="BUY", amount=10, order_type="FAK"))
    assert time.monotonic() - started < 1.5  # the client gave up before the 1.5 s stall ended
    client._ctx.secure_clob._client.timeout = httpx.Timeout(5.0)
    assert [t.size for t in client.list_account_trades().first_page().items] == [Decimal(20)]


def test_cancel_only_503_refuses_without_accepting(client, sandbox):
    sandbox.set_faults([{"kind": "503", "count": 1}])
    with pytest.raises(RequestRejectedError) as caught:
        client.post_order(client.create_market_order(token_id=DEEP, side="BUY", amount=10, order_type="FAK"))
    assert (caught.value.status, caught.value.restriction) == (503, "cancel_only")
    state = sandbox.state()
    assert state["orders"] == [] and list(state["post_counts"].values()) == [1]


def test_trade_fails_reverts_balance_and_position(client, sandbox):
    sandbox.set_faults([{"kind": "trade-fails", "count": 1}])
    answer = client.post_order(client.create_market_order(token_id=DEEP, side="BUY", amount=10, order_type="FAK"))
    assert answer.ok and answer.taking_amount == 20
    trade = _wait_for(lambda: [t for t in client.list_account_trades().first_page().items if t.status == "FAILED"])[0]
    assert trade.taker_order_id == answer.order_id
    assert client.get_balance_allowance(asset_type="COLLATERAL").balance == 1000 * 10**6
    assert client.get_balance_allowance(asset_type="CONDITIONAL", token_id=DEEP).balance == 0


def test_exchange_validation(client, sandbox):
    with pytest.raises(RequestRejectedError, match="lower than the minimum: 5"):
        client.post_order(client.create_limit_order(token_id=DEEP, side="BUY", price="0.45", size=4))
    sandbox.fund(ADDRESS, balance=5)
    with pytest.raises(RequestRejectedError, match="not enough balance / allowance"):  # place_* also re-reads the allowance
        client.place_market_order(token_id=DEEP, side="BUY", amount=10, order_type="FAK")
    with pytest.raises(RequestRejectedError, match="not enough balance / allowance"):  # no shares to sell
        client.post_order(client.create_limit_order(token_id=DEEP, side="SELL", price="0.6", size=5))


def test_neg_risk_token_signs_for_the_neg_risk_exchange(client, sandbox):
    signed = client.create_market_order(token_id=NEG_RISK, side="BUY", amount=5, order_type="FAK")
    assert client.post_order(signed).order_id == _digest(signed)


def test_bad_or_missing_l2_signature_is_401(client, sandbox):
    creds = client.credentials
    timestamp = str(int(time.time()))
    good = {"POLY_ADDRESS": ADDRESS, "POLY_API_KEY": creds.key, "POLY_PASSPHRASE": creds.passphrase, "POLY_TIMESTAMP": timestamp,
            "POLY_SIGNATURE": hmac_signature(creds.secret, timestamp, "GET", "/data/orders", None)}
    assert httpx.get(f"{sandbox.url}/data/orders", headers=good).status_code == 200
    wrong_secret = base64.urlsafe_b64encode(b"x" * 32).decode()
    bad = {**good, "POLY_SIGNATURE": hmac_signature(wrong_secret, timestamp, "GET", "/data/orders", None)}
    assert httpx.get(f"{sandbox.url}/data/orders", headers=bad).status_code == 401
    other_path = {**good, "POLY_SIGNATURE": hmac_signature(creds.secret, timestamp, "GET", "/data/trades", None)}
    assert httpx.get(f"{sandbox.url}/data/orders", headers=other_path).status_code == 401
    assert httpx.get(f"{sandbox.url}/data/orders").status_code == 401
    assert httpx.post(f"{sandbox.url}/auth/api-key", headers={"POLY_ADDRESS": ADDRESS, "POLY_SIGNATURE": "0x00",
                                                               "POLY_TIMESTAMP": timestamp, "POLY_NONCE": "0"}).status_code == 401
