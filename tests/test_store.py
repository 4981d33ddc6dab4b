"""The store: migrations create the schema the models describe, writes are exactly once, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, inspect, select, text

from propscan import Document, Span
from propscan.batch.store import DatabaseError, Store, StoreError, count_words, normalize_url
from propscan.batch.store.tables import AnalysisRow, Base, DocumentRow, SpanRow
from propscan.readers.sources import Failure
from tests import pg_cluster
from tests.analyses import analysis_of

SENTENCE_MAP = {"has_span": 0.5, "best_logit": 1.2, "log_spans": 0.3, "intercept": -2.0}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return pg_cluster.fresh_database()


ARTICLE = Document(
    text="Reckless leaders wrecked the budget. Everyone knows it.",
    id="a1",
    metadata={
        "source": "Courier",
        "date": "2021-05-14",
        "title": "Budget",
        "url": "https://c.example/a1",
        "extra": {"n": 1},
    },
)


def test_migrations_create_the_schema_the_models_describe(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with Store.open(db_url) as store:
        assert store.revision() == "0004"
        with store.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert differences == []
        indexes = {i["name"] for i in inspect(store.engine).get_indexes("spans")}
        assert {"ix_spans_run_technique_score", "ix_spans_run_document"} <= indexes


def test_open_upgrades_an_old_database_and_is_idempotent(db_url):
    store = Store.open(db_url, migrate=False)
    assert store.revision() is None
    store.migrate("base")  # nothing to undo on an empty database
    store.close()
    with Store.open(db_url) as store:  # creates
        run = store.get_or_create_run("m@1", {"threshold": 0.0})
        store.save_analysis(run.id, analysis_of(ARTICLE, [Span(0, 8, "Loaded_Language", 0.9)], 0.5))
    with Store.open(db_url) as store:  # a second open migrates nothing and keeps the data
        assert store.revision() == "0004"
        assert store.count(run.id) == (1, 1, 0)


def test_database_from_a_newer_propscan_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    with Store.open(url) as store, store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match="newer propscan"):
        Store.open(url)


def test_analysis_is_stored_once_with_all_its_spans(db_url):
    # In the analyzer's order: a span nested at the start of another comes after it.
    spans = [
        Span(0, 16, "Name_Calling,Labeling", 0.4),
        Span(0, 8, "Loaded_Language", 0.9),
        Span(37, 55, "Doubt", 0.6),
        Span(37, 55, "Bandwagon,Reductio_ad_hitlerum", None),
    ]
    with Store.open(db_url) as store:
        run = store.get_or_create_run("m@1", {"threshold": 0.0})
        saved = analysis_of(ARTICLE, spans, 0.6, ["a warning"], SENTENCE_MAP)
        assert store.save_analysis(run.id, saved) is True
        assert (
            store.save_analysis(run.id, analysis_of(ARTICLE, spans[:1], 0.1)) is False
        )  # second copy refused, nothing changed
        assert store.count(run.id) == (1, 4, 0)
        (stored,) = store.analyses(run.id)
        assert stored.document == ARTICLE
        assert stored.spans == tuple(spans)  # read back in the order they were given
        assert stored.score == pytest.approx(0.6) and stored.warnings == ("a warning",)
        assert stored.sentences == saved.sentences and stored.model == "m@1"  # whole, as the analyzer gave it
        assert stored.sentence_calibration == SENTENCE_MAP  # the page scores filtered sentences with it
        assert store.get_analysis(run.id, "a1") == stored and store.get_analysis(run.id, "a2") is None
        assert store.done_ids(run.id) == {"a1"}
        with store.sessions() as session:
            row = session.execute(
                select(DocumentRow.source, DocumentRow.published, DocumentRow.words, DocumentRow.title)
            ).one()
        assert tuple(row) == ("Courier", dt.date(2021, 5, 14), count_words(ARTICLE.text), "Budget")


def test_a_database_made_by_0_2_0_upgrades_and_its_analyses_get_sentence_scores(db_url):
    spans = [Span(0, 8, "Loaded_Language", 0.9), Span(45, 55, "Doubt", 0.4)]
    with Store.open(db_url, migrate=False) as store:
        store.migrate("0001")  # the schema 0.2.0 wrote: analyses without sentences
        run = store.get_or_create_run("m@1", {})
        now = dt.datetime.now(dt.timezone.utc)
        with store.engine.begin() as connection:
            connection.execute(
                insert(DocumentRow.__table__).values(
                    id="a1", text=ARTICLE.text, sha256="0" * 64, words=8, metadata={}, added_at=now
                )
            )
            connection.execute(
                insert(AnalysisRow.__table__).values(
                    run_id=run.id, document_id="a1", score=0.5, warnings=[], analyzed_at=now
                )
            )
            connection.execute(
                insert(SpanRow.__table__),
                [
                    {"run_id": run.id, "document_id": "a1", "start": s.start, "end": s.end}
                    | {"technique": s.technique, "score": s.score}
                    for s in spans
                ],
            )
    with Store.open(db_url) as store:
        assert store.revision() == "0004"
        stored = store.get_analysis(run.id, "a1")
    assert stored is not None and stored.sentences == analysis_of(Document(ARTICLE.text), spans, 0.5).sentences
    assert [s.score for s in stored.sentences] == [0.9, 0.4]
    assert stored.sentence_calibration == {}  # scored by their best span, as 0.2.0's analyzer did


def test_each_span_keeps_the_model_that_found_it(db_url):
    spans = [Span(0, 8, "Loaded_Language", 0.9, model="fast@1"), Span(9, 16, "Doubt", 0.7, model="accurate@1")]
    with Store.open(db_url) as store:
        run = store.get_or_create_run("fast@1>accurate@1", {"flag_threshold": 0.3})
        store.save_analysis(run.id, analysis_of(ARTICLE, spans, 0.5))
        (stored,) = store.analyses(run.id)
        assert stored.spans == tuple(spans)
        assert {e.model for e in store.top_spans(run.id)} == {"fast@1", "accurate@1"}


def test_a_store_at_0002_upgrades_and_its_spans_are_the_runs_own(db_url):
    with Store.open(db_url, migrate=False) as store:
        store.migrate("0002")  # the schema before cascades: spans without a model
        run = store.get_or_create_run("m@1", {})
        now = dt.datetime.now(dt.timezone.utc)
        with store.engine.begin() as connection:
            connection.execute(
                insert(DocumentRow.__table__).values(
                    id="a1", text=ARTICLE.text, sha256="0" * 64, words=8, metadata={}, added_at=now
                )
            )
            connection.execute(
                insert(AnalysisRow.__table__).values(
                    run_id=run.id, document_id="a1", score=0.5, warnings=[], sentences=[], analyzed_at=now
                )
            )
            connection.execute(
                text(
                    'INSERT INTO spans (run_id, document_id, start, "end", technique, score) '
                    "VALUES (:run, 'a1', 0, 8, 'Loaded_Language', 0.9)"
                ),
                {"run": run.id},
            )
    with Store.open(db_url) as store:
        assert store.revision() == "0004"
        stored = store.get_analysis(run.id, "a1")
        assert stored is not None and stored.spans == (Span(0, 8, "Loaded_Language", 0.9),)
        assert stored.spans[0].model is None and [e.model for e in store.top_spans(run.id)] == [None]


def test_a_document_is_shared_between_runs(db_url):
    with Store.open(db_url) as store:
        first = store.get_or_create_run("m@1", {"threshold": 0.0})
        second = store.get_or_create_run("m@1", {"threshold": 0.5})
        assert first.id != second.id
        assert store.get_or_create_run("m@1", {"threshold": 0.0}).id == first.id  # same model and options: same run
        assert store.save_analysis(first.id, analysis_of(ARTICLE, [Span(0, 8, "Doubt", 0.9)], 0.5))
        assert store.save_analysis(second.id, analysis_of(ARTICLE, [], 0.0))
        with store.sessions() as session:
            assert session.execute(text("SELECT count(*) FROM documents")).scalar() == 1
        assert store.count(first.id) == (1, 1, 0) and store.count(second.id) == (1, 0, 0)
        assert store.get_run().id == second.id  # the latest


def test_same_id_with_another_text_is_refused_and_nothing_is_written(db_url):
    with Store.open(db_url) as store:
        run = store.get_or_create_run("m@1", {})
        other_run = store.get_or_create_run("m@2", {})
        store.save_analysis(run.id, analysis_of(ARTICLE, [], 0.0))
        changed = Document(text="A different article entirely.", id="a1")
        with pytest.raises(StoreError, match="different text"):
            store.save_analysis(other_run.id, analysis_of(changed, [Span(0, 1, "Doubt", 0.5)], 0.2))
        assert store.count(other_run.id) == (0, 0, 0)


def test_failures_are_recorded_once_and_can_be_cleared(db_url):
    with Store.open(db_url) as store:
        run = store.get_or_create_run("m@1", {})
        assert store.save_failure(
            run.id, "bad", "x.txt", "x.txt is empty", {"source": "s", "when": dt.date(2021, 1, 1)}
        )
        assert not store.save_failure(run.id, "bad", "x.txt", "again")
        assert store.failures(run.id) == [
            Failure("bad", "x.txt", "x.txt is empty", {"source": "s", "when": "2021-01-01"})
        ]
        assert store.done_ids(run.id) == {"bad"}
        assert store.clear_failures(run.id) == 1 and store.done_ids(run.id) == set()


def test_unknown_run_and_empty_database_say_what_to_do(tmp_path):
    with Store.open(f"sqlite:///{tmp_path / 'empty.db'}") as store:
        with pytest.raises(StoreError, match="propscan batch"):
            store.get_run()
        store.get_or_create_run("m@1", {})
        with pytest.raises(StoreError, match="no run 7"):
            store.get_run(7)


def test_urls():
    assert normalize_url(None) == "sqlite:///propscan.db"
    assert normalize_url("corpus.db") == "sqlite:///corpus.db"
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    with pytest.raises(StoreError):
        Store.open("nosuchdialect://x")


def test_count_words():
    assert count_words("It's a well-known, state-of-the-art fact: 3 cats.") == 7


# ----------------------------------------------------------------------------- bad databases (D7)
def test_a_file_that_is_not_sqlite_is_a_store_error(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n")
    with pytest.raises(DatabaseError, match="file is not a database"):
        Store.open(str(path))
    assert path.read_text() == "these are my notes, not a database\n"


def test_a_read_only_database_reads_and_refuses_writes_with_a_store_error(tmp_path):
    path = tmp_path / "ro.db"
    with Store.open(str(path)) as store:
        run = store.get_or_create_run("m@1", {})
        store.save_analysis(run.id, analysis_of(ARTICLE, [], 0.5))
    with Store.open(f"sqlite:///file:{path}?mode=ro&uri=true") as store:
        assert store.count(run.id) == (1, 0, 0)
        with pytest.raises(DatabaseError, match="readonly database"):
            store.get_or_create_run("m@2", {})


def _open_at_the_same_time(url: str, barrier, results) -> None:
    barrier.wait()
    try:
        Store.open(url).close()
        results.put("ok")
    except StoreError as error:
        results.put(str(error))


@pytest.mark.slow  # three processes
def test_processes_opening_a_fresh_database_at_once_migrate_one_after_the_other(db_url):
    import multiprocessing

    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(3), context.Queue()
    openers = [context.Process(target=_open_at_the_same_time, args=(db_url, barrier, results)) for _ in range(3)]
    for process in openers:
        process.start()
    for process in openers:
        process.join(60)
    assert [results.get(timeout=5) for _ in openers] == ["ok"] * 3
    with Store.open(db_url) as store:
        assert store.revision() == "0004"
