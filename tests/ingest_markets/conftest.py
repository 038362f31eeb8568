"""A local fake Polymarket (pytest-httpserver on 127.0.0.1) serving the recorded responses, and a
`PolymarketSource` pointed at it through the real SDK.

Recorded bodies come from `shared/data/polymarket-fixtures/` unchanged; where the SDK reads an
endpoint the recordings do not cover, the test that serves it says which shape it built from what.
"""

from __future__ import annotations

import json

import pytest

from connectors.polymarket import PolymarketSettings, PolymarketSource
from tests.conftest import SHARED_DATA

FIXTURES = SHARED_DATA / "polymarket-fixtures"


def recorded(relative: str):
    return json.loads((FIXTURES / relative).read_text())


def keyset(key: str, items: list) -> dict:
    """Gamma's keyset page as the SDK reads it (`_internal/actions/gamma.py::_make_keyset_parser`):
    the recorded files are plain `GET /markets` / `GET /events` lists, the SDK calls `/markets/keyset`."""
    return {key: items, "next_cursor": None}


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


@pytest.fixture
def settings(httpserver) -> PolymarketSettings:
    url = httpserver.url_for("/")
    return PolymarketSettings(_env_file=None, gamma_url=url, clob_url=url, data_url=url, max_retries=2, backoff_seconds=0.5)


@pytest.fixture
def waits() -> list[float]:
    """The delays the source slept, recorded instead of slept."""
    return []


@pytest.fixture
def source(settings, waits):
    with PolymarketSource(settings, sleep=waits.append) as live:
        yield live
