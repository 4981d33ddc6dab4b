"""Documents, spans and analyses: plain frozen dataclasses with offsets into the original text.

A ``Span`` never copies text; it is read from the ``Document`` it belongs to, so an offset is right
by construction or fails loudly in ``__post_init__``. Offsets are Python ``str`` indices (code
points), start inclusive and end exclusive, exactly as in PTC label files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from propscan.techniques import TECHNIQUES

# C0 and C1 control characters (tab, newline, ESC, CSI...): in an id or a name they would forge
# lines of a tab-separated file or send commands to a terminal.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """Text safe for a terminal: control characters other than newlines and tabs (ESC starts the
    sequences that clear screens or fake output) are shown as ``\\x1b``-style escapes.

    A carriage return before a newline stays: that is a Windows line ending, not an overwrite.
    """

    def shown(match: re.Match[str]) -> str:
        char = match.group()
        if char in "\n\t" or (char == "\r" and match.string.startswith("\n", match.end())):
            return char
        return f"\\x{ord(char):02x}"

    return CONTROL_CHARACTERS.sub(shown, text)


@dataclass(frozen=True)
class Document:
    """A text to analyze, with an id and free-form metadata (title, source, url, date...)."""

    text: str
    id: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def sentences(self) -> list[Sentence]:
        return split_sentences(self.text)


@dataclass(frozen=True)
class Alternative:
    """A runner-up technique for a span, with the probability that it is the right one."""

    technique: str
    score: float


@dataclass(frozen=True)
class Span:
    """A technique at ``[start, end)`` of a document's text, with an optional confidence.

    ``score``, when a calibrated model set it, is the probability that the span is right: that it
    overlaps a span annotators marked with the same technique. ``alternatives`` are the runner-up
    techniques for the same words, most likely first. ``model`` names the model that found the span
    when it is not the analysis's own (in a cascade's analysis, the screener or the confirmer);
    None means the analysis's model.
    """

    start: int
    end: int
    technique: str
    score: float | None = None
    alternatives: tuple[Alternative, ...] = ()
    model: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"span offsets must satisfy 0 <= start < end, got {self.start}, {self.end}")
        if self.technique not in TECHNIQUES:
            raise ValueError(f"unknown technique {self.technique!r}")

    def text(self, document: Document) -> str:
        if self.end > len(document.text):
            raise ValueError(f"span {self.start}-{self.end} lies beyond the text ({len(document.text)} chars)")
        return document.text[self.start : self.end]

    def reading_order(self) -> tuple[int, int, float]:
        """The sort key of an analysis's spans: by start, the longer first where two start together
        (a nested span opens inside its parent), then the surer."""
        return self.start, -self.end, -(self.score or 0.0)


@dataclass(frozen=True)
class Sentence:
    """A sentence of a document: its offsets and, once analyzed, its propaganda score."""

    start: int
    end: int
    score: float = 0.0


@dataclass(frozen=True)
class Analysis:
    """What the analyzer found in one document.

    Attributes:
        document: the analyzed document; all offsets refer to ``document.text``.
        spans: technique spans, sorted by start; spans may overlap.
        sentences: every sentence with its score: the probability that it holds a technique, from
            the spans touching it (``sentences.score_sentences``).
        score: article-level propaganda score in [0, 1]: the mean sentence score.
        model: the name and version of the model that produced the analysis (a cascade's names
            both of its models; its spans each name theirs).
        warnings: things the reader should know (e.g. the text does not look English).
        sentence_calibration: the model's map from spans to sentence scores, kept so that a reader
            filtering the spans can score the sentences again the same way; empty: a sentence
            scores its best span's score.
    """

    document: Document
    spans: tuple[Span, ...]
    sentences: tuple[Sentence, ...]
    score: float
    model: str = ""
    warnings: tuple[str, ...] = ()
    sentence_calibration: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, the one the CLI and the REST API print."""
        text = self.document.text
        return {
            "id": self.document.id,
            "text": text,
            "metadata": dict(self.document.metadata),
            "model": self.model,
            "score": round(self.score, 4),
            "warnings": list(self.warnings),
            "spans": [
                {
                    "start": s.start,
                    "end": s.end,
                    "technique": s.technique,
                    "score": None if s.score is None else round(s.score, 4),
                    "text": text[s.start : s.end],
                    "alternatives": [{"technique": a.technique, "score": round(a.score, 4)} for a in s.alternatives],
                    "model": s.model,
                }
                for s in self.spans
            ],
            "sentences": [{"start": s.start, "end": s.end, "score": round(s.score, 4)} for s in self.sentences],
            "sentence_calibration": dict(self.sentence_calibration),
        }

    def technique_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for span in self.spans:
            counts[span.technique] = counts.get(span.technique, 0) + 1
        return counts


@dataclass(frozen=True)
class AnnotatedDocument:
    """A document with its gold technique spans: what training and evaluation read from any format."""

    document: Document
    spans: tuple[Span, ...]


def merge_intervals(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge overlapping ``[start, end)`` intervals (touching ones stay apart, as in the scorer)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# A sentence ends at a line break, or after ., ! or ? (and closing quotes/brackets) followed by
# whitespace. Good enough for news prose and, unlike most tokenizers, it never moves an offset.
_BOUNDARY = re.compile(r"\n+|[.!?][\"'”’)\]]*(\s+)")


def split_sentences(text: str) -> list[Sentence]:
    """Split ``text`` into sentences whose offsets index ``text`` itself, whitespace trimmed."""
    sentences = []
    position = 0
    for match in _BOUNDARY.finditer(text):
        gap = 1 if match.group(1) is not None else 0
        sentences.extend(_trimmed(text, position, match.start(gap)))
        position = match.end(gap)
    sentences.extend(_trimmed(text, position, len(text)))
    return sentences


def _trimmed(text: str, start: int, end: int) -> list[Sentence]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return [Sentence(start, end)] if start < end else []
