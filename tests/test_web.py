"""The reading page, driven as a person would in a real headless Chromium against the real server.

Needs Debian's ``chromium`` at /usr/bin/chromium and Playwright's Python package (never its own
browser download). The example articles are written for these tests. With ``PROPSCAN_SCREENSHOT=1``
the page is photographed into ``docs/screenshot.png`` for the README; otherwise into a temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from propscan import Analyzer
from propscan.api import ServerSettings, create_app

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need playwright (pip install 'propscan[test]')"
)

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[1]

# The emoji makes JavaScript's UTF-16 offsets differ from the API's code point offsets.
ARTICLE = """📰 The Great Harbour Swindle

The corrupt, lying harbour board has betrayed every fisherman in this town. These greedy crooks have sold our harbour to foreign investors, and they laughed while they did it.

It is the worst scandal in the history of the coast. Can anyone still trust a board that hides its accounts from the people who pay for them?

If we let them get away with this, our sons will never work on the water again. Wake up, before it is too late! Save our harbour!

Everyone in the market already knows the truth, and only a few cowardly puppets still defend the deal. Enough is enough.
"""

HOSTILE = """Local News: A Shocking Betrayal

The corrupt, lying council approved the disgraceful plan <script>window.__pwned = "script"; alert("script")</script> late on Friday night.

Residents said the decision was a total disaster <img src="x" onerror="window.__pwned = 'img'; alert('img')"> for the whole town, a shameful stab in the back.

Read the <a href="javascript:window.__pwned='link';alert('link')">full shameful story</a> here, before these traitors hide it forever.
"""


def utf16(text: str, index: int) -> int:
    return len(text[:index].encode("utf-16-le")) // 2


def merged(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of intervals, touching ones joined (adjacent highlights look like one run)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


@pytest.fixture(scope="module")
def analyzer(accurate_analyzer: Analyzer) -> Analyzer:
    """The shipped default model, as a reader meets it (tests/conftest.py); the slider and
    export tests need an article on which it finds spans of different confidence."""
    return accurate_analyzer


@contextmanager
def serving(app) -> Iterator[str]:
    """The app under uvicorn on a free port, in a thread of this process."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def server(analyzer: Analyzer) -> Iterator[str]:
    """The real app under uvicorn on a free port, in a thread of this process."""
    with serving(create_app(ServerSettings(model="accurate"), analyzer=analyzer)) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A page plus everything it did that a test may want to hold against it."""

    def __init__(self, page, base: str) -> None:
        self.page = page
        self.base = base
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def external_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith((self.base + "/", "data:", "blob:", "file:"))]

    def analyze_requests(self) -> int:
        return sum(1 for u in self.requests if u.startswith(self.base + "/v1/analyze"))


def open_page(browser, server: str, width: int = 1100, height: int = 900) -> Watched:
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    watched = Watched(context.new_page(), server)
    watched.page.goto(server + "/")
    return watched


@pytest.fixture
def web(browser, server: str) -> Iterator[Watched]:
    watched = open_page(browser, server)
    yield watched
    watched.page.context.close()


def paste_and_analyze(page, text: str) -> None:
    page.fill("#article-input", text)
    page.click("#analyze-button")
    page.wait_for_selector("#result:not([hidden])")
    sync_api.expect(page.locator("#status")).to_contain_text("Analyzed")


def api_analysis(server: str, text: str, **options) -> dict:
    response = httpx.post(server + "/v1/analyze", json={"text": text, **options}, timeout=60)
    response.raise_for_status()
    return response.json()


def techniques(server: str) -> dict[str, dict]:
    return {t["label"]: t for t in httpx.get(server + "/v1/techniques").json()["data"]}


def marks(page) -> list[dict]:
    """Each highlight in the article, with its UTF-16 interval and techniques."""
    return page.eval_on_selector(
        "#article",
        """(article) => {
            const out = []; let offset = 0;
            for (const node of article.childNodes) {
                const length = node.textContent.length;
                if (node.nodeName === "MARK") out.push({start: offset, end: offset + length, techniques: node.dataset.techniques.split("|")});
                offset += length;
            }
            return out;
        }""",
    )


def visible_count(page) -> int:
    return int(page.get_attribute("#span-count", "data-visible"))


def mid_threshold(scores: list[float]) -> float:
    """A two-decimal slider position that hides some spans but not all."""
    candidates = [t / 100 for t in range(1, 101) if 0 < sum(s >= t / 100 for s in scores) < len(scores)]
    assert candidates, f"the article's spans all have the same confidence: {scores}"
    return min(candidates, key=lambda t: abs(sum(s >= t for s in scores) - len(scores) / 2))


# ---------------------------------------------------------------------------------- tests
def test_pasted_article_is_highlighted_where_the_api_says(web: Watched, server: str, tmp_path: Path) -> None:
    page = web.page
    expected = api_analysis(server, ARTICLE)
    assert expected["spans"], "the example article should yield spans with the default model"
    paste_and_analyze(page, ARTICLE)

    assert page.text_content("#article") == ARTICLE, "the article must be shown exactly, as text"
    found = marks(page)
    spans = [(utf16(ARTICLE, s["start"]), utf16(ARTICLE, s["end"]), s["technique"]) for s in expected["spans"]]
    assert merged([(m["start"], m["end"]) for m in found]) == merged([(a, b) for a, b, _ in spans])
    for mark in found:
        covering = {t for a, b, t in spans if a <= mark["start"] and b >= mark["end"]}
        assert set(mark["techniques"]) == covering
    assert visible_count(page) == len(expected["spans"])
    sync_api.expect(page.locator("#span-count")).to_have_text(
        f"{len(expected['spans'])} of {len(expected['spans'])} spans shown"
    )

    counts: dict[str, int] = {}
    for span in expected["spans"]:
        counts[span["technique"]] = counts.get(span["technique"], 0) + 1
    legend = {
        page.get_attribute(f"#legend .legend-item >> nth={i}", "data-technique"): int(
            page.get_attribute(f"#legend .legend-item >> nth={i}", "data-count")
        )
        for i in range(page.locator("#legend .legend-item").count())
    }
    assert legend == counts
    assert float(page.get_attribute("#article-score", "data-score")) == pytest.approx(expected["score"], abs=2e-3)
    assert page.locator("#density .cell").count() == len(expected["sentences"])
    assert web.external_requests() == [] and web.errors == []

    page.hover("#article mark.hl >> nth=0")
    folder = REPO / "docs" if os.environ.get("PROPSCAN_SCREENSHOT") == "1" else tmp_path
    folder.mkdir(exist_ok=True)
    page.screenshot(path=str(folder / "screenshot.png"), full_page=True)


def test_threshold_slider_refilters_without_asking_the_server(web: Watched, server: str) -> None:
    page = web.page
    expected = api_analysis(server, ARTICLE)
    scores = [s["score"] for s in expected["spans"]]
    paste_and_analyze(page, ARTICLE)
    requests_before = web.analyze_requests()
    marks_before = len(marks(page))

    threshold = mid_threshold(scores)
    page.fill("#threshold", f"{threshold:.2f}")
    kept = sum(s >= threshold for s in scores)
    assert visible_count(page) == kept
    sync_api.expect(page.locator("#threshold-value")).to_have_text(f"{threshold:.2f}")
    legend_total = sum(
        int(page.get_attribute(f"#legend .legend-item >> nth={i}", "data-count"))
        for i in range(page.locator("#legend .legend-item").count())
    )
    assert legend_total == kept
    assert len(marks(page)) < marks_before
    # The page scores the sentences again from the spans it shows, by the model's map, as the server does.
    at_threshold = api_analysis(server, ARTICLE, threshold=threshold)
    assert float(page.get_attribute("#article-score", "data-score")) == pytest.approx(at_threshold["score"], abs=2e-3)
    cells = page.locator("#density .cell")
    shown = [float(cells.nth(i).get_attribute("data-score")) for i in range(cells.count())]
    assert shown == pytest.approx([s["score"] for s in at_threshold["sentences"]], abs=2e-3)
    expected_sentences = round(sum(s["score"] for s in at_threshold["sentences"]))
    sync_api.expect(page.locator("#article-score-meaning")).to_have_text(
        f"about {expected_sentences} of {len(shown)} sentences hold a technique"
    )

    page.focus("#threshold")  # and the keyboard moves it too
    page.keyboard.press("End")
    assert visible_count(page) == sum(s >= 1.0 for s in scores)
    page.keyboard.press("Home")
    assert visible_count(page) == len(scores)
    page.keyboard.press("ArrowRight")
    sync_api.expect(page.locator("#threshold-value")).to_have_text("0.01")
    assert web.analyze_requests() == requests_before, "the slider must not send a new request"


def test_hover_or_focus_shows_technique_definition_and_confidence(web: Watched, server: str) -> None:
    page = web.page
    inventory = techniques(server)
    paste_and_analyze(page, ARTICLE)
    tooltip = page.locator("#tooltip")

    first = page.locator("#article mark.hl").first
    first.hover()
    sync_api.expect(tooltip).to_be_visible()
    for label in first.get_attribute("data-techniques").split("|"):
        sync_api.expect(tooltip).to_contain_text(inventory[label]["name"])
        sync_api.expect(tooltip).to_contain_text(inventory[label]["definition"])
    assert re.search(r"confidence \d\.\d\d", tooltip.text_content())
    page.keyboard.press("Escape")
    sync_api.expect(tooltip).to_be_hidden()

    page.focus("#threshold")
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.nodeName") == "MARK":
            break
    else:
        pytest.fail("no highlight could be reached with the Tab key")
    label = page.evaluate("document.activeElement.dataset.techniques").split("|")[0]
    sync_api.expect(tooltip).to_be_visible()
    sync_api.expect(tooltip).to_contain_text(inventory[label]["definition"])


def test_hover_shows_the_runner_up_techniques_with_their_probability(web: Watched, server: str) -> None:
    page = web.page
    inventory = techniques(server)
    expected = {
        (inventory[a["technique"]]["name"], f"{a['score']:.2f}")
        for span in api_analysis(server, ARTICLE)["spans"]
        for a in span["alternatives"]
    }
    assert expected, "the shipped model lists no runner-up on this article: nothing to check"
    paste_and_analyze(page, ARTICLE)
    tooltip = page.locator("#tooltip")
    shown = set()
    highlights = page.locator("#article mark.hl")
    for i in range(highlights.count()):
        highlights.nth(i).hover()
        for line in tooltip.locator(".tip-alternatives").all_text_contents():
            shown |= {(name, score) for name, score in expected if f"{name} {score}" in line}
    assert shown == expected


def test_legend_click_hides_and_shows_a_technique(web: Watched, server: str) -> None:
    page = web.page
    expected = api_analysis(server, ARTICLE)
    paste_and_analyze(page, ARTICLE)
    button = page.locator("#legend .legend-item").first
    label = button.get_attribute("data-technique")
    count = int(button.get_attribute("data-count"))

    button.click()
    assert visible_count(page) == len(expected["spans"]) - count
    sync_api.expect(button).to_have_attribute("aria-pressed", "false")
    assert all(label not in m["techniques"] for m in marks(page))
    page.click("#show-all")
    assert visible_count(page) == len(expected["spans"])
    sync_api.expect(button).to_have_attribute("aria-pressed", "true")


def test_hostile_article_shows_as_text_and_runs_nothing(web: Watched, tmp_path: Path) -> None:
    page = web.page
    paste_and_analyze(page, HOSTILE)
    _assert_inert(web, HOSTILE)
    for i in range(page.locator("#article mark.hl").count()):
        page.hover(f"#article mark.hl >> nth={i}")
    page.get_by_text("full shameful story").first.click()
    _assert_inert(web, HOSTILE)

    # The same article dropped in as a file.
    page.set_input_files(
        "#file-input", files=[{"name": "hostile.txt", "mimeType": "text/plain", "buffer": HOSTILE.encode()}]
    )
    sync_api.expect(page.locator("#status")).to_contain_text("Analyzed hostile.txt")
    _assert_inert(web, HOSTILE)

    # And the exported report: the payloads are escaped text, and the report runs no script at all.
    with page.expect_download() as download:
        page.click("#export-html")
    report = tmp_path / "report.html"
    download.value.save_as(report)
    source = report.read_text(encoding="utf-8")
    assert not re.search(r"<(script|img|a|iframe|object|embed|link)\b", source, re.IGNORECASE), (
        "a tag leaked into the report"
    )
    assert "&lt;script&gt;window.__pwned" in re.sub(r"<[^>]*>", "", source), "the payload should be escaped text"
    page.goto(report.as_uri())
    assert "<script>window.__pwned" in page.text_content("body")
    assert page.evaluate("window.__pwned") is None and web.dialogs == []


def _assert_inert(web: Watched, text: str) -> None:
    page = web.page
    assert page.evaluate("window.__pwned") is None, "article markup ran"
    assert web.dialogs == [] and web.errors == []
    assert page.locator("#article script, #article img, #article a, #article iframe").count() == 0
    assert page.locator("script:not([src])").count() == 0
    assert page.text_content("#article") == text
    assert web.external_requests() == []


def test_exports_follow_what_the_page_shows(web: Watched, server: str, tmp_path: Path) -> None:
    page = web.page
    expected = api_analysis(server, ARTICLE)
    paste_and_analyze(page, ARTICLE)
    threshold = mid_threshold([s["score"] for s in expected["spans"]])
    page.fill("#threshold", f"{threshold:.2f}")
    shown = [s for s in expected["spans"] if s["score"] >= threshold]

    def export(button: str) -> str:
        with page.expect_download() as download:
            page.click(button)
        path = tmp_path / download.value.suggested_filename
        download.value.save_as(path)
        return path.read_text(encoding="utf-8")

    exported = json.loads(export("#export-json"))
    assert exported["spans"] == shown and exported["text"] == ARTICLE
    assert exported["view"]["threshold"] == pytest.approx(threshold)
    assert export("#export-tsv").splitlines() == [f"article\t{s['technique']}\t{s['start']}\t{s['end']}" for s in shown]

    report = tmp_path / "offline.html"
    report.write_text(export("#export-html"), encoding="utf-8")
    offline = page.context.browser.new_context(offline=True)
    try:
        view = offline.new_page()
        requests: list[str] = []
        view.on("request", lambda r: requests.append(r.url))
        view.goto(report.as_uri())
        assert view.text_content(".article") == ARTICLE
        assert re.search(r"\(about \d+ of \d+ sentences hold a technique\)", view.text_content("p.meta"))
        assert view.locator(".article mark").count() > 0
        assert view.locator("table tr").count() == len(shown) + 1
        assert [u for u in requests if not u.startswith("file:")] == []
    finally:
        offline.close()


def test_api_docs_render_with_no_request_off_the_server(browser, server: str) -> None:
    context = browser.new_context()
    web = Watched(context.new_page(), server)
    # As offline: every request to another host fails (and is still recorded).
    web.page.route(
        "**/*", lambda route: route.continue_() if route.request.url.startswith(server + "/") else route.abort()
    )
    try:
        web.page.goto(server + "/docs")
        sync_api.expect(web.page.locator(".swagger-ui .info .title")).to_contain_text("propscan")
        sync_api.expect(web.page.locator(".opblock-summary-path", has_text="/v1/analyze")).to_be_visible()
        assert web.external_requests() == [] and web.errors == []
        assert any(u.startswith(server + "/docs/assets/swagger-ui-bundle.js") for u in web.requests)
    finally:
        context.close()


def test_phone_width_reads_without_sideways_scrolling(browser, server: str) -> None:
    web = open_page(browser, server, width=375, height=740)
    page = web.page
    try:
        paste_and_analyze(page, ARTICLE)
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 375
        page.locator("#article mark.hl").first.focus()
        box = page.locator("#tooltip").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
        slider = page.locator("#threshold").bounding_box()
        assert slider["x"] >= 0 and slider["x"] + slider["width"] <= 375
    finally:
        page.context.close()


def test_corpus_example_opens_the_stored_document_in_the_reading_view(
    browser, analyzer: Analyzer, tmp_path: Path, monkeypatch
) -> None:
    from propscan.batch.store import Store
    from tests.test_report import save_calibrated_run  # the hand-placed spans the corpus tests use

    url = f"sqlite:///{tmp_path / 'corpus.db'}"
    with Store.open(url) as store:
        _, shares = save_calibrated_run(store)
    monkeypatch.setenv("PROPSCAN_DB", url)  # read when the app first opens its store
    with serving(create_app(ServerSettings(model="accurate"), analyzer=analyzer)) as base:
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        web = Watched(context.new_page(), base)
        page = web.page
        page.goto(base + "/corpus")
        sync_api.expect(page.locator("#rates-head")).to_contain_text("sentences with a technique")
        shown = page.locator("#rates-body td.share").all_text_contents()
        assert shown == [f"{round(100 * shares[source])}%" for source in sorted(shares)]
        link = page.locator("#examples a").first
        sync_api.expect(link).to_have_attribute("href", re.compile(r"^/\?document=[^&]+&run=\d+$"))
        params = dict(p.split("=") for p in link.get_attribute("href")[2:].split("&"))
        expected = httpx.get(f"{base}/v1/corpus/documents/{params['document']}", params={"run": params["run"]}).json()
        assert expected["spans"]

        link.focus()  # a real link: reachable and followed from the keyboard
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/\?document="))
        page.wait_for_selector("#result:not([hidden])")
        text = expected["text"]
        assert page.text_content("#article") == text
        # Scored in the page by the map stored with the analysis, as the analyzer scored it.
        assert float(page.get_attribute("#article-score", "data-score")) == pytest.approx(expected["score"], abs=2e-3)
        spans = [(utf16(text, s["start"]), utf16(text, s["end"])) for s in expected["spans"]]
        assert merged([(m["start"], m["end"]) for m in marks(page)]) == merged(spans)
        assert web.external_requests() == [] and web.errors == []

        page.goto(base + "/?document=no-such-document&run=" + params["run"])
        sync_api.expect(page.locator("#status.error")).to_contain_text("no-such-document")
        context.close()


def test_corpus_page_draws_each_months_rate_and_sentence_share_over_time(
    browser, analyzer: Analyzer, tmp_path: Path, monkeypatch
) -> None:
    """Grouped by month, the page draws the all-techniques rate and the expected sentence share of
    each dated month as the API reports them; grouped by outlet, no chart."""
    from propscan.batch.store import Store
    from tests.test_report import save_calibrated_run

    url = f"sqlite:///{tmp_path / 'corpus.db'}"
    with Store.open(url) as store:
        _, shares = save_calibrated_run(store, by="month")
    monkeypatch.setenv("PROPSCAN_DB", url)
    with serving(create_app(ServerSettings(model="accurate"), analyzer=analyzer)) as base:
        report = httpx.get(f"{base}/v1/corpus/report", params={"by": "month"}).json()
        rates = {r["group"]: r["rate"] for r in report["data"] if r["technique"] == "(all techniques)"}
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        web = Watched(context.new_page(), base)
        page = web.page
        page.goto(base + "/corpus?by=month")
        sync_api.expect(page.locator("#trend")).to_be_visible()
        charts = page.locator("#trend-charts svg")
        sync_api.expect(charts).to_have_count(2)

        def points(chart: int) -> dict[str, float]:
            dots = charts.nth(chart).locator("circle")
            return {d.get_attribute("data-month"): float(d.get_attribute("data-value")) for d in dots.all()}

        dated = sorted(month for month in rates if month != "(undated)")
        assert len(dated) == 2 and points(0) == pytest.approx({m: rates[m] for m in dated})
        assert points(1) == pytest.approx({m: shares[m] for m in dated}, abs=1e-4)
        # Higher on the page is more: the month with the higher rate has the smaller y.
        ys = {
            d.get_attribute("data-month"): float(d.get_attribute("cy")) for d in charts.nth(0).locator("circle").all()
        }
        assert (ys[dated[0]] < ys[dated[1]]) == (rates[dated[0]] > rates[dated[1]])
        assert "per 1,000 words" in charts.nth(0).locator("circle").first.text_content()

        page.select_option("#by", "source")
        page.click("#filters button[type=submit]")
        sync_api.expect(page.locator("#trend")).to_be_hidden()
        assert web.external_requests() == [] and web.errors == []
        context.close()


def test_corpus_page_works_once_the_api_key_is_entered(
    browser, analyzer: Analyzer, tmp_path: Path, monkeypatch
) -> None:
    """With PROPSCAN_API_KEY set, the corpus page asks for the key, then fills its dropdowns, and
    its "read it" links open the stored document without asking again (a non-ASCII key, as typed)."""
    from propscan.batch.store import Store
    from tests.analyses import analysis_of
    from tests.test_report import DOCS

    key = "clé-🔑"
    url = f"sqlite:///{tmp_path / 'corpus.db'}"
    with Store.open(url) as store:
        run = store.get_or_create_run("accurate@test", {"threshold": 0.0})
        for document, spans in DOCS:
            store.save_analysis(run.id, analysis_of(document, spans, 0.5))
    monkeypatch.setenv("PROPSCAN_DB", url)
    with serving(create_app(ServerSettings(model="accurate", api_key=key), analyzer=analyzer)) as base:
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        web = Watched(context.new_page(), base)
        page = web.page
        page.goto(base + "/corpus")
        sync_api.expect(page.locator("#status.error")).to_contain_text("API key")
        page.fill("#api-key", key)
        page.press("#api-key", "Tab")
        sync_api.expect(page.locator("#run option")).to_have_count(1)
        sync_api.expect(page.locator("#source option")).to_have_count(3)  # all outlets, Courier, Herald
        assert page.locator("#technique option").count() > 1
        page.locator("#examples a").first.click()
        page.wait_for_url(re.compile(r"/\?document="))
        page.wait_for_selector("#result:not([hidden])")
        assert page.text_content("#article")
        assert web.errors == []
        context.close()
