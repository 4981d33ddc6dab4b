"""Exporting a run from the store in the formats people already use.

``jsonl``: one JSON object per document, the shape ``propscan analyze --json`` prints;
``semeval``: SemEval-2020 Task 11 TC lines ``id<TAB>technique<TAB>start<TAB>end``;
``label-studio``: tasks with the spans as predictions, plus the matching labeling config, so a
team can correct them in Label Studio and train on the result (``propscan train --format label-studio``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from propscan.batch.store import Run, Store
from propscan.document import CONTROL_CHARACTERS, Analysis
from propscan.errors import PropscanError
from propscan.readers.labelstudio import labeling_config, to_task, write_tasks
from propscan.readers.ptc import write_tc


def export(
    store: Store, format: str, output: str | Path, *, run_id: int | None = None, min_score: float = 0.0
) -> tuple[Run, int, list[Path]]:
    """Write the analyses of a run (default: the latest) to ``output`` in ``format``.

    Returns:
        the run exported, how many documents were written, and the files written.

    Raises:
        PropscanError: for an unknown format; StoreError for an unknown run.
    """
    try:
        writer = FORMATS[format]
    except KeyError:
        raise PropscanError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}") from None
    run = store.get_run(run_id)
    analyses = _kept(store.analyses(run.id), min_score)
    output = Path(output)
    count, extra = writer(analyses, output, run)
    return run, count, [output, *extra]


def _kept(analyses: Iterator[Analysis], min_score: float) -> Iterator[Analysis]:
    for analysis in analyses:
        if min_score > 0:
            spans = tuple(s for s in analysis.spans if s.score is None or s.score >= min_score)
            analysis = replace(analysis, spans=spans)
        yield analysis


def _jsonl(analyses: Iterator[Analysis], output: Path, run: Run) -> tuple[int, list[Path]]:
    count = 0
    with output.open("w", encoding="utf-8") as out:
        for analysis in analyses:
            out.write(json.dumps(analysis.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    return count, []


def _semeval(analyses: Iterator[Analysis], output: Path, run: Run) -> tuple[int, list[Path]]:
    counted = []

    def pairs():
        for analysis in analyses:
            counted.append(1)
            yield _line_safe(analysis.document.id), analysis.spans

    write_tc(output, pairs())
    return len(counted), []


def _line_safe(ident: str) -> str:
    """An id fit for a tab-separated line: one with a tab or newline would forge extra lines.

    Readers refuse such ids, so only a database filled by other means can hold them.
    """
    if CONTROL_CHARACTERS.search(ident):
        raise PropscanError(
            f"document id {json.dumps(ident)} holds control characters that would break the SemEval file's lines; "
            "export this run as jsonl instead"
        )
    return ident


def _label_studio(analyses: Iterator[Analysis], output: Path, run: Run) -> tuple[int, list[Path]]:
    from propscan.techniques import PTC18, SEMEVAL2020

    seen: set[str] = set()

    def tasks():
        for analysis in analyses:
            seen.update(s.technique for s in analysis.spans)
            yield to_task(analysis.document, analysis.spans, model_version=run.model, score=analysis.score)

    count = write_tasks(output, tasks())
    # The labeling interface offers the inventory the model predicted from (14 classes unless it used the 18).
    inventory = SEMEVAL2020 if seen <= set(SEMEVAL2020.labels) else PTC18
    config = output.with_name(f"{output.stem}.label_config.xml")
    config.write_text(labeling_config(inventory), encoding="utf-8")
    return count, [config]


FORMATS: dict[str, Callable[[Iterator[Analysis], Path, Run], tuple[int, list[Path]]]] = {
    "jsonl": _jsonl,
    "semeval": _semeval,
    "label-studio": _label_studio,
}
