"""The synthetic replay data set: generated in the real wire formats, read back like the live APIs."""

from connectors.replay.generator import ReplayConfig, ReplayConfigError, generate_replay
from connectors.replay.source import ReplaySource

__all__ = ["ReplayConfig", "ReplayConfigError", "ReplaySource", "generate_replay"]
