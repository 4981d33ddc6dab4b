"""Running the service under uvicorn; what ``propscan serve`` calls."""

from __future__ import annotations

import os

from propscan.api.config import ServerSettings
from propscan.pipeline import model_path
from propscan.settings import threads_per_worker


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    model: str = "accurate",
    threads: int | None = None,
    log_level: str = "info",
) -> None:
    """Serve the API and the page until interrupted.

    Each of the ``workers`` processes loads the model once. The choice of model travels to them in
    the environment (``PROPSCAN_SERVE_MODEL``) because uvicorn starts workers from an import string.
    With several workers, the CPU cores are shared out between them unless ``threads`` is given.

    Raises:
        ModelError: if the model cannot be found, before anything starts listening.
        PropscanError: if a ``PROPSCAN_*`` setting of the server is not a valid number, likewise.
        InputError: if PROPSCAN_FETCH_ALLOW holds something that is not an address or network.
    """
    import uvicorn

    model_path(model)  # fail now, with propscan's message, rather than in every worker
    os.environ["PROPSCAN_SERVE_MODEL"] = str(model)
    if threads is None and workers > 1:
        threads = threads_per_worker(workers)
    if threads is not None:
        os.environ["PROPSCAN_THREADS"] = str(threads)
    ServerSettings.from_env()  # the workers read the same variables: refuse bad ones here, in one line
    uvicorn.run(
        "propscan.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        timeout_graceful_shutdown=30,
    )
