"""A local Polymarket-compatible CLOB (`sentitrade sandbox`): rehearse live trading, test the live path and its faults."""
