"""Engines run the analyzer over batches of documents: in this process, in worker processes, or on Ray.

Every engine does the same thing with each batch: ``analyze_batch`` on an ``Analyzer`` loaded
once per worker, which gives back each document's ``Analysis`` or its ``Failure``. Batches are formed by the runner, not the engine, so the same input gives the
same batches, hence the same numbers, whichever engine runs them. Engines never touch the
database: results go back to the runner, the only writer.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from itertools import islice
from multiprocessing import get_context
from typing import Any, Protocol
from urllib.parse import urlsplit

from propscan.cascade import CONTEXT, FLAG_THRESHOLD, Cascade
from propscan.document import Analysis, Document
from propscan.errors import PropscanError
from propscan.pipeline import Analyzer, Predictor, predict_each
from propscan.readers.sources import Failure

logger = logging.getLogger(__name__)

Batch = list[Document]
Outcome = Analysis | Failure
Results = Iterator[list[Outcome]]  # a batch's outcomes, in the batch's order


@dataclass(frozen=True)
class AnalyzerSpec:
    """How every worker loads its analyzer and what it asks of it (picklable, sent to workers).

    With ``then``, ``model`` screens and ``then`` confirms the passages it flags (a ``Cascade``).
    """

    model: str = "accurate"
    threads: int = 1
    threshold: float = 0.0
    techniques: tuple[str, ...] | None = None
    then: str | None = None
    flag_threshold: float = FLAG_THRESHOLD
    context: int = CONTEXT
    keep_screened: bool = True

    def load(self) -> Predictor:
        if self.then is not None:
            return Cascade.load(
                self.model,
                self.then,
                flag_threshold=self.flag_threshold,
                context=self.context,
                keep_screened=self.keep_screened,
                threads=self.threads,
            )
        return Analyzer.load(self.model, threads=self.threads)


def analyze_batch(analyzer: Predictor, documents: Sequence[Document], spec: AnalyzerSpec) -> list[Outcome]:
    """Each document's analysis, or its failure (a bad document fails alone, not its batch).

    The spec's settings go with every call, so a run's options are what its analyses used.
    """
    options: dict[str, Any] = {"threshold": spec.threshold, "techniques": spec.techniques}
    if spec.then is not None:
        options.update(flag_threshold=spec.flag_threshold, context=spec.context, keep_screened=spec.keep_screened)
    results = predict_each(analyzer, documents, **options)
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
        self._analyzer: Predictor | None = None
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

    Each actor loads the model once, when it starts, and keeps it for every batch it is sent;
    it reserves ``threads`` CPUs of the node it lands on.

    Args:
        address: the cluster to join: ``ray://host:10001`` (the Ray Client, from any machine) or
            ``host:6379`` (the GCS, from a machine that is itself a node); None uses
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
                join_cluster(ray, address)
            else:
                ray.init(num_cpus=self.workers * self.spec.threads, include_dashboard=False, log_to_driver=False)
            self._started_ray = True
        _warn_if_too_small(ray, self.workers, self.spec.threads)
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


# How long to wait for a cluster's port to answer before saying it cannot be reached.
CONNECT_TIMEOUT_S = 5.0


def join_cluster(ray, address: str) -> None:
    """Join the running cluster at ``address``, or fail in one line that names it and what to check.

    Ray itself retries an address where nothing answers for minutes (20 tries of the GCS client's
    own timeout, or the Ray Client's backoff) and then raises with a traceback. A bounded TCP
    connection first answers at once for the common mistakes: a wrong host or port, a head not
    started. A head on this machine gets this machine's token, if there is one (see
    ``_present_local_token``).

    Raises:
        PropscanError: the address is unreachable, malformed, or refuses the driver.
    """
    if address.startswith("ray://"):
        _needs_ray_client(address)
    host = _check_reachable(address)
    if host is not None and _on_this_machine(host):
        _present_local_token()
    try:
        _init(ray, address)
    except (ConnectionError, RuntimeError, TimeoutError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise PropscanError(
            f"cannot join the Ray cluster at {address}: {reason}; {_what_to_check(address)}; if the cluster uses token "
            "authentication, set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH to its token file"
        ) from None


def _needs_ray_client(address: str) -> None:
    """A ray:// address needs the Ray Client's transport (grpcio), which a minimal Ray lacks."""
    if importlib.util.find_spec("grpc") is None:
        raise PropscanError(f"--ray-address {address} needs the Ray Client: pip install 'propscan[ray]'")


def _init(ray, address: str) -> None:
    """``ray.init`` on the address, once more if the Ray Client server fails to start a server for this driver.

    Ray 2.60's client proxy sometimes sees the server it spawns for a driver as exited and answers
    "Initialization failure from server" (here: the first driver on two of five fresh heads); it
    served the next driver every time.
    """
    try:
        ray.init(address=address, log_to_driver=False)
    except ConnectionAbortedError:
        if not address.startswith("ray://"):
            raise
        logger.info("the Ray Client server at %s failed to start a server for this driver; trying once more", address)
        ray.init(address=address, log_to_driver=False)


def _on_this_machine(host: str) -> bool:
    """Whether ``host`` is one of this machine's own addresses (only they can be bound to)."""
    try:
        with socket.socket() as probe:
            probe.bind((socket.gethostbyname(host), 0))
    except OSError:
        return False
    return True


def _present_local_token() -> None:
    """Present this machine's Ray token, as ``ray start --head`` here would require.

    A head started where a token exists (``~/.ray/auth_token``, written by any local
    ``ray.init()``, or ``RAY_AUTH_TOKEN(_PATH)``) turns token authentication on, but Ray's driver
    presents the token only to a cluster it found itself, never to an address it was given: the
    GCS address then fails with "Failed to connect to Ray cluster" after 20 s, the Ray Client
    with a timeout. On this machine the token is the head's own. ``RAY_AUTH_MODE``, when set, wins.
    """
    try:
        from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available
    except ImportError:  # a Ray without token authentication
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def _check_reachable(address: str) -> str | None:
    """Open and close a TCP connection to the address's host and port, bounded by ``CONNECT_TIMEOUT_S``; return the host."""
    if address in ("auto", "local"):  # Ray's own words for "the cluster on this machine"
        return None
    parts = urlsplit(address if "://" in address else f"//{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number
        host, port = None, None
    if not host or not port:
        raise PropscanError(f"--ray-address {address!r} is not HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        reason = (
            f"no answer in {CONNECT_TIMEOUT_S:.0f} s"
            if isinstance(error, TimeoutError)
            else error.strerror or str(error)
        )
        raise PropscanError(f"cannot reach the Ray cluster at {address}: {reason}; {_what_to_check(address)}") from None
    return host


def _what_to_check(address: str) -> str:
    if address.startswith("ray://"):
        return "check that the head runs (ray start --head) and that this is its Ray Client port (--ray-client-server-port, default 10001)"
    return (
        "check that the head runs (ray start --head) and that this is its GCS port (--port, default 6379); "
        "a GCS address only works on a node of the cluster, use ray://HOST:10001 from elsewhere"
    )


def _warn_if_too_small(ray, workers: int, threads: int) -> None:
    """Say so when the actors cannot all start: each holds ``threads`` CPUs for life, and the job waits for all of them."""
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if workers * threads > cpus:
        logger.warning(
            "the Ray cluster has %d CPUs and %d actors x %d threads need %d: the job waits until the cluster grows "
            "(lower --workers or --threads)",
            cpus,
            workers,
            threads,
            workers * threads,
        )


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
