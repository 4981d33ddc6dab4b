"""Fetching pages: limits, redirects, charsets and the address policy, against a local server."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from propscan.errors import InputError
from propscan.readers.fetch import AddressRefusedError, FetchError, FetchPolicy, fetch, parse_networks
from propscan.readers.ingest import read_input, read_url
from tests.page_server import ARTICLE_TITLE, serving

LOOPBACK = parse_networks(["127.0.0.1"])
SERVER_POLICY = FetchPolicy(private=False, allow=LOOPBACK, timeout=5)


@pytest.fixture(scope="module")
def site():
    with serving() as base:
        yield base


def test_page_becomes_a_document_that_keeps_its_url(site):
    document = read_input(f"{site}/article.html")
    assert document.text.startswith(ARTICLE_TITLE)
    assert "so-called experts" in document.text
    assert document.metadata["url"] == f"{site}/article.html"
    assert document.metadata["extracted_from"] == "html"
    assert document.id == f"{site}/article.html"


@pytest.mark.parametrize("path", ["/latin-header.html", "/latin-meta.html"])
def test_declared_charset_is_honoured(site, path):
    assert "Café" in read_url(f"{site}{path}").text


def test_redirects_are_followed_and_recorded(site):
    document = read_url(f"{site}/redirect")
    assert document.metadata["url"] == f"{site}/redirect"
    assert document.metadata["fetched_url"] == f"{site}/article.html"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/loop", "more than 5 redirects"),
        ("/missing", "HTTP 404"),
        ("/logo.png", "image/png"),
    ],
)
def test_unusable_pages_are_refused_with_a_reason(site, path, message):
    with pytest.raises(FetchError, match=message):
        read_url(f"{site}{path}")


def test_size_limit_applies_to_pages(site):
    with pytest.raises(FetchError, match="above the limit of 100,000"):
        read_url(f"{site}/huge.html", max_bytes=100_000)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/article.html", "only http:// and https://"),
        ("http:///article.html", "only http:// and https://"),
        ("http://[::1/article.html", "not a valid URL"),
        ("http://127.0.0.1:99999/", "not a valid URL"),
    ],
)
def test_malformed_urls_are_refused_with_a_reason(url, message):
    with pytest.raises(FetchError, match=message):
        fetch(url, FetchPolicy())


def test_unreachable_server_is_a_clear_error():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError, match="connection refused"):
        fetch(f"http://127.0.0.1:{port}/", FetchPolicy(timeout=5))


def test_server_policy_refuses_loopback_unless_allowed(site):
    with pytest.raises(AddressRefusedError, match=r"127\.0\.0\.1"):
        fetch(f"{site}/article.html", FetchPolicy(private=False))
    assert fetch(f"{site}/article.html", SERVER_POLICY).data


@pytest.mark.parametrize(("path", "address"), [("/to-private", "10.255.255.1"), ("/to-metadata", "169.254.169.254")])
def test_server_policy_checks_every_redirect(site, path, address):
    with pytest.raises(AddressRefusedError, match=address):
        fetch(f"{site}{path}", SERVER_POLICY)


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.2",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "168.63.129.16",
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
    ],
)
def test_non_global_and_metadata_addresses_are_refused(address):
    assert FetchPolicy(private=False).refuses(ipaddress.ip_address(address))
    assert not FetchPolicy(private=True).refuses(ipaddress.ip_address(address))


def test_global_addresses_are_fetched():
    assert not FetchPolicy(private=False).refuses(ipaddress.ip_address("93.184.216.34"))
    assert not FetchPolicy(private=False).refuses(ipaddress.ip_address("2606:2800:220:1::"))


def test_the_checked_address_is_the_one_connected_to(site, monkeypatch):
    """DNS rebinding: a name that resolves to an allowed address, then to a private one."""
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1", "10.255.255.1"])

    def rebinding(host, *args, **kwargs):
        return real(next(answers) if host == "rebind.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    port = site.rsplit(":", 1)[1]
    page = fetch(f"http://rebind.test:{port}/article.html", SERVER_POLICY)
    assert ARTICLE_TITLE.encode() in page.data


def test_allow_list_values_are_checked():
    assert parse_networks(["127.0.0.1", " 10.0.0.0/8 ", ""]) == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("10.0.0.0/8"),
    )
    with pytest.raises(InputError, match="'localhost' is not an IP address"):
        parse_networks(["localhost"])


@pytest.fixture
def news_test(monkeypatch):
    """The name news.test resolves to 127.0.0.1 (never to the internet)."""
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda host, *a, **k: real("127.0.0.1" if host == "news.test" else host, *a, **k)
    )


@pytest.fixture
def tls_site(tmp_path, monkeypatch):
    """An HTTPS server with a certificate for news.test, from a CA that this test trusts."""
    import ssl

    trustme = pytest.importorskip("trustme", reason="HTTPS tests need trustme (pip install 'propscan[test]')")
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("news.test").configure_cert(context)
    with serving(tls=context) as base:
        yield base.rsplit(":", 1)[1]


def test_https_verifies_the_name_while_connecting_to_the_checked_address(tls_site, news_test):
    page = fetch(f"https://news.test:{tls_site}/article.html", SERVER_POLICY)
    assert ARTICLE_TITLE.encode() in page.data


def test_https_certificate_for_another_name_is_refused(tls_site, news_test):
    with pytest.raises(FetchError, match="TLS failed"):
        fetch(f"https://127.0.0.1:{tls_site}/article.html", SERVER_POLICY)
