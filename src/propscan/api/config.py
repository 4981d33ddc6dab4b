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

from propscan.settings import get_settings

# The reading and corpus pages, shipped as package data.
WEB_DIR = Path(str(resources.files("propscan") / "web"))


def _default_max_body() -> int:
    return get_settings().max_input_bytes


@dataclass(frozen=True)
class ServerSettings:
    """How the service runs.

    Attributes:
        model: the analyzer to load: ``accurate``, ``fast`` or a model folder (``PROPSCAN_SERVE_MODEL``).
        api_key: when set, every ``/v1`` call must carry it (``PROPSCAN_API_KEY``).
        max_body_bytes: larger request bodies get 413 (``PROPSCAN_MAX_BYTES``, the analyzer's input limit).
        max_batch: at most this many queued articles go through the model in one call (``PROPSCAN_MAX_BATCH``).
        max_batch_chars: a batch stops growing past this many characters, to bound memory.
        max_pending: articles waiting or running beyond this get 503 rather than an ever longer wait
            (``PROPSCAN_MAX_PENDING``).
        threads: CPU threads for the model (``PROPSCAN_THREADS``; default all cores).
    """

    model: str = "accurate"
    api_key: str | None = None
    max_body_bytes: int = field(default_factory=_default_max_body)
    max_batch: int = 16
    max_batch_chars: int = 200_000
    max_pending: int = 256
    threads: int | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> ServerSettings:
        """Settings from ``PROPSCAN_*`` variables; keyword arguments win over the environment."""
        env = os.environ
        settings = cls(
            model=env.get("PROPSCAN_SERVE_MODEL", "accurate"),
            api_key=env.get("PROPSCAN_API_KEY") or None,
            max_body_bytes=get_settings().max_input_bytes,
            max_batch=int(env.get("PROPSCAN_MAX_BATCH", 16)),
            max_pending=int(env.get("PROPSCAN_MAX_PENDING", 256)),
            threads=int(env["PROPSCAN_THREADS"]) if env.get("PROPSCAN_THREADS") else None,
        )
        return replace(settings, **overrides)
