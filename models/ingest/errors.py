"""The one error type of ingestion: a record that cannot be landed."""


class BadRecord(ValueError):
    """A record that cannot be landed; the message says why."""
