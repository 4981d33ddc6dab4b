"""Two model threads, a short lane and a long lane, each batching whatever queued up while it was busy.

Why: the analyzer is CPU-bound and onnxruntime already spreads one call over all cores, so one
thread per lane owns the analysis of its requests; requests wait on asyncio futures (the event
loop never blocks), and each time a lane is free it takes everything waiting, up to ``max_batch``
articles, into one ``Analyzer.predict`` call. Under load batches fill by themselves; when idle a
request runs at once, with no timer to wait on.

Articles longer than ``long_chars`` go to their own lane, so a long article shares the cores with
the short ones instead of holding them all back until it is done. That lane takes one article at
a time: a batch of long articles takes long enough that some of its clients leave, and each
article's turn is when it is dropped if nobody waits for it any more. Every request has a time
budget: past it the client is told to retry, and work nobody waits for is skipped, or, for an
article long enough to be cut into segments, stopped at the next segment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
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
    """Too many articles are already waiting, or one waited past its time budget; retry later."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class BatchStats:
    """What the workers have done, for /healthz and the tests."""

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


class _Abandoned(BaseException):
    """Raised inside ``predict`` to stop a long article that no client waits for any more.

    A BaseException, as ``asyncio.CancelledError`` is: ``predict_each`` retries whatever raises an
    ``Exception`` one document at a time, and this must stop the work instead.
    """


_STOP = object()
# The long lane's threads (and the encoder threads they start) yield the cores to the short lane's.
LONG_LANE_NICE = 10


def _lower_priority(by: int) -> None:
    """Lower the calling thread's CPU priority; on Linux a thread id given to setpriority is that thread alone."""
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + by))
    except (AttributeError, OSError):  # not Linux: both lanes keep the same priority
        pass


class Batcher:
    """Runs analyses on two worker threads, grouping queued requests into batches.

    Args:
        analyzer: the loaded analyzer; only the worker threads call it.
        max_batch: the most short articles in one ``predict`` call (long ones go one at a time).
        max_chars: a batch stops growing once it holds this many characters.
        max_pending: ``analyze`` raises ``BusyError`` when this many articles are already queued or running.
        long_chars: articles longer than this go to the long lane.
        timeout: seconds a request may wait for its analysis before ``BusyError``; ``None`` waits forever.
    """

    def __init__(
        self,
        analyzer: Analyzer,
        *,
        max_batch: int = 16,
        max_chars: int = 200_000,
        max_pending: int = 256,
        long_chars: int = 4_000,
        timeout: float | None = 60.0,
    ) -> None:
        self.analyzer = analyzer
        self.max_batch = max_batch
        self.max_chars = max_chars
        self.max_pending = max_pending
        self.long_chars = long_chars
        self.timeout = timeout
        self.stats = BatchStats()
        self._lanes = {lane: queue.SimpleQueue[_Job | object]() for lane in ("short", "long")}
        self._pending = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    @property
    def pending(self) -> int:
        """Articles queued or being analyzed right now."""
        return self._pending

    def start(self) -> None:
        if not self._threads:
            for lane, jobs in self._lanes.items():
                batch, nice = (self.max_batch, 0) if lane == "short" else (1, LONG_LANE_NICE)
                thread = threading.Thread(
                    target=self._work, args=(jobs, batch, nice), name=f"propscan-{lane}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def close(self, timeout: float | None = 30.0) -> None:
        """Let the workers finish what they hold, then stop them."""
        for jobs in self._lanes.values():
            jobs.put(_STOP)
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    async def analyze(
        self, document: Document, *, threshold: float = 0.0, techniques: Sequence[str] | None = None
    ) -> Analysis:
        """Queue one document and wait for its analysis without blocking the event loop.

        Cancelling the call (the client went away) drops the document if its turn has not come.

        Raises:
            BusyError: if ``max_pending`` articles are already waiting, or the analysis is not done in ``timeout``.
            InputError: if the analyzer refuses the document.
        """
        with self._lock:
            if self._pending >= self.max_pending:
                raise BusyError(f"{self._pending} articles are already waiting; retry in a few seconds", retry_after=2)
            self._pending += 1
        loop = asyncio.get_running_loop()
        job = _Job(
            document, threshold, tuple(techniques) if techniques is not None else None, loop.create_future(), loop
        )
        self._lanes["long" if len(document.text) > self.long_chars else "short"].put(job)
        try:
            return await asyncio.wait_for(job.future, self.timeout)
        except TimeoutError:
            raise BusyError(
                f"the analysis did not finish within this server's time budget of {self.timeout:g} s "
                "(PROPSCAN_REQUEST_TIMEOUT); retry later or send a shorter article",
                retry_after=max(1, round(self.timeout or 0)),
            ) from None

    # ------------------------------------------------------------------------- worker threads
    def _work(self, jobs_queue: queue.SimpleQueue[_Job | object], max_batch: int, nice: int) -> None:
        if nice:
            _lower_priority(nice)
        stopping = False
        while not stopping:
            first = jobs_queue.get()
            if not isinstance(first, _Job):
                break
            jobs = [first]
            chars = len(first.document.text)
            while len(jobs) < max_batch and chars < self.max_chars:
                try:
                    job = jobs_queue.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(job, _Job):
                    stopping = True
                    break
                jobs.append(job)
                chars += len(job.document.text)
            self._run(jobs)

    def _run(self, jobs: list[_Job]) -> None:
        live = []
        for job in jobs:
            if job.future.done():  # the client went away, or its time ran out, before its turn
                self._settle(job, None, None)
            else:
                live.append(job)
        if not live:
            return
        with self._lock:
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
        def stop_if_abandoned(done: int, total: int) -> None:
            if all(job.future.done() for job in group):
                raise _Abandoned

        documents = [j.document for j in group]
        try:
            results = predict_each(
                self.analyzer, documents, threshold=threshold, techniques=techniques, progress=stop_if_abandoned
            )
        except _Abandoned:
            logger.info("stopped analyzing %d article(s) that no client waits for any more", len(group))
            for job in group:
                self._settle(job, None, None)
            return
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
