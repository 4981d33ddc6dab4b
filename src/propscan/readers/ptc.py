"""The PTC / SemEval-2020 Task 11 format: ``article<ID>.txt`` files and tab-separated labels.

Label lines are ``ID<TAB>technique<TAB>start<TAB>end`` (TC/FLC) or ``ID<TAB>start<TAB>end`` (SI),
offsets into the article text, start inclusive, end exclusive. Articles are read byte-exact
(no newline translation) so that offsets stay valid on Windows line endings too.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from propscan.document import AnnotatedDocument, Document, Span, merge_intervals
from propscan.errors import CorpusFormatError, UnknownTechniqueError
from propscan.techniques import DROPPED_BY_SEMEVAL, SEMEVAL2020, Inventory

logger = logging.getLogger(__name__)

_ARTICLE_NAME = re.compile(r"^article(\d+)\.txt$")
# Folders and merged files a PTC-style corpus may use for technique labels, most specific first.
_TC_FOLDERS = ("train-labels-TC", "train-labels-task-flc-tc", "train-labels-FLC", "labels")
_TC_FILES = ("train-task-flc-tc.labels", "train.task-FLC.labels")


def ptc_article_id(path: Path) -> str | None:
    """The digits of a PTC article file name ``article<ID>.txt``; None for any other name."""
    match = _ARTICLE_NAME.match(path.name)
    return match.group(1) if match else None


def article_id(path: Path) -> str:
    """The id PTC files use for ``article<ID>.txt``: its digits (else the file's stem)."""
    return ptc_article_id(path) or path.stem


def read_text_exact(path: Path) -> str:
    """Read a UTF-8 file without newline translation, naming the file on a decoding error."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CorpusFormatError(path, None, f"not valid UTF-8 (byte {error.start})") from None


def read_articles(folder: str | Path) -> dict[str, Document]:
    """Read every ``article<ID>.txt`` (or other ``.txt``) in ``folder``, keyed by id.

    Raises:
        CorpusFormatError: if the folder holds no articles or a file is not UTF-8.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusFormatError(folder, None, "is not a folder of article<ID>.txt files")
    paths = sorted(p for p in folder.iterdir() if p.suffix == ".txt" and p.is_file())
    if not paths:
        raise CorpusFormatError(folder, None, "holds no .txt articles")
    return {article_id(p): Document(text=read_text_exact(p), id=article_id(p)) for p in paths}


@dataclass(frozen=True)
class LabelLine:
    """One parsed label line; ``technique`` is None for SI lines (and ``?`` TC templates)."""

    article_id: str
    technique: str | None
    start: int
    end: int
    path: Path
    line: int


def parse_label_lines(path: str | Path) -> list[LabelLine]:
    """Parse an SI, TC or TC-template label file, rejecting malformed lines with file and line.

    Raises:
        CorpusFormatError: on a wrong column count or offsets that are not ``0 <= start < end``.
    """
    path = Path(path)
    labels = []
    text = read_text_exact(path)
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        columns = raw.rstrip("\r").split("\t")
        if len(columns) == 3:
            ident, technique, start, end = columns[0], None, columns[1], columns[2]
        elif len(columns) == 4:
            ident, technique, start, end = columns
            technique = None if technique.strip() == "?" else technique.strip()
        else:
            raise CorpusFormatError(
                path, number, f"expected 3 (SI) or 4 (TC) tab-separated columns, found {len(columns)}"
            )
        try:
            begin, finish = int(start), int(end)
        except ValueError:
            raise CorpusFormatError(path, number, f"offsets must be integers, got {start!r} and {end!r}") from None
        if not 0 <= begin < finish:
            raise CorpusFormatError(path, number, f"offsets must satisfy 0 <= start < end, got {begin}, {finish}")
        labels.append(LabelLine(ident.strip(), technique, begin, finish, path, number))
    return labels


def load_corpus(
    data_dir: str | Path, inventory: Inventory = SEMEVAL2020, *, labels: str | Path | None = None
) -> list[AnnotatedDocument]:
    """Load a PTC-format corpus: articles with their technique spans, mapped into ``inventory``.

    Args:
        data_dir: a folder with an ``*articles`` sub-folder (or the articles themselves) and
            technique labels as a per-article folder or a merged ``.labels`` file.
        inventory: labels outside it are mapped (18 -> 14 classes) or, if unknown, rejected.
            Techniques the inventory dropped (Obfuscation in SemEval-2020) are skipped.
        labels: an explicit label file or folder, overriding the search.

    Raises:
        CorpusFormatError: naming the file and line of anything malformed.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise CorpusFormatError(root, None, "corpus folder not found (pass --data or set PROPSCAN_DATA)")
    articles = read_articles(_find_articles(root))
    spans: dict[str, list[Span]] = {ident: [] for ident in articles}
    for line in _label_lines(Path(labels) if labels else _find_labels(root)):
        if line.technique is None:
            raise CorpusFormatError(line.path, line.line, "training labels need a technique column")
        document = articles.get(line.article_id)
        if document is None:
            raise CorpusFormatError(line.path, line.line, f"no article{line.article_id}.txt for this label")
        start, end = line.start, min(line.end, len(document.text))
        if start >= end:
            # PTC v2 deleted such spans and trimmed overlong ones; do the same for older data.
            logger.warning("%s:%d: span starts beyond the article; skipped", line.path, line.line)
            continue
        try:
            technique = inventory.normalize(line.technique)
        except UnknownTechniqueError as error:
            if inventory is SEMEVAL2020 and line.technique in DROPPED_BY_SEMEVAL:
                continue
            raise CorpusFormatError(line.path, line.line, str(error)) from None
        spans[line.article_id].append(Span(start, end, technique))
    return [
        AnnotatedDocument(document, tuple(sorted(spans[ident], key=lambda s: (s.start, s.end, s.technique))))
        for ident, document in articles.items()
    ]


def _find_articles(root: Path) -> Path:
    if any(_ARTICLE_NAME.match(p.name) for p in root.iterdir()):
        return root
    candidates = sorted(p for p in root.iterdir() if p.is_dir() and p.name.endswith("articles"))
    if not candidates:
        raise CorpusFormatError(root, None, "no articles folder (expected e.g. train-articles/)")
    return candidates[0]


def _find_labels(root: Path) -> Path:
    for name in _TC_FOLDERS + _TC_FILES:
        if (root / name).exists():
            return root / name
    raise CorpusFormatError(root, None, f"no technique labels found (looked for {', '.join(_TC_FOLDERS + _TC_FILES)})")


def _label_lines(path: Path) -> list[LabelLine]:
    files = sorted(path.glob("*.labels")) if path.is_dir() else [path]
    if not files:
        raise CorpusFormatError(path, None, "holds no .labels files")
    return [line for file in files for line in parse_label_lines(file)]


def read_template(path: str | Path, articles: Mapping[str, Document]) -> dict[str, list[tuple[int, int]]]:
    """The spans of a TC template file per article id, each checked against the article it names.

    Raises:
        CorpusFormatError: naming the line, for an article that is not given or a span past its end.
    """
    template: dict[str, list[tuple[int, int]]] = {}
    for line in parse_label_lines(path):
        document = articles.get(line.article_id)
        if document is None:
            raise CorpusFormatError(line.path, line.line, f"no article{line.article_id}.txt among the articles")
        if line.end > len(document.text):
            raise CorpusFormatError(line.path, line.line, f"span ends beyond the article ({len(document.text)} chars)")
        template.setdefault(line.article_id, []).append((line.start, line.end))
    return template


def split_ids(ids: Iterable[str], validation_fraction: float = 0.15) -> tuple[list[str], list[str]]:
    """Split article ids into train and validation, deterministically by a hash of each id.

    Hashing (not shuffling) keeps an article on the same side however the corpus grows.
    """
    train: list[str] = []
    validation: list[str] = []
    for ident in sorted(ids):
        bucket = int(hashlib.sha256(ident.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (validation if bucket < validation_fraction else train).append(ident)
    return train, validation


def write_si(path: str | Path, predictions: Iterable[tuple[str, Sequence[Span]]]) -> None:
    """Write SemEval SI lines ``id<TAB>start<TAB>end`` (spans merged so none overlap)."""
    with Path(path).open("w", encoding="utf-8", newline="\n") as out:
        for ident, spans in predictions:
            for start, end in merge_intervals((s.start, s.end) for s in spans):
                out.write(f"{ident}\t{start}\t{end}\n")


def write_tc(path: str | Path, predictions: Iterable[tuple[str, Sequence[Span]]]) -> None:
    """Write SemEval TC/FLC lines ``id<TAB>technique<TAB>start<TAB>end``."""
    with Path(path).open("w", encoding="utf-8", newline="\n") as out:
        for ident, spans in predictions:
            for span in spans:
                out.write(f"{ident}\t{span.technique}\t{span.start}\t{span.end}\n")
