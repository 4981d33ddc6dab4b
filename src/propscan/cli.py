"""The ``propscan`` command line: parse arguments, call the library, print. No logic lives here."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

from propscan.errors import PropscanError
from propscan.version import __version__

EXIT_ERROR = 1
EXIT_USAGE = 2
Number = TypeVar("Number", int, float)  # what an option type function returns

# Largest id a run can have: SQLite and PostgreSQL store it as a signed 64-bit integer.
MAX_RUN_ID = 2**63 - 1
TECHNIQUES_HELP = (
    "techniques to keep, comma-separated: readable names or labels, any case or punctuation "
    "(e.g. 'loaded language,Exaggeration,Minimisation'; see propscan techniques)"
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING, format="%(message)s"
    )
    debug = args.debug or bool(os.environ.get("PROPSCAN_DEBUG"))
    try:
        return args.run(args) or 0
    except PropscanError as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        print("propscan: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as error:  # a path the user gave cannot be read or written: their mistake, not a bug
        if debug:
            raise
        return _fail(_describe_os_error(error))
    except Exception as error:  # a bug: one line for users, the traceback behind --debug
        if debug:
            raise
        return _fail(f"unexpected {type(error).__name__}: {error} (a bug: rerun with --debug and report the traceback)")


def _fail(message: str) -> int:
    print(f"propscan: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _describe_os_error(error: OSError) -> str:
    """``path: reason`` as the shell says it, e.g. ``/missing/x: No such file or directory``."""
    reason = error.strerror or str(error)
    return f"{error.filename}: {reason}" if error.filename is not None else reason


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (argparse prints the whole usage first), pointing at --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="propscan", description="Find propaganda techniques in news articles.")
    parser.add_argument("--version", action="version", version=f"propscan {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of unexpected errors (or set PROPSCAN_DEBUG=1)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(commands)
    return parser


# ----------------------------------------------------------------------------------- option types
def _number(value: str, kind: Callable[[str], Number], low: Number, high: Number, expected: str) -> Number:
    """``value`` read as ``kind`` within [low, high]; nan fails the comparison and is refused too."""
    try:
        number = kind(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value!r}") from None
    if not low <= number <= high:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value!r}")
    return number


def _fraction(value: str) -> float:
    return _number(value, float, 0.0, 1.0, "a number from 0 to 1")


def _positive(value: str) -> int:
    return _number(value, int, 1, sys.maxsize, "a whole number of at least 1")


def _count(value: str) -> int:
    return _number(value, int, 0, sys.maxsize, "a whole number of at least 0")


def _port(value: str) -> int:
    return _number(value, int, 1, 65535, "a port from 1 to 65535")


def _run_id(value: str) -> int:
    return _number(value, int, 1, MAX_RUN_ID, f"a run id from 1 to {MAX_RUN_ID}")


def _existing(value: str) -> Path:
    """An input path, refused before any model loads if it is missing."""
    path = Path(value)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{value}: no such file or folder")
    return path


def _output_file(value: str) -> Path:
    """A file to write, refused before the work starts rather than lost after it."""
    path = Path(value)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a folder; give a file name")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {value}: the folder {path.parent} does not exist")
    return path


def _output_folder(value: str) -> Path:
    """A folder to write files into (created if missing), refused if a file has its name."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a file; give a folder to write into")
    return path


def _model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default="accurate",
        help="accurate (default), fast, triage (screening, 40x fast's speed), fast-ptc18 (18 techniques) "
        "or a model folder",
    )
    parser.add_argument("--threads", type=_positive, default=None, help="CPU threads (default: all cores)")


@contextlib.contextmanager
def _needs_extra(command: str, extra: str) -> Iterator[None]:
    """Turn a missing optional dependency into one line that names the pip extra to install."""
    try:
        yield
    except ImportError as error:
        raise PropscanError(f"propscan {command} needs {error.name}: pip install 'propscan[{extra}]'") from None


def _data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=None, help="a PTC-format corpus folder (default: $PROPSCAN_DATA)")


def _resolve_data(args: argparse.Namespace) -> Path:
    from propscan.errors import CorpusFormatError
    from propscan.settings import get_settings

    data = args.data or get_settings().data_dir
    if data is None:
        raise CorpusFormatError("--data", None, "no corpus given: pass --data DIR or set PROPSCAN_DATA")
    return data


# ----------------------------------------------------------------------------------- analyze
def _register_analyze(commands) -> None:
    parser = commands.add_parser("analyze", help="highlight the propaganda in one article (.txt, .html, - or a URL)")
    parser.add_argument("input", help="a .txt or .html file, - for standard input, or an http(s):// URL to fetch")
    parser.add_argument("--json", action="store_true", help="print the analysis as JSON")
    parser.add_argument("--html", action="store_true", help="treat the input as HTML whatever its name")
    parser.add_argument("--threshold", type=_fraction, default=0.0, help="hide spans scoring below this (0-1)")
    parser.add_argument("--techniques", default=None, help=TECHNIQUES_HELP)
    parser.add_argument(
        "--max-bytes", type=_positive, default=None, help="refuse inputs larger than this (default 10 MB)"
    )
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="auto (default): colour in a terminal unless NO_COLOR is set; never: mark spans as [n> ... <n]",
    )
    _model_option(parser)
    parser.set_defaults(run=_analyze)


def _analyze(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from propscan.pipeline import Analyzer
    from propscan.readers.ingest import from_html, read_input
    from propscan.render import print_analysis

    document = read_input(args.input, max_bytes=args.max_bytes)
    if args.html and document.metadata.get("extracted_from") != "html":
        document = from_html(document.text, source=args.input, id=document.id)
    analyzer = Analyzer.load(args.model, threads=args.threads)
    with Progress(console=Console(stderr=True), transient=True, disable=len(document.text) < 100_000) as bar:
        task = bar.add_task("analyzing", total=len(document.text))
        analysis = analyzer.predict(
            [document],
            threshold=args.threshold,
            techniques=args.techniques,
            progress=lambda done, _: bar.update(task, completed=done),
        )[0]
    for warning in analysis.warnings:
        print(f"propscan: warning: {warning}", file=sys.stderr)
    if args.json:
        json.dump(analysis.to_dict(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        print_analysis(analysis, _console(args.color))
    return 0


def _console(color: str):
    """A console for --color: ``always`` beats NO_COLOR and pipes, ``never`` prints plain text."""
    from rich.console import Console

    if color == "always":
        return Console(force_terminal=True, no_color=False)
    return Console(color_system=None) if color == "never" else Console()


# ----------------------------------------------------------------------------------- predict
def _register_predict(commands) -> None:
    parser = commands.add_parser("predict", help="write SemEval-2020 Task 11 prediction files")
    tasks = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    si = tasks.add_parser("si", help="span identification: id<TAB>start<TAB>end")
    si.add_argument("articles", type=_existing, help="a folder of article<ID>.txt files")
    si.add_argument("-o", "--output", type=_output_file, required=True)
    _model_option(si)
    si.set_defaults(run=_predict_si)
    tc = tasks.add_parser("tc", help="label the spans of a TC template: id<TAB>technique<TAB>start<TAB>end")
    tc.add_argument("articles", type=_existing, help="a folder of article<ID>.txt files")
    tc.add_argument("--spans", type=_existing, required=True, help="a template: id<TAB>?<TAB>start<TAB>end")
    tc.add_argument("-o", "--output", type=_output_file, required=True)
    _model_option(tc)
    tc.set_defaults(run=_predict_tc)


def _predict_si(args: argparse.Namespace) -> int:
    from propscan.pipeline import Analyzer
    from propscan.readers.ptc import read_articles, write_si

    articles = read_articles(args.articles)
    analyzer = Analyzer.load(args.model, threads=args.threads)
    documents = list(articles.values())
    analyses = analyzer.predict(documents, progress=_progress_printer("predict si"))
    write_si(args.output, [(a.document.id, a.spans) for a in analyses])
    return 0


def _predict_tc(args: argparse.Namespace) -> int:
    from propscan.pipeline import Analyzer
    from propscan.readers.ptc import read_articles, read_template, write_tc

    articles = read_articles(args.articles)
    template = read_template(args.spans, articles)
    analyzer = Analyzer.load(args.model, threads=args.threads)
    write_tc(
        args.output, [(ident, analyzer.model.classify(articles[ident], spans)) for ident, spans in template.items()]
    )
    return 0


def _progress_printer(label: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        print(f"\r{label}: {done / max(total, 1):6.1%}", end="" if done < total else "\n", file=sys.stderr)

    return report


# ----------------------------------------------------------------------------------- evaluate
# How far the scores are probabilities, from ``training.evaluate``'s report: spans, sentences, articles.
CALIBRATION_FIGURES = ("ece", "sentence_ece", "article_score_mae")


def _register_evaluate(commands) -> None:
    parser = commands.add_parser("evaluate", help="score a model on a labelled PTC-format folder")
    _data_option(parser)
    parser.add_argument(
        "--split",
        choices=("test", "validation", "all"),
        default="test",
        help="test: the articles the training recipe holds out of every choice (default); "
        "validation: those that choose epochs, bias and calibration; all: every article",
    )
    parser.add_argument("--labels", type=_existing, default=None, help="a label file or folder overriding the search")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    _model_option(parser)
    parser.set_defaults(run=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from propscan.pipeline import Analyzer
    from propscan.readers.ptc import load_corpus
    from propscan.scoring import bootstrap_intervals
    from propscan.techniques import get_inventory
    from propscan.training import evaluate, split_corpus

    analyzer = Analyzer.load(args.model, threads=args.threads)
    corpus = load_corpus(_resolve_data(args), get_inventory(analyzer.model.config.inventory), labels=args.labels)
    if args.split != "all":
        corpus = getattr(split_corpus(corpus), args.split)
    report = evaluate(analyzer.model, corpus)
    si, tc = report["si"], report["tc"]
    # How far each figure could move on other articles like these: a test split of 75 articles
    # holds 10-20 spans of the rare techniques, and their F1 alone would read as exact.
    intervals = bootstrap_intervals(report["si_counts"], report["tc_counts"])
    if args.json:
        json.dump(
            {
                "articles": len(corpus),
                "si": vars(si) | {"f1_interval": intervals.si_f1},
                "tc": {
                    "micro": vars(tc.micro) | {"f1_interval": intervals.tc_micro_f1},
                    "macro_f1": tc.macro_f1,
                    "macro_f1_interval": intervals.tc_macro_f1,
                    "per_technique": {
                        k: vars(v) | {"f1_interval": intervals.per_technique.get(k)}
                        for k, v in tc.per_technique.items()
                    },
                },
                "interval_level": intervals.level,
                "calibration": {key: report[key] for key in CALIBRATION_FIGURES},
            },
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
        return 0

    def interval(bounds: tuple[float, float] | None) -> str:
        return f"{bounds[0]:.3f}-{bounds[1]:.3f}" if bounds else ""

    console = Console()
    console.print(f"{len(corpus)} articles, model {analyzer.name}")
    console.print(
        f"SI  precision {si.precision:.4f}  recall {si.recall:.4f}  F1 {si.f1:.4f} "
        f"(95% interval {interval(intervals.si_f1)})  ({si.support} gold spans)"
    )
    console.print(
        f"TC  micro-F1 {tc.micro.f1:.4f} ({interval(intervals.tc_micro_f1)})  macro-F1 {tc.macro_f1:.4f} "
        f"({interval(intervals.tc_macro_f1)})  ({tc.micro.support} gold spans)"
    )
    table = Table(title="TC per technique (95% intervals: the articles drawn again with replacement)")
    for column in ("technique", "precision", "recall", "F1", "95% interval", "support"):
        table.add_column(column, justify="left" if column == "technique" else "right")
    for technique, prf in tc.per_technique.items():
        table.add_row(
            technique,
            f"{prf.precision:.3f}",
            f"{prf.recall:.3f}",
            f"{prf.f1:.3f}",
            interval(intervals.per_technique.get(technique)),
            str(prf.support),
        )
    console.print(table)
    console.print(
        f"Scores  span ECE {report['ece']:.4f}  sentence ECE {report['sentence_ece']:.4f}  article score "
        f"error {report['article_score_mae']:.4f} (mean absolute, against each article's share of marked sentences)"
    )
    return 0


# ----------------------------------------------------------------------------------- train
def _register_train(commands) -> None:
    parser = commands.add_parser("train", help="train a model on a PTC-format corpus")
    _data_option(parser)
    parser.add_argument("--model", default="accurate", help="the preset to train: accurate, fast, triage or fast-ptc18")
    parser.add_argument(
        "--inventory",
        default=None,
        help="semeval2020 (14 classes) or ptc18 (18 techniques); default: the preset's (ptc18 for fast-ptc18)",
    )
    parser.add_argument("--labels", type=_existing, default=None, help="a label file or folder overriding the search")
    parser.add_argument("--output", type=Path, default=None, help="where to save (default: models/<preset>)")
    parser.add_argument(
        "--epochs",
        type=_positive,
        default=None,
        help="most tagger epochs (default: the preset's; the best on validation is kept)",
    )
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument(
        "--format",
        choices=("ptc", "label-studio"),
        default="ptc",
        help="ptc: --data is a PTC folder (default); label-studio: --data is a Label Studio JSON export",
    )
    parser.set_defaults(run=_train, verbose=True)  # training always reports its progress


def _train(args: argparse.Namespace) -> int:
    from propscan.readers.ptc import load_corpus
    from propscan.techniques import get_inventory
    from propscan.training import preset_config, train

    config = preset_config(args.model, args.inventory)
    inventory = get_inventory(config.inventory)
    if args.epochs is not None:
        config.tagger_epochs = args.epochs
    output = args.output or Path("models") / args.model
    if args.format == "label-studio":
        from propscan.readers.labelstudio import read_labelstudio

        corpus = read_labelstudio(_resolve_data(args), inventory)
    else:
        corpus = load_corpus(_resolve_data(args), inventory, labels=args.labels)
    model = train(
        corpus,
        config,
        output,
        validation_fraction=args.validation_fraction,
        log=lambda message: print(message, file=sys.stderr, flush=True),
    )
    print(json.dumps(model.config.metrics, indent=2))
    print(f"saved to {output}", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------------- techniques
def _register_techniques(commands) -> None:
    parser = commands.add_parser("techniques", help="list the techniques with their definitions")
    parser.add_argument("--inventory", default="semeval2020", help="semeval2020 (14 classes) or ptc18 (18)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=_techniques)


def _techniques(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from propscan.techniques import get_inventory

    techniques = get_inventory(args.inventory).techniques()
    if args.json:
        json.dump([asdict(t) for t in techniques], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(
        "Each technique: its readable name, then its label (JSON and SemEval files). --techniques takes\n"
        "either, in any case and punctuation, comma-separated: --techniques 'loaded language,Doubt'\n"
    )
    for technique in techniques:
        print(f"{technique.name} ({technique.label})\n  {technique.definition}\n  e.g. {technique.example}\n")
    return 0


# ----------------------------------------------------------------------------------- serve
def _register_serve(commands) -> None:
    parser = commands.add_parser("serve", help="serve the REST API and the reading page (needs the serve extra)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--workers", type=int, default=1, help="processes, each loading the model once (default 1)")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    _model_option(parser)
    parser.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    with _needs_extra("serve", "serve"):
        from propscan.api import serve

    if args.workers < 1:
        raise PropscanError(f"--workers must be at least 1, got {args.workers}")
    serve(
        host=args.host,
        port=args.port,
        workers=args.workers,
        model=args.model,
        threads=args.threads,
        log_level=args.log_level,
    )
    return 0


# ----------------------------------------------------------------------------------- batch
def _register_batch(commands) -> None:
    parser = commands.add_parser("batch", help="analyze a corpus into a database (resumable; needs the batch extra)")
    parser.add_argument("inputs", nargs="*", help="folders of .txt/.html, .jsonl, .warc(.gz), .rss/.atom/.xml files")
    parser.add_argument(
        "--urls", action="append", default=[], metavar="FILE", help="a file of URLs to fetch, one a line (repeatable)"
    )
    parser.add_argument(
        "--source", default=None, help="the outlet of documents whose input names none (default: a .txt file's folder)"
    )
    parser.add_argument("--db", default=None, help="database URL or SQLite file (default sqlite:///propscan.db)")
    parser.add_argument(
        "--workers", type=_positive, default=1, help="analyzer processes (local) or actors (ray) (default 1)"
    )
    parser.add_argument(
        "--engine", choices=("local", "ray"), default="local", help="local processes (default) or a Ray cluster"
    )
    parser.add_argument(
        "--ray-address",
        default=None,
        help="Ray cluster to join: HOST:6379 from a node, ray://HOST:10001 from anywhere (default: $RAY_ADDRESS, else a local instance)",
    )
    parser.add_argument("--batch-size", type=_positive, default=8, help="documents analyzed together (default 8)")
    parser.add_argument("--threshold", type=_fraction, default=0.0, help="drop spans scoring below this (0-1)")
    parser.add_argument("--techniques", default=None, help=TECHNIQUES_HELP)
    parser.add_argument("--retry-failed", action="store_true", help="analyze again the documents that failed last time")
    parser.add_argument(
        "--max-bytes", type=_positive, default=None, help="refuse articles larger than this (default 10 MB)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    _model_option(parser)
    parser.add_argument(
        "--then",
        default=None,
        metavar="MODEL",
        help="a cascade: --model screens every sentence, this model (accurate, fast or a folder) analyzes "
        "the passages it flags and its spans replace --model's there; spans name the model that found them",
    )
    parser.add_argument(
        "--flag-threshold",
        type=_fraction,
        default=None,
        help="with --then: send a sentence on when a --model span touching it scores at least this "
        "(default 0.2; 0.05 when --model is a triage model)",
    )
    parser.add_argument(
        "--context",
        type=_count,
        default=None,
        help="with --then: sentences on either side of a flagged one that --then also reads (default 1)",
    )
    parser.add_argument(
        "--confirmed-only",
        action="store_const",
        const=False,
        default=None,
        dest="keep_screened",
        help="with --then: keep only the spans of --then, none of --model's outside the flagged passages",
    )
    parser.set_defaults(run=_batch)


def _batch(args: argparse.Namespace) -> int:
    with _needs_extra("batch", "batch"):
        from propscan.batch.jobs import run_batch
        from propscan.batch.jobs.progress import RichProgress

    if not args.inputs and not args.urls:
        raise PropscanError("batch needs inputs: folders or files, or --urls FILE")
    with RichProgress("analyzing", disable=args.no_progress) as progress:
        summary = run_batch(
            args.inputs,
            urls=args.urls,
            source=args.source,
            db=args.db,
            model=args.model,
            engine=args.engine,
            workers=args.workers,
            threads=args.threads,
            batch_size=args.batch_size,
            threshold=args.threshold,
            techniques=args.techniques,
            retry_failed=args.retry_failed,
            ray_address=args.ray_address,
            max_bytes=args.max_bytes,
            progress=progress,
            then=args.then,
            flag_threshold=args.flag_threshold,
            context=args.context,
            keep_screened=args.keep_screened,
        )
    earlier = (
        f", {summary.failed_before} failed before (--retry-failed tries them again)" if summary.failed_before else ""
    )
    print(
        f"run {summary.run.id} ({summary.run.model}): {summary.analyzed} analyzed, {summary.failed} failed{earlier}, "
        f"{summary.skipped} already done, {summary.spans} spans in {summary.seconds:.1f}s",
        file=sys.stderr,
    )
    return 0 if summary.complete else EXIT_ERROR


# ----------------------------------------------------------------------------------- report
def _register_report(commands) -> None:
    parser = commands.add_parser("report", help="technique rates per 1,000 words by source, month or technique")
    parser.add_argument("--db", default=None, help="database URL or SQLite file (default sqlite:///propscan.db)")
    parser.add_argument("--by", choices=("source", "month", "technique"), default="source")
    parser.add_argument("--run", dest="run_id", type=_run_id, default=None, help="run id (default: the latest)")
    parser.add_argument("--source", action="append", default=[], help="keep this outlet (repeatable)")
    parser.add_argument("--since", type=_date, default=None, help="published on or after YYYY-MM-DD")
    parser.add_argument("--until", type=_date, default=None, help="published on or before YYYY-MM-DD")
    parser.add_argument(
        "--technique", action="append", default=[], help="count only this technique, by name or label (repeatable)"
    )
    parser.add_argument("--min-score", type=_fraction, default=0.0, help="count only spans scoring at least this")
    parser.add_argument("--examples", type=_count, default=3, help="top examples per technique (default 3)")
    parser.add_argument(
        "--csv", type=_output_folder, default=None, metavar="DIR", help="also write rates and examples as CSV here"
    )
    parser.add_argument("--plot", type=_output_folder, default=None, metavar="DIR", help="write PNG charts here")
    parser.set_defaults(run=_report)


def _date(value: str):
    import datetime

    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {value!r}") from None


def _report(args: argparse.Namespace) -> int:
    from propscan.techniques import labels_named

    with _needs_extra("report", "batch"):
        from propscan.batch.report import Filters, build_report, plot, print_report, write_csv
        from propscan.batch.store import Store

    filters = Filters(tuple(args.source), args.since, args.until, labels_named(args.technique), args.min_score)
    with Store.open(args.db) as store:
        report = build_report(store, by=args.by, run_id=args.run_id, filters=filters, examples=args.examples)
        print_report(report)
        written = write_csv(report, args.csv) if args.csv else []
        written += plot(store, args.plot, run_id=report.run.id, filters=filters) if args.plot else []
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------------- export
def _register_export(commands) -> None:
    parser = commands.add_parser("export", help="write a run's analyses as JSONL, SemEval TSV or Label Studio tasks")
    parser.add_argument("--db", default=None, help="database URL or SQLite file (default sqlite:///propscan.db)")
    parser.add_argument("--format", choices=("jsonl", "semeval", "label-studio"), default="jsonl")
    parser.add_argument("--run", dest="run_id", type=_run_id, default=None, help="run id (default: the latest)")
    parser.add_argument("--min-score", type=_fraction, default=0.0, help="leave out spans scoring below this")
    parser.add_argument("-o", "--output", type=_output_file, required=True)
    parser.set_defaults(run=_export)


def _export(args: argparse.Namespace) -> int:
    with _needs_extra("export", "batch"):
        from propscan.batch.export import export
        from propscan.batch.store import Store

    with Store.open(args.db) as store:
        run, count, written = export(store, args.format, args.output, run_id=args.run_id, min_score=args.min_score)
    print(f"run {run.id} ({run.model}): {count} documents -> {', '.join(map(str, written))}", file=sys.stderr)
    return 0


COMMANDS = [
    _register_analyze,
    _register_predict,
    _register_evaluate,
    _register_train,
    _register_techniques,
    _register_serve,
    _register_batch,
    _register_report,
    _register_export,
]

if __name__ == "__main__":
    sys.exit(main())
