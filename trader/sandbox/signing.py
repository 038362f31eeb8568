"""The checks a real CLOB makes on what it is sent: the V2 order digest and signer, L1 ClobAuth, L2 HMAC.

The order digest is the connector's (`connectors.polymarket.order_typed_data`, the trader's ids); each
check mirrors the SDK's own construction (polymarket-client 0.14.0: `_internal/actions/orders/typed_data.py`,
`_internal/l1_auth.py`, `_internal/hmac.py`), so a request the SDK builds passes and any other fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid

from eth_account import Account
from eth_account.messages import encode_typed_data
from polymarket.environments import PRODUCTION

from connectors.polymarket import eip712_digest, order_typed_data

CHAIN_ID = PRODUCTION._config.chain_id
EXCHANGE_V2 = PRODUCTION._config.standard_exchange
NEG_RISK_EXCHANGE_V2 = PRODUCTION._config.neg_risk_exchange
NEG_RISK_ADAPTER = PRODUCTION._config.neg_risk_adapter
CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"


class SignatureError(ValueError):
    """A signature that does not recover the address it claims."""


def recover(typed_data: dict, signature: str) -> str:
    try:
        return Account.recover_message(encode_typed_data(full_message=typed_data), signature=signature)
    except Exception as exc:  # a malformed signature is as bad as a wrong one
        raise SignatureError(f"invalid signature: {exc}") from None


def verify_order(order: dict, *, neg_risk: bool) -> str:
    """The order id of an EOA-signed order (signatureType 0, maker = signer = recovered address)."""
    typed = order_typed_data(order, neg_risk=neg_risk)  # the connector's: the trader computes its ids with the same
    if int(order["signatureType"]) != 0:
        raise SignatureError("only EOA orders (signatureType 0) are supported by the sandbox")
    signer = recover(typed, order["signature"])
    if signer.lower() != str(order["signer"]).lower() or signer.lower() != str(order["maker"]).lower():
        raise SignatureError("invalid signature")
    return eip712_digest(typed)


def verify_l1(address: str, signature: str, timestamp: str, nonce: str) -> str:
    """The checksummed address a POLY_* L1 header set proves control of (the ClobAuth EIP-712 message)."""
    typed = {
        "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": CHAIN_ID},
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
            ],
            "ClobAuth": [
                {"name": "address", "type": "address"},
                {"name": "timestamp", "type": "string"},
                {"name": "nonce", "type": "uint256"},
                {"name": "message", "type": "string"},
            ],
        },
        "primaryType": "ClobAuth",
        "message": {"address": address, "timestamp": str(timestamp), "nonce": int(nonce), "message": CLOB_AUTH_MESSAGE},
    }
    recovered = recover(typed, signature)
    if recovered.lower() != address.lower():
        raise SignatureError("L1 signature does not match POLY_ADDRESS")
    return recovered


def hmac_signature(secret: str, timestamp: str, method: str, path: str, body: str | None) -> str:
    """What the SDK puts in POLY_SIGNATURE: urlsafe-b64 HMAC-SHA256 of `timestamp + method + path [+ body]`."""
    message = f"{timestamp}{method}{path}{body or ''}"
    raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    return base64.urlsafe_b64encode(hmac.new(raw, message.encode(), hashlib.sha256).digest()).decode()


def verify_l2(secret: str, signature: str, timestamp: str, method: str, path: str, body: str | None) -> None:
    if not hmac.compare_digest(hmac_signature(secret, timestamp, method, path, body), signature or ""):
        raise SignatureError("invalid L2 signature")


def new_credentials() -> dict[str, str]:
    """A fresh API key, HMAC secret (urlsafe base64) and passphrase, shaped like the CLOB's answer."""
    return {
        "apiKey": str(uuid.uuid4()),
        "secret": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "passphrase": secrets.token_hex(32),
    }

