"""The transformer scorer on tiny random BERTs: label order from id2label, batching that changes
nothing but speed, int8 measured against fp32, CPU unless CUDA is asked for and present."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.sentiment import SentimentSettings
from models.sentiment.transformer import (
    Bf16Linear,
    LabelMappingError,
    TransformerScorer,
    cpu_bf16,
    identify,
    int8_recipe,
    label_indices,
)

TEXTS = ["good", "the market is up , love it !", "awful crash", "", "not bad", "$ btc to the moon rocket rocket up up up",
         "fear and hate", "it is what it is", "smiling face with great win"] * 3


def load(folder, **settings) -> TransformerScorer:
    return TransformerScorer.load(str(folder), SentimentSettings(**settings))


def test_labels_are_read_from_id2label_never_assumed():
    assert label_indices({0: "positive", 1: "negative", 2: "neutral"}) == {"positive": 0, "negative": 1, "neutral": 2}
    assert label_indices({"0": "Bearish", "1": "Bullish"}) == {"negative": 0, "positive": 1}
    with pytest.raises(LabelMappingError, match="names no positive and negative class"):
        label_indices({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})


def test_a_different_label_order_gives_the_same_scores(tiny_bert, tiny_bert_reordered):
    finbert_order, other_order = load(tiny_bert), load(tiny_bert_reordered)
    assert finbert_order.labels != other_order.labels
    np.testing.assert_allclose(finbert_order.scores(TEXTS), other_order.scores(TEXTS), atol=1e-6)
    assert finbert_order.predict(TEXTS) == other_order.predict(TEXTS)


def test_sorted_padded_batches_match_one_text_at_a_time(tiny_bert):
    batched = load(tiny_bert, batch_size=4).scores(TEXTS)
    one_by_one = np.concatenate([load(tiny_bert, batch_size=1).scores([t]) for t in TEXTS])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    assert np.all(np.abs(batched) <= 1) and load(tiny_bert).scores([]).shape == (0,)


def test_int8_is_named_and_measured_against_fp32(tiny_bert):
    fp32, int8 = load(tiny_bert), load(tiny_bert, int8=True)
    assert int8.identity == f"{fp32.identity}:{int8_recipe()}" and fp32.identity == identify(str(tiny_bert))
    quantized = [m for m in int8.model.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    assert len(quantized) == 6 and all(m.in_features <= m.out_features for m in quantized)  # Q K V, attention out, FFN up, pooler
    down = int8.model.bert.encoder.layer[0].output.dense
    assert isinstance(down, Bf16Linear) if cpu_bf16() else type(down) is torch.nn.Linear
    assert type(int8.model.classifier) is torch.nn.Linear
    agreement = np.mean(np.asarray(fp32.predict(TEXTS)) == np.asarray(int8.predict(TEXTS)))
    assert agreement >= 0.8, f"int8 agrees with fp32 on {agreement:.0%} of labels"


def test_cpu_unless_cuda_is_asked_for_and_present(tiny_bert):
    assert load(tiny_bert).device.type == "cpu"
    if torch.cuda.is_available():
        assert load(tiny_bert, device="cuda").device.type == "cuda"
    else:
        with pytest.warns(RuntimeWarning, match="no CUDA device"):
            assert load(tiny_bert, device="cuda").device.type == "cpu"


def test_identity_follows_the_weights(tiny_bert, tiny_bert_reordered):
    assert identify(str(tiny_bert)).startswith("finbert-order@") and identify(str(tiny_bert)) != identify(str(tiny_bert_reordered))
    assert identify("ProsusAI/finbert") == "ProsusAI/finbert@uncached"
