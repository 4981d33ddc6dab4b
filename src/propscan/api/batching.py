"""A single model thread that batches whatever requests queued up while it was busy.

Why: the analyzer is CPU-bound and not meant to be called from several threads at once, and
onnxruntime already spreads one call over all cores. So one worker thread owns the analyzer; requests
wait on asyncio futures (the event loop never blocks), and each time the worker is free it takes
everything waiting, up to ``max_batch`` articles, into one ``Analyzer.predict`` call. Under load
batches fill by themselves; when idle a request runs at once, with no timer to wait on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from propscan.document import Analysis, Document
from propscan.errors import PropscanError
from propscan.pipeline import Analyzer, predict_each

logger = logging.getLogger(__name__)


class BusyError(PropscanError):
    """Too many articles are already waiting; the client should retry later."""


@dataclass
class BatchStats:
    """What the worker has done, for /healthz and the tests."""

    batches: int = 0
    documents: int = 0
    largest_batch: int = 0


@dataclass
class _Job:
    document: Document
    threshold: float
    techniques: tuple[str, ...] | None
    future: asyncio.Future[Analysis]
    loop: asyncio.AbstractEventLoop


_STOP = object()


class Batcher:
    """Runs analyses on one worker thread, grouping queued requests into batches.

    Args:
        analyzer: the loaded analyzer; only the worker thread calls it.
        max_batch: the most articles in one ``predict`` call.
        max_chars: a batch stops growing once it holds this many characters.
        max_pending: ``analyze`` raises ``BusyError`` when this many articles are already queued or running.
    """

    def __init__(
        self, analyzer: Analyzer, *, max_batch: int = 16, max_chars: int = 200_000, max_pending: int = 256
    ) -> None:
        self.analyzer = analyzer
        self.max_batch = max_batch
        self.max_chars = max_chars
        self.max_pending = max_pending
        self.stats = BatchStats()
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        """Articles queued or being analyzed right now."""
        return self._pending

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="propscan-analyzer", daemon=True)
            self._thread.start()

    def close(self, timeout: float | None = 30.0) -> None:
        """Let the worker finish what it holds, then stop it."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    async def analyze(
        self, document: Document, *, threshold: float = 0.0, techniques: Sequence[str] | None = None
    ) -> Analysis:
        """Queue one document and wait for its analysis without blocking the event loop.

        Raises:
            BusyError: if ``max_pending`` articles are already waiting.
            InputError: if the analyzer refuses the document.
        """
        with self._lock:
            if self._pending >= self.max_pending:
                raise BusyError(f"{self._pending} articles are already waiting; retry in a few seconds")
            self._pending += 1
        loop = asyncio.get_running_loop()
        job = _Job(
            document, threshold, tuple(techniques) if techniques is not None else None, loop.create_future(), loop
        )
        self._queue.put(job)
        return await job.future

    # ------------------------------------------------------------------------- worker thread
    def _work(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if not isinstance(first, _Job):  # _STOP
                break
            jobs = [first]
            chars = len(first.document.text)
            while len(jobs) < self.max_batch and chars < self.max_chars:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(job, _Job):  # _STOP
                    stopping = True
                    break
                jobs.append(job)
                chars += len(job.document.text)
            self._run(jobs)

    def _run(self, jobs: list[_Job]) -> None:
        live = []
        for job in jobs:
            if job.future.cancelled():  # the client went away before its turn
                self._settle(job, None, None)
            else:
                live.append(job)
        if not live:
            return
        self.stats.batches += 1
        self.stats.documents += len(live)
        self.stats.largest_batch = max(self.stats.largest_batch, len(live))
        # One predict call per distinct (threshold, techniques): the usual request shares the defaults.
        groups: dict[tuple[float, tuple[str, ...] | None], list[_Job]] = {}
        for job in live:
            groups.setdefault((job.threshold, job.techniques), []).append(job)
        for (threshold, techniques), group in groups.items():
            self._predict(group, threshold, techniques)

    def _predict(self, group: list[_Job], threshold: float, techniques: tuple[str, ...] | None) -> None:
        results = predict_each(self.analyzer, [j.document for j in group], threshold=threshold, techniques=techniques)
        for job, result in zip(group, results, strict=True):
            if isinstance(result, Analysis):
                self._settle(job, result, None)
                continue
            if not isinstance(result, PropscanError):
                logger.error("analysis failed", exc_info=result)
            self._settle(job, None, result)

    def _settle(self, job: _Job, analysis: Analysis | None, error: BaseException | None) -> None:
        with self._lock:
            self._pending -= 1

        def deliver() -> None:
            if job.future.done():
                return
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(cast(Analysis, analysis))  # no error: the batch gave one

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            job.loop.call_soon_threadsafe(deliver)
