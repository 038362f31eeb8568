"""What every command shares: the user-error type, the --data-dir option, settings that name a bad variable."""

from __future__ import annotations

import traceback
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsError
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
SQLITE_HEADER = b"SQLite format 3\x00"


class UserError(UsageError):
    """A problem the user can fix; printed as one line, exit code 2."""


def load_settings(cls: type[SettingsT], on_parse_error: str | None = None) -> SettingsT:
    """Build a settings class and, at once, the sub-settings it caches (`Settings.risk`, ...).

    A bad variable then stops the command before it starts work, as a `UserError` naming the
    variable and never echoing its value (it may be a secret). `on_parse_error` replaces the
    message for a value that cannot even be parsed (bad JSON).
    """
    try:
        settings = cls()
        for name, attribute in vars(cls).items():
            if isinstance(attribute, cached_property):
                getattr(settings, name)
    except (ValidationError, SettingsError) as exc:
        line = settings_error(exc)
        if line is None:
            raise
        raise UserError(on_parse_error if on_parse_error and isinstance(exc, SettingsError) else line) from None
    return settings


def check_sqlite_store(url: str, remedy: str) -> None:
    """Stop with a `UserError` naming the file if a SQLite store that exists is not a database.

    SQLite itself only says "file is not a database", deep into the run and without saying which.
    `remedy` says what to do; other URLs (PostgreSQL, an MLflow server) are left to their clients.
    """
    if not url.startswith("sqlite:///"):
        return
    path = Path(url.removeprefix("sqlite:///").split("?")[0])
    if path.is_dir():
        raise UserError(f"{path} is a directory, not a SQLite database: {remedy}")
    if path.is_file() and path.stat().st_size:
        with path.open("rb") as file:
            if file.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                raise UserError(f"{path} is not a SQLite database: {remedy}")


def settings_error(exc: ValidationError | SettingsError) -> str | None:
    """`SENTITRADE_<VAR>: <what is wrong>` for an error building a settings class; None for other models.

    Pydantic's messages say what is expected, never the input, so the line is safe to print.
    """
    if isinstance(exc, SettingsError):
        return _parse_error(exc)
    errors = exc.errors(include_url=False, include_input=False)
    field = errors[0]["loc"][:1]
    cls = next((c for c in _subclasses(BaseSettings) if c.__name__ == exc.title and set(field) <= set(c.model_fields)), None)
    if cls is None:
        return None
    return "; ".join(f"{_variable(cls, e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in errors)


def _parse_error(exc: SettingsError) -> str | None:
    """A value that is not JSON: pydantic-settings names only the field, the env source raising it knows its class."""
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        source, field = frame.f_locals.get("self"), frame.f_locals.get("field_name")
        if isinstance(source, PydanticBaseSettingsSource):
            return f"{_variable(source.settings_cls, (field,) if field else ())}: is not valid JSON: see .env.example"
    return None


def _variable(cls: type[BaseSettings], loc: tuple) -> str:
    """The variable a field is read from; `<PREFIX>*` for a rule across several fields."""
    return f"{cls.model_config.get('env_prefix', '')}{str(loc[0]).upper() if loc else '*'}"


def _subclasses(cls: type) -> list[type]:
    """Every settings class imported so far: the one that failed is among them."""
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]


def utc_moment(text: str | None, option: str) -> datetime | None:
    """An option's ISO-8601 date or time as an aware UTC datetime (a time without a zone is UTC)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{option} {text!r} is not a date or time: use e.g. 2026-11-20 or 2026-11-20T14:00:00Z (UTC)") from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
