"""The corpus page (``/corpus``) and its API (``/v1/corpus/...``): the batch database's reports on the web.

The database is ``PROPSCAN_DB`` (a SQLAlchemy URL or SQLite file; default ``sqlite:///propscan.db``),
opened on first use and shared by the worker's threads. The views are the ones ``propscan report``
prints: rates per 1,000 words by source, month or technique, with filters by source, date range
and technique, the top examples of each technique, and each stored document with its spans in
the shape of ``POST /v1/analyze`` so the reading view can show it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, BeforeValidator, Field

from propscan.api.config import WEB_DIR
from propscan.api.deps import ApiKeyDep
from propscan.api.schemas import AnalysisPublic, ErrorPublic, FieldErrorsPublic
from propscan.errors import PropscanError

_lock = threading.Lock()


def get_store(request: Request):
    """The app's store, opened (and migrated) on first use from ``PROPSCAN_DB``.

    Raises:
        HTTPException: 503 when the batch extra is missing or the database cannot be opened.
    """
    store = getattr(request.app.state, "corpus_store", None)
    if store is not None:
        return store
    with _lock:
        store = getattr(request.app.state, "corpus_store", None)
        if store is None:
            try:
                from propscan.batch.store import Store

                store = Store.open(os.environ.get("PROPSCAN_DB"))
            except PropscanError as error:
                raise HTTPException(
                    status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"the corpus database is unavailable: {error}"
                ) from None
            request.app.state.corpus_store = store
    return store


# Any: the Store class needs the batch extra, imported only once a corpus route runs.
StoreDep = Annotated[Any, Depends(get_store)]

# Run ids are the store's INTEGER keys: 32 bits in PostgreSQL, so anything larger names no run.
MAX_RUN_ID = 2**31 - 1
MAX_FILTER_VALUES = 100

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> object:
    """Only YYYY-MM-DD: pydantic alone also reads ``0`` or ``1700000000`` as a Unix time."""
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("give a date as YYYY-MM-DD")
    return value


RunQuery = Annotated[int | None, Query(ge=1, le=MAX_RUN_ID, description="A run id (default: the latest run).")]
DateQuery = Annotated[dt.date | None, BeforeValidator(_iso_date), Query(description="A date, YYYY-MM-DD.")]
_ERRORS: dict[int | str, dict] = {
    404: {"model": ErrorPublic, "description": "No such run, or the run holds no such document."},
    422: {"model": FieldErrorsPublic, "description": "A parameter is of the wrong type or out of range."},
    503: {"model": ErrorPublic, "description": "The corpus database is missing or cannot be opened (PROPSCAN_DB)."},
}


class RunPublic(BaseModel):
    id: int
    model: str = Field(description="The model name and version that produced the run.")
    options: dict
    started_at: dt.datetime
    updated_at: dt.datetime
    documents: int
    spans: int
    failures: int


class RunsPublic(BaseModel):
    data: list[RunPublic]
    count: int


class SourcePublic(BaseModel):
    source: str
    documents: int


class SourcesPublic(BaseModel):
    data: list[SourcePublic]
    count: int


class RatePublic(BaseModel):
    """Spans of a technique (or ``(all techniques)``) in a group, per 1,000 words."""

    group: str
    technique: str
    documents: int
    words: int
    spans: int
    documents_with: int = Field(description="Documents of the group with at least one such span.")
    rate: float = Field(description="Spans per 1,000 words.")
    sentence_share: float | None = Field(
        None,
        description="On an all-techniques row: the expected share of the group's sentences that hold a technique, "
        "from the analyzer's calibrated sentence scores; null for other rows, for runs of a model without "
        "a sentence map, and when spans are filtered by technique or score.",
    )


class ExamplePublic(BaseModel):
    technique: str
    score: float | None
    document_id: str
    start: int
    end: int
    text: str
    source: str | None
    title: str | None
    published: dt.date | None
    model: str | None = Field(
        None, description="The model that found the span in a run of two (a cascade); null in a run of one."
    )


class CorpusReportPublic(BaseModel):
    run: RunPublic
    by: str
    data: list[RatePublic]
    examples: list[ExamplePublic]


router = APIRouter()
api = APIRouter(prefix="/v1/corpus", tags=["corpus"], dependencies=[ApiKeyDep], responses=_ERRORS)


def _run(store, run_id: int | None) -> RunPublic:
    from propscan.batch.store import StoreError

    try:
        run = store.get_run(run_id)
    except StoreError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from None
    documents, spans, failures = store.count(run.id)
    return RunPublic(
        id=run.id,
        model=run.model,
        options=dict(run.options),
        started_at=run.started_at,
        updated_at=run.updated_at,
        documents=documents,
        spans=spans,
        failures=failures,
    )


@api.get("/runs", response_model=RunsPublic, summary="The runs in the corpus database")
def list_runs(store: StoreDep) -> RunsPublic:
    data = [_run(store, run.id) for run in store.runs()]
    return RunsPublic(data=data, count=len(data))


@api.get("/sources", response_model=SourcesPublic, summary="The outlets of a run (default: the latest)")
def list_sources(store: StoreDep, run: RunQuery = None) -> SourcesPublic:
    found = _run(store, run)
    data = [SourcePublic(source=source, documents=n) for source, n in store.sources(found.id)]
    return SourcesPublic(data=data, count=len(data))


@api.get("/report", response_model=CorpusReportPublic, summary="Technique rates per 1,000 words, with top examples")
def report(
    store: StoreDep,
    by: Literal["source", "month", "technique"] = "source",
    run: RunQuery = None,
    source: Annotated[list[str], Query(max_length=MAX_FILTER_VALUES)] = [],  # noqa: B006 - FastAPI copies defaults
    since: DateQuery = None,
    until: DateQuery = None,
    technique: Annotated[list[str], Query(max_length=MAX_FILTER_VALUES)] = [],  # noqa: B006
    min_score: Annotated[float, Query(ge=0.0, le=1.0)] = 0.0,
    examples: Annotated[int, Query(ge=0, le=50)] = 3,
) -> CorpusReportPublic:
    from propscan.batch.report import Filters, build_report

    found = _run(store, run)
    filters = Filters(tuple(source), since, until, tuple(technique), min_score)
    built = build_report(store, by=by, run_id=found.id, filters=filters, examples=examples)
    return CorpusReportPublic(
        run=found,
        by=by,
        data=[
            RatePublic(
                **vars(row)
                | {
                    "rate": round(row.rate, 4),
                    "sentence_share": None if row.sentence_share is None else round(row.sentence_share, 4),
                }
            )
            for row in built.rows
        ],
        examples=[ExamplePublic(**vars(example)) for example in built.examples],
    )


@api.get(
    "/documents/{document_id:path}", response_model=AnalysisPublic, summary="A stored document with the run's spans"
)
def document(document_id: str, store: StoreDep, run: RunQuery = None) -> dict[str, Any]:
    found = _run(store, run)
    analysis = store.get_analysis(found.id, document_id)
    if analysis is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"run {found.id} holds no document {document_id!r}")
    return analysis.to_dict()


@router.get("/corpus", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(WEB_DIR / "corpus.html", media_type="text/html; charset=utf-8")


router.include_router(api)
