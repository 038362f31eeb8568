"""The kill switch: a file under the data directory that every trader on it obeys.

`sentitrade trade kill` writes it; a running trader sees it between two steps, cancels its open
orders, flattens or freezes its positions (SENTITRADE_TRADER_ON_KILL), records why, and exits 0.
While the file exists no trader starts, so a killed strategy stays down until a person clears it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

FILE_NAME = "KILL"


@dataclass(frozen=True)
class KillOrder:
    reason: str
    written_at: str


def kill_path(data_dir: Path) -> Path:
    return Path(data_dir) / FILE_NAME


def write_kill(data_dir: Path, reason: str) -> Path:
    """Write the kill file atomically (a reader never sees half of it)."""
    path = kill_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"reason": reason, "written_at": datetime.now(UTC).isoformat(timespec="seconds")}))
    os.replace(temporary, path)
    return path


def read_kill(data_dir: Path) -> KillOrder | None:
    path = kill_path(data_dir)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        found = json.loads(text)
        return KillOrder(str(found.get("reason") or "no reason given"), str(found.get("written_at") or "?"))
    except (ValueError, AttributeError):
        return KillOrder(f"unreadable kill file {path}", "?")  # any file there kills: it is a switch, not a message


def clear_kill(data_dir: Path) -> bool:
    try:
        kill_path(data_dir).unlink()
    except FileNotFoundError:
        return False
    return True
