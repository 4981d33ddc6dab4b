"""Opening a database, migrating it, and writing analyses exactly once.

``Store.open(url)`` brings the schema to the newest Alembic revision before anything else, so an
old database is upgraded in place and a fresh one is created. Each analysis is written in one
transaction together with its document and spans: after a crash a document is either fully
stored or absent, never half-written, and the (run, document) primary key refuses a second copy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from propscan.batch.store import queries
from propscan.batch.store.errors import DatabaseError, StoreError
from propscan.batch.store.queries import EVERYTHING, Example, Filters, GroupTotals
from propscan.batch.store.tables import AnalysisRow, DocumentRow, FailureRow, RunRow, SpanRow
from propscan.document import Analysis, Document, Sentence, Span
from propscan.readers.sources import Failure
from propscan.version import __version__

logger = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///propscan.db"
_WORD = re.compile(r"\w+(?:[-'’]\w+)*")


def count_words(text: str) -> int:
    """Words as the rates per 1,000 words count them: runs of letters/digits, hyphens and apostrophes inside."""
    return len(_WORD.findall(text))


def normalize_url(url: str | None) -> str:
    """A SQLAlchemy URL from what users type: a path means SQLite, ``postgresql://`` means psycopg 3."""
    url = url or DEFAULT_URL
    if "://" not in url:
        return f"sqlite:///{url}"
    scheme, rest = url.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return url


@dataclass(frozen=True)
class Run:
    """A run: one model with one set of options over any number of documents."""

    id: int
    key: str
    model: str
    options: Mapping[str, Any]
    started_at: dt.datetime
    updated_at: dt.datetime


def run_key(model: str, options: Mapping[str, Any]) -> str:
    """What identifies a run: the model (with its version) and the options that change results."""
    canonical = json.dumps({"model": model, "options": dict(options)}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Store:
    """A propscan database. Open with ``Store.open(url)``; close when done (or use ``with``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    # ----------------------------------------------------------------------------- opening
    @classmethod
    def open(cls, url: str | None = None, *, migrate: bool = True) -> Store:
        """Connect to ``url`` (default ``sqlite:///propscan.db``) and upgrade the schema to the newest revision.

        Raises:
            StoreError: if the database cannot be reached, its driver is missing, or its schema is
                newer than this propscan knows.
        """
        full = normalize_url(url)
        try:
            if full.startswith("sqlite"):
                # Pooled connections move between threads (the web app's thread pool), one at a time.
                engine = create_engine(full, connect_args={"timeout": 60, "check_same_thread": False})
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = create_engine(full, pool_pre_ping=True)
            event.listen(engine, "handle_error", _as_store_error)
        except ImportError as error:
            raise StoreError(
                f"the database driver for {full.split('://')[0]} is missing ({error.name}): pip install propscan[batch]"
            ) from None
        except Exception as error:
            raise StoreError(f"cannot use database URL {url!r}: {error}") from None
        store = cls(engine)
        if migrate:
            store.migrate()
        return store

    def migrate(self, revision: str = "head") -> None:
        """Create or upgrade the schema with Alembic (also the way to move to a given revision)."""
        from alembic import command
        from alembic.config import Config
        from alembic.script import ScriptDirectory
        from alembic.util import CommandError

        config = Config()
        config.set_main_option("script_location", str(resources.files("propscan.batch.store") / "migrations"))
        if revision == "head" and self.revision() == ScriptDirectory.from_config(config).get_current_head():
            return  # nothing to write: a read-only database stays readable
        try:
            with self.engine.begin() as connection:
                _lock_for_migration(connection)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
        except CommandError as error:
            raise StoreError(
                f"cannot migrate {self.engine.url.render_as_string(hide_password=True)}: {error}; "
                "a database written by a newer propscan needs that version"
            ) from None

    def revision(self) -> str | None:
        """The schema revision the database is at (None before any migration)."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------- runs
    def get_or_create_run(self, model: str, options: Mapping[str, Any]) -> Run:
        """The run for this model and options, created on first use: rerunning a job resumes it."""
        key = run_key(model, options)
        for _ in range(2):
            with self.sessions.begin() as session:
                row = session.scalar(select(RunRow).where(RunRow.key == key))
                if row is not None:
                    return _run(row)
            now = _now()
            try:
                with self.sessions.begin() as session:
                    row = RunRow(
                        key=key,
                        model=model,
                        options=dict(options),
                        propscan_version=__version__,
                        started_at=now,
                        updated_at=now,
                    )
                    session.add(row)
                    session.flush()
                    return _run(row)
            except IntegrityError:
                continue  # another process created it first: read theirs
        raise StoreError(f"cannot create the run for {model}")

    def runs(self) -> list[Run]:
        with self.sessions() as session:
            return [_run(row) for row in session.scalars(select(RunRow).order_by(RunRow.id))]

    def get_run(self, run_id: int | None = None) -> Run:
        """A run by id, or the most recently updated one.

        Raises:
            StoreError: if there is no such run (or no run at all).
        """
        with self.sessions() as session:
            if run_id is None:
                row = session.scalar(select(RunRow).order_by(RunRow.updated_at.desc(), RunRow.id.desc()).limit(1))
                if row is None:
                    raise StoreError("the database holds no runs yet; fill it with: propscan batch INPUT --db URL")
            else:
                row = session.get(RunRow, run_id)
                if row is None:
                    known = ", ".join(str(r.id) for r in session.scalars(select(RunRow))) or "none"
                    raise StoreError(f"no run {run_id} in the database (runs: {known})")
            return _run(row)

    # ----------------------------------------------------------------------------- writing
    def done_ids(self, run_id: int) -> set[str]:
        """Ids already analyzed or recorded as failed under the run: what a resumed job skips."""
        with self.sessions() as session:
            analyzed = session.scalars(select(AnalysisRow.document_id).where(AnalysisRow.run_id == run_id))
            return set(analyzed) | self.failed_ids(run_id)

    def failed_ids(self, run_id: int) -> set[str]:
        """Ids recorded as failed under the run: a resumed job skips them but must not call them done."""
        with self.sessions() as session:
            return set(session.scalars(select(FailureRow.document_id).where(FailureRow.run_id == run_id)))

    def save_analysis(self, run_id: int, analysis: Analysis) -> bool:
        """Store a document's analysis with all its spans in one transaction.

        Returns:
            True if stored, False if the run already held this document (nothing is written).

        Raises:
            StoreError: if the id is already stored with a different text (ids must be stable).
        """
        document = analysis.document
        digest = hashlib.sha256(document.text.encode("utf-8")).hexdigest()
        for attempt in range(2):
            try:
                with self.sessions.begin() as session:
                    if session.get(AnalysisRow, (run_id, document.id)) is not None:
                        return False
                    existing = session.get(DocumentRow, document.id)
                    if existing is None:
                        session.add(_document_row(document, digest))
                        session.flush()
                    elif existing.sha256 != digest:
                        raise StoreError(
                            f"document id {document.id!r} is already stored with a different text; "
                            "give each article its own id (or leave ids out to use a hash of the text)"
                        )
                    now = _now()
                    session.add(
                        AnalysisRow(
                            run_id=run_id,
                            document_id=document.id,
                            score=float(analysis.score),
                            warnings=list(analysis.warnings),
                            sentences=[[s.start, s.end, s.score] for s in analysis.sentences],
                            sentence_calibration=dict(analysis.sentence_calibration) or None,
                            analyzed_at=now,
                        )
                    )
                    session.flush()
                    session.add_all(
                        SpanRow(
                            run_id=run_id,
                            document_id=document.id,
                            start=s.start,
                            end=s.end,
                            technique=s.technique,
                            score=s.score,
                            model=s.model,
                        )
                        for s in analysis.spans
                    )
                    run = session.get(RunRow, run_id)
                    if run is not None:
                        run.updated_at = now
                return True
            except IntegrityError:
                if attempt:
                    raise
                # Another writer stored the document or the analysis meanwhile; look again.
        return False

    def save_failure(
        self, run_id: int, document_id: str, origin: str, error: str, metadata: Mapping[str, Any] | None = None
    ) -> bool:
        """Record that a document could not be analyzed under the run (once; later calls are no-ops)."""
        try:
            with self.sessions.begin() as session:
                if session.get(FailureRow, (run_id, document_id)) is not None:
                    return False
                session.add(
                    FailureRow(
                        run_id=run_id,
                        document_id=document_id,
                        origin=origin,
                        error=error,
                        meta=_jsonable(metadata or {}),
                        failed_at=_now(),
                    )
                )
            return True
        except IntegrityError:
            return False

    def clear_failures(self, run_id: int) -> int:
        """Forget the run's failures so the next job tries those documents again."""
        from sqlalchemy import delete

        with self.sessions.begin() as session:
            result = session.execute(delete(FailureRow).where(FailureRow.run_id == run_id))
            return int(getattr(result, "rowcount", 0))  # a DML result: SQLAlchemy types it as the base Result

    # ----------------------------------------------------------------------------- reading
    def failures(self, run_id: int) -> list[Failure]:
        """The run's failures, in the shape the readers report them."""
        with self.sessions() as session:
            rows = session.scalars(
                select(FailureRow).where(FailureRow.run_id == run_id).order_by(FailureRow.document_id)
            )
            return [Failure(row.document_id, row.origin, row.error, dict(row.meta)) for row in rows]

    def count(self, run_id: int) -> tuple[int, int, int]:
        """Documents analyzed, spans found and failures recorded under the run."""
        with self.sessions() as session:
            analyzed = session.scalar(select(func.count()).select_from(AnalysisRow).where(AnalysisRow.run_id == run_id))
            spans = session.scalar(select(func.count()).select_from(SpanRow).where(SpanRow.run_id == run_id))
            failed = session.scalar(select(func.count()).select_from(FailureRow).where(FailureRow.run_id == run_id))
            return analyzed or 0, spans or 0, failed or 0

    def get_analysis(self, run_id: int, document_id: str) -> Analysis | None:
        """One document's analysis under the run, or None if the run does not hold it."""
        with self.sessions() as session:
            found = session.execute(_analyses_of(run_id).where(AnalysisRow.document_id == document_id)).first()
            if found is None:
                return None
            analysis, document, model = found
            return _analysis(analysis, document, model, _spans_of(session, run_id, [document_id])[document_id])

    def group_totals(
        self, run_id: int, keys: Sequence[str], filters: Filters = EVERYTHING
    ) -> dict[tuple[str, ...], GroupTotals]:
        """Documents, words and spans per group of the run (keys: ``source``, ``month``; none for all)."""
        with self.sessions() as session:
            return queries.group_totals(session, run_id, keys, filters)

    def top_spans(self, run_id: int, filters: Filters = EVERYTHING, per_technique: int = 3) -> list[Example]:
        """The highest-scoring spans of each technique under the run, with their text and outlet."""
        with self.sessions() as session:
            return queries.top_spans(session, run_id, filters, per_technique)

    def sources(self, run_id: int) -> list[tuple[str, int]]:
        """The outlets of the run's documents, with how many documents each, most first."""
        with self.sessions() as session:
            rows = session.execute(
                select(DocumentRow.source, func.count())
                .join(AnalysisRow, AnalysisRow.document_id == DocumentRow.id)
                .where(AnalysisRow.run_id == run_id, DocumentRow.source.is_not(None))
                .group_by(DocumentRow.source)
                .order_by(func.count().desc(), DocumentRow.source)
            ).all()
            return [(str(source), int(count)) for source, count in rows]

    def analyses(self, run_id: int, *, batch: int = 200) -> Iterator[Analysis]:
        """Every analysis of the run in document id order, read ``batch`` documents at a time."""
        after = None
        while True:
            with self.sessions() as session:
                query = _analyses_of(run_id).order_by(AnalysisRow.document_id).limit(batch)
                if after is not None:
                    query = query.where(AnalysisRow.document_id > after)
                rows = session.execute(query).all()
                if not rows:
                    return
                ids = [analysis.document_id for analysis, _, _ in rows]
                spans = _spans_of(session, run_id, ids)
            for analysis, document, model in rows:
                yield _analysis(analysis, document, model, spans[document.id])
            after = ids[-1]


def _analyses_of(run_id: int):
    return (
        select(AnalysisRow, DocumentRow, RunRow.model)
        .join(DocumentRow, DocumentRow.id == AnalysisRow.document_id)
        .join(RunRow, RunRow.id == AnalysisRow.run_id)
        .where(AnalysisRow.run_id == run_id)
    )


def _spans_of(session: Session, run_id: int, document_ids: list[str]) -> dict[str, list[Span]]:
    """The spans of these documents under the run, per document in the analysis's order
    (``Span.reading_order``; ties by technique)."""
    spans: dict[str, list[Span]] = {i: [] for i in document_ids}
    rows = session.scalars(
        select(SpanRow)
        .where(SpanRow.run_id == run_id, SpanRow.document_id.in_(document_ids))
        .order_by(SpanRow.technique)
    )
    for row in rows:
        spans[row.document_id].append(Span(row.start, row.end, row.technique, row.score, model=row.model))
    return {ident: sorted(found, key=Span.reading_order) for ident, found in spans.items()}


def _analysis(analysis: AnalysisRow, document: DocumentRow, model: str, spans: list[Span]) -> Analysis:
    return Analysis(
        document=Document(text=document.text, id=document.id, metadata=document.meta),
        spans=tuple(spans),
        sentences=tuple(Sentence(start, end, score) for start, end, score in analysis.sentences),
        score=analysis.score,
        model=model,
        warnings=tuple(analysis.warnings),
        sentence_calibration=dict(analysis.sentence_calibration or {}),
    )


def _document_row(document: Document, digest: str) -> DocumentRow:
    meta = _jsonable(document.metadata)
    return DocumentRow(
        id=document.id,
        text=document.text,
        sha256=digest,
        source=_short(meta.get("source")),
        title=meta.get("title"),
        url=meta.get("url"),
        published=_date(meta.get("date")),
        words=count_words(document.text),
        meta=meta,
        added_at=_now(),
    )


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _short(value: Any) -> str | None:
    return str(value)[:255] if value not in (None, "") else None


def _jsonable(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata as plain JSON (dates and other objects become strings)."""
    return json.loads(json.dumps(dict(metadata), default=str))


def _run(row: RunRow) -> Run:
    return Run(row.id, row.key, row.model, dict(row.options), _aware(row.started_at), _aware(row.updated_at))


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# Any constant will do, as long as every propscan uses the same: PostgreSQL advisory locks are keyed by a 64-bit number.
_MIGRATION_LOCK = 0x70726F7073636E  # "propscn"


def _lock_for_migration(connection) -> None:
    """Hold the database's write lock for the whole migration, so that processes opening a fresh
    database at once migrate one after the other (the later ones then find it done).

    SQLite: an immediate transaction (Python's driver would otherwise commit each DDL statement
    alone); PostgreSQL: an advisory lock released with the transaction.
    """
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")


def _as_store_error(context) -> None:
    """A database that is not one, is read-only, full or unreachable: a DatabaseError with the
    driver's one-line reason. Integrity errors pass through: writers retry on them."""
    error = context.sqlalchemy_exception
    if isinstance(error, DBAPIError) and not isinstance(error, IntegrityError):
        url = context.engine.url.render_as_string(hide_password=True) if context.engine is not None else "the database"
        reason = str(error.orig).strip().splitlines()[0] if str(error.orig).strip() else type(error.orig).__name__
        raise DatabaseError(f"{url}: {reason}") from error


def _sqlite_pragmas(connection, _record) -> None:
    """WAL lets reports read while a batch writes; foreign keys are off by default in SQLite."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
