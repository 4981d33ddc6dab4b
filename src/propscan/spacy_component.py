"""A spaCy pipeline component: ``nlp.add_pipe("propscan")`` puts technique spans in ``doc.spans["propaganda"]``.

Importing this module registers the factory. Span labels are technique labels (e.g.
``Loaded_Language``); their confidences go in ``doc.spans[key].attrs["scores"]``, as spaCy's own
``spancat`` does. Character offsets from the analyzer are snapped outwards to token boundaries
(``alignment_mode="expand"``), so a span never cuts a token. The model is loaded on first use,
so adding the pipe stays cheap; a model given as a folder is referenced, not copied, by
``nlp.to_disk``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

try:
    from spacy.language import Language
    from spacy.tokens import Doc, SpanGroup
except ImportError:
    raise ImportError("propscan.spacy_component needs spaCy: pip install 'propscan[spacy]'") from None

from propscan.document import Document

if TYPE_CHECKING:
    from propscan.pipeline import Analyzer

DEFAULT_CONFIG = {"model": "accurate", "threshold": 0.0, "techniques": None, "spans_key": "propaganda", "batch_size": 8}


class PropagandaComponent:
    """Finds propaganda techniques in each doc with a propscan ``Analyzer``.

    Args:
        model: ``accurate``, ``fast`` or a model folder.
        threshold: spans scoring below it are left out.
        techniques: technique labels to keep (None keeps all).
        spans_key: the ``doc.spans`` key to write.
        batch_size: docs analyzed together by ``pipe``.
    """

    def __init__(
        self,
        nlp: Language,
        name: str = "propscan",
        *,
        model: str = "accurate",
        threshold: float = 0.0,
        techniques: Sequence[str] | None = None,
        spans_key: str = "propaganda",
        batch_size: int = 8,
    ) -> None:
        self.name = name
        self.model = model
        self.threshold = threshold
        self.techniques = techniques
        self.spans_key = spans_key
        self.batch_size = batch_size
        self._analyzer: Analyzer | None = None

    @property
    def analyzer(self):
        """The analyzer, loaded on first use."""
        if self._analyzer is None:
            from propscan.pipeline import Analyzer

            self._analyzer = Analyzer.load(self.model)
        return self._analyzer

    def __call__(self, doc: Doc) -> Doc:
        return self._annotate([doc])[0]

    def pipe(self, stream: Iterable[Doc], *, batch_size: int | None = None) -> Iterator[Doc]:
        size = batch_size or self.batch_size
        batch: list[Doc] = []
        for doc in stream:
            batch.append(doc)
            if len(batch) == size:
                yield from self._annotate(batch)
                batch = []
        if batch:
            yield from self._annotate(batch)

    def _annotate(self, docs: list[Doc]) -> list[Doc]:
        todo = [i for i, doc in enumerate(docs) if doc.text.strip()]
        analyses = (
            self.analyzer.predict(
                [Document(text=docs[i].text, id=str(i)) for i in todo],
                threshold=self.threshold,
                techniques=self.techniques,
            )
            if todo
            else []
        )
        found = dict(zip(todo, analyses, strict=True))
        for i, doc in enumerate(docs):
            spans, scores = [], []
            analysis = found.get(i)
            for span in analysis.spans if analysis is not None else ():
                char_span = doc.char_span(span.start, span.end, label=span.technique, alignment_mode="expand")
                if char_span is not None:
                    spans.append(char_span)
                    scores.append(span.score)
            group = SpanGroup(doc, name=self.spans_key, spans=spans)
            group.attrs["scores"] = scores
            doc.spans[self.spans_key] = group
        return docs


@Language.factory(
    "propscan",
    assigns=["doc.spans"],
    default_config=DEFAULT_CONFIG,
)
def make_propscan(
    nlp: Language,
    name: str,
    model: str,
    threshold: float,
    techniques: list[str] | None,
    spans_key: str,
    batch_size: int,
) -> PropagandaComponent:
    """Build the ``propscan`` component from its config (see ``PropagandaComponent``)."""
    return PropagandaComponent(
        nlp, name, model=model, threshold=threshold, techniques=techniques, spans_key=spans_key, batch_size=batch_size
    )
