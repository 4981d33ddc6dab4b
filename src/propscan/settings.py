"""One settings object, read from the environment, so every interface shares the same defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Process-wide settings.

    Attributes:
        cache_dir: where assembled encoders and other derived files live
            (``PROPSCAN_CACHE``, default ``~/.cache/propscan``).
        data_dir: a PTC-format corpus folder (``PROPSCAN_DATA``), used when ``--data`` is omitted.
        max_input_bytes: the largest article accepted (``PROPSCAN_MAX_BYTES``, default 10 MB).
        threads: CPU threads for inference (``PROPSCAN_THREADS``, default: all cores).
    """

    cache_dir: Path
    data_dir: Path | None
    max_input_bytes: int
    threads: int


def input_limit(max_bytes: int | None) -> int:
    """The byte limit a reader applies: the caller's, else ``PROPSCAN_MAX_BYTES``."""
    return get_settings().max_input_bytes if max_bytes is None else max_bytes


def threads_per_worker(workers: int) -> int:
    """Split the machine's cores between worker processes, so they do not oversubscribe it."""
    return max(1, (os.cpu_count() or 1) // workers)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    data = env.get("PROPSCAN_DATA")
    return Settings(
        cache_dir=Path(env.get("PROPSCAN_CACHE", Path.home() / ".cache" / "propscan")).expanduser(),
        data_dir=Path(data).expanduser() if data else None,
        max_input_bytes=int(env.get("PROPSCAN_MAX_BYTES", 10 * 1024 * 1024)),
        threads=int(env.get("PROPSCAN_THREADS", os.cpu_count() or 1)),
    )
