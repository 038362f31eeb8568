"""What every command shares: the user-error type, the --data-dir option, settings that name a bad variable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsError
from typer._click.exceptions import (
    UsageError,  # typer vendors click and does not re-export its errors
)

DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="SENTITRADE_DATA_DIR",
        help="Root of every store: replay data, lake, warehouse, Dagster home, MLflow, ledger.",
        file_okay=False,
    ),
]

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


class UserError(UsageError):
    """A problem the user can fix; printed as one line, exit code 2."""


def load_settings(cls: type[SettingsT], on_parse_error: str | None = None) -> SettingsT:
    """Instantiate a settings class; a bad variable is named, its value never echoed (it may be a secret)."""
    prefix = cls.model_config.get("env_prefix", "")
    try:
        return cls()
    except ValidationError as exc:
        error = exc.errors()[0]
        raise UserError(f"{prefix}{str(error['loc'][0]).upper()}: {error['msg']}") from None
    except SettingsError as exc:
        raise UserError(on_parse_error or f"a {prefix}* variable cannot be parsed ({exc}): see .env.example") from None
