"""POST /v1/analyze with {"url": ...}: off by default, and when on, never to a refused address.

The pages come from a local server the tests start (tests/page_server.py), never the internet.
"""

from __future__ import annotations

import ipaddress

import pytest
from fastapi.testclient import TestClient

from propscan import Analyzer
from propscan.api import ServerSettings, create_app
from propscan.errors import InputError
from propscan.readers.ingest import read_url
from tests.page_server import ARTICLE_TITLE, serving

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)


@pytest.fixture(scope="module")
def site():
    with serving() as base:
        yield base


def client_for(analyzer: Analyzer, **settings) -> TestClient:
    return TestClient(create_app(ServerSettings(model="fast", **settings), analyzer=analyzer))


@pytest.fixture(scope="module")
def fetching(fast_analyzer: Analyzer):
    """A server whose operator enabled fetching and allowed loopback (where the test pages are)."""
    with client_for(fast_analyzer, fetch_urls=True, fetch_allow=LOOPBACK) as client:
        yield client


def detail(response) -> str:
    body = response.json()["detail"]
    return body if isinstance(body, str) else " ".join(e["msg"] for e in body)


def test_fetching_is_off_unless_the_operator_enables_it(fast_analyzer, site):
    with client_for(fast_analyzer) as client:
        response = client.post("/v1/analyze", json={"url": f"{site}/article.html"})
    assert response.status_code == 403 and "PROPSCAN_FETCH_URLS" in detail(response)


def test_a_url_is_fetched_and_analyzed_like_its_html(fetching, fast_analyzer, site):
    url = f"{site}/latin-header.html"
    response = fetching.post("/v1/analyze", json={"url": url})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["id"] == result["metadata"]["url"] == url
    assert result["text"].startswith(ARTICLE_TITLE) and "Café" in result["text"]
    assert result == fast_analyzer.analyze(read_url(url)).to_dict()


def test_loopback_is_refused_when_not_allowed(fast_analyzer, site):
    with client_for(fast_analyzer, fetch_urls=True) as client:
        response = client.post("/v1/analyze", json={"url": f"{site}/article.html"})
    assert response.status_code == 403 and "127.0.0.1" in detail(response)


@pytest.mark.parametrize(("path", "address"), [("/to-private", "10.255.255.1"), ("/to-metadata", "169.254.169.254")])
def test_a_redirect_to_a_private_or_metadata_address_is_refused(fetching, site, path, address):
    response = fetching.post("/v1/analyze", json={"url": f"{site}{path}"})
    assert response.status_code == 403 and address in detail(response)


@pytest.mark.parametrize(
    ("body", "status", "phrase"),
    [
        ({"url": "/missing"}, 400, "HTTP 404"),
        ({"url": "/logo.png"}, 400, "image/png"),
        ({"url": "file:///etc/passwd"}, 400, "only http:// and https://"),
        ({"url": "/article.html", "text": "also text"}, 422, "exactly one of"),
    ],
)
def test_unusable_urls_are_refused_with_a_reason(fetching, site, body, status, phrase):
    body = {**body, "url": f"{site}{body['url']}" if body["url"].startswith("/") else body["url"]}
    response = fetching.post("/v1/analyze", json=body)
    assert response.status_code == status and phrase in detail(response)


def test_fetch_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("PROPSCAN_FETCH_URLS", "1")
    monkeypatch.setenv("PROPSCAN_FETCH_ALLOW", "127.0.0.1, 10.0.0.0/8")
    settings = ServerSettings.from_env()
    assert settings.fetch_urls and settings.fetch_allow == (*LOOPBACK, ipaddress.ip_network("10.0.0.0/8"))
    assert not settings.fetch_policy().private
    monkeypatch.setenv("PROPSCAN_FETCH_ALLOW", "intranet")
    with pytest.raises(InputError, match="'intranet' is not an IP address"):
        ServerSettings.from_env()
    monkeypatch.delenv("PROPSCAN_FETCH_URLS")
    monkeypatch.delenv("PROPSCAN_FETCH_ALLOW")
    assert not ServerSettings.from_env().fetch_urls


def test_an_uploaded_page_is_decoded_with_its_declared_charset(fetching):
    from tests.page_server import article_html

    files = {"file": ("cafe.html", article_html("iso-8859-1", meta=True), "text/html")}
    response = fetching.post("/v1/analyze", files=files)
    assert response.status_code == 200 and "Café" in response.json()["text"]


def test_serve_refuses_a_malformed_allow_list_in_one_line(monkeypatch, capsys):
    from propscan.cli import main

    monkeypatch.setenv("PROPSCAN_FETCH_ALLOW", "intranet")
    assert main(["serve", "--model", "fast"]) == 1
    err = capsys.readouterr().err
    assert "'intranet' is not an IP address" in err and len(err.strip().splitlines()) == 1
