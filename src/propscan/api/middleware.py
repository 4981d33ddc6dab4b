"""Two small ASGI middlewares: a request body limit (413) and security headers.

Pure ASGI rather than ``BaseHTTPMiddleware`` so the limit applies before any route reads the body,
and so a chunked upload without Content-Length is cut off at the limit too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

# The page's policy: nothing but propscan's own files, no inline script, no frames.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class BodyLimitMiddleware:
    """Answer 413 to any request whose body exceeds ``max_bytes``, declared or streamed.

    A client that disconnects before its body is complete gets nothing and costs one log line:
    the app never sees a body cut short.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _send_error(send, 400, "Content-Length is not a number")
                return
            if int(declared) > self.max_bytes:
                await _send_error(send, 413, self._message(int(declared)))
                return
        # Read the whole body (bounded by the limit), then replay it to the app.
        messages: list[Message] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                logger.info(
                    "%s %s: the client left after %d bytes of its body; dropped", scope["method"], scope["path"], total
                )
                return
            if message["type"] != "http.request":
                messages.append(message)
                break
            total += len(message.get("body", b""))
            if total > self.max_bytes:
                await _send_error(send, 413, self._message(total, streamed=True))
                return
            messages.append(message)
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    def _message(self, size: int, streamed: bool = False) -> str:
        amount = f"more than {self.max_bytes:,}" if streamed else f"{size:,}"
        return (
            f"the request body is {amount} bytes, above this server's limit of {self.max_bytes:,}; "
            "send a shorter article or raise PROPSCAN_MAX_BYTES"
        )


class SecurityHeadersMiddleware:
    """Add ``nosniff`` and ``no-referrer`` everywhere and the page's CSP outside the API docs."""

    def __init__(self, app: ASGIApp, *, docs_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.docs_paths = tuple(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = not scope["path"].startswith(self.docs_paths) if self.docs_paths else True

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                if csp:
                    headers.append((b"content-security-policy", PAGE_CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


async def _send_error(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
