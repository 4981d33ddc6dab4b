"""The REST API: success paths against the real ``fast`` model, and every way a request can be refused.

The example articles are written for these tests.
"""

from __future__ import annotations

import asyncio
import math
import re
import statistics
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from propscan import Analyzer, Document, InputError
from propscan.api import ServerSettings, create_app
from propscan.api.batching import Batcher, BusyError
from propscan.errors import ModelError

ARTICLE = """City Hall's Reckless Scheme Will Destroy Everything We Love

The so-called experts at City Hall have done it again. Their disastrous, job-killing parking plan is the worst catastrophe ever to hit our proud little town, and every true patriot knows it.

Can we really trust a mayor who changes his mind every single week? Either you stand with the shopkeepers or you stand with the bureaucrats who want to bleed them dry. There is no middle ground.

If this plan passes, our children will grow up in a ghost town of boarded windows and empty streets. Crime went up last year for one reason only: the council cut the night bus.

Take back our streets! Enough is enough. Thousands of neighbours have already signed the petition, and only a handful of radical extremists still defend this madness.

A leading economist, who asked not to be named, said the scheme would fail within a month. It is what it is, and the people of this town will not be fooled again.
"""

CALM = """The library on Elm Street will open an hour later on Mondays from March, the council said on Tuesday.
The change follows a survey of 400 visitors, most of whom said they came in the afternoon.
Opening hours on other days stay the same."""

HTML_PAGE = f"""<!doctype html>
<html><head><title>Reckless Scheme</title><script>window.evil = 1;</script></head>
<body><nav><a href="/">Home</a> | <a href="/news">News</a></nav>
<article><h1>City Hall's Reckless Scheme</h1>
{"".join(f"<p>{paragraph}</p>" for paragraph in ARTICLE.split(chr(10) + chr(10))[1:])}
</article><footer>Copyright the Town Crier</footer></body></html>"""

KEY = "correct-horse-battery-staple"


@pytest.fixture(scope="module")
def analyzer(fast_analyzer: Analyzer) -> Analyzer:
    """The shipped fast model, loaded once per session (tests/conftest.py)."""
    return fast_analyzer


@pytest.fixture(scope="module")
def expected(analyzer: Analyzer) -> dict:
    """What the library says about ARTICLE; the API must answer the same."""
    return analyzer.analyze(ARTICLE).to_dict()


@pytest.fixture(scope="module")
def client(analyzer: Analyzer):
    app = create_app(ServerSettings(model="fast", max_body_bytes=20_000), analyzer=analyzer)
    with TestClient(app) as test_client:
        yield test_client


def post_json(client: TestClient, body: bytes | str, content_type: str = "application/json") -> httpx.Response:
    data = body.encode() if isinstance(body, str) else body
    return client.post("/v1/analyze", content=data, headers={"content-type": content_type})


def assert_refused(response: httpx.Response, status: int, *phrases: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    message = detail if isinstance(detail, str) else " ".join(e["msg"] for e in detail)
    for phrase in phrases:
        assert phrase.lower() in message.lower(), message
    if isinstance(detail, list):
        assert all(set(e) <= {"type", "loc", "msg"} for e in detail), "422 answers must not echo the input"


# ---------------------------------------------------------------------------------- success paths
def test_analyze_text_returns_what_the_library_finds(client: TestClient, expected: dict) -> None:
    response = client.post("/v1/analyze", json={"text": ARTICLE})
    assert response.status_code == 200
    result = response.json()
    assert result == expected
    assert result["spans"], "the example article should yield spans with the fast model"
    labels = {t["label"] for t in client.get("/v1/techniques").json()["data"]}
    for span in result["spans"]:
        assert result["text"][span["start"] : span["end"]] == span["text"]
        assert span["technique"] in labels
        assert 0.0 <= span["score"] <= 1.0
    assert 0.0 < result["score"] <= 1.0
    assert [s["start"] for s in result["sentences"]] == sorted(s["start"] for s in result["sentences"])


def test_calm_article_scores_lower_than_the_loaded_one(client: TestClient, expected: dict) -> None:
    calm = client.post("/v1/analyze", json={"text": CALM}).json()
    assert calm["score"] < expected["score"]


def test_threshold_drops_low_confidence_spans(client: TestClient, expected: dict) -> None:
    scores = sorted({s["score"] for s in expected["spans"]})
    assert len(scores) >= 2, "need spans of different confidence"
    middle = len(scores) // 2
    threshold = (scores[middle - 1] + scores[middle]) / 2
    result = client.post("/v1/analyze", json={"text": ARTICLE, "threshold": threshold}).json()
    kept = [s for s in expected["spans"] if s["score"] >= threshold]
    assert result["spans"] == kept
    assert 0 < len(kept) < len(expected["spans"])
    weights = result["sentence_calibration"]
    assert set(weights) == {"has_span", "best_logit", "log_spans", "intercept"}  # the shipped model has its map
    for sentence in result["sentences"]:  # scored from the spans kept, by the map the answer names
        touching = [s["score"] for s in kept if s["start"] < sentence["end"] and s["end"] > sentence["start"]]
        best = min(max(max(touching, default=0.0), 1e-3), 1 - 1e-3)
        logit = weights["intercept"] + math.log1p(len(touching)) * weights["log_spans"]
        if touching:
            logit += weights["has_span"] + weights["best_logit"] * math.log(best / (1 - best))
        assert sentence["score"] == pytest.approx(1 / (1 + math.exp(-logit)), abs=1e-4)
    assert result["score"] == pytest.approx(
        sum(s["score"] for s in result["sentences"]) / len(result["sentences"]), abs=1e-3
    )


def test_techniques_filter_keeps_only_those_techniques(client: TestClient, expected: dict) -> None:
    counts: dict[str, int] = {}
    for span in expected["spans"]:
        counts[span["technique"]] = counts.get(span["technique"], 0) + 1
    wanted = max(counts, key=counts.get)
    result = client.post("/v1/analyze", json={"text": ARTICLE, "techniques": [wanted]}).json()
    assert result["spans"] == [s for s in expected["spans"] if s["technique"] == wanted]
    assert len(result["spans"]) < len(expected["spans"]) or len(counts) == 1
    readable = client.post("/v1/analyze", json={"text": ARTICLE, "techniques": [_loosely(wanted)]}).json()
    assert readable["spans"] == result["spans"]


def _loosely(label: str) -> str:
    """The technique's readable name, as a user might type it."""
    from propscan.techniques import TECHNIQUES

    return TECHNIQUES[label].name.lower()


def test_html_body_is_extracted_and_offsets_index_the_extracted_text(client: TestClient) -> None:
    response = client.post("/v1/analyze", json={"html": HTML_PAGE, "id": "crier-1"})
    assert response.status_code == 200
    result = response.json()
    assert result["id"] == "crier-1"
    assert result["metadata"]["extracted_from"] == "html"
    assert "window.evil" not in result["text"] and "Copyright" not in result["text"]
    assert "job-killing parking plan" in result["text"]
    assert result["spans"]
    for span in result["spans"]:
        assert result["text"][span["start"] : span["end"]] == span["text"]


def test_uploaded_txt_file_matches_the_json_answer(client: TestClient, expected: dict) -> None:
    response = client.post("/v1/analyze", files={"file": ("town-crier.txt", ARTICLE.encode(), "text/plain")})
    assert response.status_code == 200
    assert response.json() == {**expected, "id": "town-crier"}


def test_uploaded_file_takes_threshold_techniques_and_id(client: TestClient, expected: dict) -> None:
    techniques = sorted({s["technique"] for s in expected["spans"]})[:2]
    response = client.post(
        "/v1/analyze",
        files={"file": ("a.txt", ARTICLE.encode(), "text/plain")},
        data={"threshold": "0.3", "techniques": techniques, "id": "x-7"},
    )
    assert response.status_code == 200
    result = response.json()
    assert result["id"] == "x-7"
    assert result["spans"] == [s for s in expected["spans"] if s["technique"] in techniques and s["score"] >= 0.3]


def test_uploaded_html_file_is_extracted(client: TestClient) -> None:
    response = client.post("/v1/analyze", files={"file": ("crier.html", HTML_PAGE.encode(), "text/html")})
    assert response.status_code == 200
    assert response.json()["metadata"]["extracted_from"] == "html"
    assert "window.evil" not in response.json()["text"]


def test_techniques_lists_the_model_inventory(client: TestClient, analyzer: Analyzer) -> None:
    body = client.get("/v1/techniques").json()
    assert body["count"] == len(analyzer.techniques) == len(body["data"])
    assert [t["label"] for t in body["data"]] == [t.label for t in analyzer.techniques]
    for technique in body["data"]:
        assert technique["definition"] and technique["name"] and re.fullmatch(r"#[0-9a-f]{6}", technique["color"])


def test_healthz_reports_the_model_and_the_work_done(client: TestClient, analyzer: Analyzer) -> None:
    before = client.get("/healthz").json()
    client.post("/v1/analyze", json={"text": CALM})
    after = client.get("/healthz").json()
    assert after["status"] == "ok" and after["model"] == analyzer.name
    assert after["documents"] == before["documents"] + 1
    assert after["pending"] == 0


def test_openapi_documents_both_body_kinds_and_the_key(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    analyze = schema["paths"]["/v1/analyze"]["post"]
    content = analyze["requestBody"]["content"]
    assert {"text", "html", "threshold", "techniques"} <= set(content["application/json"]["schema"]["properties"])
    assert content["multipart/form-data"]["schema"]["required"] == ["file"]
    assert {"400", "401", "413", "415", "422"} <= set(analyze["responses"])
    assert {"APIKeyHeader", "HTTPBearer"} <= set(schema["components"]["securitySchemes"])
    assert client.get("/docs").status_code == 200


# ---------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("body", "status", "phrases"),
    [
        ('{"text": "a", "html": "<p>b</p>"}', 422, ["exactly one of 'text'"]),
        ("{}", 422, ["exactly one of 'text'"]),
        ('{"txt": "a typo in the field name"}', 422, ["extra inputs are not permitted"]),
        ('{"text": "ok", "threshold": 1.5}', 422, ["less than or equal to 1"]),
        ('{"text": "ok", "threshold": -0.1}', 422, ["greater than or equal to 0"]),
        ('{"text": "ok", "threshold": "high"}', 422, ["valid number"]),
        ('{"text": "ok", "threshold": "0.5"}', 422, ["valid number"]),
        ('{"text": "ok", "threshold": true}', 422, ["valid number"]),
        ('{"text": null, "html": null}', 422, ["valid string"]),
        ('{"text": "ok", "techniques": [' + ", ".join(['"Doubt"'] * 65) + "]}", 422, ["at most 64"]),
        ('{"text": "a NUL \\u0000 in the text"}', 400, ["looks binary", "NUL"]),
        ('{"text": "ok", "techniques": "Loaded_Language"}', 422, ["valid list"]),
        (
            '{"text": "ok", "techniques": ["Propaganda_In_General"]}',
            422,
            ["unknown technique 'Propaganda_In_General'", "name or label from GET /v1/techniques"],
        ),
        ('{"text": "ok", "techniques": []}', 422, ["at least one technique"]),
        ('{"text": 42}', 422, ["valid string"]),
        ('["text"]', 422, ["valid dictionary"]),
        ('{"text": "ok", "id": "' + "x" * 300 + '"}', 422, ["at most 200"]),
        ('{"text": "unterminated', 400, ["not valid json"]),
        ('{"text": "ok", "threshold": NaN}', 400, ["not valid json", "NaN"]),
        ("", 400, ["not valid json"]),
        (b'{"text": "caf\xe9 au lait"}', 400, ["utf-8"]),
        ('{"text": "a lone \\ud800 surrogate"}', 400, ["surrogate"]),
        ('{"text": ""}', 400, ["empty"]),
        ('{"text": "   \\n\\t  "}', 400, ["empty"]),
        ('{"text": "\\u0001\\u0002\\u0003\\u0004 binary \\u0005\\u0006\\u0007\\u0008"}', 400, ["binary"]),
        ('{"html": "<html><body><script>x()</script></body></html>"}', 400, ["no article text"]),
    ],
)
def test_bad_json_bodies_are_refused_with_a_reason(client: TestClient, body, status: int, phrases: list[str]) -> None:
    assert_refused(post_json(client, body), status, *phrases)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_other_media_types_get_415(client: TestClient, content_type: str) -> None:
    assert_refused(post_json(client, "text=hello", content_type), 415, "application/json", "multipart/form-data")


@pytest.mark.parametrize(
    ("files", "data", "status", "phrases"),
    [
        ({"file": ("scan.pdf", b"%PDF-1.7 ...", "application/pdf")}, {}, 415, [".txt and .html"]),
        ({"file": ("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "text/plain")}, {}, 400, ["binary"]),
        ({"file": ("old.txt", "Caf\u00e9 society".encode("latin-1"), "text/plain")}, {}, 400, ["not valid utf-8"]),
        ({"file": ("empty.txt", b"", "text/plain")}, {}, 400, ["empty"]),
        ({"note": ("a.txt", b"the wrong field name")}, {}, 422, ["file field named 'file'"]),
        ({"file": ("a.txt", b"some text")}, {"colour": "red"}, 422, ["unknown form field"]),
        ({"file": ("a.txt", b"some text")}, {"threshold": "2"}, 422, ["less than or equal to 1"]),
        ({"file": ("a.txt", b"some text")}, {"techniques": "Nonsense"}, 422, ["unknown technique"]),
        ({"file": ("a.txt", b"some text")}, {"id": "x" * 201}, 422, ["at most 200"]),
        ({"file": ("x" * 300 + ".txt", b"some text")}, {}, 422, ["longer than 200"]),
        ({"file": ("nul.txt", b"a NUL \x00 in the text")}, {}, 400, ["looks binary", "NUL"]),
    ],
)
def test_bad_uploads_are_refused_with_a_reason(
    client: TestClient, files, data, status: int, phrases: list[str]
) -> None:
    assert_refused(client.post("/v1/analyze", files=files, data=data), status, *phrases)


def test_json_bodies_get_422_exactly_when_the_schema_refuses_them(client: TestClient) -> None:
    from jsonschema import Draft202012Validator

    schema = client.get("/openapi.json").json()["paths"]["/v1/analyze"]["post"]["requestBody"]["content"]
    validator = Draft202012Validator(schema["application/json"]["schema"])
    bodies = [
        {"text": CALM},
        {"html": HTML_PAGE},
        {"text": None, "html": None},
        {"text": None},
        {},
        {"text": CALM, "html": "<p>x</p>"},
        {"text": CALM, "threshold": True},
        {"text": CALM, "threshold": "0.5"},
        {"text": CALM, "threshold": 1},
        {"text": CALM, "techniques": None},
        {"text": CALM, "id": "x" * 201},
    ]
    for body in bodies:
        status = client.post("/v1/analyze", json=body).status_code
        assert (status != 422) == validator.is_valid(body), (body, status)


def test_text_form_field_is_not_a_file(client: TestClient) -> None:
    body = '--b0undary\r\nContent-Disposition: form-data; name="file"\r\n\r\npasted, not uploaded\r\n--b0undary--\r\n'
    response = post_json(client, body, "multipart/form-data; boundary=b0undary")
    assert_refused(response, 422, "file field named 'file'")


def test_no_bad_input_ever_gets_a_500(client: TestClient) -> None:
    bodies = [
        b"\x00" * 50,
        b"\xff\xfe\xfd",
        b"null",
        b"true",
        b"1e999",
        b'{"text": null}',
        b'{"html": 5}',
        b'{"text": "ok", "techniques": [null]}',
        b'{"text": "ok", "threshold": null}',
        b"[" * 15_000,
        b'{"text": ' * 3000,
    ]
    for body in bodies:
        for content_type in ("application/json", "multipart/form-data", "multipart/form-data; boundary=xyz"):
            response = post_json(client, body, content_type)
            assert 400 <= response.status_code < 500, (body[:20], content_type, response.text)


# ---------------------------------------------------------------------------------- size limit
@pytest.fixture(scope="module")
def small_client(analyzer: Analyzer):
    app = create_app(ServerSettings(model="fast", max_body_bytes=len(CALM) + 200), analyzer=analyzer)
    with TestClient(app) as test_client:
        yield test_client


def test_body_over_the_limit_gets_413(small_client: TestClient) -> None:
    assert small_client.post("/v1/analyze", json={"text": CALM}).status_code == 200
    assert_refused(small_client.post("/v1/analyze", json={"text": ARTICLE}), 413, "limit", "PROPSCAN_MAX_BYTES")
    big_file = {"file": ("long.txt", ARTICLE.encode(), "text/plain")}
    assert_refused(small_client.post("/v1/analyze", files=big_file), 413, "limit")


def test_streamed_body_without_length_is_cut_at_the_limit(small_client: TestClient) -> None:
    def chunks():
        yield b'{"text": "'
        for _ in range(100):
            yield b"word " * 20
        yield b'"}'

    response = small_client.post("/v1/analyze", content=chunks(), headers={"content-type": "application/json"})
    assert_refused(response, 413, "more than")


# ---------------------------------------------------------------------------------- API key
@pytest.fixture(scope="module")
def keyed_client(analyzer: Analyzer):
    app = create_app(ServerSettings(model="fast", api_key=KEY), analyzer=analyzer)
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"X-API-Key": KEY[:-1]}],
)
def test_v1_without_the_key_gets_401(keyed_client: TestClient, headers: dict) -> None:
    assert_refused(keyed_client.post("/v1/analyze", json={"text": CALM}, headers=headers), 401, "API key")
    assert keyed_client.get("/v1/techniques", headers=headers).status_code == 401


def test_a_non_ascii_key_is_compared_as_utf8(analyzer: Analyzer) -> None:
    key = "clé-ключ-🔑"
    app = create_app(ServerSettings(model="fast", api_key=key), analyzer=analyzer)
    with TestClient(app) as keyed:
        for header in ({"X-API-Key": key.encode()}, {"Authorization": b"Bearer " + key.encode()}):
            assert keyed.get("/v1/techniques", headers=header).status_code == 200, header
        latin1 = "clé".encode("latin-1")  # the same first letters, other bytes: not the key
        assert keyed.get("/v1/techniques", headers={"X-API-Key": latin1}).status_code == 401


@pytest.mark.parametrize("headers", [{"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}])
def test_v1_with_the_key_works(keyed_client: TestClient, headers: dict) -> None:
    assert keyed_client.post("/v1/analyze", json={"text": CALM}, headers=headers).status_code == 200
    assert keyed_client.get("/v1/techniques", headers=headers).status_code == 200


def test_page_and_health_stay_open_with_a_key(keyed_client: TestClient) -> None:
    assert keyed_client.get("/healthz").status_code == 200
    assert keyed_client.get("/").status_code == 200
    assert keyed_client.get("/static/app.js").status_code == 200


def test_key_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROPSCAN_API_KEY", KEY)
    monkeypatch.setenv("PROPSCAN_SERVE_MODEL", "fast")
    settings = ServerSettings.from_env()
    assert settings.api_key == KEY and settings.model == "fast"
    assert ServerSettings.from_env(api_key=None).api_key is None


# ---------------------------------------------------------------------------------- the page
def test_page_is_served_with_a_strict_policy(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    for asset in ("/static/app.js", "/static/app.css"):
        assert client.get(asset).status_code == 200


def test_page_assets_are_local_and_never_parse_article_markup() -> None:
    web = Path(__file__).resolve().parents[1] / "src" / "propscan" / "web"
    for asset in ("index.html", "app.js", "app.css", "apikey.js", "corpus.html", "corpus.js"):
        source = (web / asset).read_text(encoding="utf-8")
        assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", source), f"{asset} loads something external"
        assert not re.search(r"@import|url\(\s*[\"']?https?:", source), asset
    script = (web / "app.js").read_text(encoding="utf-8")
    assert not re.search(r"innerHTML|insertAdjacentHTML|document\.write|outerHTML\s*=|\beval\(|new Function", script)


# ---------------------------------------------------------------------------------- batching
def test_queued_requests_are_analyzed_in_one_batch(analyzer: Analyzer) -> None:
    paragraphs = [p for p in ARTICLE.split("\n\n") if p.strip()]
    documents = [Document(text=p, id=str(i)) for i, p in enumerate(paragraphs)]
    alone = [analyzer.analyze(d) for d in documents]

    async def main() -> list:
        batcher = Batcher(analyzer, max_batch=len(documents))
        tasks = [asyncio.create_task(batcher.analyze(d)) for d in documents]
        await asyncio.sleep(0.05)  # every request is queued before the worker starts
        batcher.start()
        try:
            return await asyncio.gather(*tasks), batcher.stats
        finally:
            batcher.close()

    results, stats = asyncio.run(main())
    assert stats.batches == 1 and stats.largest_batch == len(documents)
    for got, want in zip(results, alone, strict=True):
        assert got.document.id == want.document.id
        assert [(s.start, s.end, s.technique) for s in got.spans] == [(s.start, s.end, s.technique) for s in want.spans]
        assert [s.score for s in got.spans] == pytest.approx([s.score for s in want.spans], abs=1e-4)


def test_batched_requests_keep_their_own_options_and_errors(analyzer: Analyzer, expected: dict) -> None:
    threshold = statistics.median(s["score"] for s in expected["spans"])

    async def main() -> list:
        batcher = Batcher(analyzer)
        calls = [
            batcher.analyze(Document(ARTICLE)),
            batcher.analyze(Document(ARTICLE), threshold=threshold),
            batcher.analyze(Document("")),  # refused by the analyzer; must not sink the rest
            batcher.analyze(Document(ARTICLE), techniques=["Loaded_Language"]),
        ]
        tasks = [asyncio.create_task(c) for c in calls]
        await asyncio.sleep(0.05)
        batcher.start()
        try:
            return await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            batcher.close()

    full, high, empty, loaded = asyncio.run(main())
    assert isinstance(empty, InputError)
    assert len(full.spans) == len(expected["spans"])
    assert all(s.score >= threshold for s in high.spans) and len(high.spans) < len(full.spans)
    assert all(s.technique == "Loaded_Language" for s in loaded.spans)


def test_a_full_queue_is_refused_not_queued_forever(analyzer: Analyzer) -> None:
    async def main() -> None:
        batcher = Batcher(analyzer, max_pending=1)
        first = asyncio.create_task(batcher.analyze(Document(CALM)))
        await asyncio.sleep(0.01)
        with pytest.raises(BusyError):
            await batcher.analyze(Document(CALM))
        batcher.start()
        try:
            assert (await first).document.text == CALM
        finally:
            batcher.close()

    asyncio.run(main())


def test_busy_server_answers_503(analyzer: Analyzer) -> None:
    app = create_app(ServerSettings(model="fast", max_pending=0), analyzer=analyzer)
    with TestClient(app) as busy:
        response = busy.post("/v1/analyze", json={"text": CALM})
    assert_refused(response, 503, "retry")
    assert response.headers["retry-after"]


def test_concurrent_http_requests_share_batches(analyzer: Analyzer, expected: dict) -> None:
    app = create_app(ServerSettings(model="fast"), analyzer=analyzer)

    async def main() -> tuple[list[httpx.Response], int]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://propscan") as http:
                responses = await asyncio.gather(*(http.post("/v1/analyze", json={"text": ARTICLE}) for _ in range(8)))
            return responses, app.state.batcher.stats.largest_batch

    responses, largest = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 8
    for response in responses:
        result = response.json()
        assert [(s["start"], s["end"], s["technique"]) for s in result["spans"]] == [
            (s["start"], s["end"], s["technique"]) for s in expected["spans"]
        ]
    assert largest >= 2, "requests that arrive while the model is busy should share a batch"


# ---------------------------------------------------------------------------------- serve command
def test_serve_command_hands_its_options_to_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    import propscan.api
    from propscan.cli import main

    calls: list[dict] = []
    monkeypatch.setattr(propscan.api, "serve", lambda **options: calls.append(options))
    assert main(["serve", "--host", "0.0.0.0", "--port", "9123", "--workers", "2", "--model", "fast"]) == 0
    assert calls == [
        {"host": "0.0.0.0", "port": 9123, "workers": 2, "model": "fast", "threads": None, "log_level": "info"}
    ]
    assert main(["serve", "--workers", "0"]) == 1


def test_serve_refuses_a_bad_setting_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from propscan.cli import main

    monkeypatch.setenv("PROPSCAN_REQUEST_TIMEOUT", "soon")
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: pytest.fail("uvicorn started with a bad setting"))
    assert main(["serve", "--model", "fast"]) == 1
    error = capsys.readouterr().err
    assert error.strip().count("\n") == 0 and "PROPSCAN_REQUEST_TIMEOUT='soon'" in error


def test_serve_refuses_a_missing_model_before_listening(tmp_path: Path) -> None:
    from propscan.api import serve

    with pytest.raises(ModelError):
        serve(model=str(tmp_path / "no-such-model"))
