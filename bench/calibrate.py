"""Calibrate a trained model's span scores on annotated articles it never trained on, and measure it.

The calibration error is cross-fitted: the articles are split in two halves by a hash of their id,
the map fitted on one half is scored on the other and the other way round, so every figure comes
from articles that fitted nothing. ``--write`` then fits the map on all the articles and stores it
in the model folder's ``config.json``. By default the articles are the model's own validation
split (``split_ids``), which the shipped 0.2.0 models never trained on.

    python bench/calibrate.py --model fast --data ../shared/data/ptc --plot docs/reliability-fast.png
    python bench/calibrate.py --model src/propscan/models/accurate --data ../shared/data/ptc --write
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from cross_validate import plot_reliability

from propscan.model import PropagandaModel
from propscan.pipeline import model_path
from propscan.readers.ptc import load_corpus, split_ids
from propscan.scoring import is_right, reliability
from propscan.techniques import get_inventory
from propscan.training import fit_calibration


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fast", help="a preset name or a model folder")
    parser.add_argument("--data", type=Path, default=os.environ.get("PROPSCAN_DATA"), help="a PTC-format corpus folder")
    parser.add_argument("--all", action="store_true", help="use every article of --data, not the validation split")
    parser.add_argument(
        "--write", action="store_true", help="store the map fitted on all the articles in the model's config.json"
    )
    parser.add_argument("--plot", type=Path, help="write the cross-fitted reliability diagram here (PNG)")
    args = parser.parse_args()
    if args.data is None:
        parser.error("give --data or set PROPSCAN_DATA")

    folder = model_path(args.model)
    model = PropagandaModel.load(folder)
    corpus = load_corpus(args.data, get_inventory(model.config.inventory))
    if not args.all:
        _, keep = split_ids(d.document.id for d in corpus)
        corpus = [d for d in corpus if d.document.id in set(keep)]
    encoded = model.encode([d.document.text for d in corpus])
    halves = [[i for i, d in enumerate(corpus) if _half(d.document.id) == h] for h in (0, 1)]

    model.config.calibration = {}
    raw = _scored(model, corpus, encoded, range(len(corpus)))
    calibrated = []
    for fit_half, score_half in ((halves[0], halves[1]), (halves[1], halves[0])):
        model.config.calibration = fit_calibration(model, [corpus[i] for i in fit_half], [encoded[i] for i in fit_half])
        calibrated += _scored(model, corpus, encoded, score_half)
    before = reliability(*zip(*raw, strict=True))
    after = reliability(*zip(*calibrated, strict=True))
    print(f"{folder.name}: {len(corpus)} articles, {len(calibrated)} predicted spans")
    print(
        f"expected calibration error, 10 bins: {before.ece:.4f} uncalibrated, {after.ece:.4f} calibrated (cross-fitted)"
    )
    print("bin  mean score  share right  spans")
    for low, mean_score, share, count in after.bins:
        print(f"{low:.1f}  {mean_score:10.3f}  {share:11.3f}  {count:5d}")
    if args.plot:
        plot_reliability(
            [list(b) for b in after.bins],
            args.plot,
            f"{folder.name}: cross-fitted on {len(corpus)} articles, ECE {after.ece:.3f}",
        )
    if args.write:
        model.config.calibration = fit_calibration(model, corpus, encoded)
        model.config.metrics.update(
            calibration_articles=len(corpus),
            calibration_ece_uncalibrated=round(before.ece, 4),
            calibration_ece_cross_fitted=round(after.ece, 4),
        )
        # save rewrites the manifest too: a config.json changed behind it would be refused at load.
        model.save(folder)
        print(f"calibration written to {folder / 'config.json'}")
    return 0


def _half(ident: str) -> int:
    return int(hashlib.sha256(ident.encode()).hexdigest(), 16) % 2


def _scored(model: PropagandaModel, corpus, encoded, indices) -> list[tuple[float, bool]]:
    """(score, right) of every span predicted in the given articles."""
    indices = list(indices)
    predicted = model.predict([corpus[i].document for i in indices], [encoded[i] for i in indices])
    return [
        (span.score or 0.0, is_right(span, corpus[i].spans))
        for i, spans in zip(indices, predicted, strict=True)
        for span in spans
    ]


if __name__ == "__main__":
    sys.exit(main())
