"""Batch benchmark: articles/s into SQLite (1 and 2 workers) and PostgreSQL, peak memory, against the bare analyzer.

Run on purpose, on a quiet machine (never in CI):

    python bench/bench_batch.py                          # fast model, 40 PTC articles
    python bench/bench_batch.py --model accurate --articles 80 --postgres postgresql://user@host/db

Each measurement runs in its own process so its peak memory is its own. "steady" rates count from
the moment the model is loaded to the last document stored, the same span the bare analyzer rate
covers; "end to end" includes starting workers and loading the model. The batch path should keep
at least 80% of the bare rate. Articles are read in place from ``--data`` (default
../shared/data/ptc/train-articles), never copied. Without ``--postgres``, a throwaway PostgreSQL
cluster is started with the test helper when the binaries are there.
"""

from __future__ import annotations

import argparse
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


def measure_bare(paths: list[Path], model: str, batch_size: int) -> dict:
    from propscan import Analyzer, Document
    from propscan.sources import read_sources

    documents = [d for d in read_sources(paths) if isinstance(d, Document)]
    analyzer = Analyzer.load(model)
    analyzer.predict(documents[:1])  # warm-up, as the batch workers' first batch is not timed apart
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


def measure_batch(paths: list[Path], model: str, batch_size: int, db: str, workers: int, engine: str) -> dict:
    from propscan.jobs import run_batch

    timer = Timer()
    started = time.perf_counter()
    summary = run_batch(paths, db=db, model=model, workers=workers, batch_size=batch_size, engine=engine, progress=timer)
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


def child(args: argparse.Namespace) -> None:
    paths = articles(args.data, args.articles)
    if args.measure == "bare":
        result = measure_bare(paths, args.model, args.batch_size)
    else:
        result = measure_batch(paths, args.model, args.batch_size, args.db, args.workers, args.engine)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["peak_rss_workers_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(result))


def run_child(args: argparse.Namespace, measure: str, **extra) -> dict:
    command = [sys.executable, __file__, "--measure", measure, "--model", args.model, "--articles", str(args.articles),
               "--data", str(args.data), "--batch-size", str(args.batch_size)]
    for key, value in extra.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    output = subprocess.run(command, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    return json.loads(output.stdout.strip().splitlines()[-1])


def postgres_url(given: str | None) -> str | None:
    if given:
        return given
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import pg_cluster

        return pg_cluster.fresh_database()
    except BaseException as error:  # noqa: BLE001 - pytest.skip raises a BaseException subclass
        print(f"PostgreSQL skipped: {error}", file=sys.stderr)
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fast")
    parser.add_argument("--articles", type=int, default=40)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL (default: start a throwaway cluster)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--measure", choices=("bare", "batch"), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--engine", default="local", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        child(args)
        return

    results = {"model": args.model, "articles": args.articles, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as folder:
        results["bare analyzer"] = run_child(args, "bare")
        results["sqlite, 1 worker"] = run_child(args, "batch", db=f"sqlite:///{folder}/w1.db", workers=1)
        results["sqlite, 2 workers"] = run_child(args, "batch", db=f"sqlite:///{folder}/w2.db", workers=2)
        url = postgres_url(args.postgres)
        if url:
            results["postgresql, 1 worker"] = run_child(args, "batch", db=url, workers=1)
    bare = results["bare analyzer"]["rate"]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"model {args.model}, {args.articles} PTC articles, {os.cpu_count()} CPUs")
    print(f"{'':24} {'articles/s':>10} {'% of bare':>9} {'end to end':>10} {'peak MiB':>9} {'workers MiB':>11}")
    for name, result in results.items():
        if not isinstance(result, dict):
            continue
        share = 100 * result["rate"] / bare
        end_to_end = f"{result['rate_end_to_end']:.2f}" if "rate_end_to_end" in result else "-"
        workers = f"{result['peak_rss_workers_mib']:.0f}" if result["peak_rss_workers_mib"] else "-"
        print(f"{name:24} {result['rate']:10.2f} {share:8.0f}% {end_to_end:>10} {result['peak_rss_mib']:9.0f} {workers:>11}")


if __name__ == "__main__":
    main()
