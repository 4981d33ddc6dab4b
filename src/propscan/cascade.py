"""The cascade: a fast screening model reads every sentence, a slower confirming model only those it flags.

For screening crawls where most articles carry little or no propaganda. The screener analyzes
each document whole; a sentence is *flagged* when a screener span touching it scores at least
``flag_threshold``. Each flagged sentence, widened by ``context`` sentences on either side, is a
passage; a document's passages, verbatim and in order, joined by blank lines, make one
``Excerpt`` that the confirmer analyzes in a single call, so it sees each flagged sentence in its
neighbourhood and pays for the flagged part of the text only. The confirmer's spans map back to
the original text through the excerpt's offsets, exactly: every passage is a slice of the
original.

Within the passages the confirmer's spans replace the screener's; outside them the screener's
spans stay (``keep_screened``, the default), each span naming the model that found it
(``Span.model``). Those spans scored below the flag threshold, but dropping them costs far more
recall than it gains in precision: on 40 held-out PTC articles, fast screening for accurate with one
sentence of context, 0.383 kept against 0.128 dropped at flag threshold 0.3 (see the README's
benchmark). ``keep_screened=False`` keeps the confirmer's spans only, for readers who want
nothing the confirming model did not read.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from propscan.document import Analysis, Document, Sentence, Span
from propscan.model import PropagandaModel, TriageModel
from propscan.model.config import TRIAGE_MODEL_TYPE
from propscan.model.loading import saved_model_type
from propscan.pipeline import Analyzer, Progress, build_analysis, model_path
from propscan.techniques import Inventory, Technique

# Joins passages in an excerpt: a paragraph break, so neither the sentence splitter nor the model
# reads two passages as one sentence.
SEPARATOR = "\n\n"
# The defaults, chosen with bench/bench_cascade.py (the README's benchmark). With fast screening for
# accurate, 37% of the sentences go to the confirmer, for 1.6x its speed. triage's short spans
# score lower: at 0.2 it sends a twelfth and the cascade scores below triage alone; at 0.05 every
# sentence holding one of its spans is sent (three fifths with the default context).
FLAG_THRESHOLD = 0.2
TRIAGE_FLAG_THRESHOLD = 0.05
# Sentences of context on either side of a flagged one: as good as none at equal cost, and the
# confirmer reads each flagged sentence in its surroundings.
CONTEXT = 1


def default_flag_threshold(screener: str | Path) -> float:
    """The flag threshold for a screener (a preset name or model folder) when none is given: by its
    kind of model, as their span scores differ in scale."""
    kind = saved_model_type(model_path(screener))
    return TRIAGE_FLAG_THRESHOLD if kind == TRIAGE_MODEL_TYPE else FLAG_THRESHOLD


def flagged_sentences(sentences: Sequence[Sentence], spans: Iterable[Span], threshold: float) -> set[int]:
    """Indices of the sentences a span scoring at least ``threshold`` touches (a span without a score
    flags: its model did not say it was unsure). ``sentences`` must be sorted and disjoint."""
    starts = [s.start for s in sentences]
    flagged = set()
    for span in spans:
        if span.score is not None and span.score < threshold:
            continue
        k = max(bisect_right(starts, span.start) - 1, 0)
        while k < len(sentences) and sentences[k].start < span.end:
            if sentences[k].end > span.start:
                flagged.add(k)
            k += 1
    return flagged


def passages(sentences: Sequence[Sentence], flagged: Iterable[int], context: int = CONTEXT) -> list[tuple[int, int]]:
    """The ``[start, end)`` of each run of consecutive sentences that are flagged or within ``context``
    sentences of a flagged one: from the first sentence's start to the last one's end."""
    chosen = sorted({j for k in flagged for j in range(max(k - context, 0), min(k + context + 1, len(sentences)))})
    runs: list[tuple[int, int]] = []
    for k in chosen:
        if runs and runs[-1][1] == k - 1:
            runs[-1] = (runs[-1][0], k)
        else:
            runs.append((k, k))
    return [(sentences[first].start, sentences[last].end) for first, last in runs]


@dataclass(frozen=True)
class Excerpt:
    """Passages of a document joined into one text, and the way back to the document's offsets.

    Attributes:
        document: the excerpt, with the original's id and metadata.
        passages: each passage's ``[start, end)`` in the original text, in order, disjoint.
        starts: where each passage starts in the excerpt's text.
    """

    document: Document
    passages: tuple[tuple[int, int], ...]
    starts: tuple[int, ...]

    @classmethod
    def of(cls, document: Document, passages: Sequence[tuple[int, int]]) -> Excerpt:
        starts, position = [], 0
        for start, end in passages:
            starts.append(position)
            position += end - start + len(SEPARATOR)
        text = SEPARATOR.join(document.text[start:end] for start, end in passages)
        return cls(Document(text, document.id, document.metadata), tuple(passages), tuple(starts))

    def __bool__(self) -> bool:
        return bool(self.passages)

    def overlaps(self, span: Span) -> bool:
        """Whether ``span``, in the original's offsets, shares a character with a passage."""
        k = bisect_right(self.passages, span.start, key=lambda passage: passage[1])  # the first ending after its start
        return k < len(self.passages) and self.passages[k][0] < span.end

    def to_original(self, span: Span) -> Span | None:
        """``span`` of the excerpt at its place in the original text, or None if it covers only a separator.

        A span running over a separator (which the original does not have there) is cut at the end
        of the passage it starts in; one starting in a separator begins with the next passage.
        """
        k = bisect_right(self.starts, span.start) - 1
        start = span.start
        if start - self.starts[k] >= self._length(k):  # in the separator after passage k
            k += 1
            if k == len(self.passages):
                return None
            start = self.starts[k]
        end = min(span.end, self.starts[k] + self._length(k))
        if end <= start:
            return None
        shift = self.passages[k][0] - self.starts[k]
        return replace(span, start=start + shift, end=end + shift)

    def _length(self, k: int) -> int:
        return self.passages[k][1] - self.passages[k][0]


class Cascade:
    """A screening analyzer and a confirming one, used like one ``Analyzer``.

    Args:
        screener: the fast model that reads everything.
        confirmer: the accurate model that reads the flagged passages.
        flag_threshold: a sentence is flagged when a screener span touching it scores at least this.
        context: sentences on either side of a flagged one that the confirmer also reads.
        keep_screened: keep the screener's spans outside the passages (False: the confirmer's only).
        threshold: spans scoring below it are dropped (as ``Analyzer.threshold``).
    """

    def __init__(
        self,
        screener: Analyzer,
        confirmer: Analyzer,
        *,
        flag_threshold: float = FLAG_THRESHOLD,
        context: int = CONTEXT,
        keep_screened: bool = True,
        threshold: float = 0.0,
    ) -> None:
        self.screener = screener
        self.confirmer = confirmer
        self.flag_threshold = flag_threshold
        self.context = context
        self.keep_screened = keep_screened
        self.threshold = threshold

    @classmethod
    def load(
        cls,
        screener: str | Path = "fast",
        confirmer: str | Path = "accurate",
        *,
        flag_threshold: float | None = None,
        context: int = CONTEXT,
        keep_screened: bool = True,
        threshold: float = 0.0,
        threads: int | None = None,
    ) -> Cascade:
        """Load both models (preset names or model folders), as ``Analyzer.load`` does; without a
        ``flag_threshold``, the screener's default (``default_flag_threshold``)."""
        screening, confirming = Analyzer.load(screener, threads=threads), Analyzer.load(confirmer, threads=threads)
        _share_partner(confirming.model, screening.model)
        return cls(
            screening,
            confirming,
            flag_threshold=default_flag_threshold(screener) if flag_threshold is None else flag_threshold,
            context=context,
            keep_screened=keep_screened,
            threshold=threshold,
        )

    @property
    def name(self) -> str:
        """Both models, screener first: ``fast@0.3.0>accurate@0.3.0``."""
        return f"{self.screener.name}>{self.confirmer.name}"

    @property
    def inventory(self) -> Inventory:
        return self.confirmer.inventory

    @property
    def techniques(self) -> list[Technique]:
        return self.confirmer.techniques

    def analyze(
        self, text: str | Document, *, threshold: float | None = None, techniques: str | Iterable[str] | None = None
    ) -> Analysis:
        """Analyze one article given as text (or a ``Document``)."""
        return self.predict([text], threshold=threshold, techniques=techniques)[0]

    def predict(
        self,
        documents: Sequence[str | Document],
        *,
        threshold: float | None = None,
        techniques: str | Iterable[str] | None = None,
        progress: Progress | None = None,
        flag_threshold: float | None = None,
        context: int | None = None,
        keep_screened: bool | None = None,
    ) -> list[Analysis]:
        """Screen a batch of articles, confirm their flagged passages, and return each one's ``Analysis``.

        Args and Raises: as ``Analyzer.predict``; ``threshold`` and ``techniques`` apply to the
        spans kept (the screener flags on spans of every technique). ``flag_threshold``,
        ``context`` and ``keep_screened`` override the cascade's for this call.
        """
        if isinstance(documents, str):
            raise TypeError("predict takes a list of articles; call analyze(text) for one")
        batch = [d if isinstance(d, Document) else Document(text=d) for d in documents]
        wanted = set(self.inventory.select(techniques)) if techniques is not None else None
        total = sum(len(d.text) for d in batch)
        screened = self.screener.predict(batch, progress=_scaled(progress, 0, total))
        excerpts = self.excerpts(batch, screened, flag_threshold=flag_threshold, context=context)
        confirmed = self.confirm(excerpts, progress=_scaled(progress, total, total))
        if self.keep_screened if keep_screened is None else keep_screened:
            confirmed = [
                spans + self.unconfirmed(analysis, excerpt)
                for spans, analysis, excerpt in zip(confirmed, screened, excerpts, strict=True)
            ]
        cutoff = self.threshold if threshold is None else threshold
        # The confirmer's sentence map, fitted on it reading whole articles: a sentence the screener
        # passed scores as one where the confirmer found nothing.
        return [
            build_analysis(d, spans, cutoff, wanted, self.name, self.confirmer.sentence_map)
            for d, spans in zip(batch, confirmed, strict=True)
        ]

    def excerpts(
        self,
        documents: Sequence[Document],
        screened: Sequence[Analysis],
        *,
        flag_threshold: float | None = None,
        context: int | None = None,
    ) -> list[Excerpt]:
        """Each document's excerpt for the confirmer, from the screener's analyses (empty where nothing is flagged)."""
        flag_threshold = self.flag_threshold if flag_threshold is None else flag_threshold
        context = self.context if context is None else context
        found = []
        for document, analysis in zip(documents, screened, strict=True):
            sentences = document.sentences()
            flagged = flagged_sentences(sentences, analysis.spans, flag_threshold)
            found.append(Excerpt.of(document, passages(sentences, flagged, context)))
        return found

    def confirm(self, excerpts: Sequence[Excerpt], *, progress: Progress | None = None) -> list[list[Span]]:
        """The confirmer's spans in each excerpt, at their places in the original texts, naming the confirmer."""
        read = [k for k, excerpt in enumerate(excerpts) if excerpt]
        analyses = self.confirmer.predict([excerpts[k].document for k in read], progress=progress)
        spans: list[list[Span]] = [[] for _ in excerpts]
        for k, analysis in zip(read, analyses, strict=True):
            mapped = (excerpts[k].to_original(span) for span in analysis.spans)
            spans[k] = [replace(s, model=self.confirmer.name) for s in mapped if s is not None]
        return spans

    def unconfirmed(self, screened: Analysis, excerpt: Excerpt) -> list[Span]:
        """The screener's spans that no passage of ``excerpt`` touches, naming the screener."""
        return [replace(s, model=self.screener.name) for s in screened.spans if not excerpt.overlaps(s)]


def _share_partner(confirming: PropagandaModel | TriageModel, screening: PropagandaModel | TriageModel) -> None:
    """Where the confirmer's partner is the screener's model (accurate's partner is fast, the
    default screener), let the screener vote: one copy of that model in memory, not two."""
    if (
        isinstance(confirming, PropagandaModel)
        and isinstance(screening, PropagandaModel)
        and confirming.partner_ is not None
        and confirming.partner_.votes_like(screening)
    ):
        confirming.set_partner(screening)


def _scaled(progress: Progress | None, offset: int, total: int) -> Progress | None:
    """A progress callback for one of the two passes: screening reports the first half, confirming the second."""
    if progress is None:
        return None
    return lambda done, of: progress(offset + (total * done // of if of else total), 2 * total)
