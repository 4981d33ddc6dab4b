"""Store errors live apart from the SQLAlchemy code so they can be raised when it is missing."""

from __future__ import annotations

from propscan.errors import PropscanError


class StoreError(PropscanError):
    """The database cannot be opened, migrated or written as asked."""


class DatabaseError(StoreError):
    """The database itself failed (not a database, read-only, locked, unreachable), not the request:
    an interface may answer it as unavailable rather than as not found."""
