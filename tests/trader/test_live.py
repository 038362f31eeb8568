"""Live and dry-run execution: the real trader and the real SDK against the local exchange (`sentitrade sandbox`).

Every test drives `sentitrade trade --execution live|dry-run` as an operator does, with the sandbox on
a thread of the test process, and compares the ledger with what the exchange holds.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
import urllib.request
from collections import defaultdict
from decimal import Decimal

import pytest
import sqlalchemy as sa

from connectors.polymarket import PolymarketSettings, secure_client
from tests.conftest import REPO, SENTITRADE, last_json
from tests.postgres import free_port
from tests.trader.conftest import cli_env, ledger_engine, scalar, span_args, start_trader, wait_for
from trader.sandbox.books import books_from_replay

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # the well-known dev key: never funded anywhere
WALLET = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
# The sandbox's books sit at each token's median replayed price; a wide protection lets the replay's
# decisions trade on them (the decline path has its own test).
WIDE = {"SENTITRADE_TRADER_PRICE_PROTECTION": "0.99"}


@pytest.fixture
def sandbox(trade_dir):
    from trader.sandbox.server import SandboxServer

    with SandboxServer(books=books_from_replay(trade_dir / "replay"), settle_s=0.2) as server:
        yield server


def thin_books(data) -> dict:
    """The replay's books with 50 shares a level: an order bigger than that rests its remainder."""
    books = books_from_replay(data / "replay")
    for book in books.values():
        book.bids = [[price, Decimal(50)] for price, _ in book.bids]
        book.asks = [[price, Decimal(50)] for price, _ in book.asks]
    return books


def live_env(sandbox, **extra: str) -> dict:
    return {"SENTITRADE_POLYMARKET_CLOB_URL": sandbox.url, "SENTITRADE_POLYMARKET_PRIVATE_KEY": KEY, **extra}


def trade(data, sandbox, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SENTITRADE, "trade", "--data-dir", str(data), "--feed", "replay", "--speed", "0", *args],
                          cwd=REPO, env=cli_env(**live_env(sandbox, **env)), capture_output=True, text=True, timeout=timeout)


def ledger_json(data) -> dict:
    result = subprocess.run([*SENTITRADE, "ledger", "--data-dir", str(data), "--json"], cwd=REPO, env=cli_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return last_json(result.stdout)


def exchange_view(sandbox) -> tuple[dict, dict[str, float]]:
    """The wallet's trades by id and its positions, as the exchange holds them."""
    state = sandbox.state()
    trades = {t["id"]: t for t in state["trades"] if t["maker_address"].lower() == WALLET.lower()}
    account = next(a for address, a in state["accounts"].items() if address.lower() == WALLET.lower())
    positions = {token: float(shares) for token, shares in account["positions"].items() if abs(float(shares)) > 1e-9}
    return trades, positions


def assert_ledger_is_the_exchange(data, sandbox, ledger: sa.Engine | None = None) -> None:
    """Every exchange trade in the ledger once, none extra, the same positions; no order posted twice."""
    state = sandbox.state()
    assert state["post_counts"] and max(state["post_counts"].values()) == 1, state["post_counts"]
    trades, positions = exchange_view(sandbox)
    ledger = ledger or ledger_engine(data)
    with ledger.connect() as con:
        rows = con.execute(sa.text("select trade_id, order_id, side, shares, price, status from fills where trade_id is not null")).all()
    assert sorted(r.trade_id for r in rows) == sorted(trades), "the ledger's trades are not the exchange's"
    for r in rows:
        t = trades[r.trade_id]
        assert (r.order_id, r.side) == (t["taker_order_id"], t["side"])
        assert r.shares == pytest.approx(float(t["size"]), abs=1e-6) and r.price == pytest.approx(float(t["price"]), abs=1e-9)
        assert (r.status == "failed") == (t["status"] == "FAILED")
    held: dict[str, float] = defaultdict(float)
    with ledger.connect() as con:
        for token, side, shares in con.execute(sa.text("select token_id, side, shares from fills where trade_id is not null and status != 'failed'")):
            held[token] += shares if side == "BUY" else -shares
    assert {t: round(v, 6) for t, v in held.items() if abs(v) > 1e-9} == {t: round(v, 6) for t, v in positions.items()}


def test_the_operators_command_trades_through_the_exchange_the_ledger_lists_its_fills_and_no_secret_is_written(
        trade_dir, holdout_start, sandbox):
    """The README's command on the sandbox; then the key and the API credentials are searched for everywhere:
    the output and logs, the metrics page, the ledger and every file under the data directory."""
    client = secure_client(PolymarketSettings(clob_url=sandbox.url, private_key=KEY))
    creds = client.credentials
    client.close()
    port = free_port()
    proc = start_trader(trade_dir, "--execution", "live", "--feed", "replay", "--speed", "0", "--metrics-port", str(port),
                        *span_args(holdout_start, 6), **live_env(sandbox, **WIDE))

    def scrape():
        """the metrics page, once the trader has traded"""
        try:
            page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
        except OSError:
            return None
        return page if "sentitrade_fills_total{" in page else None

    metrics = wait_for(scrape, timeout=120, every=0.05)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert last_json(out)["status"] == "finished"
    assert "LIVE TRADING: orders are signed and POSTED to a non-production exchange" in err and WALLET in err
    assert_ledger_is_the_exchange(trade_dir, sandbox)
    report = ledger_json(trade_dir)
    assert len(report["fills"]) >= 5, "the span should trade"
    assert {t: round(v, 6) for t, v in report["positions"].items()} == {t: round(v, 6) for t, v in exchange_view(sandbox)[1].items()}
    with ledger_engine(trade_dir).connect() as con:
        statuses = dict(con.execute(sa.text("select status, count(*) from orders group by status")).all())
        signed = con.execute(sa.text("select signed from orders where signed is not null limit 1")).scalar_one()
    assert set(statuses) <= {"filled", "partial", "unfilled", "declined"} and statuses.get("filled")
    assert json.loads(signed)["signature"].startswith("0x") and json.loads(signed)["signer"] == WALLET

    written = [p.read_bytes().decode("latin-1") for p in trade_dir.rglob("*") if p.is_file()]
    for text in (out, err, metrics, json.dumps(report), *written):
        for secret in (KEY[2:], creds.secret, creds.passphrase, creds.key):
            assert secret.lower() not in text.lower()
    for bad in ("0x1234", "0x" + "zz" * 32):
        refused = trade(trade_dir, sandbox, "--execution", "live", *span_args(holdout_start, 1), SENTITRADE_POLYMARKET_PRIVATE_KEY=bad)
        assert refused.returncode == 2 and "is not a valid private key" in refused.stderr and bad[2:] not in refused.stderr


def test_dry_run_signs_and_records_orders_and_the_exchange_receives_none(trade_dir, holdout_start, sandbox):
    result = trade(trade_dir, sandbox, "--execution", "dry-run", *span_args(holdout_start, 4), **WIDE)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "DRY RUN: orders are signed and recorded, none is posted" in result.stderr
    state = sandbox.state()
    assert state["orders"] == [] and state["post_counts"] == {} and state["trades"] == []
    with ledger_engine(trade_dir).connect() as con:
        rows = con.execute(sa.text("select order_id, status, signed from orders")).all()
        fills = con.execute(sa.text("select status from fills")).scalars().all()
    dry = [r for r in rows if r.status == "dry-run"]
    assert dry and all(r.order_id.startswith("0x") and len(r.order_id) == 66 and json.loads(r.signed)["signature"] for r in dry)
    assert fills and set(fills) == {"simulated"}


def test_an_order_the_book_cannot_meet_within_the_price_protection_is_declined_and_never_signed(trade_dir, holdout_start, sandbox):
    result = trade(trade_dir, sandbox, "--execution", "live", *span_args(holdout_start, 2), SENTITRADE_TRADER_PRICE_PROTECTION="0.001")
    assert result.returncode == 0, result.stderr[-3000:]
    with ledger_engine(trade_dir).connect() as con:
        declined = con.execute(sa.text("select error from orders where status = 'declined'")).scalars().all()
    assert declined and any("beyond the price protection" in why for why in declined)
    assert len(sandbox.state()["post_counts"]) == scalar(trade_dir, "select count(*) from orders where status != 'declined'")


def test_ambiguous_and_refused_posts_are_resolved_from_the_exchange_and_never_sent_again(trade_dir, holdout_start, sandbox):
    """The first four posts fail one way each, in this order (the sandbox fires listed faults first to last)."""
    sandbox.set_faults([
        {"kind": "fill-then-500", "count": 1},  # matched, then answered 500: unknown, found filled
        {"kind": "503", "count": 1},  # refused before matching: unknown, never seen by the exchange
        {"kind": "reject", "count": 1, "body": {"error": "not enough balance / allowance"}},  # a recorded refusal: final
        {"kind": "fill-then-stall", "count": 1},  # matched, then no answer within the SDK's 10 s read timeout
    ], stall_s=11)
    result = trade(trade_dir, sandbox, "--execution", "live", *span_args(holdout_start, 4), **WIDE)
    assert result.returncode == 0, result.stderr[-3000:]
    with ledger_engine(trade_dir).connect() as con:
        first = con.execute(sa.text("select order_id, status, error from orders where signed is not null order by id limit 4")).all()
    matched = ("filled", "partial")  # a FAK takes what the book has
    assert first[0].status in matched and [r.status for r in first[1:3]] == ["unsent", "rejected"] and first[3].status in matched, first
    assert all(scalar(trade_dir, "select count(*) from fills where order_id = :o", o=r.order_id) for r in (first[0], first[3]))
    assert "HTTP 500" in first[0].error and "HTTP 503" in first[1].error and "not enough balance / allowance" in first[2].error
    assert result.stderr.count("outcome unknown") >= 3
    assert_ledger_is_the_exchange(trade_dir, sandbox)  # every order posted once: none re-sent after its refusal


def test_a_wallet_holding_what_the_ledger_did_not_trade_is_refused_at_start(trade_dir, holdout_start, sandbox):
    token = next(iter(books_from_replay(trade_dir / "replay")))
    client = secure_client(PolymarketSettings(clob_url=sandbox.url, private_key=KEY))
    book = client.get_order_book(token_id=token)
    best = min(float(level.price) for level in book.asks)
    client.post_order(client.create_market_order(token_id=token, side="BUY", amount="5", max_price=str(best)))
    client.close()
    result = trade(trade_dir, sandbox, "--execution", "live", *span_args(holdout_start, 1), **WIDE)
    assert result.returncode == 2
    assert "the exchange holds what this ledger did not do" in result.stderr and "trade " in result.stderr
    assert len(result.stderr.strip().splitlines()[-1]) < 600


@pytest.mark.slow
def test_sigkill_at_random_points_with_faults_never_posts_an_order_twice_and_the_ledger_is_the_exchange(trade_dir, holdout_start, sandbox):
    """20 starts of one live run, each killed at a random moment, with the exchange failing now and then."""
    rng = random.Random(9)
    sandbox.set_faults([{"kind": "fill-then-500", "rate": 0.15}, {"kind": "503", "rate": 0.05}, {"kind": "trade-fails", "rate": 0.05}])
    # the held-out days, paced at 3000x (a round every 0.1 s) so that 20 kills fall inside the run
    args = ["--execution", "live", "--feed", "replay", "--speed", "3000", *span_args(holdout_start, 70)]
    env = live_env(sandbox, **WIDE)
    kills = 0
    while kills < 20:
        sent = scalar(trade_dir, "select count(*) from orders where signed is not null") or 0
        proc = start_trader(trade_dir, *args, **env)
        if kills % 4:  # most kills land while orders go out; every fourth anywhere in start-up
            wait_for(lambda: proc.poll() is not None or (scalar(trade_dir, "select count(*) from orders where signed is not null") or 0) > sent,
                     timeout=120, every=0.02)
            time.sleep(rng.uniform(0.0, 0.3))
        else:
            time.sleep(rng.uniform(0.5, 4.0))
        if proc.poll() is not None:  # it reached the end before the kill: the run is over
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
    final = start_trader(trade_dir, *args, **env)
    out, err = final.communicate(timeout=600)
    assert final.returncode == 0, err[-3000:]
    assert kills == 20
    assert last_json(out)["status"] == "finished"
    wait_for(lambda: not [t for t in sandbox.state()["trades"] if t["status"] in ("MATCHED", "MINED")], timeout=10)
    # one more start settles trades that failed after the last one ended (the run is over: it trades nothing)
    settle = trade(trade_dir, sandbox, "--execution", "live", "--fresh", *span_args(holdout_start, 0.1), **WIDE)
    assert settle.returncode == 0, settle.stderr[-3000:]
    assert_ledger_is_the_exchange(trade_dir, sandbox)
    state = sandbox.state()
    with ledger_engine(trade_dir).connect() as con:
        statuses = dict(con.execute(sa.text("select status, count(*) from orders group by status")).all())
    print("crash test:", json.dumps({"kills": kills, "orders_posted": len(state["post_counts"]), "most_posts_of_one_order": max(state["post_counts"].values()),
                                      "exchange_trades": len(state["trades"]), "failed_trades": sum(t["status"] == "FAILED" for t in state["trades"]),
                                      "faults_fired": state["faults"]["fired"], "ledger_orders": statuses}))
    assert scalar(trade_dir, "select count(*) from fills where trade_id is not null") >= 10
    assert scalar(trade_dir, "select count(*) from fills where status = 'failed'") >= 1  # reversed, and equal to the exchange's
    assert scalar(trade_dir, "select count(*) from orders where status in ('unsent', 'filled', 'partial')") > 0
    _assert_never_above_the_cap(trade_dir)


def _assert_never_above_the_cap(data) -> None:
    """A position's cost never passes the per-market cap of the peak equity (a doubled order would)."""
    with ledger_engine(data).connect() as con:
        rows = con.execute(sa.text("select market, side, shares, price from fills where status != 'failed' order by id")).all()
        peak = con.execute(sa.text("select max(equity) from equity")).scalar_one()
    cost: dict[str, float] = defaultdict(float)
    for r in rows:
        cost[r.market] = cost[r.market] + r.shares * r.price if r.side == "BUY" else 0.0
        assert cost[r.market] <= 0.20 * max(peak, 1000.0) * 1.01, (r.market, cost[r.market])


def test_gtd_orders_rest_kept_by_heartbeats_until_the_next_round_withdraws_them(trade_dir, holdout_start):
    """Thin books that fills use up: orders rest, heartbeats keep them, each round withdraws them first."""
    from trader.sandbox.server import SandboxServer

    with SandboxServer(books=thin_books(trade_dir), deplete=True, settle_s=0.2) as sandbox:
        result = trade(trade_dir, sandbox, "--execution", "live", "--speed", "300", *span_args(holdout_start, 1.5),
                       SENTITRADE_TRADER_ORDER_TYPE="GTD", **WIDE)
        assert result.returncode == 0, result.stderr[-3000:]
        state = sandbox.state()
        assert not [o for o in state["orders"] if o["status"] == "LIVE"], "nothing is left resting"
        rested = [o for o in state["orders"] if o["order_type"] == "GTD" and o["status"] == "CANCELED"]
        assert rested and all(0 < float(o["size_matched"]) < float(o["original_size"]) for o in rested), "orders rested, partly filled"
        assert state["heartbeats"] or state["heartbeat_cancels"], "a heartbeat chain was started"
        assert not any(c["canceled"] for c in state["heartbeat_cancels"]), "the dead-man switch never had to act"
        assert_ledger_is_the_exchange(trade_dir, sandbox)
        assert scalar(trade_dir, "select count(*) from orders where status = 'partial'") >= len(rested)


def test_a_killed_trader_leaves_nothing_resting_for_long_and_the_restart_reconciles(trade_dir, holdout_start):
    from trader.sandbox.server import SandboxServer

    with SandboxServer(books=thin_books(trade_dir), deplete=True, settle_s=0.2, heartbeat_timeout_s=3) as sandbox:
        env = live_env(sandbox, SENTITRADE_TRADER_ORDER_TYPE="GTD", **WIDE)
        args = ["--execution", "live", "--feed", "replay", "--speed", "300", *span_args(holdout_start, 1.5)]
        proc = start_trader(trade_dir, *args, **env)
        wait_for(lambda: any(o["status"] == "LIVE" for o in sandbox.state()["orders"]), timeout=120, every=0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        wait_for(lambda: sandbox.state()["heartbeat_cancels"], timeout=15)  # the dead-man switch, ~3 s after the last beat
        assert not [o for o in sandbox.state()["orders"] if o["status"] == "LIVE"]
        again = start_trader(trade_dir, *args, **env)
        out, err = again.communicate(timeout=300)
        assert again.returncode == 0, err[-3000:]
        assert "left resting by the last run withdrawn" in err or "resolved" in err
        assert_ledger_is_the_exchange(trade_dir, sandbox)


def test_live_trading_pauses_while_the_ledger_database_is_away_and_ends_as_the_exchange(trade_dir, holdout_start, sandbox, postgres):
    """No order goes out while its intent cannot be written; when the database is back, trading resumes."""
    env = live_env(sandbox, SENTITRADE_LEDGER_URL=postgres.url, **WIDE)
    proc = start_trader(trade_dir, "--execution", "live", "--feed", "replay", "--speed", "600", *span_args(holdout_start, 3), **env)
    try:
        wait_for(lambda: len(sandbox.state()["post_counts"]) >= 3, timeout=180, every=0.05)
        postgres.stop()
        posted = len(sandbox.state()["post_counts"])
        time.sleep(4)
        assert len(sandbox.state()["post_counts"]) <= posted + 1, "orders went out while the ledger was away"  # one may have been in flight
        postgres.start()
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "unreachable" in err and "trading stopped" in err and postgres.url.split("@")[0].split(":")[-1] not in err
    assert last_json(out)["status"] == "finished"
    assert_ledger_is_the_exchange(trade_dir, sandbox, postgres.engine)
