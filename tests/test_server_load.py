"""The server under pressure: long articles, time budgets, clients that leave, oversized lists.

A stand-in analyzer holds any article starting with ``HOLD`` until the test releases it, so each
test decides exactly what the model threads are busy with; nothing here measures time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import ClassVar

import httpx
import pytest
from fastapi import FastAPI

from propscan import Analysis, Document
from propscan.api import ServerSettings, create_app
from propscan.api.app import MAX_FIELD_ERRORS, field_errors
from propscan.api.batching import Batcher

LONG = "HOLD " + "a long article. " * 20
SHORT = "A short one."


class GatedAnalyzer:
    """Analyzes nothing, records every article it was given, and holds ``HOLD`` articles until released."""

    name = "gated@test"
    techniques: ClassVar[list] = []

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.priority: dict[str, int] = {}  # article -> the nice value of the thread that analyzed it
        self.release = threading.Event()
        self.holding = threading.Event()

    def analyze(self, text: str) -> Analysis:
        return self.predict([Document(text)])[0]

    def predict(
        self, documents: Sequence[Document], *, threshold=None, techniques=None, progress=None
    ) -> list[Analysis]:
        for document in documents:
            self.seen.append(document.text)
            self.priority[document.text] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            if document.text.startswith("HOLD"):
                self.holding.set()
                assert self.release.wait(30), "the test never released the held article"
        if progress:
            progress(1, 1)
        return [Analysis(document=d, spans=(), sentences=(), score=0.0, model=self.name) for d in documents]


@asynccontextmanager
async def running(analyzer: GatedAnalyzer, **settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(ServerSettings(model="fast", long_chars=100, **settings), analyzer=analyzer)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://propscan", timeout=30) as http:
            try:
                yield app, http
            finally:
                analyzer.release.set()


async def held(analyzer: GatedAnalyzer) -> None:
    """Wait, without blocking the event loop, until the long lane is busy with a HOLD article."""
    assert await asyncio.to_thread(analyzer.holding.wait, 10), "the held article never reached the model"


async def idle(app: FastAPI) -> None:
    for _ in range(500):
        if app.state.batcher.pending == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the model threads never finished")


# ---------------------------------------------------------------------------------- D3: long articles
def test_a_long_article_does_not_hold_back_a_short_one() -> None:
    analyzer = GatedAnalyzer()

    async def main() -> None:
        async with running(analyzer) as (_, http):
            long = asyncio.create_task(http.post("/v1/analyze", json={"text": LONG}))
            await held(analyzer)
            short = await asyncio.wait_for(http.post("/v1/analyze", json={"text": SHORT}), 10)
            assert short.status_code == 200 and not long.done()
            analyzer.release.set()
            assert (await long).status_code == 200

    asyncio.run(main())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread priorities are Linux's")
def test_the_long_lane_yields_the_cores_to_the_short_one() -> None:
    analyzer = GatedAnalyzer()
    long = "a long article, not held. " * 10

    async def main() -> None:
        async with running(analyzer) as (_, http):
            for text in (SHORT, long):
                assert (await http.post("/v1/analyze", json={"text": text})).status_code == 200

    asyncio.run(main())
    assert analyzer.priority[long] > analyzer.priority[SHORT]


def test_a_request_past_its_time_budget_gets_503_with_retry_after_and_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    analyzer = GatedAnalyzer()
    behind = "HOLD behind " + "x" * 200

    async def main() -> None:
        async with running(analyzer, timeout=0.2) as (app, http):
            first = asyncio.create_task(http.post("/v1/analyze", json={"text": LONG}))
            await held(analyzer)
            late = await http.post("/v1/analyze", json={"text": behind})
            assert late.status_code == 503, late.text
            assert "PROPSCAN_REQUEST_TIMEOUT" in late.json()["detail"] and int(late.headers["retry-after"]) >= 1
            assert (await first).status_code == 503
            analyzer.release.set()
            await idle(app)
        assert behind not in analyzer.seen  # nobody waited for it any more: never analyzed
        assert any("no client waits" in r.getMessage() for r in caplog.records)  # the held one was stopped
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    asyncio.run(main())


def test_time_budget_and_lane_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from propscan.errors import PropscanError

    monkeypatch.setenv("PROPSCAN_REQUEST_TIMEOUT", "7.5")
    monkeypatch.setenv("PROPSCAN_LONG_CHARS", "9000")
    settings = ServerSettings.from_env()
    assert (settings.timeout, settings.long_chars) == (7.5, 9000)
    for bad in ("soon", "0", "-3", "nan", "inf"):
        monkeypatch.setenv("PROPSCAN_REQUEST_TIMEOUT", bad)
        with pytest.raises(PropscanError, match="PROPSCAN_REQUEST_TIMEOUT"):
            ServerSettings.from_env()


# ---------------------------------------------------------------------------------- D4: clients that leave
def request_scope(body: bytes) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/analyze",
        "raw_path": b"/v1/analyze",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("propscan", 80),
    }


async def leaving_client(app: FastAPI, body: bytes, *, cut_at: int | None = None) -> list[dict]:
    """Send ``body`` (only its first ``cut_at`` bytes, if given) and disconnect; returns what the app sent back."""
    if cut_at is None:
        incoming = [{"type": "http.request", "body": body, "more_body": False}]
    else:
        incoming = [{"type": "http.request", "body": body[:cut_at], "more_body": True}]
    sent: list[dict] = []

    async def receive() -> dict:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await asyncio.wait_for(app(request_scope(body), receive, send), 10)
    return sent


def test_a_request_whose_client_left_is_never_analyzed() -> None:
    analyzer = GatedAnalyzer()
    abandoned = "HOLD abandoned " + "y" * 200

    async def main() -> None:
        async with running(analyzer) as (app, http):
            first = asyncio.create_task(http.post("/v1/analyze", json={"text": LONG}))
            await held(analyzer)
            await leaving_client(app, json.dumps({"text": abandoned}).encode())
            analyzer.release.set()
            assert (await first).status_code == 200
            await idle(app)
        assert abandoned not in analyzer.seen

    asyncio.run(main())


def test_a_long_article_queued_with_others_is_dropped_when_its_client_leaves() -> None:
    """Long articles are taken one at a time, so one abandoned behind another is never analyzed."""
    analyzer = GatedAnalyzer()
    second = "second " * 30

    async def main() -> None:
        batcher = Batcher(analyzer, long_chars=100)
        first = asyncio.create_task(batcher.analyze(Document(LONG)))
        behind = asyncio.create_task(batcher.analyze(Document(second)))
        await asyncio.sleep(0.05)  # both are queued before the worker starts
        batcher.start()
        try:
            await held(analyzer)
            behind.cancel()
            await asyncio.gather(behind, return_exceptions=True)  # the cancellation has reached the job
            analyzer.release.set()
            await first
            while batcher.pending:
                await asyncio.sleep(0.01)
        finally:
            analyzer.release.set()
            batcher.close()

    asyncio.run(main())
    assert second not in analyzer.seen


def test_a_body_cut_off_mid_upload_logs_one_line_and_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    analyzer = GatedAnalyzer()

    async def main() -> list[dict]:
        async with running(analyzer) as (app, _):
            with caplog.at_level(logging.INFO):
                return await leaving_client(app, json.dumps({"text": "an article cut off"}).encode(), cut_at=12)

    sent = asyncio.run(main())
    assert sent == []  # nobody to answer
    records = [r for r in caplog.records if "left after" in r.getMessage()]
    assert len(records) == 1 and records[0].levelno < logging.ERROR and records[0].exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# ---------------------------------------------------------------------------------- D2: bounded lists and errors
def test_a_huge_techniques_list_gets_a_small_422() -> None:
    analyzer = GatedAnalyzer()
    body = {"text": SHORT, "techniques": ["Nope"] * 20_000}

    async def main() -> httpx.Response:
        async with running(analyzer) as (_, http):
            return await http.post("/v1/analyze", json=body)

    response = asyncio.run(main())
    assert response.status_code == 422
    assert len(response.content) < 2_000, f"a {len(response.content):,}-byte error"
    assert "at most 64" in response.text
    assert analyzer.seen == ["Warm-up."]


def test_field_errors_are_capped_in_number_and_length() -> None:
    errors = [
        {"type": "value_error", "loc": ("body", "x" * 5_000, i), "msg": "m" * 5_000, "input": "z" * 9_000}
        for i in range(1_000)
    ]
    detail = field_errors(errors)
    assert len(detail) == MAX_FIELD_ERRORS + 1 and "980 more" in detail[-1]["msg"]
    assert len(json.dumps(detail)) < 20_000 and "zzz" not in json.dumps(detail)
