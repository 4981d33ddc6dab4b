"""What goes over the wire: pydantic models kept apart from propscan's dataclasses.

Each direction has its own model (``AnalyzeRequest`` in, ``AnalysisPublic`` out), so the core can
change its internals without changing the API, and the OpenAPI schema documents every field.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


def _without_default(schema: dict[str, Any]) -> None:
    """A None default is how pydantic marks a field optional; the schema says so by leaving it out of required."""
    schema.pop("default", None)


MAX_TECHNIQUES = 64  # more labels than any inventory has: a bound, not a choice
MAX_ID_CHARS = 200


class AnalyzeOptions(BaseModel):
    """Options shared by the JSON body and the file upload."""

    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(
        0.0, ge=0.0, le=1.0, description="Drop spans whose confidence is below this (0 keeps every span found)."
    )
    techniques: list[str] | None = Field(
        None,
        max_length=MAX_TECHNIQUES,
        description="Keep only spans of these techniques (see GET /v1/techniques), each given by its name "
        '("Loaded language") or label ("Loaded_Language"), case and punctuation aside; omit for all.',
    )
    id: str = Field("", max_length=MAX_ID_CHARS, description="Your identifier for the article, echoed back.")


class AnalyzeRequest(AnalyzeOptions):
    """An article to analyze: plain text, an HTML page, or the URL of a page (exactly one of the three).

    Types are strict: ``true`` or ``"0.5"`` is not a threshold. None of ``text``, ``html`` and
    ``url`` takes ``null``: leave out the ones you do not send.
    """

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["text"]}, {"required": ["html"]}, {"required": ["url"]}]}
    )

    # Typed str with a None default: absent is allowed, an explicit null is refused, as the schema says.
    text: str = Field(  # type: ignore[assignment]
        None,
        description="The article as plain text; offsets in the answer index this text.",
        json_schema_extra=_without_default,
    )
    html: str = Field(  # type: ignore[assignment]
        None,
        description="An HTML page; the article is extracted first and offsets index the extracted text.",
        json_schema_extra=_without_default,
    )
    url: str = Field(  # type: ignore[assignment]
        None,
        max_length=2048,
        description="An http(s) URL the server fetches and extracts like 'html'; only when its operator "
        "enabled fetching (PROPSCAN_FETCH_URLS), and never to a private or loopback address unless allowed.",
        json_schema_extra=_without_default,
    )

    @model_validator(mode="after")
    def _one_input(self) -> AnalyzeRequest:
        if sum(value is not None for value in (self.text, self.html, self.url)) != 1:
            raise ValueError(
                "give exactly one of 'text' (plain text), 'html' (an HTML page) or 'url' (a page to fetch)"
            )
        return self


class AlternativePublic(BaseModel):
    """A runner-up technique for a span."""

    technique: str
    score: float


class SpanPublic(BaseModel):
    """A technique found at ``text[start:end]`` of the analyzed text (Python string indices, end exclusive)."""

    start: int
    end: int
    technique: str = Field(description="A technique label from GET /v1/techniques.")
    score: float | None = Field(
        description="The probability that the span is right (overlaps an annotator's span of this technique), calibrated on held-out articles."
    )
    alternatives: list[AlternativePublic] = Field(
        default_factory=list,
        description="Runner-up techniques for the same words, most likely first, with their probabilities.",
    )
    text: str = Field(description="The spanned text, the same as text[start:end].")
    model: str | None = Field(
        None,
        description="The model that found the span when the analysis's model is a cascade of two "
        "(screener>confirmer); null when it is the analysis's model.",
    )


class SentencePublic(BaseModel):
    """A sentence and its score: the probability that it holds a technique, from the spans touching it."""

    start: int
    end: int
    score: float


class AnalysisPublic(BaseModel):
    """The analysis of one article, as ``propscan analyze --json`` prints it."""

    id: str
    text: str = Field(description="The analyzed text; every offset refers to it.")
    metadata: dict[str, Any]
    model: str
    score: float = Field(
        description="Article-level propaganda score in [0, 1]: the mean sentence score, the expected share "
        "of the article's sentences that hold a technique."
    )
    warnings: list[str]
    spans: list[SpanPublic]
    sentences: list[SentencePublic]
    sentence_calibration: dict[str, float] = Field(
        default_factory=dict,
        description="The model's logistic map from the spans touching a sentence to its score: weights "
        "'has_span' (1 if a span touches it), 'best_logit' (the logit of the best one's score), 'log_spans' "
        "(log(1 + spans touching)) and an 'intercept'. Empty: a sentence scores its best span's score.",
    )


class TechniquePublic(BaseModel):
    label: str = Field(description="The label used in spans and in SemEval files.")
    name: str
    definition: str
    example: str
    color: str = Field(description="A highlight colour readable with black text.")


class TechniquesPublic(BaseModel):
    """The techniques the loaded model predicts."""

    data: list[TechniquePublic]
    count: int


class HealthPublic(BaseModel):
    status: str
    model: str
    pending: int = Field(description="Articles queued or being analyzed now.")
    batches: int = Field(description="Model calls made since start.")
    documents: int = Field(description="Articles analyzed since start.")


class ErrorPublic(BaseModel):
    """Every refused request answers with a message that says what to fix."""

    detail: str


class FieldErrorPublic(BaseModel):
    type: str
    loc: list[str | int] = Field(description='Where the problem is, e.g. ["body", "threshold"].')
    msg: str


class FieldErrorsPublic(BaseModel):
    """422: the request is well-formed but a field is missing, unknown or out of range."""

    detail: list[FieldErrorPublic]
