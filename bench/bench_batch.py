"""Batch benchmark: articles/s into SQLite (1 and 2 workers) and PostgreSQL, peak memory, against the bare analyzer.

Run on purpose, on a quiet machine (never in CI):

    python bench/bench_batch.py                          # fast model, 40 PTC articles
    python bench/bench_batch.py --model accurate --articles 80 --postgres postgresql://user@host/db
    python bench/bench_batch.py --paired --rounds 5      # batch overhead alone, robust on a busy machine
    python bench/bench_batch.py --engine ray --rounds 3  # 1 against 2 Ray actors, on a throwaway two-node cluster
    python bench/bench_batch.py --engine ray --ray-address ray://head:10001   # ... or on a running cluster

Each measurement runs in its own process so its peak memory is its own. "steady" rates count from
the moment the model is loaded to the last document stored, the same span the bare analyzer rate
covers; "end to end" includes starting workers and loading the model. The batch path should keep
at least 80% of the bare rate. Articles are read in place from ``--data`` (default
../shared/data/ptc/train-articles), never copied. Without ``--postgres``, a throwaway PostgreSQL
cluster is started with the test helper when the binaries are there. ``--engine ray`` without
``--ray-address`` starts two one-CPU Ray nodes on loopback with the test helper (``ray start``),
the layout of tests/test_ray_cluster.py; an actor's memory is not counted (it lives in the cluster).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ptc" / "train-articles"


def articles(data: Path, n: int) -> list[Path]:
    return sorted(data.glob("*.txt"))[:n]


def measure_bare(paths: list[Path], model: str, batch_size: int, threads: int) -> dict:
    from propscan import Analyzer, Document
    from propscan.readers.sources import read_sources

    documents = [d for d in read_sources(paths) if isinstance(d, Document)]
    analyzer = Analyzer.load(model, threads=threads)
    started = time.perf_counter()
    for first in range(0, len(documents), batch_size):
        analyzer.predict(documents[first : first + batch_size])
    seconds = time.perf_counter() - started
    return {"articles": len(documents), "seconds": seconds, "rate": len(documents) / seconds}


class Timer:
    """A progress sink that notes when analysis starts (model loaded) and when the last document is stored."""

    def __init__(self) -> None:
        self.started = self.last = None
        self.done = 0

    def start(self, total: int) -> None:
        self.started = time.perf_counter()

    def advance(self, analyzed: int = 0, failed: int = 0) -> None:
        self.done += analyzed + failed
        self.last = time.perf_counter()

    def skip(self, count: int = 1) -> None:
        pass


def measure_batch(
    paths: list[Path],
    model: str,
    batch_size: int,
    db: str,
    workers: int,
    engine: str,
    threads: int,
    ray_address: str | None = None,
) -> dict:
    from propscan.batch.jobs import run_batch

    timer = Timer()
    started = time.perf_counter()
    summary = run_batch(
        paths,
        db=db,
        model=model,
        workers=workers,
        threads=threads,
        batch_size=batch_size,
        engine=engine,
        ray_address=ray_address,
        progress=timer,
    )
    total = time.perf_counter() - started
    steady = timer.last - timer.started
    return {
        "articles": summary.analyzed,
        "failed": summary.failed,
        "spans": summary.spans,
        "seconds_end_to_end": total,
        "seconds_steady": steady,
        "rate_end_to_end": summary.analyzed / total,
        "rate": summary.analyzed / steady,
    }


def measure_paired(paths: list[Path], model: str, batch_size: int, rounds: int, threads: int) -> dict:
    """Bare analyzer and batch path in one process, alternating: the batch path's own cost, free of machine noise.

    A shared machine's load changes from minute to minute; alternating the two on the same loaded
    analyzer makes their ratio the batch path's overhead (sources, ids, database writes) alone.
    """
    from propscan import Analyzer, Document
    from propscan.batch.jobs import run_batch
    from propscan.readers.sources import read_sources

    documents = [d for d in read_sources(paths) if isinstance(d, Document)]
    analyzer = Analyzer.load(model, threads=threads)
    analyzer.predict(documents[:1])
    bare, batch = [], []
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(rounds):
            started = time.perf_counter()
            for first in range(0, len(documents), batch_size):
                analyzer.predict(documents[first : first + batch_size])
            bare.append(len(documents) / (time.perf_counter() - started))
            started = time.perf_counter()
            summary = run_batch(
                paths,
                db=f"sqlite:///{folder}/paired-{round_}.db",
                model=model,
                analyzer=analyzer,
                batch_size=batch_size,
            )
            batch.append(summary.analyzed / (time.perf_counter() - started))
    ratios = sorted(b / a for a, b in zip(bare, batch, strict=True))
    return {"bare_rates": bare, "batch_rates": batch, "median_ratio": ratios[len(ratios) // 2], "threads": threads}


def child(args: argparse.Namespace) -> None:
    paths = articles(args.data, args.articles)
    if args.measure == "paired":
        print(json.dumps(measure_paired(paths, args.model, args.batch_size, args.rounds, args.threads)))
        return
    if args.measure == "bare":
        result = measure_bare(paths, args.model, args.batch_size, args.threads)
    else:
        result = measure_batch(
            paths, args.model, args.batch_size, args.db, args.workers, args.engine, args.threads, args.ray_address
        )
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["peak_rss_workers_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(result))


def run_child(args: argparse.Namespace, measure: str, **extra) -> dict:
    command = [
        sys.executable,
        __file__,
        "--measure",
        measure,
        "--model",
        args.model,
        "--articles",
        str(args.articles),
        "--data",
        str(args.data),
        "--batch-size",
        str(args.batch_size),
    ]
    if "threads" not in extra:
        command += ["--threads", str(args.threads)]
    for key, value in extra.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    output = subprocess.run(
        command, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def postgres_url(given: str | None) -> str | None:
    if given:
        return given
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import pg_cluster

        return pg_cluster.fresh_database()
    except BaseException as error:
        print(f"PostgreSQL skipped: {error}", file=sys.stderr)
        return None


def local_configurations(args: argparse.Namespace, folder: str, round_: int, url: str | None) -> dict[str, dict]:
    measured = {
        "sqlite, 1 worker": run_child(args, "batch", db=f"sqlite:///{folder}/w1-{round_}.db", workers=1),
        "sqlite, 2 workers": run_child(args, "batch", db=f"sqlite:///{folder}/w2-{round_}.db", workers=2),
    }
    # A run resumes what the database holds, so every round needs an empty one: a given URL serves round 1 only.
    database = url if round_ == 0 else (None if args.postgres else postgres_url(None))
    if database:
        measured["postgresql, 1 worker"] = run_child(args, "batch", db=database, workers=1)
    return measured


def ray_configurations(args: argparse.Namespace, folder: str, round_: int) -> dict[str, dict]:
    return {
        f"ray, {actors} actor{'s' if actors > 1 else ''}": run_child(
            args,
            "batch",
            db=f"sqlite:///{folder}/ray{actors}-{round_}.db",
            workers=actors,
            engine="ray",
            ray_address=args.ray_address,
        )
        for actors in (1, 2)
    }


def throwaway_ray_cluster(folder: Path, cleanup: contextlib.ExitStack) -> str:
    """Two one-CPU nodes started with ``ray start``, stopped when ``cleanup`` closes; returns the GCS address."""
    sys.path.insert(0, str(ROOT / "tests"))
    from ray_cluster import RayCluster

    (folder / "ray").mkdir()
    cluster = RayCluster(folder / "ray")
    cleanup.callback(cluster.stop)
    cluster.start_head(cpus=1)
    cluster.add_node(cpus=1)
    os.environ.update(
        cluster.token_env
    )  # the measuring processes present the cluster's token, as a user's shell here would
    return cluster.address


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fast")
    parser.add_argument("--articles", type=int, default=40)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL (default: start a throwaway cluster)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved repetitions; the median is reported")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--paired", action="store_true", help="only the in-process bare-vs-batch comparison (robust on a busy machine)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="model threads per analyzer, bare or worker (default 1: 2 workers then use 2 cores)",
    )
    parser.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="ray: 1 against 2 actors on a Ray cluster instead of local workers and PostgreSQL",
    )
    parser.add_argument(
        "--ray-address", default=None, help="the cluster for --engine ray (default: start a throwaway one)"
    )
    parser.add_argument("--measure", choices=("bare", "batch", "paired"), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        child(args)
        return
    if args.paired:
        result = run_child(args, "paired", rounds=args.rounds, threads=args.threads)
        print(
            json.dumps(result, indent=2)
            if args.json
            else f"batch path / bare analyzer, same process, {args.rounds} alternating rounds, {args.threads} thread(s): "
            f"median {100 * result['median_ratio']:.0f}% (bare {', '.join(f'{r:.2f}' for r in result['bare_rates'])} art/s; "
            f"batch {', '.join(f'{r:.2f}' for r in result['batch_rates'])} art/s)"
        )
        return

    results: dict = {
        "model": args.model,
        "articles": args.articles,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    rounds: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as cleanup:
        if args.engine == "ray":
            args.ray_address = args.ray_address or throwaway_ray_cluster(Path(folder), cleanup)
            configurations = ray_configurations
        else:
            url = postgres_url(args.postgres)
            configurations = functools.partial(local_configurations, url=url)
        # Interleaved rounds: a busy machine slows every configuration alike, not just the last one.
        for round_ in range(args.rounds):
            rounds.setdefault("bare analyzer", []).append(run_child(args, "bare"))
            for name, result in configurations(args, folder, round_).items():
                rounds.setdefault(name, []).append(result)
    for name, measured in rounds.items():
        results[name] = sorted(measured, key=lambda r: r["rate"])[len(measured) // 2] | {
            "round_rates": [r["rate"] for r in measured]
        }
    bare = results["bare analyzer"]["rate"]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    load = ", ".join(f"{x:.1f}" for x in results["load_average"])
    print(
        f"model {args.model}, {args.articles} PTC articles, {os.cpu_count()} CPUs, median of {args.rounds} round(s), load average {load}"
    )
    print(f"{'':24} {'articles/s':>10} {'% of bare':>9} {'end to end':>10} {'peak MiB':>9} {'workers MiB':>11}  rounds")
    for name, result in results.items():
        if not isinstance(result, dict):
            continue
        share = 100 * result["rate"] / bare
        end_to_end = f"{result['rate_end_to_end']:.2f}" if "rate_end_to_end" in result else "-"
        workers = f"{result['peak_rss_workers_mib']:.0f}" if result["peak_rss_workers_mib"] else "-"
        each = ", ".join(f"{rate:.2f}" for rate in result["round_rates"])
        print(
            f"{name:24} {result['rate']:10.2f} {share:8.0f}% {end_to_end:>10} {result['peak_rss_mib']:9.0f} {workers:>11}  {each}"
        )


if __name__ == "__main__":
    main()
