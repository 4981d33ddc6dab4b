"""A local web server for the link tests: real HTTP on 127.0.0.1, never the internet.

Each path answers a fixed page: an article in UTF-8, the same article in ISO-8859-1 declared by
the HTTP header or by a ``<meta>`` tag, redirects (to the article, in a loop, to a private and
to a metadata address), an error, an image and an oversized page.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARTICLE_TITLE = "Harbour Café Deal Is a Betrayal"
PARAGRAPHS = [
    (
        "The council's shameless café deal is the worst betrayal this town has ever seen, and every true "
        "patriot on the quay knows it."
    ),
    (
        "These so-called experts have never run a café, yet they want us to trust them with the whole harbour "
        "front and its façades."
    ),
    "If this deal goes ahead, our children will pay for it for the rest of their lives. Stop the deal now!",
]


def article_html(charset: str, *, meta: bool) -> bytes:
    head = f'<meta charset="{charset}">' if meta else ""
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    page = (
        f"<!doctype html><html><head>{head}<title>{ARTICLE_TITLE}</title></head><body>"
        f"<nav><a href='/'>Home</a></nav><article><h1>{ARTICLE_TITLE}</h1>{body}</article></body></html>"
    )
    return page.encode(charset)


PAGES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/article.html": (200, {"Content-Type": "text/html; charset=utf-8"}, article_html("utf-8", meta=False)),
    "/latin-header.html": (
        200,
        {"Content-Type": "text/html; charset=ISO-8859-1"},
        article_html("iso-8859-1", meta=False),
    ),
    "/latin-meta.html": (200, {"Content-Type": "text/html"}, article_html("iso-8859-1", meta=True)),
    "/redirect": (302, {"Location": "/article.html"}, b""),
    "/loop": (302, {"Location": "/loop"}, b""),
    "/to-private": (302, {"Location": "http://10.255.255.1/article.html"}, b""),
    "/to-metadata": (301, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
    "/missing": (404, {"Content-Type": "text/html"}, b"<html><body>not here</body></html>"),
    "/logo.png": (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
    "/huge.html": (200, {"Content-Type": "text/html"}, b"<html><body><p>" + b"word " * 300_000 + b"</p></body></html>"),
}


REQUESTS: list[str] = []  # every path asked for, in order: tests count fetches with it


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        REQUESTS.append(self.path)
        status, headers, body = PAGES.get(self.path, (404, {}, b""))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with suppress(BrokenPipeError, ConnectionResetError):  # a client over its size limit hangs up
            self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serve ``PAGES`` on a free port of 127.0.0.1; yields the base URL (``http://127.0.0.1:PORT``).

    With ``tls``, the server speaks HTTPS with that context, and the URL says ``https``.
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
