"""The models shipped in the package load on a fresh clone and find propaganda where it is."""

from pathlib import Path

import pytest

from propscan import Analyzer
from propscan.document import Document, merge_intervals
from propscan.errors import ModelError
from propscan.model import PRESETS, PropagandaModel
from propscan.model.propaganda import ENCODER_FILE
from propscan.model.span_reader import READER_FILE
from propscan.pipeline import model_path
from propscan.training.selection import PRIOR_CORRECTIONS

SEED = Path(__file__).resolve().parents[2] / "shared" / "examples" / "isis-crushing-americans.txt"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "harbour-bridge.txt"


def test_the_shipped_models_fit_the_repository_budget():
    sizes = {preset: sum(f.stat().st_size for f in model_path(preset).iterdir()) for preset in PRESETS}
    assert sum(sizes.values()) < 60_000_000, sizes


def test_no_two_presets_ship_the_same_file():
    """A file two presets need ships once: fast reads accurate's span reader (config.reader_from)."""
    files = [
        f for preset in PRESETS for f in model_path(preset).iterdir() if f.name not in ("config.json", "manifest.json")
    ]
    by_content: dict[bytes, list[str]] = {}
    for f in files:
        by_content.setdefault(f.read_bytes(), []).append(f"{f.parent.name}/{f.name}")
    assert all(len(names) == 1 for names in by_content.values()), [n for n in by_content.values() if len(n) > 1]
    fast = Analyzer.load("fast").model
    assert fast.config.reader_from == "accurate"
    assert fast.reader_.packed == (model_path("accurate") / READER_FILE).read_bytes()


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_shipped_model_is_measured(preset):
    folder = model_path(preset)
    analyzer = Analyzer.load(preset)
    metrics = analyzer.model.config.metrics
    # Presets trained since the recipe holds out test articles report on them; 0.2.0's on validation.
    side = "test" if "test_si_f1" in metrics else "validation"
    assert metrics[f"{side}_si_f1"] > 0.3 and metrics[f"{side}_tc_micro_f1"] > 0.5
    # A preset whose recipe fine-tunes a span reader ships it, and uses it; so for a fine-tuned encoder.
    has_reader = bool(getattr(PRESETS[preset], "reader_epochs", 0))
    borrowed = getattr(analyzer.model.config, "reader_from", "")
    assert (folder / READER_FILE).exists() == (has_reader and not borrowed)
    assert (getattr(analyzer.model, "reader_", None) is not None) == has_reader
    tuned = bool(getattr(PRESETS[preset], "encoder_epochs", 0))
    assert (folder / ENCODER_FILE).exists() == tuned
    assert (getattr(analyzer.model, "encoder_deltas_", None) is not None) == tuned
    # A preset whose recipe names a partner runs its tagger, at a weight its validation articles chose.
    partner = getattr(PRESETS[preset], "partner", "")
    assert getattr(analyzer.model.config, "partner", "") == partner
    assert (getattr(analyzer.model, "partner_", None) is not None) == bool(partner)
    assert bool(getattr(analyzer.model.config, "partner_weight", 0.0)) == bool(partner)
    assert getattr(analyzer.model.config, "partner_technique_weight", 0.0) == getattr(
        PRESETS[preset], "partner_technique_weight", 0.0
    )
    # As many tagger seeds vote on the spans as the recipe trains.
    assert getattr(analyzer.model.config, "tagger_seeds", 1) == getattr(PRESETS[preset], "tagger_seeds", 1)
    # Every preset made the recipe's technique-prior choice on its validation articles.
    config = analyzer.model.config
    assert len(config.technique_shares) == len(config.labels) and config.prior_correction in PRIOR_CORRECTIONS
    assert "validation_tc_macro_f1" in metrics


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_shipped_model_highlights_our_example(preset):
    text = EXAMPLE.read_text()
    analysis = Analyzer.load(preset).analyze(text)
    found = {text[s.start : s.end] for s in analysis.spans}
    assert len(analysis.spans) >= 3
    assert any("shameless" in piece or "betrayal" in piece for piece in found)
    # The factual sentence about the inspection report is not where the propaganda is.
    factual = text.index("The council says the repairs")
    sentence = next(s for s in analysis.sentences if s.start == factual)
    assert sentence.score < max(s.score for s in analysis.sentences)


@pytest.mark.skipif(not SEED.exists(), reason="../shared/examples is not beside the repo")
def test_accurate_model_on_the_seed_article():
    text = SEED.read_text()
    analysis = Analyzer.load("accurate").analyze(text)
    techniques = {s.technique for s in analysis.spans}
    assert len(analysis.spans) >= 4
    assert techniques & {"Loaded_Language", "Name_Calling,Labeling"}
    # The question about "this mad sectarian state" is where a reader should look.
    loaded = text.index("mad sectarian state")
    assert any(s.start <= loaded < s.end for s in analysis.spans)
    assert 0.0 < analysis.score < 1.0


def test_accurate_shows_loaded_phrases_nested_in_its_longer_spans():
    """Each nested span lies inside an earlier span of another technique, shows one of the nested
    techniques, and adds nothing to SI: the spans without them are the same spans."""
    document = Document(EXAMPLE.read_text())
    folder = model_path("accurate")
    with_nested = PropagandaModel.load(folder).predict([document])[0]
    without = PropagandaModel.load(folder, nested_techniques=[]).predict([document])[0]
    nested = [s for s in with_nested if s not in without]
    assert nested and len(with_nested) == len(without) + len(nested)
    shown = set(PRESETS["accurate"].nested_techniques)
    for span in nested:
        parent = next(s for s in reversed(with_nested[: with_nested.index(span)]) if s not in nested)
        assert span.technique in shown and span.technique != parent.technique
        assert (
            parent.start <= span.start
            and span.end <= parent.end
            and (span.start, span.end) != (parent.start, parent.end)
        )
    assert merge_intervals((s.start, s.end) for s in with_nested) == merge_intervals((s.start, s.end) for s in without)


def test_a_nested_technique_the_model_cannot_name_is_refused_at_load():
    with pytest.raises(ModelError, match="nested techniques it has no label for: Nope"):
        PropagandaModel.load(model_path("accurate"), nested_techniques=["Nope"])
