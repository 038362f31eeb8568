"""Fine-tune a sequence classifier on labeled tweets and register it as a scorer in MLflow.

A base encoder (a hub id or a local directory, e.g. MiniLM-L6 or FinBERT) gets a 3-class head
(negative, neutral, positive), is trained on the training fold (`data.holdout_mask` is False) for a
bounded number of steps, judged on the held-out fold, and logged with its metrics as one MLflow run;
the saved model folder becomes a new version of a registered model, so the scoring stage can load it
as `models:/<name>/<version>` (or through an alias) with `SENTITRADE_SENTIMENT_TRANSFORMER`.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

from models.sentiment.data import CLASSES, holdout_mask, macro_f1
from models.sentiment.preprocess import clean
from models.sentiment.transformer import TransformerScorer, dir_hash, local_path


@dataclass(frozen=True)
class FinetuneConfig:
    """Training knobs; `max_steps` bounds the run whatever the epochs say."""

    base: str
    epochs: int = 1
    max_steps: int | None = None
    batch_size: int = 32
    learning_rate: float = 1e-4
    max_tokens: int = 64
    warmup_share: float = 0.1
    seed: int = 0


@dataclass(frozen=True)
class FinetuneResult:
    run_id: str
    name: str
    version: str
    steps: int
    metrics: dict

    @property
    def model_uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def holdout_metrics(scorer: TransformerScorer, holdout: pd.DataFrame) -> dict:
    """Macro-F1 and accuracy of the argmax class, and Pearson r of P(pos) - P(neg) with the human rating."""
    texts = [clean(t) for t in holdout["text"]]
    predicted = scorer.predict(texts)
    metrics = {
        "macro_f1": macro_f1(holdout["label"], predicted),
        "accuracy": float(np.mean(np.asarray(predicted) == holdout["label"].to_numpy())),
    }
    if "rating" in holdout:
        metrics["pearson_r"] = float(np.corrcoef(scorer.scores(texts), holdout["rating"])[0, 1])
    return metrics


def train(config: FinetuneConfig, examples: pd.DataFrame):
    """The classifier trained on `examples` (text, label), its tokenizer, and its loss at each step.

    Batches are cut from length-sorted texts (little padding) and visited in a shuffled order;
    the loss is weighted by inverse class frequency so a rare neutral class still counts in macro-F1.
    """
    torch.manual_seed(config.seed)
    path = local_path(config.base)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=len(CLASSES), id2label=dict(enumerate(CLASSES)), label2id={c: i for i, c in enumerate(CLASSES)},
        ignore_mismatched_sizes=True,
    )
    texts = [clean(t) for t in examples["text"]]  # the text the scoring stage will show it
    targets = torch.tensor([CLASSES.index(label) for label in examples["label"]])
    order = np.argsort([len(t) for t in texts], kind="stable")
    batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    steps = config.epochs * len(batches) if config.max_steps is None else min(config.max_steps, config.epochs * len(batches))
    counts = torch.bincount(targets, minlength=len(CLASSES)).clamp(min=1).float()
    loss_fn = torch.nn.CrossEntropyLoss(weight=counts.sum() / (len(CLASSES) * counts))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, math.ceil(config.warmup_share * steps), steps)
    rng = np.random.default_rng(config.seed)
    model.train()
    step, losses = 0, []
    while step < steps:
        for b in rng.permutation(len(batches)):
            if step == steps:
                break
            rows = batches[b]
            inputs = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=config.max_tokens, return_tensors="pt")
            loss = loss_fn(model(**inputs).logits, targets[rows])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            step += 1
    return model.eval(), tokenizer, losses


def finetune(examples: pd.DataFrame, config: FinetuneConfig, registered_name: str, tracking_uri: str, artifact_root: str) -> FinetuneResult:
    """Train on the training fold, judge on the held-out fold, log one MLflow run, register a version."""
    import mlflow
    from mlflow import MlflowClient

    from models import registry

    held_out = holdout_mask(examples["id"])
    training, holdout = examples[~held_out], examples[held_out]
    registry.configure(tracking_uri, artifact_root, experiment="sentitrade-sentiment")
    started = time.perf_counter()
    model, tokenizer, losses = train(config, training)
    seconds = time.perf_counter() - started
    scorer = TransformerScorer(model, tokenizer, "training", torch.device("cpu"))
    metrics = {f"holdout_{k}": v for k, v in holdout_metrics(scorer, holdout).items()}
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_name=f"finetune-{Path(config.base).name}") as run:
        folder = Path(tmp) / "scorer"
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        mlflow.set_tag("kind", "sentiment-scorer")
        mlflow.log_params({**asdict(config), "train_rows": len(training), "holdout_rows": len(holdout), "steps": len(losses),
                           "classes": ",".join(CLASSES)})
        for i, loss in enumerate(losses):
            mlflow.log_metric("train_loss", loss, step=i)
        mlflow.log_metrics({**metrics, "train_seconds": seconds})
        mlflow.log_artifacts(str(folder), artifact_path="scorer")
        sha = dir_hash(folder)
    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    registry.ensure_registered_model(client, registered_name, "Tweet sentiment classifiers (negative/neutral/positive).")
    version = client.create_model_version(
        registered_name, source=f"{run.info.artifact_uri}/scorer", run_id=run.info.run_id,
        tags={"kind": "sentiment-scorer", "base": config.base, "weights_sha256": sha},
    )
    return FinetuneResult(run.info.run_id, registered_name, str(version.version), len(losses), metrics)
