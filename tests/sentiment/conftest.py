"""Tiny randomly initialized BERT classifiers built on disk, so the real transformer code path runs
in milliseconds with no download; the hub is switched off for every test here."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported anywhere in this session

FINBERT_ORDER = {0: "positive", 1: "negative", 2: "neutral"}
OTHER_ORDER = {0: "negative", 1: "neutral", 2: "positive"}
WORDS = (
    "good great love win moon rocket up happy bull strong "
    "bad awful hate lose crash down sad bear weak fear "
    "the a market is not it to of and this user btc eth $ # @ ! . , : face smiling with"
).split()


def build_tiny_bert(folder: Path, id2label: dict[int, str], seed: int = 0) -> Path:
    """A 1-layer, 16-wide BERT with a word-level vocab written to disk, saved as a HF model folder."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(WORDS) + 5, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=128, id2label=id2label, label2id={v: k for k, v in id2label.items()},
    )
    torch.manual_seed(seed)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """FinBERT's label order: positive, negative, neutral."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny") / "finbert-order", FINBERT_ORDER)


@pytest.fixture(scope="session")
def tiny_bert_reordered(tiny_bert, tmp_path_factory) -> Path:
    """The same network with its output rows permuted and `id2label` saying so (negative, neutral, positive)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = tmp_path_factory.mktemp("tiny") / "other-order"
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert)
    old = {name: i for i, name in FINBERT_ORDER.items()}
    rows = torch.tensor([old[OTHER_ORDER[i]] for i in range(3)])
    with torch.no_grad():
        model.classifier.weight.copy_(model.classifier.weight[rows])
        model.classifier.bias.copy_(model.classifier.bias[rows])
    model.config.id2label, model.config.label2id = OTHER_ORDER, {v: k for k, v in OTHER_ORDER.items()}
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(folder)
    return folder


@pytest.fixture
def raw_tweets():
    """Builds raw_tweets-shaped rows around some texts (and `lang` codes)."""

    def build(texts, langs=None) -> pd.DataFrame:
        n = len(texts)
        frame = pd.DataFrame(
            {"tweet_id": [str(i) for i in range(n)], "created_at": pd.Timestamp("2026-11-01") + pd.to_timedelta(range(n), "min"),
             "text": list(texts), "market": "m", "author_followers": 10, "author_verified": False}
        )
        return frame if langs is None else frame.assign(lang=langs)

    return build
