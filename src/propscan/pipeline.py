"""The ``Analyzer``: the public entry point from text to an ``Analysis``.

``predict(documents)`` is the batch core; ``analyze(text)`` wraps it for one article. Very long
documents are analyzed segment by segment at line breaks, so memory stays bounded whatever the
size, and a progress callback sees each segment go by.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from propscan.document import Analysis, Document, Span
from propscan.errors import ModelError
from propscan.model import PRESETS, ModelConfig, PropagandaModel, TriageModel, load_model
from propscan.model.config import preset_folder
from propscan.readers.ingest import check_text, from_html, language_warning
from propscan.sentences import article_score, score_sentences
from propscan.techniques import Inventory, Technique, get_inventory

logger = logging.getLogger(__name__)

# Segments longer than this are cut at a line break: bounds memory, keeps windows whole.
SEGMENT_CHARS = 50_000
Progress = Callable[[int, int], None]


class Predictor(Protocol):
    """What the batch engines and ``predict_each`` ask of an analyzer: an ``Analyzer`` or a ``Cascade``."""

    @property
    def name(self) -> str: ...

    def predict(
        self,
        documents: Sequence[str | Document],
        *,
        threshold: float | None = None,
        techniques: str | Iterable[str] | None = None,
        progress: Progress | None = None,
    ) -> list[Analysis]: ...


def model_path(name_or_path: str | Path) -> Path:
    """Resolve a preset name (``accurate``, ``fast``, ``triage``) to its shipped folder, or return a path."""
    if str(name_or_path) in PRESETS:
        return preset_folder(str(name_or_path))
    path = Path(name_or_path)
    if not path.is_dir():
        raise ModelError(
            f"no model at {path}; give a preset ({', '.join(PRESETS)}) or a folder saved by propscan train"
        )
    return path


def model_inventory(name_or_path: str | Path) -> Inventory:
    """The inventory a model predicts from, read from its config without loading the model."""
    folder = model_path(name_or_path)
    if not (folder / "config.json").is_file():
        raise ModelError(f"{folder} is not a propscan model: it lacks config.json")
    return get_inventory(ModelConfig.load(folder).inventory)


class Analyzer:
    """Finds and labels propaganda spans in documents.

    Args:
        model: a fitted ``PropagandaModel`` (or ``TriageModel``: the ``triage`` preset).
        threshold: spans scoring below it are dropped (0 keeps everything the model found).
        name: how the model is reported in analyses.
    """

    def __init__(self, model: PropagandaModel | TriageModel, *, threshold: float = 0.0, name: str = "") -> None:
        self.model = model
        self.threshold = threshold
        self.name = name or f"propscan-{model.config.encoder}"

    @classmethod
    def load(
        cls, name_or_path: str | Path = "accurate", *, threshold: float = 0.0, threads: int | None = None
    ) -> Analyzer:
        """Load a shipped preset (``accurate``, the default; ``fast``; ``triage``) or a model folder."""
        folder = model_path(name_or_path)
        model = load_model(folder, threads=threads)
        label = str(name_or_path) if str(name_or_path) in PRESETS else folder.name
        return cls(model, threshold=threshold, name=f"{label}@{model.config.propscan_version}")

    @property
    def inventory(self) -> Inventory:
        return get_inventory(self.model.config.inventory)

    @property
    def sentence_map(self) -> dict[str, float]:
        """The model's map from the spans touching a sentence to its score (``sentences``)."""
        return self.model.config.sentence_calibration

    @property
    def techniques(self) -> list[Technique]:
        return self.inventory.techniques()

    def analyze(
        self, text: str | Document, *, threshold: float | None = None, techniques: str | Iterable[str] | None = None
    ) -> Analysis:
        """Analyze one article given as text (or a ``Document``)."""
        return self.predict([text], threshold=threshold, techniques=techniques)[0]

    def analyze_html(self, html: str, **options) -> Analysis:
        """Extract the article from an HTML page and analyze it; offsets refer to the extracted text."""
        return self.analyze(from_html(html), **options)

    def predict(
        self,
        documents: Sequence[str | Document],
        *,
        threshold: float | None = None,
        techniques: str | Iterable[str] | None = None,
        progress: Progress | None = None,
    ) -> list[Analysis]:
        """Analyze a batch of articles, given as strings or ``Document``s; short ones are encoded together.

        Args:
            threshold: overrides the analyzer's threshold for this call.
            techniques: keep only spans of these techniques: names or labels, or one comma-separated
                string (see ``Inventory.select``).
            progress: called with (characters done, characters in all) as the work proceeds.

        Raises:
            InputError: if a document is empty or binary.
            UnknownTechniqueError: if a technique is not one this model predicts.
            TypeError: if ``documents`` is a single string rather than a sequence of them.
        """
        if isinstance(documents, str):
            raise TypeError("predict takes a list of articles; call analyze(text) for one")
        batch = [d if isinstance(d, Document) else Document(text=d) for d in documents]
        wanted = set(self.inventory.select(techniques)) if techniques is not None else None
        for document in batch:
            check_text(document.text, source=document.id or "input")
        cutoff = self.threshold if threshold is None else threshold
        total = sum(len(d.text) for d in batch)
        done = 0
        short = [i for i, d in enumerate(batch) if len(d.text) <= SEGMENT_CHARS]
        spans: dict[int, list[Span]] = dict(zip(short, self.model.predict([batch[i] for i in short]), strict=True))
        done += sum(len(batch[i].text) for i in short)
        if progress:
            progress(done, total)
        for i, document in enumerate(batch):
            if i in spans:
                continue
            spans[i] = []
            for start, end in segments(document.text):
                found = self.model.predict([Document(document.text[start:end])])[0]
                spans[i].extend(replace(s, start=s.start + start, end=s.end + start) for s in found)
                done += end - start
                if progress:
                    progress(done, total)
        return [build_analysis(d, spans[i], cutoff, wanted, self.name, self.sentence_map) for i, d in enumerate(batch)]


def build_analysis(
    document: Document,
    spans: Sequence[Span],
    cutoff: float,
    wanted: set[str] | None,
    model: str,
    sentence_map: Mapping[str, float] | None = None,
) -> Analysis:
    """The ``Analysis`` of ``document`` from the spans a model found: those scoring at least ``cutoff``
    (of the ``wanted`` techniques, None for all) in reading order (``Span.reading_order``), with
    sentence and article scores from the model's ``sentence_map`` (``sentences.score_sentences``; None:
    each sentence scores its best span's score)."""
    kept = sorted(
        (s for s in spans if (s.score or 0.0) >= cutoff and (wanted is None or s.technique in wanted)),
        key=Span.reading_order,
    )
    sentences = score_sentences(document, kept, sentence_map)
    warning = language_warning(document.text)
    return Analysis(
        document=document,
        spans=tuple(kept),
        sentences=tuple(sentences),
        score=article_score(sentences),
        model=model,
        warnings=(warning,) if warning else (),
        sentence_calibration=dict(sentence_map or {}),
    )


def predict_each(analyzer: Predictor, documents: Sequence[Document], **options) -> list[Analysis | Exception]:
    """Analyze documents together, or one by one if the batch fails: one bad article fails alone.

    Returns, in the order of ``documents``, each analysis or the exception its document raised.
    ``options`` go to ``Analyzer.predict``.
    """
    try:
        analyses = analyzer.predict(list(documents), **options)
        if len(analyses) != len(documents):
            raise RuntimeError(f"the analyzer returned {len(analyses)} analyses for {len(documents)} documents")
        return list(analyses)
    except Exception as error:
        if len(documents) == 1:
            return [error]
        return [result for document in documents for result in predict_each(analyzer, [document], **options)]


def segments(text: str, size: int | None = None) -> list[tuple[int, int]]:
    """Cut ``text`` into ``[start, end)`` pieces of about ``size`` chars, at line breaks when possible."""
    size = size or SEGMENT_CHARS
    pieces = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            cut = text.rfind("\n", start + size // 2, end)
            end = cut + 1 if cut != -1 else end
        pieces.append((start, end))
        start = end
    return pieces
