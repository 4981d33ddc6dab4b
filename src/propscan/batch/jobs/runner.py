"""``run_batch``: read the inputs, skip what the run already holds, analyze the rest, store each once.

The runner is the only process that writes to the database, one transaction per document, so
the job can be killed at any moment (SIGKILL included): on the next start it reads which ids the
run holds (analyzed or failed) and goes on with the others. A run is identified by the model and
the options that change results, so "the same command again" finds the same run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from propscan.batch.jobs.engines import AnalyzerSpec, Batch, Outcome, failure, make_engine
from propscan.batch.store import Run, Store, StoreError
from propscan.cascade import CONTEXT, FLAG_THRESHOLD, Cascade, default_flag_threshold
from propscan.errors import PropscanError
from propscan.pipeline import Predictor, model_inventory, model_path
from propscan.readers.sources import Failure, Item, Known, count_records, read_sources
from propscan.settings import threads_per_worker

logger = logging.getLogger(__name__)


class ProgressSink(Protocol):
    """Where the runner reports progress (the CLI passes a rich progress bar)."""

    def start(self, total: int) -> None: ...

    def advance(self, analyzed: int = 0, failed: int = 0) -> None: ...

    def skip(self, count: int = 1) -> None: ...


@dataclass(frozen=True)
class BatchSummary:
    """What one invocation did; ``skipped`` counts documents already analyzed in the run (or repeated),
    ``failed_before`` those skipped because an earlier invocation recorded them as failed."""

    run: Run
    analyzed: int
    failed: int
    skipped: int
    spans: int
    seconds: float
    failed_before: int = 0

    @property
    def complete(self) -> bool:
        """True when every document of the inputs is analyzed: nothing failed, now or before."""
        return not self.failed and not self.failed_before

    @property
    def rate(self) -> float:
        """Documents analyzed (or failed) per second of this invocation."""
        return (self.analyzed + self.failed) / self.seconds if self.seconds > 0 else 0.0


def run_batch(
    inputs: Sequence[str | Path],
    *,
    urls: Sequence[str | Path] = (),
    source: str | None = None,
    db: str | None = None,
    model: str = "accurate",
    engine: str = "local",
    workers: int = 1,
    threads: int | None = None,
    batch_size: int = 8,
    threshold: float = 0.0,
    techniques: str | Iterable[str] | None = None,
    retry_failed: bool = False,
    ray_address: str | None = None,
    max_bytes: int | None = None,
    progress: ProgressSink | None = None,
    analyzer: Predictor | None = None,
    then: str | None = None,
    flag_threshold: float | None = None,
    context: int | None = None,
    keep_screened: bool | None = None,
) -> BatchSummary:
    """Analyze every document of ``inputs`` into the database ``db``, resuming the run if it exists.

    Args:
        inputs: folders of .txt/.html, .jsonl, .warc(.gz), .rss/.atom/.xml files, in any mix.
        urls: files of URLs, one a line; the pages are fetched by this process.
        source: the outlet of documents whose input names none (instead of a .txt file's folder).
        db: a SQLAlchemy URL or a SQLite file path (default ``sqlite:///propscan.db``).
        model: ``accurate``, ``fast``, ``triage`` or a model folder.
        engine: ``local`` (this machine) or ``ray``.
        workers: analyzer processes (local) or actors (ray).
        threads: model (onnxruntime) threads per worker (default: this machine's cores divided by ``workers``).
        batch_size: documents analyzed together; the same size gives the same results on any engine.
        threshold, techniques: passed to ``Analyzer.predict``; they are part of the run's identity, the
            techniques as the model's labels whatever names they were given by.
        retry_failed: analyze again the documents the run recorded as failed.
        analyzer: an ``Analyzer`` (or ``Cascade``) already loaded in this process, used by the local
            engine with one worker.
        then: a confirming model: ``model`` screens every sentence and ``then`` analyzes only the
            passages it flags (see ``propscan.cascade``); spans then name the model that found them.
        flag_threshold, context, keep_screened: the cascade's settings (default
            ``cascade.default_flag_threshold(model)``, ``CONTEXT`` and True). They and ``then`` are part of the run's
            identity: the same command resumes the run, a cascade of other models or settings is another run.

    Raises:
        PropscanError: for unreadable inputs, an unknown engine or model, cascade settings without
            ``then``, or an unreachable database.
    """
    if workers < 1 or batch_size < 1:
        raise PropscanError("--workers and --batch-size must be at least 1")
    if then is None and (flag_threshold is not None or context is not None or keep_screened is not None):
        raise PropscanError(
            "--flag-threshold, --context and --confirmed-only set a cascade: give its confirming model with --then MODEL"
        )
    if context is not None and context < 0:
        raise PropscanError(f"--context must be at least 0, got {context}")
    if analyzer is not None and (then is not None) != isinstance(analyzer, Cascade):
        raise PropscanError("give a loaded Cascade as analyzer exactly when then names a confirming model")
    started = time.perf_counter()
    wanted = model_inventory(then or model).select(techniques) if techniques is not None else None
    total = count_records(inputs, urls=urls)  # fails fast on a missing input, before any model loads
    if then is not None and flag_threshold is None:
        flag_threshold = default_flag_threshold(model)
    spec = AnalyzerSpec(
        model=str(model),
        threads=threads or threads_per_worker(workers),
        threshold=threshold,
        techniques=wanted,
        then=None if then is None else str(then),
        flag_threshold=FLAG_THRESHOLD if flag_threshold is None else flag_threshold,
        context=CONTEXT if context is None else context,
        keep_screened=True if keep_screened is None else keep_screened,
    )
    options: dict[str, object] = {"threshold": threshold, "techniques": list(wanted) if wanted else None}
    if spec.then is not None:  # only then: a run of one model keeps the identity it had before cascades
        options.update(flag_threshold=spec.flag_threshold, context=spec.context, keep_screened=spec.keep_screened)
    with Store.open(db) as store:
        for name in (model, then):
            if name is not None and analyzer is None:
                model_path(name)  # an unknown model, either of the two, fails before the other loads
        analyzing_engine = make_engine(engine, spec, workers=workers, address=ray_address, analyzer=analyzer)
        try:
            name = analyzing_engine.start()
            run = store.get_or_create_run(name, options)
            if retry_failed:
                store.clear_failures(run.id)
            invocation = _Invocation(store, run, progress)
            if progress is not None:
                progress.start(total)
            items = read_sources(inputs, urls=urls, max_bytes=max_bytes, source=source, known=invocation.seen)
            for outcomes in analyzing_engine.map(invocation.batches(items, batch_size)):
                invocation.store_results(outcomes)
        finally:
            analyzing_engine.close()
        return BatchSummary(
            run,
            invocation.analyzed,
            invocation.failed,
            invocation.skipped,
            invocation.spans,
            time.perf_counter() - started,
            invocation.failed_before,
        )


class _Invocation:
    """The state of one invocation: what the run already holds, and the running counts."""

    def __init__(self, store: Store, run: Run, progress: ProgressSink | None) -> None:
        self.store = store
        self.run = run
        self.progress = progress
        self.seen = store.done_ids(run.id)
        self.failures = store.failed_ids(run.id)
        self.analyzed = self.failed = self.skipped = self.failed_before = self.spans = 0

    def batches(self, items: Iterable[Item], size: int) -> Iterator[Batch]:
        """Documents not yet in the run, ``size`` at a time; failures are stored on the way."""
        batch: Batch = []
        for item in items:
            if isinstance(item, Known) or item.id in self.seen:
                if item.id in self.failures:
                    self.failed_before += 1
                else:
                    self.skipped += 1
                if self.progress is not None:
                    self.progress.skip()
                continue
            self.seen.add(item.id)
            if isinstance(item, Failure):
                self._fail(item)
                continue
            batch.append(item)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch

    def store_results(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            if isinstance(outcome, Failure):
                self._fail(outcome)
                continue
            try:
                stored = self.store.save_analysis(self.run.id, outcome)
            except StoreError as error:
                self._fail(failure(outcome.document, str(error)))
                continue
            if stored:
                self.analyzed += 1
                self.spans += len(outcome.spans)
                if self.progress is not None:
                    self.progress.advance(analyzed=1)
            else:  # another process stored it since we looked
                self.skipped += 1
                if self.progress is not None:
                    self.progress.skip()

    def _fail(self, failed: Failure) -> None:
        logger.warning("%s: %s", failed.origin or failed.id, failed.error)
        self.store.save_failure(self.run.id, failed.id, failed.origin, failed.error, failed.metadata)
        self.failed += 1
        if self.progress is not None:
            self.progress.advance(failed=1)
