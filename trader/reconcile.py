"""Start-up reconciliation of the ledger with the exchange, before a signed-order trader's first decision.

A trader that died may have left orders whose outcome it never heard, and trades it never recorded.
Before deciding anything it asks the exchange, in this order: every order still `intent` or `unknown`
(by its id, and the account's trades); orders it left resting (withdrawn, their trades recorded); trades on the tracked tokens that belong to orders of this
ledger but are not in it (recorded); provisional trades (confirmed, or failed and reversed). What is
left that the ledger cannot account for (trades or open orders it never made, or a wallet whose
shares differ from the sum of the ledger's fills) stops the start with what was found: trading on a
book that does not match the wallet would size every order wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from polymarket.errors import PolymarketError

from models.engine import MarketInfo
from sentitrade.redact import one_line
from trader.journal import OrderJournal
from trader.live import SignedExecution

log = logging.getLogger("trader.reconcile")
_SHARE_TOLERANCE = 0.01  # exchange sizes are in hundredths of a share


class Unreconciled(RuntimeError):
    """The exchange holds what the ledger cannot account for; the message says what and what to do."""


def reconcile(execution: SignedExecution, journal: OrderJournal, markets: Mapping[str, MarketInfo]) -> list[str]:
    """Bring the ledger up to what the exchange knows of its orders; returns what was done, line by line."""
    client, done = execution.client, []
    try:
        if resolved := execution.resolve_unknown():
            done.append(f"{resolved} orders with an unknown outcome resolved from the exchange")
        if withdrawn := execution.withdraw_resting():
            done.append(f"{withdrawn} orders left resting by the last run withdrawn, their trades recorded")
        if still := journal.unresolved():
            first = still[0]
            raise Unreconciled(f"{len(still)} orders' outcomes are still unknown (first: {first.order_id} on {first.market}) and the "
                               "exchange could not say: start again once it answers; nothing is sent until then")
        tokens = {token: name for name, info in markets.items() for token in (info.yes_token_id, info.no_token_id)}
        known_trades, known_orders = journal.trade_ids(), journal.order_ids()
        missed, strangers = set(), []
        for token in tokens:
            for trade in client.list_account_trades(asset_id=token).iter_items():
                if trade.id in known_trades:
                    continue
                ours = [o for o in (trade.taker_order_id, *(m.order_id for m in trade.maker_orders)) if o in known_orders]
                if ours:
                    missed.add(ours[0])
                else:
                    strangers.append(f"trade {trade.id} ({tokens[token]} {trade.side} {trade.size} @ {trade.price})")
        for oid in missed:
            order = journal.order(oid)
            execution.settle_from_exchange(order, oid)
            execution.late_changes += 1
        if missed:
            done.append(f"trades of {len(missed)} orders recorded from the exchange")
        if reversed_ := execution.confirm_trades():
            done.append(f"{reversed_} failed trades reversed")
        foreign = [f"open order {o.id} ({tokens[o.asset_id]} {o.side} {o.original_size} @ {o.price})"
                   for o in client.list_open_orders().iter_items() if o.asset_id in tokens and o.id not in known_orders]
        expected = journal.net_shares()
        mismatched = []
        for token, name in tokens.items():
            held = client.get_balance_allowance(asset_type="CONDITIONAL", token_id=token).balance / 1e6
            if abs(held - expected.get(token, 0.0)) > _SHARE_TOLERANCE:
                mismatched.append(f"{name} token {token[:12]}…: the wallet holds {held:g} shares, the ledger's fills add up to {expected.get(token, 0.0):g}")
    except PolymarketError as exc:
        raise Unreconciled(f"the exchange could not be asked about this ledger's orders ({type(exc).__name__}: "
                           f"{one_line(exc, 200)}): start again when it answers") from None
    if strangers or foreign or mismatched:
        found = strangers + foreign + mismatched
        raise Unreconciled(
            f"the exchange holds what this ledger did not do ({len(found)}: {'; '.join(found[:3])}{' …' if len(found) > 3 else ''}). "
            "Trade this wallet from one ledger only: cancel or close those by hand, or point SENTITRADE_LEDGER_URL at the ledger that made them"
        )
    for line in done:
        log.warning("reconciled: %s", line)
    return done
