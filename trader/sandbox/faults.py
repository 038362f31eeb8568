"""Injected failures of `POST /order`, each for the next N calls or with a probability from a seeded RNG.

Kinds: `fill-then-500` (the fill is recorded, the answer is 500 "could not run the execution"),
`fill-then-stall` (recorded, then the answer waits `stall_s`, past the client's read timeout),
`503` (refused before matching: cancel-only), `reject:<JSON body>` (refused with that body, HTTP 400 or the `status` given),
`trade-fails` (matched and answered, then the trade turns FAILED and balances revert).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

KINDS = ("fill-then-500", "fill-then-stall", "503", "reject", "trade-fails")
EXECUTION_ERROR = {"error": "could not run the execution"}
CANCEL_ONLY = {"error": "Trading is currently cancel-only. New orders are not accepted, but cancels are allowed."}


class FaultError(ValueError):
    """A fault specification that names no known kind or gives a bad count/rate."""


@dataclass
class Fault:
    kind: str
    count: int | None = None  # fire on the next `count` post-order calls ...
    rate: float | None = None  # ... or on each with this probability
    body: dict | None = None  # the `reject` body ...
    status: int = 400  # ... and its HTTP status

    @classmethod
    def parse(cls, spec: dict | str) -> Fault:
        """From the admin API's `{"kind", "count" | "rate", "body"}` or the CLI's `KIND:RATE` (`reject:<body>:RATE`)."""
        if isinstance(spec, str):
            head, sep, rate = spec.rpartition(":")
            if not sep:
                raise FaultError(f"fault {spec!r}: expected KIND:RATE, e.g. fill-then-500:0.1")
            kind, _, body = head.partition(":")
            try:
                spec = {"kind": kind, "rate": float(rate), **({"body": json.loads(body)} if body else {})}
            except ValueError:
                raise FaultError(f"fault {spec!r}: RATE must be a number and a reject body JSON") from None
        kind = spec.get("kind", "")
        if kind.startswith("reject:") and "body" not in spec:  # `reject:{"error": ...}` as one string
            kind, body = "reject", json.loads(kind.removeprefix("reject:"))
            spec = {**spec, "body": body}
        if kind not in KINDS:
            raise FaultError(f"fault kind {kind!r}: expected one of {', '.join(KINDS)}")
        count, rate = spec.get("count"), spec.get("rate")
        if (count is None) == (rate is None):
            raise FaultError(f"fault {kind}: give exactly one of count (next N calls) or rate (probability)")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise FaultError(f"fault {kind}: count must be a positive integer")
        if rate is not None and not 0 < float(rate) <= 1:
            raise FaultError(f"fault {kind}: rate must be in (0, 1]")
        if kind == "reject" and not isinstance(spec.get("body"), dict):
            raise FaultError("fault reject: needs a JSON object body, e.g. {\"error\": \"...\"}")
        status = spec.get("status", 400)
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise FaultError(f"fault {kind}: status must be an HTTP error status (400-599)")
        return cls(kind, count, None if rate is None else float(rate), spec.get("body"), status)


class FaultPlan:
    """The faults in force; `draw()` says which (if any) hits this post-order call, first listed first."""

    def __init__(self, faults: list[Fault] | None = None, *, seed: int = 0, stall_s: float = 12.0):
        self.faults = list(faults or [])
        self.rng = random.Random(seed)
        self.stall_s = stall_s
        self.fired: dict[str, int] = {}

    def draw(self) -> Fault | None:
        for fault in self.faults:
            if fault.count is not None:
                fault.count -= 1
                hit = True
            else:
                hit = self.rng.random() < fault.rate
            if hit:
                self.faults = [f for f in self.faults if f.count is None or f.count > 0]
                self.fired[fault.kind] = self.fired.get(fault.kind, 0) + 1
                return fault
        return None

    def to_wire(self) -> dict:
        return {
            "faults": [{"kind": f.kind, "count": f.count, "rate": f.rate, "body": f.body, "status": f.status} for f in self.faults],
            "stall_s": self.stall_s, "fired": dict(self.fired),
        }
