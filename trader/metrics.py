"""The trader's Prometheus metrics, on their own registry (`--metrics-port` serves them).

Books are labelled `champion` or `<alias>:v<version>` for shadows, so one dashboard shows the
champion and every candidate side by side.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class TraderMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.decisions = Counter("sentitrade_decisions", "Model decisions made (one per market per round).", ["book"], registry=r)
        self.orders = Counter("sentitrade_orders", "Orders by outcome.", ["book", "status"], registry=r)
        self.fills = Counter("sentitrade_fills", "Fills.", ["book"], registry=r)
        self.rejects = Counter("sentitrade_rejects", "Orders the exchange (or the paper book) did not fill.", ["book"], registry=r)
        self.errors = Counter("sentitrade_errors", "Faults survived, by kind.", ["kind"], registry=r)
        self.pnl = Gauge("sentitrade_pnl_usdc", "Equity minus starting cash.", ["book"], registry=r)
        self.equity = Gauge("sentitrade_equity_usdc", "Cash plus positions marked at the mid.", ["book"], registry=r)
        self.exposure = Gauge("sentitrade_exposure_usdc", "Position value per market.", ["book", "market"], registry=r)
        self.model_version = Gauge("sentitrade_model_version", "Version each alias trades (1 = live).", ["alias", "version"], registry=r)
        self.latency = Histogram(
            "sentitrade_decision_latency_seconds", "From the event that closed a round to its orders out and ledger written.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5), registry=r,
        )
        self.feed_lag = Gauge("sentitrade_feed_lag_seconds", "How far the feed's delivery runs behind event time.", registry=r)
        self.event_time = Gauge("sentitrade_event_time_seconds", "The trader's event clock (unix seconds).", registry=r)

    def serve(self, port: int, address: str = "127.0.0.1"):
        """Serve /metrics on `port` (0: any free port); returns the server (its `server_port` says which)."""
        server, _thread = start_http_server(port, addr=address, registry=self.registry)
        return server

    def set_versions(self, versions: dict[str, str]) -> None:
        """Exactly one live series per alias: the version it trades now."""
        self.model_version.clear()
        for alias, version in versions.items():
            self.model_version.labels(alias, version).set(1)
