"""The reading page's link field, in a real headless Chromium: the server fetches, the browser never does.

The pages come from a local server the tests start (tests/page_server.py), never the internet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest

from propscan import Analyzer
from propscan.api import ServerSettings, create_app
from tests.page_server import serving as serving_pages
from tests.test_web import browser, open_page, pytestmark, serving, sync_api  # noqa: F401 (a fixture; the skip mark)

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serving_pages() as base:
        yield base


def server_with(analyzer: Analyzer, **settings):
    return serving(create_app(ServerSettings(model="fast", **settings), analyzer=analyzer))


@pytest.fixture(scope="module")
def fetching_server(fast_analyzer: Analyzer) -> Iterator[str]:
    with server_with(fast_analyzer, fetch_urls=True, fetch_allow=LOOPBACK) as base:
        yield base


def fetch_on_page(browser, server: str, url: str):  # noqa: F811 (the fixture's value)
    watched = open_page(browser, server)
    watched.page.fill("#url-input", url)
    watched.page.press("#url-input", "Enter")
    return watched


def test_a_link_is_fetched_by_the_server_and_highlighted(browser, fetching_server, site):  # noqa: F811
    watched = fetch_on_page(browser, fetching_server, f"{site}/latin-meta.html")
    page = watched.page
    page.wait_for_selector("#result:not([hidden])")
    sync_api.expect(page.locator("#status")).to_contain_text("Analyzed")
    assert "Café" in page.input_value("#article-input")  # the extracted text, decoded with its charset
    assert "Café" in page.text_content("#article")
    assert not any(u.startswith(site) for u in watched.requests), "the browser itself fetched the page"
    assert not watched.external_requests() and not watched.errors
    watched.page.context.close()


@pytest.mark.parametrize(("path", "phrase"), [("/to-private", "10.255.255.1"), ("/missing", "HTTP 404")])
def test_a_refused_link_is_explained_on_the_page(browser, fetching_server, site, path, phrase):  # noqa: F811
    watched = fetch_on_page(browser, fetching_server, f"{site}{path}")
    status = watched.page.locator("#status.error")
    sync_api.expect(status).to_contain_text(phrase)
    assert watched.page.is_hidden("#result")
    watched.page.context.close()


def test_a_server_that_does_not_fetch_says_so(browser, fast_analyzer, site):  # noqa: F811
    with server_with(fast_analyzer) as server:
        watched = fetch_on_page(browser, server, f"{site}/article.html")
        sync_api.expect(watched.page.locator("#status.error")).to_contain_text("PROPSCAN_FETCH_URLS")
        watched.page.context.close()


def test_enter_without_a_link_asks_for_one(browser, fetching_server):  # noqa: F811
    watched = fetch_on_page(browser, fetching_server, "harbour news")
    sync_api.expect(watched.page.locator("#status.error")).to_contain_text("address of a page")
    assert watched.analyze_requests() == 0
    watched.page.context.close()
