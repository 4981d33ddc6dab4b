"""Settings of the web service, read from the environment so that every uvicorn worker agrees.

The analyzer's own settings (``PROPSCAN_MAX_BYTES``, ``PROPSCAN_THREADS``...) live in
``propscan.settings``; this adds only what a server needs on top of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from propscan.errors import PropscanError
from propscan.readers.fetch import FetchPolicy, IPNetwork, parse_networks
from propscan.settings import get_settings

# The reading and corpus pages, shipped as package data.
WEB_DIR = Path(str(resources.files("propscan") / "web"))


def _default_max_body() -> int:
    return get_settings().max_input_bytes


@dataclass(frozen=True)
class ServerSettings:
    """How the service runs.

    Attributes:
        model: the analyzer to load: ``accurate``, ``fast``, ``triage`` or a model folder (``PROPSCAN_SERVE_MODEL``).
        api_key: when set, every ``/v1`` call must carry it (``PROPSCAN_API_KEY``).
        max_body_bytes: larger request bodies get 413 (``PROPSCAN_MAX_BYTES``, the analyzer's input limit).
        max_batch: at most this many queued articles go through the model in one call (``PROPSCAN_MAX_BATCH``).
        max_batch_chars: a batch stops growing past this many characters, to bound memory.
        max_pending: articles waiting or running beyond this get 503 rather than an ever longer wait
            (``PROPSCAN_MAX_PENDING``).
        long_chars: articles longer than this are analyzed in a lane of their own, so that they
            never hold back the short ones (``PROPSCAN_LONG_CHARS``).
        timeout: seconds a request may wait for its analysis; past it the client gets 503 with
            ``Retry-After`` (``PROPSCAN_REQUEST_TIMEOUT``).
        threads: CPU threads for the model (``PROPSCAN_THREADS``; default all cores).
        fetch_urls: whether ``{"url": ...}`` requests are fetched (``PROPSCAN_FETCH_URLS=1``); off by
            default because a server that fetches what clients name can be aimed at its own network.
        fetch_allow: networks fetched although private, e.g. an intranet (``PROPSCAN_FETCH_ALLOW``,
            comma-separated addresses or CIDR networks).
    """

    model: str = "accurate"
    api_key: str | None = None
    max_body_bytes: int = field(default_factory=_default_max_body)
    max_batch: int = 16
    max_batch_chars: int = 200_000
    max_pending: int = 256
    long_chars: int = 4_000
    timeout: float = 60.0
    threads: int | None = None
    fetch_urls: bool = False
    fetch_allow: tuple[IPNetwork, ...] = ()

    def fetch_policy(self) -> FetchPolicy:
        """Only global addresses, plus the allow-list; pages no larger than a request body."""
        return FetchPolicy(private=False, allow=self.fetch_allow, max_bytes=self.max_body_bytes)

    @classmethod
    def from_env(cls, **overrides: Any) -> ServerSettings:
        """Settings from ``PROPSCAN_*`` variables; keyword arguments win over the environment.

        Raises:
            PropscanError: naming the variable whose value is not a positive number.
        """
        env = os.environ
        settings = cls(
            model=env.get("PROPSCAN_SERVE_MODEL", "accurate"),
            api_key=env.get("PROPSCAN_API_KEY") or None,
            max_body_bytes=get_settings().max_input_bytes,
            max_batch=int(_positive("PROPSCAN_MAX_BATCH", cls.max_batch)),
            max_pending=int(_positive("PROPSCAN_MAX_PENDING", cls.max_pending)),
            long_chars=int(_positive("PROPSCAN_LONG_CHARS", cls.long_chars)),
            timeout=_positive("PROPSCAN_REQUEST_TIMEOUT", cls.timeout, kind=float),
            threads=int(env["PROPSCAN_THREADS"]) if env.get("PROPSCAN_THREADS") else None,
            fetch_urls=env.get("PROPSCAN_FETCH_URLS", "").strip().lower() in ("1", "true", "yes", "on"),
            fetch_allow=parse_networks(env.get("PROPSCAN_FETCH_ALLOW", "").split(",")),
        )
        return replace(settings, **overrides)


def _positive(name: str, default: float, kind: type = int) -> float:
    """The variable's value, refused with a one-line message unless it is a positive number."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = 0
    if not 0 < value < float("inf"):
        raise PropscanError(f"{name}={raw!r} is not a positive {'whole ' if kind is int else ''}number")
    return value
