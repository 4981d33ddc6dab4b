"""What the span reader adds to technique classification (TC), on articles that chose nothing.

Labels every gold span of the recipe's test articles (``training.test_ids``) three ways with a
model trained on the development articles only (``bench/cross_validate.py --test --save MODEL``):
the classifier over the tagger's states alone, the span reader alone, and their mean, which is
what the model uses. Prints TC micro- and macro-F1 and F1 per technique for each.

    python bench/reader_tc.py --data ../shared/data/ptc --model /tmp/accurate-test
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from propscan.document import Span
from propscan.model.propaganda import PropagandaModel, label_listed_spans
from propscan.readers.ptc import load_corpus
from propscan.scoring import tc_score
from propscan.techniques import get_inventory
from propscan.training.recipe import test_ids

WAYS = ("classifier", "span reader", "mean of both (the model)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=os.environ.get("PROPSCAN_DATA"), help="a PTC-format corpus folder")
    parser.add_argument(
        "--model", type=Path, required=True, help="a model with a span reader, trained without the test articles"
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.data is None:
        parser.error("give --data or set PROPSCAN_DATA")
    model = PropagandaModel.load(args.model, threads=args.threads)
    if model.reader_ is None:
        parser.error(f"{args.model} has no span reader")
    reader = model.reader_
    classifier = PropagandaModel.load(args.model, threads=args.threads, reader_epochs=0)
    corpus = load_corpus(args.data, get_inventory(model.config.inventory))
    held_out = set(test_ids(d.document.id for d in corpus))
    test = [d for d in corpus if d.document.id in held_out]
    print(f"{len(test)} test articles, {sum(len(d.spans) for d in test)} gold spans")
    # Each article is encoded once and shared: the classifier-only model never builds its encoder.
    predicted: dict[str, dict[str, list[Span]]] = {way: {} for way in WAYS}
    for d in test:
        listed = [(s.start, s.end) for s in d.spans]
        unique = list(dict.fromkeys(listed))
        [enc] = model.encode([d.document.text])
        rows = (
            classifier.technique_probabilities(d.document, unique, enc),
            reader.probabilities(d.document.text, unique),
            model.technique_probabilities(d.document, unique, enc),
        )
        for way, probabilities in zip(WAYS, rows, strict=True):
            by_span = dict(zip(unique, probabilities, strict=True))
            predicted[way][d.document.id] = label_listed_spans(listed, by_span, model.config.labels)
    gold = {d.document.id: d.spans for d in test}
    for way in WAYS:
        # TC as SemEval scores it: a gold span listed k times gets its k most likely techniques.
        report = tc_score(gold, predicted[way])
        print(f"{way}: TC micro-F1 {report.micro.f1:.4f}, macro-F1 {report.macro_f1:.4f}")
        for technique, prf in report.per_technique.items():
            print(f"  {technique:40s} F1 {prf.f1:.3f} ({prf.support} gold)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
