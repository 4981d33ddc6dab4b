"""POST /v1/analyze: an article in (JSON text, HTML or a URL, or an uploaded file), its analysis out.

The body is read by hand rather than declared as one pydantic parameter because the same endpoint
takes two media types; the OpenAPI schema still documents both (``openapi_extra``). Every way a
body can be wrong ends in 400, 413, 415 or 422 with a message, never in a 500.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from propscan.api.config import ServerSettings
from propscan.api.deps import AnalyzerDep, BatcherDep, SettingsDep
from propscan.api.disconnect import ClientGone, unless_client_leaves
from propscan.api.schemas import (
    MAX_ID_CHARS,
    MAX_TECHNIQUES,
    AnalysisPublic,
    AnalyzeOptions,
    AnalyzeRequest,
    ErrorPublic,
    FieldErrorsPublic,
)
from propscan.document import Document
from propscan.errors import InputError, UnknownTechniqueError
from propscan.pipeline import Analyzer
from propscan.readers.fetch import AddressRefusedError
from propscan.readers.ingest import HTML_SUFFIXES, decode, decode_html, from_html, from_text, read_url

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/analyze", tags=["analyze"])

_TEXT_SUFFIXES = {"", ".txt", ".text"}
_FORM_FIELDS = {"file", "threshold", "techniques", "id"}


@dataclass(frozen=True)
class AnalyzeInput:
    """A request reduced to what the analyzer needs, whichever media type it came in."""

    document: Document
    threshold: float
    techniques: list[str] | None


async def read_analyze_input(request: Request, analyzer: AnalyzerDep, settings: SettingsDep) -> AnalyzeInput:
    """Parse and check the body of an analyze request.

    Raises:
        HTTPException: 400 for a body that is not UTF-8 JSON or a page that cannot be fetched, 403 for a
            URL when fetching is off or its address is refused, 415 for another media type or file kind.
        RequestValidationError: 422 for missing, extra or out-of-range fields and unknown techniques.
        InputError: 400 for empty, binary or undecodable article text.
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return await _from_json(request, analyzer, settings)
    if media == "multipart/form-data":
        return await _from_form(request, analyzer, settings.max_body_bytes)
    raise HTTPException(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        f"unsupported content type {media or '(none)'!r}: send application/json with "
        '{"text": ...}, {"html": ...} or {"url": ...}, or multipart/form-data with a \'file\' field (.txt or .html)',
    )


AnalyzeInputDep = Annotated[AnalyzeInput, Depends(read_analyze_input)]


async def _from_json(request: Request, analyzer: Analyzer, settings: ServerSettings) -> AnalyzeInput:
    max_bytes = settings.max_body_bytes
    body = await request.body()
    try:
        raw = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"the request body is not valid UTF-8 (byte {error.start}); send JSON encoded as UTF-8"
        ) from None
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except ValueError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"the request body is not valid JSON: {error}") from None
    except RecursionError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the request body nests JSON too deeply") from None
    try:
        body_model = AnalyzeRequest.model_validate(data, strict=True)  # JSON has types: "0.5" is no number
    except ValidationError as error:
        raise RequestValidationError(_errors(error)) from None
    techniques = _resolve_techniques(body_model.techniques, analyzer)
    if body_model.url is not None:
        document = await _fetched(body_model.url, body_model.id, settings)
    elif body_model.html is not None:
        html = _as_upload(body_model.html, "html", max_bytes)
        document = await run_in_threadpool(from_html, html, source="html", id=body_model.id)
    else:
        document = Document(text=_as_upload(body_model.text, "text", max_bytes), id=body_model.id)
    return AnalyzeInput(document, body_model.threshold, techniques)


async def _from_form(request: Request, analyzer: Analyzer, max_bytes: int) -> AnalyzeInput:
    async with request.form(max_files=1, max_fields=len(_FORM_FIELDS) + 8) as form:
        expected = ", ".join(sorted(_FORM_FIELDS))
        errors = [
            _error(("body", key), f"unknown form field; expected: {expected}")
            for key in sorted(set(form) - _FORM_FIELDS)
        ]
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            errors.append(
                _error(("body", "file"), "attach the article as a file field named 'file' (.txt or .html)", "missing")
            )
        if errors or not isinstance(upload, UploadFile):
            raise RequestValidationError(errors)
        name = upload.filename or "upload"
        if len(name) > MAX_ID_CHARS:
            raise RequestValidationError(
                [_error(("body", "file"), f"the file name is longer than {MAX_ID_CHARS} characters")]
            )
        suffix = PurePath(name).suffix.lower()
        if suffix not in _TEXT_SUFFIXES | HTML_SUFFIXES:
            raise HTTPException(
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                f"{name}: propscan reads .txt and .html files; convert other formats to one of them first",
            )
        options_data: dict[str, Any] = {"techniques": form.getlist("techniques") or None}
        for field in ("threshold", "id"):
            if form.get(field) is not None:
                options_data[field] = form.get(field)
        try:
            options = AnalyzeOptions.model_validate(options_data)
        except ValidationError as error:
            raise RequestValidationError(_errors(error)) from None
        techniques = _resolve_techniques(options.techniques, analyzer)
        data = await upload.read()
    text = decode_html(data, source=name, max_bytes=max_bytes)
    document = await run_in_threadpool(
        from_text,
        text,
        source=name,
        id=options.id or PurePath(name).stem,
        html=True if suffix in HTML_SUFFIXES else None,
    )
    return AnalyzeInput(document, options.threshold, techniques)


async def _fetched(url: str, ident: str, settings: ServerSettings) -> Document:
    """The article at ``url``, fetched under the server's policy.

    Raises:
        HTTPException: 403 when fetching is off or the address is refused.
        InputError: 400 when the page cannot be fetched or holds no article.
    """
    if not settings.fetch_urls:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "this server does not fetch URLs (its operator can enable it with PROPSCAN_FETCH_URLS=1); "
            'send the page itself as {"html": ...}',
        )
    url = _as_upload(url, "url", settings.max_body_bytes)  # no NUL bytes, no lone surrogates
    try:
        document = await run_in_threadpool(
            read_url, url, policy=settings.fetch_policy(), max_bytes=settings.max_body_bytes
        )
    except AddressRefusedError as error:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(error)) from None
    return Document(text=document.text, id=ident or document.id, metadata=document.metadata)


def _resolve_techniques(names: list[str] | None, analyzer: Analyzer) -> list[str] | None:
    """The model's labels for the names a client sent (readable names, labels or loose forms); 422 names each unknown one."""
    if names is None:
        return None
    labels: list[str] = []
    errors = []
    for i, name in enumerate(names):
        try:
            labels.extend(analyzer.inventory.select([name]))
        except UnknownTechniqueError:
            # The full list would be cut at 300 characters; GET /v1/techniques gives both forms.
            message = f"unknown technique {name!r}: give a name or label from GET /v1/techniques"
            errors.append(_error(("body", "techniques", i), message))
    if errors or not labels:
        raise RequestValidationError(
            errors or [_error(("body", "techniques"), "name at least one technique, or omit the field")]
        )
    return sorted(set(labels))


def _as_upload(text: str, field: str, max_bytes: int) -> str:
    """A JSON field's text, checked exactly as the same text uploaded as a file is (NUL bytes included).

    JSON may also carry lone surrogates (``"\\ud800"``) that no UTF-8 answer could echo back.
    """
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InputError(
            f"'{field}' contains an unpaired surrogate at character {error.start}; send valid Unicode"
        ) from None
    return decode(data, source=field, max_bytes=max_bytes)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _errors(error: ValidationError) -> list[dict[str, Any]]:
    # No input echo: the rejected input may be a whole article.
    return [
        {**e, "loc": ("body", *e["loc"])}
        for e in error.errors(include_url=False, include_context=False, include_input=False)
    ]


def _error(loc: tuple[str | int, ...], msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": msg}


_MULTIPART_SCHEMA = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "The article: a UTF-8 .txt or .html file."},
        "threshold": {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
        "techniques": {
            "type": "array",
            "items": {"type": "string"},
            "maxItems": MAX_TECHNIQUES,
            "description": "Repeat the field once per technique to keep: its name or label (labels contain commas).",
        },
        "id": {
            "type": "string",
            "maxLength": MAX_ID_CHARS,
            "description": "Your identifier (default: the file name without suffix).",
        },
    },
}

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorPublic,
        "description": "The body is not UTF-8 JSON, the article is empty, binary or undecodable, or the URL cannot be fetched.",
    },
    401: {"model": ErrorPublic, "description": "PROPSCAN_API_KEY is set and the request lacks the key."},
    403: {
        "model": ErrorPublic,
        "description": "A 'url' while fetching is off, or one that leads to a refused address.",
    },
    413: {"model": ErrorPublic, "description": "The body is larger than PROPSCAN_MAX_BYTES."},
    415: {
        "model": ErrorPublic,
        "description": "Neither JSON nor multipart/form-data, or a file that is not .txt/.html.",
    },
    422: {"model": FieldErrorsPublic, "description": "A field is missing, unknown, of the wrong type or out of range."},
    503: {
        "model": ErrorPublic,
        "description": "Too many articles are waiting, or the analysis ran past PROPSCAN_REQUEST_TIMEOUT; "
        "retry after the seconds in Retry-After.",
    },
}


@router.post(
    "",
    response_model=AnalysisPublic,
    responses=_ERRORS,
    summary="Find propaganda-technique spans in one article",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": AnalyzeRequest.model_json_schema()},
                "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
            },
        }
    },
)
async def analyze(request: Request, request_input: AnalyzeInputDep, batcher: BatcherDep) -> Any:
    """Analyze an article given as JSON ``{"text"}`` / ``{"html"}`` / ``{"url"}`` or as an uploaded .txt/.html file.

    Offsets in the answer index its ``text`` field: the article itself, or the text extracted from HTML.
    """
    work = batcher.analyze(
        request_input.document, threshold=request_input.threshold, techniques=request_input.techniques
    )
    try:
        analysis = await unless_client_leaves(request, work)
    except ClientGone:
        logger.info("the client of article %r left before its analysis; dropped it", request_input.document.id)
        return Response(status_code=499)  # nobody reads it; nginx's code for "client closed request"
    return analysis.to_dict()
