"""The corpus page and its API: the report's views over HTTP, filters, and stored documents for the reading view."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")

from fastapi.testclient import TestClient

from propscan.batch.store import Store
from tests.analyses import analysis_of
from tests.shipped import MODEL, needs_model
from tests.test_report import DOCS, save_calibrated_run

pytestmark = needs_model


@pytest.fixture(scope="module")
def analyzer():
    from propscan import Analyzer

    return Analyzer.load(MODEL)


@pytest.fixture
def client(tmp_path, monkeypatch, analyzer):
    from propscan.api import ServerSettings, create_app

    url = f"sqlite:///{tmp_path / 'corpus.db'}"
    with Store.open(url) as store:
        old = store.get_or_create_run("old@1", {})
        store.save_analysis(old.id, analysis_of(DOCS[0][0], [], 0.0))
        run = store.get_or_create_run("fast@test", {"threshold": 0.0})
        for document, spans in DOCS:
            store.save_analysis(run.id, analysis_of(document, spans, 0.5))
    monkeypatch.setenv("PROPSCAN_DB", url)
    with TestClient(create_app(ServerSettings(model=MODEL), analyzer=analyzer)) as client:
        yield client


def test_runs_and_sources(client):
    runs = client.get("/v1/corpus/runs").json()
    assert runs["count"] == 2
    latest = runs["data"][-1]
    assert (latest["model"], latest["documents"], latest["spans"], latest["failures"]) == ("fast@test", 4, 6, 0)
    sources = client.get("/v1/corpus/sources").json()
    assert [(s["source"], s["documents"]) for s in sources["data"]] == [("Courier", 2), ("Herald", 1)]
    assert client.get("/v1/corpus/sources", params={"run": 1}).json()["count"] == 1


def test_report_views_and_filters(client):
    by_source = client.get("/v1/corpus/report", params={"by": "source"}).json()
    rows = {(r["group"], r["technique"]): r for r in by_source["data"]}
    assert rows[("Courier", "(all techniques)")]["spans"] == 4 and rows[("Herald", "Flag-Waving")]["spans"] == 1
    assert by_source["run"]["id"] == 2 and len(by_source["examples"]) == 6
    filtered = client.get(
        "/v1/corpus/report",
        params={"by": "month", "source": "Courier", "since": "2021-06-01", "until": "2021-06-30", "technique": "Doubt"},
    ).json()
    assert [(r["group"], r["technique"], r["spans"]) for r in filtered["data"]] == [
        ("2021-06", "(all techniques)", 1),
        ("2021-06", "Doubt", 1),
    ]
    assert [e["document_id"] for e in filtered["examples"]] == ["c2"]
    by_technique = client.get("/v1/corpus/report", params={"by": "technique", "min_score": 0.75}).json()
    assert {r["technique"] for r in by_technique["data"]} == {"Name_Calling,Labeling", "Loaded_Language", "Flag-Waving"}


def test_report_gives_each_group_its_expected_share_of_sentences_holding_a_technique(tmp_path, monkeypatch, analyzer):
    from propscan.api import ServerSettings, create_app

    url = f"sqlite:///{tmp_path / 'calibrated.db'}"
    with Store.open(url) as store:
        run_id, expected = save_calibrated_run(store)
    monkeypatch.setenv("PROPSCAN_DB", url)
    with TestClient(create_app(ServerSettings(model=MODEL), analyzer=analyzer)) as client:
        rows = client.get("/v1/corpus/report", params={"by": "source", "run": run_id}).json()["data"]
        filtered = client.get("/v1/corpus/report", params={"run": run_id, "technique": "Doubt"}).json()["data"]
    shares = {r["group"]: r["sentence_share"] for r in rows if r["technique"] == "(all techniques)"}
    assert shares == pytest.approx(expected, abs=1e-4)
    assert all(r["sentence_share"] is None for r in rows if r["technique"] != "(all techniques)")
    assert all(r["sentence_share"] is None for r in filtered)


def test_document_for_the_reading_view(client):
    answer = client.get("/v1/corpus/documents/c1").json()
    document, spans = DOCS[0]
    assert answer["text"] == document.text and answer["metadata"]["source"] == "Courier"
    assert [(s["start"], s["end"], s["technique"], s["text"]) for s in answer["spans"]] == [
        (s.start, s.end, s.technique, document.text[s.start : s.end]) for s in spans
    ]
    assert answer["sentences"] and max(s["score"] for s in answer["sentences"]) == pytest.approx(0.9)
    assert client.get("/v1/corpus/documents/u1", params={"run": 1}).status_code == 404


def test_errors_and_the_page(client):
    assert client.get("/v1/corpus/report", params={"run": 99}).status_code == 404
    assert client.get("/v1/corpus/report", params={"by": "weekday"}).status_code == 422
    page = client.get("/corpus")
    assert page.status_code == 200 and 'src="/static/corpus.js"' in page.text
    script = client.get("/static/corpus.js")
    assert script.status_code == 200 and "/v1/corpus/report" in script.text
    assert "innerHTML" not in script.text  # stored texts only ever go through textContent


@pytest.mark.parametrize("path", ["/v1/corpus/sources", "/v1/corpus/report", "/v1/corpus/documents/c1"])
@pytest.mark.parametrize("run", ["9223372036854775808", "2147483648", "0", "-1"])
def test_run_ids_out_of_range_are_refused_not_a_500(client, path, run):
    response = client.get(path, params={"run": run})
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("date", ["0", "1700000000", "2021-6-1", "yesterday"])
def test_dates_must_be_written_as_dates(client, date):
    for field in ("since", "until"):
        response = client.get("/v1/corpus/report", params={field: date})
        assert response.status_code == 422 and "YYYY-MM-DD" in response.text, (field, date, response.text)
    assert client.get("/v1/corpus/report", params={"until": "2021-06-30"}).status_code == 200


def test_filter_lists_are_bounded(client):
    response = client.get("/v1/corpus/report", params={"source": [f"s{i}" for i in range(101)]})
    assert response.status_code == 422


def test_corpus_routes_document_their_refusals(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/corpus/runs", "/v1/corpus/sources", "/v1/corpus/report", "/v1/corpus/documents/{document_id}"):
        assert {"404", "503"} <= set(paths[path]["get"]["responses"]), path
