"""Audit of landed price series: what the price_history asset checks report.

Rows are audited in the order they were landed, per token: a price outside [0, 1] or a timestamp
that does not move forward is an error (features and labels would silently use it); a hole longer
than the bound is only a warning, since thin markets do go quiet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pandas as pd
import pyarrow as pa

EXAMPLES = 5  # rows quoted per problem in check metadata


@dataclass(frozen=True)
class PriceAudit:
    rows: int
    max_gap: timedelta
    out_of_range: pd.DataFrame
    not_increasing: pd.DataFrame
    gaps: pd.DataFrame  # the row after each hole, with `gap_minutes`

    @property
    def valid(self) -> bool:
        return self.out_of_range.empty and self.not_increasing.empty

    @staticmethod
    def examples(frame: pd.DataFrame) -> list[dict]:
        return [{k: str(v) for k, v in row.items()} for row in frame.head(EXAMPLES).to_dict("records")]


def audit_prices(table: pa.Table, max_gap: timedelta) -> PriceAudit:
    frame = table.select(["token_id", "ts", "price"]).to_pandas()
    step = frame.groupby("token_id", sort=False)["ts"].diff()
    gaps = frame[step > max_gap].assign(gap_minutes=step[step > max_gap].dt.total_seconds() / 60)
    return PriceAudit(
        rows=len(frame),
        max_gap=max_gap,
        out_of_range=frame[~frame["price"].between(0.0, 1.0)],
        not_increasing=frame[step <= timedelta(0)],
        gaps=gaps,
    )
