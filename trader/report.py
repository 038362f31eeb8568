"""What the ledger says: runs, books (champion and shadows), positions, orders, fills, PnL per version.

`sentitrade ledger` prints this as tables, or with `--json` as one object whose `positions`
({token_id: shares}, non-zero only) and `fills` ([{order_id, trade_id, status, token_id, side, shares,
price, ...}]) are the champion book's of the chosen run: the contract later tools read. A live run's
fills are the exchange's trades; one that failed on chain is listed with status `failed` and counts
for no position. `orders` counts the run's orders by status (declined, rejected, unknown, ...).
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

from trader.ledger import Ledger
from trader.schema import books, decisions, equity, events, fills, orders, runs


def ledger_report(ledger: Ledger, run_id: str | None = None, recent_events: int = 10) -> dict:
    with ledger.engine.connect() as con:
        all_runs = [dict(r) for r in con.execute(sa.select(runs).order_by(runs.c.started_at.desc())).mappings()]
        if not all_runs:
            return {"runs": [], "run": None, "books": [], "positions": {}, "orders": {}, "open_orders": [], "fills": [], "events": []}
        chosen = next((r for r in all_runs if r["run_id"] == run_id), None) if run_id else all_runs[0]
        if chosen is None:
            raise LookupError(f"no run {run_id!r} in the ledger; `sentitrade ledger` lists them")
        rid = chosen["run_id"]
        book_rows = [dict(b) for b in con.execute(sa.select(books).where(books.c.run_id == rid).order_by(books.c.role, books.c.book_id)).mappings()]
        fill_rows = [dict(f) for f in con.execute(sa.select(fills).where(fills.c.run_id == rid).order_by(fills.c.id)).mappings()]
        open_rows = [dict(o) for o in con.execute(sa.select(orders).where(orders.c.run_id == rid, orders.c.status == "live")).mappings()]
        order_counts = dict(con.execute(sa.select(orders.c.status, sa.func.count()).where(orders.c.run_id == rid).group_by(orders.c.status)).all())
        marks = con.execute(sa.select(equity.c.book_id, equity.c.model_version, equity.c.equity)
                            .where(equity.c.run_id == rid).order_by(equity.c.book_id, equity.c.ts)).all()
        counts = con.execute(sa.select(decisions.c.book_id, decisions.c.model_version, sa.func.count())
                             .where(decisions.c.run_id == rid).group_by(decisions.c.book_id, decisions.c.model_version)).all()
        recent = [dict(e) for e in con.execute(sa.select(events).where(events.c.run_id == rid).order_by(events.c.id.desc()).limit(recent_events)).mappings()]
    return {
        "runs": [_run_summary(r) for r in all_runs],
        "run": _run_summary(chosen),
        "books": [_book_summary(b, fill_rows, marks, counts) for b in book_rows],
        "positions": _positions([f for f in fill_rows if f["book_id"].endswith(":champion")]),
        "orders": order_counts,
        "open_orders": [_trade(o) | {"limit_price": o["limit_price"]} for o in open_rows],
        "fills": [_trade(f) | {"trade_id": f["trade_id"], "status": f["status"], "price": f["price"], "fee": f["fee"]}
                  for f in fill_rows if f["book_id"].endswith(":champion")],
        "events": [{"at": str(e["at"]), "event_ts": str(e["event_ts"]) if e["event_ts"] else None, "kind": e["kind"], "message": e["message"]}
                   for e in reversed(recent)],
    }


def _run_summary(row: dict) -> dict:
    return {key: (str(value) if value is not None and key.endswith(("_at", "_start", "_end")) else value) for key, value in row.items()}


def _positions(fill_rows: list[dict]) -> dict[str, float]:
    held: dict[str, float] = defaultdict(float)
    for f in fill_rows:
        if f["status"] == "failed":
            continue
        held[f["token_id"]] += f["shares"] if f["side"] == "BUY" else -f["shares"]
    return {token: round(shares, 6) for token, shares in held.items() if abs(shares) > 1e-9}


def _book_summary(book: dict, fill_rows: list[dict], marks, counts) -> dict:
    """The book's equity and PnL, split by the model version that held it (equity moves go to the
    version that decided the round they happened in)."""
    mine = [f for f in fill_rows if f["book_id"] == book["book_id"]]
    names = {f["token_id"]: (f["market"], f["token"]) for f in mine}
    by_version: dict[str, dict] = defaultdict(lambda: {"decisions": 0, "fills": 0, "pnl": 0.0})
    last = book["starting_cash"]
    for book_id, version, value in marks:
        if book_id == book["book_id"]:
            by_version[version]["pnl"] += value - last
            last = value
    for f in mine:
        by_version[f["model_version"]]["fills"] += 1
    for book_id, version, n in counts:
        if book_id == book["book_id"]:
            by_version[version]["decisions"] += n
    return {
        "book_id": book["book_id"], "role": book["role"], "alias": book["alias"], "model_version": book["model_version"],
        "starting_cash": book["starting_cash"], "equity": last, "pnl": last - book["starting_cash"],
        "fills": len(mine), "fees": sum(f["fee"] for f in mine if f["status"] != "failed"), "positions": _positions(mine),
        "holdings": {f"{names[token][0]} {names[token][1]}": shares for token, shares in _positions(mine).items()},
        "by_version": {v: {**s, "pnl": round(s["pnl"], 6)} for v, s in sorted(by_version.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0)},
    }


def _trade(row: dict) -> dict:
    return {"order_id": row["order_id"], "token_id": row["token_id"], "side": row["side"], "shares": row["shares"],
            "ts": str(row["ts"]), "market": row["market"], "model_version": row["model_version"]}
