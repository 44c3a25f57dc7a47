"""Store errors the API layer can map to HTTP statuses (404 / 409 / 422)."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of errors raised by the store."""


class NotFoundError(StoreError, KeyError):
    """The named record (item, rule, model version, ...) does not exist."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else "not found"


class ConflictError(StoreError, ValueError):
    """The write conflicts with existing data (duplicate version, duplicate id in one batch, ...)."""
