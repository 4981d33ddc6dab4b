"""Store errors live apart from the SQLAlchemy code so they can be raised when it is missing."""

from __future__ import annotations

from propscan.errors import PropscanError


class StoreError(PropscanError):
    """The database cannot be opened, migrated or written as asked."""
