"""A sandbox CLOB per test and the real SDK client the trader builds against it."""

from __future__ import annotations

import json

import pytest
from polymarket import SecureClient

from connectors.polymarket import PolymarketSettings, sdk_environment
from tests.conftest import REPO
from trader.sandbox.server import SandboxServer

FIXTURES = REPO.parent / "shared" / "data" / "polymarket-fixtures"
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # the well-known test key of the signing vectors
ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"

# Real-looking token ids (the recorded book's and the recorded clob-markets' tokens), so the SDK signs them for CLOB V2.
DEEP = "23360939988679364027624185518382759743328544433592111535569478055890815567848"
THIN = "58932827438818170513230893392684302873716776312144361528238673171092470840229"
NEG_RISK = "40344658068671585656605708535625590803520666310734316014770600867572158300800"
BOOKS = {
    DEEP: {"bids": [[0.48, 200], [0.47, 200]], "asks": [[0.50, 200], [0.51, 200]], "tick_size": "0.01",
           "fee_rate": 0.04, "fee_exponent": 1},
    THIN: {"bids": [[0.55, 10]], "asks": [[0.60, 10]], "tick_size": "0.01"},
    NEG_RISK: {"bids": [[0.30, 100]], "asks": [[0.32, 100]], "tick_size": "0.01", "neg_risk": True},
}


def fixture(relative: str) -> dict:
    path = FIXTURES / relative
    if not path.is_file():
        pytest.skip(f"the Polymarket fixtures are not at {FIXTURES}")
    return json.loads(path.read_text())


def connect(url: str) -> SecureClient:
    """As the trader does: an EOA wallet (wallet = the signer), the CLOB URL from the settings."""
    return SecureClient.create(private_key=KEY, wallet=ADDRESS, environment=sdk_environment(PolymarketSettings(clob_url=url)))


@pytest.fixture
def sandbox():
    with SandboxServer(books=BOOKS, heartbeat_timeout_s=0.6, stall_s=1.5, settle_s=0.2) as server:
        yield server


@pytest.fixture
def client(sandbox):
    sdk = connect(sandbox.url)
    yield sdk
    sdk.close()


def account(state: dict) -> dict:
    return next(a for address, a in state["accounts"].items() if address.lower() == ADDRESS.lower())


__all__ = ["ADDRESS", "BOOKS", "DEEP", "KEY", "NEG_RISK", "THIN", "account", "connect", "fixture"]
