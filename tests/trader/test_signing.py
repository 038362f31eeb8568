"""Order ids and signatures against the signing vectors: the id the ledger records before posting is
the digest the exchange computes, and the SDK signs exactly that digest."""

from __future__ import annotations

import dataclasses
import json

import pytest
from eth_account import Account
from polymarket._internal.actions.orders.typed_data import build_order_typed_data
from polymarket._internal.actions.orders.types import UnsignedOrder
from polymarket.environments import PRODUCTION, _create_environment
from polymarket.models.clob.orders import SignedOrder

from connectors.polymarket import order_id
from tests.conftest import SHARED_DATA

VECTORS = SHARED_DATA / "polymarket-fixtures" / "signing-vectors" / "derived-v2-eoa-vectors.json"
_FILE = json.loads(VECTORS.read_text())


def _unsigned(vector: dict) -> UnsignedOrder:
    m = vector["message"]
    return UnsignedOrder(chain_id=vector["chainId"], builder=m["builder"], exchange_address=vector["verifyingContract"], expiration=0,
                         maker=m["maker"], maker_amount=m["makerAmount"], metadata=m["metadata"], order_type="GTC", salt=m["salt"],
                         side="BUY" if m["side"] == 0 else "SELL", signature_type=m["signatureType"], signer=m["signer"],
                         taker_amount=m["takerAmount"], timestamp=m["timestamp"], token_id=str(m["tokenId"]))


@pytest.mark.parametrize("vector", _FILE["vectors"], ids=lambda v: f"{v['contract']}-{v['side']}-{v['chainId']}")
def test_order_ids_and_sdk_signatures_equal_the_vectors(vector):
    unsigned = _unsigned(vector)
    signature = Account.from_key(_FILE["private_key"]).sign_typed_data(full_message=build_order_typed_data(unsigned)).signature.hex()
    assert "0x" + signature.removeprefix("0x") == vector["expected_signature"]

    environment = _create_environment(name="vector", config=dataclasses.replace(PRODUCTION._config, chain_id=vector["chainId"]))
    fields = {f.name: getattr(unsigned, f.name) for f in dataclasses.fields(SignedOrder) if hasattr(unsigned, f.name)}
    signed = SignedOrder(**fields, signature=vector["expected_signature"])
    digest = order_id(signed, neg_risk=vector["contract"].startswith("neg_risk"), environment=environment)
    assert digest == vector["expected_eip712_digest"]
    assert Account._recover_hash(bytes.fromhex(digest[2:]), signature=vector["expected_signature"]) == _FILE["signer_address"]


def test_the_neg_risk_exchange_gives_another_id_for_the_same_order():
    vector = _FILE["vectors"][0]
    unsigned = _unsigned(vector)
    fields = {f.name: getattr(unsigned, f.name) for f in dataclasses.fields(SignedOrder) if hasattr(unsigned, f.name)}
    signed = SignedOrder(**fields, signature="0x")
    assert order_id(signed, neg_risk=True) != order_id(signed, neg_risk=False)


_UPSTREAM = json.loads((VECTORS.parent / "upstream-vectors.json").read_text())
_BY_ID = {v["id"]: v for v in _UPSTREAM["vectors"]}


def test_the_sdk_signs_the_api_key_message_and_the_request_hmac_as_the_upstream_vectors():
    """The two auth signatures the local exchange (`sentitrade sandbox`) verifies, from Polymarket's own suites."""
    from polymarket._internal.hmac import build_hmac_signature
    from polymarket._internal.l1_auth import sign_api_key_auth

    l1 = _BY_ID["clob-auth-l1"]
    message = l1["typed_data"]["message"]
    signed = sign_api_key_auth(Account.from_key(_UPSTREAM["private_key"]), chain_id=l1["typed_data"]["domain"]["chainId"],
                               timestamp=int(message["timestamp"]), nonce=message["nonce"])
    assert signed.signature == l1["expected_signature"]

    l2 = _BY_ID["hmac-l2"]["inputs"]
    assert build_hmac_signature(secret=l2["secret_urlsafe_base64"], timestamp=int(l2["timestamp"]), method=l2["method"],
                                path=l2["request_path"], body=l2["body"]) == _BY_ID["hmac-l2"]["expected_signature"]
