"""Fetching a web page for analysis: the one HTTP client behind every interface that takes a URL.

A server that fetches what its clients name can be turned against the network it sits in (SSRF).
So every hop is checked *after* DNS resolution: the host is resolved once, each address it
resolves to is checked against the ``FetchPolicy``, and the connection goes to the address that
was checked (the name is kept only for the ``Host`` header, TLS SNI and the certificate check),
so a second, different DNS answer cannot slip in (DNS rebinding). Redirects are followed by
hand, each one checked the same way. urllib3 (already installed with trafilatura) does the HTTP.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urljoin, urlsplit

import urllib3

from propscan.errors import InputError
from propscan.version import __version__

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_REDIRECTS = {301, 302, 303, 307, 308}
_PAGE_TYPES = ("text/html", "application/xhtml+xml", "text/plain")
# Cloud instance-metadata services, some of them on addresses that Python counts as global.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "168.63.129.16", "100.100.100.200", "fd00:ec2::254")
)


class FetchError(InputError):
    """A page could not be fetched: bad URL, network failure, HTTP error, too large, not a page."""


class AddressRefusedError(FetchError):
    """The URL (or a redirect) leads to an address the policy refuses: loopback, private, metadata..."""


@dataclass(frozen=True)
class FetchPolicy:
    """What a fetch may reach and how long and large it may be.

    Attributes:
        private: reach any address, private ones included (the command line: a user fetching for
            themselves); False refuses every address that is not global, and cloud metadata.
        allow: networks reached even when ``private`` is False (an operator's allow-list).
        timeout: seconds for connecting, for each read, and for the whole fetch.
        max_bytes: the largest page accepted, counted after decompression.
        max_redirects: redirects followed before giving up.
    """

    private: bool = True
    allow: tuple[IPNetwork, ...] = ()
    timeout: float = 15.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5

    def refuses(self, address: IPAddress) -> bool:
        """Whether connecting to ``address`` is forbidden."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allow):
            return False
        if self.private:
            return False
        return address in METADATA_ADDRESSES or not address.is_global or address.is_multicast or address.is_reserved


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Networks from ``127.0.0.1``, ``10.0.0.0/8`` or ``::1`` strings.

    Raises:
        InputError: naming the value that is neither an address nor a network.
    """
    networks = []
    for value in (v.strip() for v in values):
        if not value:
            continue
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise InputError(f"{value!r} is not an IP address or network (e.g. 127.0.0.1 or 10.0.0.0/8)") from None
    return tuple(networks)


def is_url(value: str) -> bool:
    """Whether a command-line input names a web page rather than a file."""
    return value.lower().startswith(("http://", "https://"))


@dataclass(frozen=True)
class Page:
    """A fetched page: its bytes, the URL asked for, the URL it came from, and its declared type."""

    url: str
    final_url: str
    data: bytes
    media_type: str
    charset: str | None


def fetch(url: str, policy: FetchPolicy) -> Page:
    """GET ``url``, following at most ``policy.max_redirects`` redirects, each checked by ``policy``.

    Raises:
        AddressRefusedError: if the URL or a redirect resolves to a refused address.
        FetchError: for a malformed URL, a network error or timeout, an HTTP error status, a page
            above the size limit, or content that is not HTML or text.
    """
    deadline = time.monotonic() + policy.timeout
    current = url
    for _ in range(policy.max_redirects + 1):
        with _response(current, policy, deadline) as response:
            location = response.headers.get("Location")
            if response.status in _REDIRECTS and location:
                current = urljoin(current, location)
                continue
            return _page(url, current, response, policy, deadline)
    raise FetchError(f"{url}: more than {policy.max_redirects} redirects")


@contextmanager
def _response(url: str, policy: FetchPolicy, deadline: float) -> Iterator[urllib3.BaseHTTPResponse]:
    """One GET of ``url`` on a connection to its checked address, closed when the block ends."""
    scheme, host, port, target = _parts(url)
    address = _checked_address(url, host, port, policy)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchError(f"{url}: no answer within {policy.timeout:g} s")
    default_port = 443 if scheme == "https" else 80
    headers = {
        "Host": host if port == default_port else f"{host}:{port}",
        "User-Agent": f"propscan/{__version__}",
        "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1",
    }
    with _pool(scheme, address, port, host, urllib3.Timeout(connect=remaining, read=remaining)) as pool:
        try:
            response = pool.urlopen(
                "GET", target, headers=headers, redirect=False, preload_content=False, retries=False
            )
        except urllib3.exceptions.HTTPError as error:
            raise FetchError(f"{url}: {_reason(error)}") from None
        try:
            yield response
        finally:
            response.release_conn()


def _pool(
    scheme: str, address: IPAddress, port: int, host: str, timeout: urllib3.Timeout
) -> urllib3.HTTPConnectionPool:
    """Connections to ``address``; for HTTPS, TLS still names and verifies ``host``."""
    if scheme == "https":
        name = host.strip("[]")
        return urllib3.HTTPSConnectionPool(
            str(address), port, timeout=timeout, retries=False, maxsize=1, server_hostname=name, assert_hostname=name
        )
    return urllib3.HTTPConnectionPool(str(address), port, timeout=timeout, retries=False, maxsize=1)


def _parts(url: str) -> tuple[str, str, int, str]:
    """Scheme, ASCII host (IDNA for international names), port and request target of ``url``.

    Raises:
        FetchError: if the URL is not an http(s) URL with a host, or its host or port is malformed.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname.encode("idna").decode("ascii") if parts.hostname else ""
    except (ValueError, UnicodeError):
        raise FetchError(f"{url!r} is not a valid URL (host or port)") from None
    if parts.scheme not in ("http", "https") or not host:
        raise FetchError(f"{url}: only http:// and https:// URLs with a host can be fetched")
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal, as the Host header writes it
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), target


def _checked_address(url: str, host: str, port: int, policy: FetchPolicy) -> IPAddress:
    """Resolve ``host`` and return the address to connect to, refusing the host if any address is refused."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as error:
        raise FetchError(f"{url!r}: cannot resolve {host!r} ({getattr(error, 'strerror', None) or error})") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    refused = [a for a in addresses if policy.refuses(a)]
    if refused:
        raise AddressRefusedError(
            f"{url}: {host} resolves to {refused[0]}, a loopback, private, link-local, reserved or metadata "
            "address, which this server does not fetch"
        )
    return addresses[0]


def _page(url: str, final_url: str, response: urllib3.BaseHTTPResponse, policy: FetchPolicy, deadline: float) -> Page:
    if not 200 <= response.status < 300:
        raise FetchError(f"{final_url}: the server answered HTTP {response.status} {response.reason or ''}".rstrip())
    header = Message()
    header["Content-Type"] = response.headers.get("Content-Type", "")
    media_type = header.get_content_type() if response.headers.get("Content-Type") else "text/html"
    if media_type not in _PAGE_TYPES:
        raise FetchError(f"{final_url}: the page is {media_type}; propscan reads HTML or plain-text pages")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise FetchError(f"{final_url}: the page is {int(declared):,} bytes, above the limit of {policy.max_bytes:,}")
    return Page(
        url, final_url, _read_limited(final_url, response, policy, deadline), media_type, header.get_content_charset()
    )


def _read_limited(url: str, response: urllib3.BaseHTTPResponse, policy: FetchPolicy, deadline: float) -> bytes:
    chunks, size = [], 0
    try:
        for chunk in response.stream(65536):
            size += len(chunk)
            if size > policy.max_bytes:
                raise FetchError(f"{url}: the page is above the limit of {policy.max_bytes:,} bytes")
            if time.monotonic() > deadline:
                raise FetchError(f"{url}: the page took more than {policy.timeout:g} s to arrive")
            chunks.append(chunk)
    except urllib3.exceptions.HTTPError as error:
        raise FetchError(f"{url}: {_reason(error)}") from None
    return b"".join(chunks)


def _reason(error: urllib3.exceptions.HTTPError) -> str:
    if isinstance(error, urllib3.exceptions.NewConnectionError):  # a subclass of TimeoutError
        return "connection refused or unreachable"
    if isinstance(error, urllib3.exceptions.TimeoutError):
        return "no answer in time"
    if isinstance(error, urllib3.exceptions.SSLError):
        return f"TLS failed ({error})"
    if isinstance(error, urllib3.exceptions.DecodeError):
        return "the compressed page is corrupt"
    return str(error)
