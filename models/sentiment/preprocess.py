"""Text in, text out: one cleaning pass per tweet, shared by every scorer.

`sanitize` turns whatever a row holds (None, bytes that are not UTF-8, a string with a lone
surrogate, a 10k-character post) into a string every scorer and the Rust tokenizer accept, and
says what it changed; `preprocess` is the seed's normalization.
"""

from __future__ import annotations

import math
import re

import emoji

_URL = re.compile(r"https?://\S+")
_MENTION = re.compile(r"@\w+")
MAX_CHARS = 2_000  # about seven tweets; keeps one pathological post from dominating a batch's time


def preprocess(text: str) -> str:
    """URLs removed, mentions normalized, emoji turned into words; cashtags and hashtags kept."""
    text = _MENTION.sub("@user", _URL.sub("", text))
    if not text.isascii():  # no emoji in plain ASCII: skip the tokenizer, the costliest step of scoring
        text = emoji.demojize(text, delimiters=(" ", " "))
    return text.replace("_", " ").strip()


def clean(value) -> str:
    """What every scorer reads, training included: `sanitize`, then `preprocess`."""
    return preprocess(sanitize(value)[0])


def sanitize(value) -> tuple[str, str | None]:
    """A scorable string and, when the input had to be changed, why (None when it was fine)."""
    reasons = []
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "", "no text"
    if isinstance(value, bytes | bytearray):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            value = bytes(value).decode("utf-8", errors="replace")
            reasons.append("invalid UTF-8 replaced with U+FFFD")
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: re-pair what pairs, replace the rest
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", errors="replace")
        reasons.append("surrogates re-paired, lone ones replaced with U+FFFD")
    if len(text) > MAX_CHARS:
        reasons.append(f"truncated from {len(text):,} to {MAX_CHARS:,} characters")
        text = text[:MAX_CHARS]
    return text, "; ".join(reasons) or None
