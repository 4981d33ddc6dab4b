"""Label Studio: tasks with propscan's predictions out, corrected annotations back in as training data.

A task carries the article in ``data.text`` (and its id in ``data.doc_id``); spans are ``labels``
results with character offsets into that text. Label Studio counts offsets in code points (as
Python does) since its 1.4 frontend; older exports counted UTF-16 units, which differ after an
emoji. The reader checks each span against the ``text`` Label Studio stored with it and converts
from UTF-16 when that is what matches.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from propscan.document import AnnotatedDocument, Document, Span
from propscan.errors import CorpusFormatError, UnknownTechniqueError
from propscan.techniques import SEMEVAL2020, TECHNIQUES, Inventory

logger = logging.getLogger(__name__)

FROM_NAME = "technique"
TO_NAME = "text"


def labeling_config(inventory: Inventory = SEMEVAL2020) -> str:
    """The Label Studio labeling interface matching the tasks ``to_task`` writes."""
    labels = "\n".join(
        f"    <Label value={quoteattr(label)} background={quoteattr(TECHNIQUES[label].color)}/>"
        for label in inventory.labels
    )
    return (
        "<View>\n"
        f'  <Labels name="{FROM_NAME}" toName="{TO_NAME}">\n{labels}\n  </Labels>\n'
        f'  <Text name="{TO_NAME}" value="$text" granularity="word"/>\n'
        "</View>\n"
    )


def to_task(
    document: Document, spans: Sequence[Span], *, model_version: str = "", score: float | None = None
) -> dict[str, Any]:
    """A Label Studio task for ``document`` with ``spans`` as a prediction to correct."""
    data = {key: value for key, value in document.metadata.items() if key not in ("text", "doc_id")}
    data.update(text=document.text, doc_id=document.id)
    result = [
        {
            "id": f"s{number}",
            "from_name": FROM_NAME,
            "to_name": TO_NAME,
            "type": "labels",
            "value": {"start": s.start, "end": s.end, "text": document.text[s.start : s.end], "labels": [s.technique]},
            **({"score": round(s.score, 4)} if s.score is not None else {}),
        }
        for number, s in enumerate(spans)
    ]
    prediction: dict[str, Any] = {"model_version": model_version, "result": result}
    if score is not None:
        prediction["score"] = round(score, 4)
    return {"data": data, "predictions": [prediction]}


def read_labelstudio(
    path: str | Path, inventory: Inventory = SEMEVAL2020, *, text_key: str = "text", use_predictions: bool = False
) -> list[AnnotatedDocument]:
    """Read a Label Studio JSON export (a list of tasks) as annotated documents.

    Each task contributes its latest non-cancelled annotation; tasks nobody annotated are left
    out, unless ``use_predictions`` lets their predictions stand in. Labels from either PTC
    inventory are mapped into ``inventory``.

    Raises:
        CorpusFormatError: naming the file and task for anything that is not a usable annotation.
    """
    path = Path(path)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CorpusFormatError(path, None, f"not a Label Studio JSON export ({error})") from None
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise CorpusFormatError(path, None, "expected a JSON list of tasks (export with the 'JSON' format)")
    documents = []
    skipped = 0
    for number, task in enumerate(tasks, start=1):
        document = _read_task(path, number, task, inventory, text_key, use_predictions)
        if document is None:
            skipped += 1
        else:
            documents.append(document)
    if skipped:
        logger.warning("%s: %d of %d tasks have no annotation and were left out", path, skipped, len(tasks))
    seen: set[str] = set()
    for annotated in documents:
        if annotated.document.id in seen:
            raise CorpusFormatError(path, None, f"two tasks share the document id {annotated.document.id!r}")
        seen.add(annotated.document.id)
    return documents


def _read_task(
    path: Path, number: int, task: Any, inventory: Inventory, text_key: str, use_predictions: bool
) -> AnnotatedDocument | None:
    where = f"task {number}"
    if not isinstance(task, Mapping) or not isinstance(task.get("data"), Mapping):
        raise CorpusFormatError(path, None, f"{where}: expected an object with a 'data' object")
    data = task["data"]
    text = data.get(text_key)
    if not isinstance(text, str):
        raise CorpusFormatError(path, None, f"{where}: data.{text_key} must hold the article text")
    ident = str(data.get("doc_id") or data.get("id") or task.get("id") or number)
    annotations = [a for a in task.get("annotations") or task.get("completions") or [] if not a.get("was_cancelled")]
    if not annotations and use_predictions:
        annotations = list(task.get("predictions") or [])
    if not annotations:
        return None
    latest = max(
        enumerate(annotations),
        key=lambda item: (str(item[1].get("updated_at") or item[1].get("created_at") or ""), item[0]),
    )[1]
    spans = set()
    for result in latest.get("result") or []:
        if result.get("type") != "labels":
            continue
        value = result.get("value") or {}
        for label in value.get("labels") or []:
            start, end = _offsets(path, where, text, value)
            try:
                technique = inventory.normalize(label)
            except UnknownTechniqueError as error:
                raise CorpusFormatError(path, None, f"{where}: {error}") from None
            spans.add(Span(start, end, technique))
    metadata = {key: value for key, value in data.items() if key not in (text_key, "doc_id")}
    return AnnotatedDocument(
        Document(text=text, id=ident, metadata=metadata),
        tuple(sorted(spans, key=lambda s: (s.start, s.end, s.technique))),
    )


def _offsets(path: Path, where: str, text: str, value: Mapping[str, Any]) -> tuple[int, int]:
    try:
        start, end = int(value["start"]), int(value["end"])
    except (KeyError, TypeError, ValueError):
        raise CorpusFormatError(path, None, f"{where}: a labels result needs integer 'start' and 'end'") from None
    if not 0 <= start < end:
        raise CorpusFormatError(path, None, f"{where}: span offsets must satisfy 0 <= start < end, got {start}, {end}")
    expected = value.get("text")
    if expected is None or text[start:end] == expected:
        if end > len(text):
            raise CorpusFormatError(
                path, None, f"{where}: span {start}-{end} lies outside the text ({len(text)} chars)"
            )
        return start, end
    converted = utf16_to_codepoints(text, start), utf16_to_codepoints(text, end)
    if text[converted[0] : converted[1]] == expected:
        return converted
    raise CorpusFormatError(
        path, None, f"{where}: span {start}-{end} reads {text[start:end]!r}, but Label Studio recorded {expected!r}"
    )


def utf16_to_codepoints(text: str, offset: int) -> int:
    """The code point index of a UTF-16 code unit offset (characters above U+FFFF count twice in UTF-16)."""
    units = 0
    for index, character in enumerate(text):
        if units >= offset:
            return index
        units += 2 if ord(character) > 0xFFFF else 1
    return len(text)


def write_tasks(path: str | Path, tasks: Iterable[dict[str, Any]]) -> int:
    """Write tasks as one JSON list, streaming (one task in memory at a time); returns how many."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as out:
        out.write("[")
        for task in tasks:
            out.write(",\n" if count else "\n")
            json.dump(task, out, ensure_ascii=False)
            count += 1
        out.write("\n]\n")
    return count
