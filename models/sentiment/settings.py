"""How tweets are scored, from the environment (prefix SENTITRADE_SENTIMENT_) or `.env`.

The defaults reproduce the seed's semantics without its cost: VADER alone until a transformer is
named, so the demo and the tests never download or load one unless asked.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

FINBERT = "ProsusAI/finbert"


class SentimentSettings(BaseSettings):
    """The scorer's configuration; frozen (hashable) so one loaded engine serves each configuration."""

    model_config = SettingsConfigDict(env_prefix="SENTITRADE_SENTIMENT_", env_file=".env", extra="ignore", frozen=True)

    transformer: str = Field(
        "",
        description=f"Sequence-classification model: a hub id (e.g. {FINBERT}), a local directory or a "
        "`models:/<name>/<version>` / `models:/<name>@<alias>` URI. Empty: VADER alone.",
    )
    batch_size: int = Field(32, ge=1, description="Tweets per transformer forward pass.")
    threads: int = Field(0, ge=0, description="torch intra-op threads on CPU; 0 keeps torch's default (one per core).")
    device: Literal["cpu", "cuda"] = Field("cpu", description="cuda is used only when asked and present.")
    int8: bool = Field(False, description="Dynamic int8 quantization of the transformer's Linear layers (CPU only).")
    max_tokens: int = Field(128, ge=8, le=512, description="Longer texts are truncated to this many tokens.")
    gate: float = Field(0.3, ge=0, le=1, description="The transformer scores a tweet only when |VADER compound| > gate.")
    vader_weight: float = Field(0.3, ge=0, description="Ensemble weight of VADER's compound.")
    transformer_weight: float = Field(0.7, ge=0, description="Ensemble weight of the transformer's P(pos) - P(neg).")
    workers: int = Field(0, ge=0, description="Processes for VADER on large batches; 0: one per CPU core.")
    registered_model: str = Field("sentitrade-sentiment", description="MLflow registered model that `finetune` adds versions to.")

    @model_validator(mode="after")
    def _weights_sum(self) -> SentimentSettings:
        if self.vader_weight + self.transformer_weight <= 0:
            raise ValueError("vader_weight + transformer_weight must be positive")
        return self
