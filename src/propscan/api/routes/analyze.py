"""POST /v1/analyze: an article in (JSON text or HTML, or an uploaded file), its analysis out.

The body is read by hand rather than declared as one pydantic parameter because the same endpoint
takes two media types; the OpenAPI schema still documents both (``openapi_extra``). Every way a
body can be wrong ends in 400, 413, 415 or 422 with a message, never in a 500.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from propscan.api.deps import AnalyzerDep, BatcherDep, SettingsDep
from propscan.api.schemas import AnalysisPublic, AnalyzeOptions, AnalyzeRequest, ErrorPublic, FieldErrorsPublic
from propscan.document import Document
from propscan.errors import InputError
from propscan.pipeline import Analyzer
from propscan.readers.ingest import HTML_SUFFIXES, check_text, decode, from_html, from_text

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
        HTTPException: 400 for a body that is not UTF-8 JSON, 415 for another media type or file kind.
        RequestValidationError: 422 for missing, extra or out-of-range fields and unknown techniques.
        InputError: 400 for empty, binary or undecodable article text.
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return await _from_json(request, analyzer)
    if media == "multipart/form-data":
        return await _from_form(request, analyzer, settings.max_body_bytes)
    raise HTTPException(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        f"unsupported content type {media or '(none)'!r}: send application/json with "
        '{"text": ...} or {"html": ...}, or multipart/form-data with a \'file\' field (.txt or .html)',
    )


AnalyzeInputDep = Annotated[AnalyzeInput, Depends(read_analyze_input)]


async def _from_json(request: Request, analyzer: Analyzer) -> AnalyzeInput:
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
        body_model = AnalyzeRequest.model_validate(data)
    except ValidationError as error:
        raise RequestValidationError(_errors(error)) from None
    _check_techniques(body_model.techniques, analyzer)
    if body_model.html is not None:
        _check_encodable(body_model.html, "html")
        check_text(body_model.html, source="html")
        document = await run_in_threadpool(from_html, body_model.html, source="html", id=body_model.id)
    else:
        text = body_model.text or ""
        _check_encodable(text, "text")
        check_text(text, source="text")
        document = Document(text=text, id=body_model.id)
    return AnalyzeInput(document, body_model.threshold, body_model.techniques)


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
        suffix = PurePath(name).suffix.lower()
        if suffix not in _TEXT_SUFFIXES | HTML_SUFFIXES:
            raise HTTPException(
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                f"{name}: propscan reads .txt and .html files; convert other formats to one of them first",
            )
        ident = form.get("id")
        options_data: dict[str, Any] = {"techniques": form.getlist("techniques") or None}
        if form.get("threshold") is not None:
            options_data["threshold"] = form.get("threshold")
        try:
            options = AnalyzeOptions.model_validate(options_data)
        except ValidationError as error:
            raise RequestValidationError(_errors(error)) from None
        _check_techniques(options.techniques, analyzer)
        data = await upload.read()
    text = decode(data, source=name, max_bytes=max_bytes)
    document = await run_in_threadpool(
        from_text,
        text,
        source=name,
        id=str(ident) if isinstance(ident, str) and ident else PurePath(name).stem,
        html=True if suffix in HTML_SUFFIXES else None,
    )
    return AnalyzeInput(document, options.threshold, options.techniques)


def _check_techniques(labels: list[str] | None, analyzer: Analyzer) -> None:
    if labels is None:
        return
    known = [t.label for t in analyzer.techniques]
    errors = [
        _error(("body", "techniques", i), f"unknown technique {label!r}; this model knows: {', '.join(known)}")
        for i, label in enumerate(labels)
        if label not in known
    ]
    if errors:
        raise RequestValidationError(errors)


def _check_encodable(text: str, field: str) -> None:
    """JSON may carry lone surrogates (``"\\ud800"``) that no UTF-8 answer could echo back."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InputError(
            f"'{field}' contains an unpaired surrogate at character {error.start}; send valid Unicode"
        ) from None


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
            "description": "Repeat the field once per technique label to keep (labels contain commas).",
        },
        "id": {"type": "string", "description": "Your identifier (default: the file name without suffix)."},
    },
}

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorPublic,
        "description": "The body is not UTF-8 JSON, or the article is empty, binary or undecodable.",
    },
    401: {"model": ErrorPublic, "description": "PROPSCAN_API_KEY is set and the request lacks the key."},
    413: {"model": ErrorPublic, "description": "The body is larger than PROPSCAN_MAX_BYTES."},
    415: {
        "model": ErrorPublic,
        "description": "Neither JSON nor multipart/form-data, or a file that is not .txt/.html.",
    },
    422: {"model": FieldErrorsPublic, "description": "A field is missing, unknown, of the wrong type or out of range."},
    503: {"model": ErrorPublic, "description": "Too many articles are waiting; retry shortly."},
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
async def analyze(request_input: AnalyzeInputDep, batcher: BatcherDep) -> dict[str, Any]:
    """Analyze an article given as JSON ``{"text"}`` / ``{"html"}`` or as an uploaded .txt/.html file.

    Offsets in the answer index its ``text`` field: the article itself, or the text extracted from HTML.
    """
    analysis = await batcher.analyze(
        request_input.document, threshold=request_input.threshold, techniques=request_input.techniques
    )
    return analysis.to_dict()
