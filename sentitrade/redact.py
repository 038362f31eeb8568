"""Passwords out of anything printed or logged: `redact(text)` and `RedactingFilter` for log handlers.

The ledger and MLflow URLs may carry credentials (`postgresql+psycopg://user:password@host/db`,
`http://user:password@host:5000`), and so may the messages of the libraries that use them. Whatever
leaves the process (the terminal, a log file, Dagster's event log) goes through `redact` first.
This module imports nothing of the project, so every layer can use it.
"""

from __future__ import annotations

import logging
import re

MASK = "***"

# scheme://user:password@host: the password runs to the URL's last "@", so one holding an unescaped
# "@" or "/" (AWS secret keys do) is masked whole; this errs towards masking too much, never too
# little. A password given as a query parameter is masked too.
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#@\s:]*:)\S*(?=@)")
_QUERY = re.compile(r"(?P<head>[?&](?:password|passwd|pwd)=)[^&#\s]*", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with the password of every URL in it replaced by `***`; text without one is unchanged."""
    return _QUERY.sub(rf"\g<head>{MASK}", _USERINFO.sub(rf"\g<head>{MASK}", text))


def one_line(error: BaseException, limit: int = 300) -> str:
    """An exception's text as one line for a log or an error message: whitespace collapsed, passwords masked, cut."""
    return redact(" ".join(str(error).split()))[:limit]


class RedactingFilter(logging.Filter):
    """Masks URL passwords in a record's message and traceback before any handler formats it.

    Attach it to handlers (`handler.addFilter(RedactingFilter())`): a logger's own filters do not
    see the records its children propagate to it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
