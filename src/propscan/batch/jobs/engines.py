"""Engines run the analyzer over batches of documents: in this process, in worker processes, or on Ray.

Every engine does the same thing with each batch: ``analyze_batch`` on an ``Analyzer`` loaded
once per worker, which gives back each document's ``Analysis`` or its ``Failure``. Batches are formed by the runner, not the engine, so the same input gives the
same batches, hence the same numbers, whichever engine runs them. Engines never touch the
database: results go back to the runner, the only writer.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from itertools import islice
from multiprocessing import get_context
from typing import Any, Protocol

from propscan.document import Analysis, Document
from propscan.errors import PropscanError
from propscan.pipeline import Analyzer, predict_each
from propscan.readers.sources import Failure

logger = logging.getLogger(__name__)

Batch = list[Document]
Outcome = Analysis | Failure
Results = Iterator[list[Outcome]]  # a batch's outcomes, in the batch's order


@dataclass(frozen=True)
class AnalyzerSpec:
    """How every worker loads its analyzer and what it asks of it (picklable, sent to workers)."""

    model: str = "accurate"
    threads: int = 1
    threshold: float = 0.0
    techniques: tuple[str, ...] | None = None

    def load(self) -> Analyzer:
        return Analyzer.load(self.model, threads=self.threads)


def analyze_batch(analyzer: Analyzer, documents: Sequence[Document], spec: AnalyzerSpec) -> list[Outcome]:
    """Each document's analysis, or its failure (a bad document fails alone, not its batch)."""
    results = predict_each(analyzer, documents, threshold=spec.threshold, techniques=spec.techniques)
    return [
        result if isinstance(result, Analysis) else failure(document, f"{type(result).__name__}: {result}")
        for document, result in zip(documents, results, strict=True)
    ]


def failure(document: Document, error: str) -> Failure:
    """The failure of a document the reader had accepted, recorded where it came from."""
    return Failure(document.id, str(document.metadata.get("origin", "")), error, document.metadata)


class Engine(Protocol):
    """Runs ``analyze_batch`` over batches; ``start`` returns the model's name and version."""

    def start(self) -> str: ...

    def map(self, batches: Iterable[Batch]) -> Results: ...

    def close(self) -> None: ...


# ------------------------------------------------------------------------------------- local
class LocalEngine:
    """This machine: the analyzer in this process (``workers=1``) or in N spawned processes.

    With one worker, an already loaded ``analyzer`` may be passed in (one instance per process).

    Processes are spawned, not forked: forking a process that already runs model threads can
    deadlock. Each worker watches its parent and exits if it dies (e.g. on SIGKILL), so an
    interrupted job leaves no orphans behind.
    """

    def __init__(self, spec: AnalyzerSpec, *, workers: int = 1, analyzer=None) -> None:
        self.spec = spec
        self.workers = workers
        self.analyzer = analyzer
        self._analyzer: Analyzer | None = None
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> str:
        if self.workers <= 1:
            self._analyzer = self.analyzer or self.spec.load()
            return self._analyzer.name
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.spec, os.getpid()),
        )
        return self._pool.submit(_worker_name).result()

    def map(self, batches: Iterable[Batch]) -> Results:
        if self._analyzer is not None:
            for batch in batches:
                yield analyze_batch(self._analyzer, batch, self.spec)
            return
        if self._pool is None:
            raise PropscanError("the engine was not started")
        pool = self._pool
        yield from _bounded(lambda batch: pool.submit(_worker_analyze, batch), batches, 2 * self.workers)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._analyzer = None


def _bounded(submit: Callable[[Batch], Future], batches: Iterable[Batch], window: int) -> Results:
    """Keep at most ``window`` batches in flight and yield each as it completes."""
    source = iter(batches)
    pending = {submit(batch) for batch in islice(source, window)}
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            yield future.result()
            following = next(source, None)
            if following is not None:
                pending.add(submit(following))


_worker: dict[str, Any] = {}


def _init_worker(spec: AnalyzerSpec, parent: int) -> None:
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    _worker["spec"] = spec
    _worker["analyzer"] = spec.load()


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(0.5)


def _worker_name() -> str:
    return _worker["analyzer"].name


def _worker_analyze(batch: Batch) -> list[Outcome]:
    return analyze_batch(_worker["analyzer"], batch, _worker["spec"])


# ------------------------------------------------------------------------------------- ray
class RayEngine:
    """A Ray cluster (or a local Ray instance): one actor per worker, each holding an analyzer.

    Args:
        address: the cluster to join (``ray://host:10001`` or ``auto``); None uses
            ``RAY_ADDRESS`` if set, else starts a local instance with ``workers * threads`` CPUs.
    """

    def __init__(self, spec: AnalyzerSpec, *, workers: int = 1, address: str | None = None) -> None:
        self.spec = spec
        self.workers = workers
        self.address = address
        self._ray = None
        self._actors: list = []
        self._started_ray = False

    def start(self) -> str:
        ray = import_ray()
        self._ray = ray
        if not ray.is_initialized():
            address = self.address or os.environ.get("RAY_ADDRESS")
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.workers * self.spec.threads, include_dashboard=False, log_to_driver=False)
            self._started_ray = True
        actor = ray.remote(num_cpus=self.spec.threads)(_AnalyzerActor)
        self._actors = [actor.remote(self.spec) for _ in range(self.workers)]
        names = ray.get([a.name.remote() for a in self._actors])
        return names[0]

    def map(self, batches: Iterable[Batch]) -> Results:
        ray = self._ray
        if ray is None:
            raise PropscanError("the engine was not started")
        source = iter(batches)
        idle = [a for a in self._actors for _ in range(2)]  # two batches queued per actor
        pending: dict = {}
        while True:
            while idle:
                batch = next(source, None)
                if batch is None:
                    break
                actor = idle.pop()
                pending[actor.analyze.remote(batch)] = actor
            if not pending:
                return
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                idle.append(pending.pop(ref))
                yield ray.get(ref)

    def close(self) -> None:
        if self._ray is None:
            return
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors = []
        if self._started_ray:
            self._ray.shutdown()
        self._ray = None


class _AnalyzerActor:
    """A Ray actor holding one loaded analyzer."""

    def __init__(self, spec: AnalyzerSpec) -> None:
        self.spec = spec
        self.analyzer = spec.load()

    def name(self) -> str:
        return self.analyzer.name

    def analyze(self, batch: Batch) -> list[Outcome]:
        return analyze_batch(self.analyzer, batch, self.spec)


def import_ray():
    """Import Ray, or say which extra brings it."""
    try:
        import ray
    except ImportError:
        raise PropscanError("--engine ray needs Ray: pip install propscan[ray]") from None
    return ray


ENGINES: dict[str, Callable[..., Engine]] = {
    "local": lambda spec, workers=1, address=None, analyzer=None: LocalEngine(spec, workers=workers, analyzer=analyzer),
    "ray": lambda spec, workers=1, address=None, analyzer=None: RayEngine(spec, workers=workers, address=address),
}


def make_engine(
    name: str, spec: AnalyzerSpec, *, workers: int = 1, address: str | None = None, analyzer=None
) -> Engine:
    """The engine called ``name`` (``local`` or ``ray``).

    Raises:
        PropscanError: for an unknown name.
    """
    try:
        factory = ENGINES[name]
    except KeyError:
        raise PropscanError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}") from None
    return factory(spec, workers=workers, address=address, analyzer=analyzer)
