"""Polymarket market data through the official SDK (`polymarket-client`, import `polymarket`).

`PolymarketSource` answers the two calls the assets make of any market-data source, exactly as the
replay source does (`gamma_markets()`, `prices_history(token, start, end)` -> `{"history": [{"t",
"p"}]}`), plus discovery and order books for the CLI. Every call retries on 429, 5xx and dropped
connections, waiting what `Retry-After` asks, else an exponential backoff.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from itertools import islice
from typing import Annotated, Literal, TypeVar

from polymarket import PublicClient, SecureClient
from polymarket.environments import PRODUCTION, Environment, _create_environment
from polymarket.errors import RateLimitError, RequestRejectedError, TransportError, UnexpectedResponseError
from polymarket.models import Market, OrderBook
from polymarket.models.clob.orders import SignedOrder
from polymarket.pagination import Paginator
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.ingest.markets import MarketBatch, binary_markets

log = logging.getLogger(__name__)
T = TypeVar("T")
PROTOCOLS = ("v1", "v2")  # Gamma lists only v1 markets unless asked for both
# Every service the SDK may reach while the trader runs: each is overridable, so a rehearsal against a
# local exchange (`sentitrade sandbox`) never reaches production by accident.
SERVICE_URLS = ("gamma_url", "clob_url", "data_url", "clob_market_ws_url", "clob_user_ws_url", "relayer_url", "rpc_url")
# The SDK's names for the wallet kinds, by the signature type each signs with.
SIGNATURE_TYPES = {"eoa": "EOA", "poly-proxy": "POLY_PROXY", "gnosis-safe": "GNOSIS_SAFE", "deposit-wallet": "DEPOSIT_WALLET"}


class PolymarketSettings(BaseSettings):
    """Where the Polymarket APIs are, which markets are tracked, and how price history is fetched."""

    model_config = SettingsConfigDict(env_prefix="SENTITRADE_POLYMARKET_", env_file=".env", extra="ignore")

    gamma_url: str | None = Field(None, description="Gamma API base URL (markets, events); default: the SDK's production URL.")
    clob_url: str | None = Field(None, description="CLOB API base URL (order books); default: production.")
    data_url: str | None = Field(None, description="Data API base URL (price history); default: production.")
    clob_market_ws_url: str | None = Field(None, description="CLOB market WebSocket URL (the live feed's books and prices); default: production.")
    clob_user_ws_url: str | None = Field(None, description="CLOB user WebSocket URL (the account's order and trade updates); default: production.")
    relayer_url: str | None = Field(None, description="Relayer URL the SDK asks about deposit and proxy wallets; default: production.")
    rpc_url: str | None = Field(None, description="Polygon JSON-RPC URL the SDK reads on-chain state from; default: the SDK's public one.")
    tracked_slugs: Annotated[list[str], NoDecode] = Field(default_factory=list, description="Markets to track, by Gamma slug, comma-separated.")
    tracked_keywords: Annotated[list[str], NoDecode] = Field(default_factory=list, description="Also track the open markets of events whose title has one of these words, comma-separated.")
    fidelity_minutes: int = Field(5, ge=1, le=1440, description="Width of a price-history bucket, in minutes.")
    chunk_days: int = Field(14, ge=1, le=15, description="Longest window one price-history request covers (the API allows 15 days).")
    max_retries: int = Field(4, ge=0, description="Retries of a request answered 429 or 5xx, or cut off.")
    backoff_seconds: float = Field(1.0, ge=0, description="First wait when no Retry-After is sent; doubles on each retry.")
    max_gap_minutes: float = Field(60.0, gt=0, description="A longer hole in a token's landed price series is warned about.")
    private_key: SecretStr | None = Field(None, description="Signer's private key, for dry-run and live trading only; never printed or logged.")
    wallet: str | None = Field(None, description="Funder address: the wallet that holds the collateral and the shares; default: the signer's own address (an EOA).")
    signature_type: Literal["eoa", "poly-proxy", "gnosis-safe", "deposit-wallet"] = Field(
        "eoa", description="How orders are signed for the funder (0 EOA, 1 Polymarket proxy, 2 Gnosis Safe, 3 deposit wallet); must match the wallet.")

    @field_validator("tracked_slugs", "tracked_keywords", mode="before")
    @classmethod
    def _comma_separated(cls, value):
        return [item.strip() for item in value.split(",") if item.strip()] if isinstance(value, str) else value


def sdk_environment(settings: PolymarketSettings) -> Environment:
    """The SDK's production environment with the URLs (REST bases, the market WebSocket) the settings override.

    The SDK makes only PRODUCTION public (`Environment()` raises), so reaching another host (a local
    test server) takes its private `_create_environment` with a `dataclasses.replace` of the
    production config. This is the one place in the project that does it.
    """
    overrides = {name: url.rstrip("/") for name in SERVICE_URLS if (url := getattr(settings, name))}
    if not overrides:
        return PRODUCTION
    return _create_environment(name="sentitrade-override", config=dataclasses.replace(PRODUCTION._config, **overrides))


def secure_client(settings: PolymarketSettings) -> SecureClient:
    """An authenticated SDK client for the settings' signer and funder, on the settings' environment.

    The funder defaults to the signer's own address, so the SDK signs as an EOA and asks no relayer
    about deposit wallets. The SDK classifies the wallet itself; a signature type that disagrees with
    it is refused here, before any order is built.
    """
    if settings.private_key is None:
        raise ValueError("SENTITRADE_POLYMARKET_PRIVATE_KEY is not set: dry-run and live trading sign orders with it")
    key = settings.private_key.get_secret_value()
    try:
        signer = Account.from_key(key).address
    except (ValueError, TypeError):
        raise ValueError("SENTITRADE_POLYMARKET_PRIVATE_KEY is not a valid private key (expected 0x and 64 hex digits)") from None
    client = SecureClient.create(private_key=key, wallet=settings.wallet or signer, environment=sdk_environment(settings))
    wanted = SIGNATURE_TYPES[settings.signature_type]
    if client.wallet_type != wanted:
        client.close()
        raise ValueError(f"SENTITRADE_POLYMARKET_SIGNATURE_TYPE is {settings.signature_type}, but the SDK classifies wallet "
                         f"{client.wallet} (signer {signer}) as {client.wallet_type}: set the matching type or wallet")
    return client


def order_typed_data(order: Mapping, *, neg_risk: bool, environment: Environment = PRODUCTION) -> dict:
    """The EIP-712 message of a V2 order as it is posted (the JSON body's `order`, camelCase), signed against
    the V2 CTF exchange (or its neg-risk twin) on the environment's chain. V2 position ids (Exchange V3)
    are not traded here."""
    config = environment._config
    message = {name: order[name] for name in ("maker", "signer", "metadata", "builder")}
    message |= {name: int(order[name]) for name in ("salt", "tokenId", "makerAmount", "takerAmount", "signatureType", "timestamp")}
    message["side"] = 0 if order["side"] in ("BUY", 0, "0") else 1
    return {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "Order": _ORDER_FIELDS},
        "primaryType": "Order",
        "domain": {"name": "Polymarket CTF Exchange", "version": "2", "chainId": config.chain_id,
                   "verifyingContract": config.neg_risk_exchange if neg_risk else config.standard_exchange},
        "message": message,
    }


def eip712_digest(typed_data: dict) -> str:
    """`keccak(0x1901 || domainSeparator || structHash)`, 0x-hex: for an order, the id the CLOB answers with."""
    signable = encode_typed_data(full_message=typed_data)
    return "0x" + keccak(b"\x19\x01" + signable.header + signable.body).hex()


def order_id(order: SignedOrder, *, neg_risk: bool, environment: Environment = PRODUCTION) -> str:
    """The exchange's id of a signed order: known before it is posted, so the ledger can record an intent
    under the very id the exchange will answer with (or be asked about)."""
    wire = {"salt": order.salt, "maker": order.maker, "signer": order.signer, "tokenId": order.token_id,
            "makerAmount": order.maker_amount, "takerAmount": order.taker_amount, "side": order.side,
            "signatureType": order.signature_type, "timestamp": order.timestamp, "metadata": order.metadata,
            "builder": order.builder}
    return eip712_digest(order_typed_data(wire, neg_risk=neg_risk, environment=environment))


_DOMAIN_FIELDS = [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                  {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}]
_ORDER_FIELDS = [{"name": name, "type": kind} for name, kind in (
    ("salt", "uint256"), ("maker", "address"), ("signer", "address"), ("tokenId", "uint256"), ("makerAmount", "uint256"),
    ("takerAmount", "uint256"), ("side", "uint8"), ("signatureType", "uint8"), ("timestamp", "uint256"),
    ("metadata", "bytes32"), ("builder", "bytes32"))]


class PolymarketApiError(RuntimeError):
    """A Polymarket request that failed for good; the message names the endpoint and the last answer."""


class PolymarketSource:
    """The live market-data source: one SDK client, every request retried by `_call`.

    Each retry is logged at `retry_log_level`; a caller that says outages itself (the live feed,
    once per state change) lowers it."""

    def __init__(
        self, settings: PolymarketSettings | None = None, *, sleep: Callable[[float], None] = time.sleep,
        retry_log_level: int = logging.WARNING,
    ):
        self.settings = settings or PolymarketSettings()
        self.client = PublicClient(sdk_environment(self.settings))
        self._sleep, self._retry_log_level = sleep, retry_log_level

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> PolymarketSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, endpoint: str, request: Callable[[], T]) -> T:
        """Run one request, retrying what a retry can fix; anything else fails at once, named."""
        attempt = 0
        while True:
            try:
                return request()
            except RateLimitError as exc:
                wait, answer = exc.retry_after, "HTTP 429 (rate limited)"
            except RequestRejectedError as exc:
                if exc.status < 500:
                    raise PolymarketApiError(f"{endpoint} was refused: HTTP {exc.status}: {exc}") from exc
                wait, answer = exc.retry_after, f"HTTP {exc.status}: {exc}"
            except TransportError as exc:
                wait, answer = None, f"connection failed: {exc}"
            except UnexpectedResponseError as exc:
                raise PolymarketApiError(f"{endpoint} sent an unexpected response: {exc}") from exc
            answer = " ".join(answer.split())  # a server's text may span lines; a log line or an error must not
            if attempt == self.settings.max_retries:
                raise PolymarketApiError(f"{endpoint} failed after {attempt + 1} attempts; last answer: {answer}")
            delay = wait if wait is not None else self.settings.backoff_seconds * 2**attempt
            log.log(self._retry_log_level, "%s: %s; retrying in %.1f s", endpoint, answer, delay)
            self._sleep(delay)
            attempt += 1

    def _items(self, endpoint: str, paginator: Paginator[T]) -> Iterator[T]:
        """Every item of a paginated listing, each page fetched (and retried) on its own."""
        page, seen = self._call(endpoint, paginator.first_page), set()
        yield from page.items
        while page.has_more and not page.limit_reached:
            if page.next_cursor in seen:
                raise PolymarketApiError(f"{endpoint} repeated a page cursor")
            seen.add(page.next_cursor)
            page = self._call(endpoint, paginator.from_cursor(page.next_cursor).first_page)
            yield from page.items

    def discover(self, keyword: str | None = None, tag: str | None = None, closed: bool = False, limit: int = 100) -> MarketBatch:
        """The markets of Gamma events whose title has `keyword` and/or that carry the tag slug `tag`,
        open (or closed) ones only, at most `limit` looked at; non-Yes/No markets are skipped with a reason."""
        events = self.client.list_events(title_search=keyword, tag_slug=tag, closed=closed, version=PROTOCOLS)
        found = (m for event in self._items("GET /events/keyset", events) for m in event.markets if bool(m.state.closed) == closed)
        return binary_markets(islice(found, limit))

    def markets(self, slugs: list[str]) -> MarketBatch:
        """The markets with these Gamma slugs, open or closed."""
        return binary_markets(self._items("GET /markets/keyset", self.client.list_markets(slug=slugs, version=PROTOCOLS)))

    def gamma_markets(self) -> list[Market]:
        """The tracked markets: the slugs named in the settings plus the open markets their keywords find."""
        settings = self.settings
        if not settings.tracked_slugs and not settings.tracked_keywords:
            raise ValueError("no markets are tracked: set SENTITRADE_POLYMARKET_TRACKED_SLUGS or SENTITRADE_POLYMARKET_TRACKED_KEYWORDS")
        batches = [self.markets(settings.tracked_slugs)] if settings.tracked_slugs else []
        batches += [self.discover(keyword=keyword) for keyword in settings.tracked_keywords]
        for slug, reason in (skip for batch in batches for skip in batch.skipped):
            log.warning("not tracking %s: %s", slug, reason)
        return list({m.slug: m for batch in batches for m in batch.markets}.values())

    def prices_history(
        self, token_id: str, start_ts: int, end_ts: int, fidelity: int | None = None, progress: Callable[[int, int], None] | None = None
    ) -> dict:
        """One token's prices with start <= t < end, in CLOB `prices-history` shape (`{"history": [{"t", "p"}]}`).

        The SDK reads them from the Data API (`GET /v2/prices-history`), whose windows span at most
        15 days, so a long range is fetched in `chunk_days` windows (`progress(done, total)` after
        each) and stitched in time order, one point per timestamp.
        """
        bucket, step = 60 * (fidelity or self.settings.fidelity_minutes), 86400 * self.settings.chunk_days
        windows = [(start, min(start + step, end_ts)) for start in range(start_ts, end_ts, step)]
        points: dict[int, float] = {}
        for done, (start, end) in enumerate(windows, start=1):
            pages = self.client.list_price_history(asset_id=token_id, start=start, end=end, bucket_seconds=bucket)
            for point in self._items("GET /v2/prices-history", pages):
                t = int(point.timestamp.timestamp())
                if start <= t < end:
                    points[t] = float(point.price)
            if progress:
                progress(done, len(windows))
        return {"history": [{"t": t, "p": points[t]} for t in sorted(points)]}

    def order_book(self, token_id: str) -> OrderBook:
        """A snapshot of one token's CLOB order book (`GET /book`)."""
        return self._call("GET /book", lambda: self.client.get_order_book(token_id=token_id))
