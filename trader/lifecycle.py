"""The models the trader runs: `<name>@champion`, and shadows under other aliases, followed live.

The registry is polled every `poll_interval_s` (wall clock); when an alias moves, the new version
is loaded and swapped in between two decisions, never during one. When the registry cannot be
reached the last good models keep trading, and that is said once (and again when it is back).
A shadow is a version under one of the shadow aliases (`challenger` by default) that is not the
champion: it decides on the same features on its own paper book.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from models import registry
from models.registry import CHAMPION, ChampionModel, NoChampionError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelChange:
    """An alias that moved: `old`/`new` are versions (None: the alias appeared or went away)."""

    alias: str
    old: str | None
    new: str | None

    def __str__(self) -> str:
        if self.old is None:
            return f"{self.alias}: now v{self.new}"
        if self.new is None:
            return f"{self.alias}: v{self.old} no longer runs"
        return f"{self.alias}: v{self.old} -> v{self.new}"


class ModelLifecycle:
    def __init__(self, model_name: str, shadow_aliases: list[str], poll_interval_s: float,
                 loader: Callable[[str, str], ChampionModel] = registry.load_version,
                 clock: Callable[[], float] = time.monotonic):
        self.model_name, self.shadow_aliases, self.poll_interval_s = model_name, shadow_aliases, poll_interval_s
        self._load, self._clock = loader, clock
        self._cache: dict[str, ChampionModel] = {}
        self._failed: set[str] = set()
        self.champion: ChampionModel | None = None
        self.shadows: dict[str, ChampionModel] = {}  # alias -> model
        self.registry_reachable = True
        self.failures = 0  # polls and loads that failed: the trader counts them as errors
        self._next_poll = 0.0

    def start(self) -> None:
        """Load the champion (raising NoChampionError when there is none) and the shadows."""
        found = registry.aliases(self.model_name)
        if CHAMPION not in found:
            raise NoChampionError(
                f"registered model {self.model_name!r} has no {CHAMPION!r} version yet; run `sentitrade demo` "
                "or materialize the `promotion` asset to train, backtest and promote one"
            )
        self._apply(found)
        self._next_poll = self._clock() + self.poll_interval_s

    def poll(self) -> list[ModelChange]:
        """When the interval has passed, follow the aliases; returns what moved (empty on any failure)."""
        if self._clock() < self._next_poll:
            return []
        self._next_poll = self._clock() + self.poll_interval_s
        try:
            found = registry.aliases(self.model_name)
        except Exception as exc:  # any registry fault: the last good models go on trading
            self.failures += 1
            if self.registry_reachable:
                log.warning("model registry unreachable (%s); trading on with champion v%s until it is back",
                            type(exc).__name__, self.champion.version)
                self.registry_reachable = False
            return []
        if not self.registry_reachable:
            log.warning("model registry reachable again")
            self.registry_reachable = True
        return self._apply(found)

    def _apply(self, found: dict[str, str]) -> list[ModelChange]:
        changes = []
        champion = found.get(CHAMPION)
        old = self.champion.version if self.champion else None
        if champion is not None and champion != old and (model := self._model(champion)) is not None:
            self.champion = model
            changes.append(ModelChange(CHAMPION, old, champion))
        for alias in self.shadow_aliases:
            version = found.get(alias)
            if version == self.champion.version:
                version = None  # the champion already trades it
            current = self.shadows.get(alias)
            if version == (current.version if current else None):
                continue
            model = self._model(version) if version else None
            if version and model is None:
                continue
            if model is None:
                self.shadows.pop(alias, None)
            else:
                self.shadows[alias] = model
            changes.append(ModelChange(alias, current.version if current else None, version))
        return changes

    def _model(self, version: str) -> ChampionModel | None:
        """A loaded version (cached); None when it cannot be loaded now (said once; tried again next poll)."""
        if version not in self._cache:
            try:
                self._cache[version] = self._load(self.model_name, version)
            except Exception as exc:
                if self.champion is None:
                    raise
                self.failures += 1
                if version not in self._failed:
                    log.warning("cannot load %s v%s (%s: %s); keeping what runs now", self.model_name, version, type(exc).__name__, exc)
                    self._failed.add(version)
                return None
            self._failed.discard(version)
        return self._cache[version]
