"""The corpus database: documents, runs, spans and failures in SQLite or PostgreSQL.

Needs the ``batch`` extra (SQLAlchemy, Alembic, psycopg); importing without it says so.
"""

from propscan.batch.store.errors import DatabaseError, StoreError

try:
    import alembic  # noqa: F401
    import sqlalchemy  # noqa: F401
except ImportError as error:
    raise StoreError(f"the database store needs {error.name}: pip install propscan[batch]") from None

from propscan.batch.store.queries import EVERYTHING, UNDATED, UNKNOWN_SOURCE, Example, Filters, GroupTotals
from propscan.batch.store.store import DEFAULT_URL, Run, Store, count_words, normalize_url

__all__ = [
    "DEFAULT_URL",
    "EVERYTHING",
    "UNDATED",
    "UNKNOWN_SOURCE",
    "DatabaseError",
    "Example",
    "Filters",
    "GroupTotals",
    "Run",
    "Store",
    "StoreError",
    "count_words",
    "normalize_url",
]
