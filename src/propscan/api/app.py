"""Builds the FastAPI application: model loading, routers, limits, error mapping and the page.

``create_app`` is also the uvicorn factory (``propscan.api.app:create_app``), so each worker
process reads its settings from the environment and loads the model once, at startup.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from propscan.api.batching import Batcher, BusyError
from propscan.api.config import WEB_DIR, ServerSettings
from propscan.api.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware
from propscan.api.routes import api_router, corpus, health
from propscan.errors import InputError
from propscan.pipeline import Analyzer
from propscan.version import __version__

logger = logging.getLogger(__name__)

_DOCS_PATHS = ("/docs",)
DOCS_ASSETS = "/docs/assets"
MAX_FIELD_ERRORS = 20


def create_app(settings: ServerSettings | None = None, *, analyzer: Analyzer | None = None) -> FastAPI:
    """The propscan web service.

    Args:
        settings: how to run; default ``ServerSettings.from_env()``.
        analyzer: an already loaded analyzer (tests share one); default: load ``settings.model`` at startup.

    Returns:
        The application; the model is loaded and the worker started when its lifespan begins.
    """
    settings = settings or ServerSettings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = analyzer
        if loaded is None:
            logger.info("loading model %s", settings.model)
            loaded = await run_in_threadpool(Analyzer.load, settings.model, threads=settings.threads)
        # One analysis before the lanes start: the encoder is built once, not raced for by two threads.
        await run_in_threadpool(loaded.analyze, "Warm-up.")
        batcher = Batcher(
            loaded,
            max_batch=settings.max_batch,
            max_chars=settings.max_batch_chars,
            max_pending=settings.max_pending,
            long_chars=settings.long_chars,
            timeout=settings.timeout,
        )
        batcher.start()
        app.state.analyzer = loaded
        app.state.batcher = batcher
        logger.info("propscan is serving model %s", loaded.name)
        try:
            yield
        finally:
            await run_in_threadpool(batcher.close)

    app = FastAPI(
        title="propscan",
        version=__version__,
        summary="Find propaganda-technique spans in news articles (SemEval-2020 Task 11).",
        lifespan=lifespan,
        docs_url=None,  # served by _add_docs from local files; ReDoc has no PyPI bundle, so no /redoc
        redoc_url=None,
    )
    app.state.settings = settings
    app.include_router(api_router)
    app.include_router(health.router)
    app.include_router(corpus.router)
    _add_error_handlers(app)
    _add_page(app)
    _add_docs(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware, docs_paths=_DOCS_PATHS)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Map propscan's errors to statuses; bad input is always a 4xx with the message that explains it."""

    @app.exception_handler(InputError)
    async def input_error(request: Request, error: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=status.HTTP_400_BAD_REQUEST)

    @app.exception_handler(BusyError)
    async def busy(request: Request, error: BusyError) -> JSONResponse:
        headers = {"Retry-After": str(error.retry_after)}
        return JSONResponse({"detail": str(error)}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": field_errors(error.errors())}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def field_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A 422's detail, kept small whatever the request held.

    FastAPI's default echoes the offending input, which may be a whole article, and lists every
    error, which may be a million: keep type, place and message, of the first few, each cut short.
    """
    kept = [
        {
            "type": _cut(str(e.get("type", "value_error"))),
            "loc": [item if isinstance(item, int) else _cut(str(item)) for item in e.get("loc", ())],
            "msg": _cut(str(e.get("msg", ""))),
        }
        for e in errors[:MAX_FIELD_ERRORS]
    ]
    if len(errors) > MAX_FIELD_ERRORS:
        more = len(errors) - MAX_FIELD_ERRORS
        kept.append({"type": "too_many_errors", "loc": ["body"], "msg": f"and {more:,} more errors like these"})
    return kept


def _cut(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else f"{text[:limit]}..."


def _add_page(app: FastAPI) -> None:
    """The reading page at ``/``; its script and stylesheet are served from the package, never a CDN."""

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")


def _add_docs(app: FastAPI) -> None:
    """Swagger UI at ``/docs`` from the swagger-ui-bundle package, so the docs render offline and load nothing from a CDN."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="propscan API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            # Swagger UI would otherwise send the schema's URL to validator.swagger.io for a badge.
            swagger_ui_parameters={"validatorUrl": None},
        )
