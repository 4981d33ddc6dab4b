"""End to end on the fixture: train, save, load, predict, and the analyzer's guarantees."""

import itertools
import json
import shutil
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from propscan import Analyzer, Document, InputError, ModelError, NotFittedError, Span
from propscan.document import Analysis
from propscan.model import PropagandaModel, propaganda
from propscan.model.config import ModelConfig, preset_folder
from propscan.model.decoding import FoundSpan, Transitions
from propscan.model.features import SURFACE_FEATURES
from propscan.model.span_reader import READER_FILE
from propscan.pipeline import predict_each, segments
from propscan.training import preset_config
from propscan.training.recipe import fit
from propscan.training.selection import choose_decoding, choose_prior_correction


def test_unfitted_model_says_how_to_fix_it():
    with pytest.raises(NotFittedError, match=r"PropagandaModel\.load"):
        PropagandaModel(ModelConfig(labels=["Doubt"])).predict([Document("Some text.")])


def test_saved_model_has_config_and_small_heads(tiny_model_dir):
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["model_type"] == "propscan-span-tagger"
    assert config["encoder"] == "all-MiniLM-L6-v2" and config["int8"] is True
    assert len(config["labels"]) == 14 and config["propscan_version"]
    names = {f.name for f in tiny_model_dir.iterdir()}
    assert names == {"config.json", "tagger.onnx", "classifier.onnx", "transitions.safetensors", "manifest.json"}
    assert sum(f.stat().st_size for f in tiny_model_dir.iterdir()) < 30_000_000


def test_training_makes_its_choices_on_validation(tiny_corpus):
    # The trained model's own emissions on its validation article choose the decoding it was given.
    pytest.importorskip("torch")
    config = preset_config("fast")
    config.ensemble, config.tagger_epochs, config.classifier_epochs, config.encoder_epochs = 1, 2, 5, 0
    config.reader_epochs = 0
    validation = list(tiny_corpus[-1:])
    model = fit(PropagandaModel(config), list(tiny_corpus[:-1]), validation)
    encoded = model.encode([d.document.text for d in validation])
    emissions = [model.tagger_outputs(enc)[0] for enc in encoded]
    chosen = choose_decoding(validation, [enc.offsets for enc in encoded], emissions, model.transitions_)
    assert (chosen.outside_bias, chosen.inside_bias) == (model.config.outside_bias, model.config.inside_bias)
    assert round(chosen.si_f1, 4) == model.config.metrics["validation_si_f1"]
    # So do its technique probabilities, uncorrected, for the prior correction.
    assert len(model.config.technique_shares) == len(config.labels)
    assert abs(sum(model.config.technique_shares) - 1) < 1e-3
    strength = model.config.prior_correction
    model.config.prior_correction = 0.0
    document = validation[0]
    spans = list(dict.fromkeys((s.start, s.end) for s in document.spans))
    rows = model.technique_probabilities(document.document, spans, encoded[0])
    correction = choose_prior_correction(validation, [dict(zip(spans, rows, strict=True))], model.config)
    assert correction.strength == strength
    assert round(correction.tc_macro_f1, 4) == model.config.metrics["validation_tc_macro_f1"]


def test_analysis_needs_neither_torch_nor_transformers(tiny_model_dir):
    code = (
        "import sys; from propscan import Analyzer; "
        f"analysis = Analyzer.load({str(tiny_model_dir)!r}).analyze('They betrayed us all. Shameful!'); "
        "print(sorted(m for m in ('torch', 'transformers', 'torchcrf') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_model_in_the_old_format_is_refused_with_a_hint(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "weights.safetensors").write_bytes(b"")
    with pytest.raises(ModelError, match=r"saved by propscan 0\.1; retrain it"):
        PropagandaModel.load(tmp_path)


def test_round_trip_gives_identical_predictions(tiny_model_dir, tiny_corpus):
    documents = [d.document for d in tiny_corpus]
    first = PropagandaModel.load(tiny_model_dir).predict(documents)
    second = PropagandaModel.load(tiny_model_dir).predict(documents)
    assert first == second


def test_a_batch_gives_what_each_document_gives_alone(tiny_model_dir, tiny_corpus):
    # predict encodes the next documents while it labels these: order and results must not change.
    model = PropagandaModel.load(tiny_model_dir, outside_bias=-2.0)
    documents = [d.document for d in tiny_corpus] + [Document("Shameful! They betrayed us.")]
    together = model.predict(documents)
    assert together == [model.predict([d])[0] for d in documents]
    assert any(together)


def test_load_overrides_config_fields(tiny_model_dir):
    model = PropagandaModel.load(tiny_model_dir, outside_bias=-9.0)
    assert model.config.outside_bias == -9.0
    # A strongly negative outside bias marks almost everything as propaganda.
    text = "The reckless waste will bankrupt every family. Only fools trust them."
    spans = model.predict([Document(text)])[0]
    assert spans and sum(s.end - s.start for s in spans) > len(text) / 2


def test_classify_follows_tc_template_semantics(tiny_model_dir, tiny_corpus):
    model = PropagandaModel.load(tiny_model_dir)
    document = tiny_corpus[3].document
    labelled = model.classify(document, [(249, 268), (249, 268), (105, 124)])
    assert [(s.start, s.end) for s in labelled] == [(249, 268), (249, 268), (105, 124)]
    assert labelled[0].technique != labelled[1].technique  # a repeated span gets its next best technique
    assert all(0.0 <= s.score <= 1.0 for s in labelled)


@pytest.fixture()
def eager_analyzer(tiny_model_dir):
    """The tiny model with a strong bias towards finding spans, so that every check has some."""
    return Analyzer(PropagandaModel.load(tiny_model_dir, outside_bias=-4.0))


def test_analyzer_offsets_are_exact_on_windows_line_endings(eager_analyzer, tiny_corpus):
    analyzer = eager_analyzer
    text = tiny_corpus[0].document.text.replace("\n", "\r\n")
    analysis = analyzer.analyze(text, threshold=0.0)
    payload = analysis.to_dict()
    assert payload["text"] == text
    assert payload["spans"]
    for span in payload["spans"]:
        assert text[span["start"] : span["end"]] == span["text"]
        assert span["text"] == span["text"].strip(" \r\n\t.,:;")
    assert len(payload["sentences"]) == 6  # the title and five body lines
    assert 0.0 <= payload["score"] <= 1.0


def test_long_documents_are_segmented_without_moving_offsets(eager_analyzer, tiny_corpus, monkeypatch):
    analyzer = eager_analyzer
    text = "\n".join(d.document.text for d in tiny_corpus) * 3
    whole = analyzer.analyze(text)
    monkeypatch.setattr("propscan.pipeline.SEGMENT_CHARS", 400)
    seen = []
    pieces = analyzer.predict([Document(text)], progress=lambda done, total: seen.append((done, total)))[0]
    assert seen[-1] == (len(text), len(text)) and len(seen) > 3
    assert pieces.spans and whole.spans
    for span in pieces.spans:
        assert 0 <= span.start < span.end <= len(text)
        assert text[span.start : span.end].strip() == text[span.start : span.end]


def test_segments_cut_at_line_breaks():
    text = ("a" * 30 + "\n") * 10
    cuts = segments(text, size=100)
    assert cuts[0][0] == 0 and cuts[-1][1] == len(text)
    assert all(text[end - 1] == "\n" for _, end in cuts[:-1])
    assert all(b == c for (_, b), (c, _) in itertools.pairwise(cuts))


def test_threshold_and_technique_filters(eager_analyzer, tiny_corpus):
    analyzer = eager_analyzer
    text = tiny_corpus[1].document.text
    everything = analyzer.analyze(text, threshold=0.0)
    assert everything.spans
    assert analyzer.analyze(text, threshold=1.01).spans == ()
    technique = everything.spans[0].technique
    only = analyzer.analyze(text, techniques=[technique])
    assert only.spans and {s.technique for s in only.spans} == {technique}


def test_predict_takes_strings_as_well_as_documents(eager_analyzer, tiny_corpus):
    document = tiny_corpus[1].document
    from_text, from_document = eager_analyzer.predict([document.text, document])
    assert from_text.spans == from_document.spans and from_text.document.text == document.text
    with pytest.raises(TypeError, match="analyze"):
        eager_analyzer.predict(document.text)


def test_analyzer_refuses_empty_text(tiny_model_dir):
    with pytest.raises(InputError, match="empty"):
        Analyzer.load(tiny_model_dir).analyze("  \n ")


@pytest.mark.slow  # trains a model
def test_training_on_the_eighteen_ptc_techniques(tmp_path, tiny_corpus):
    from propscan.document import AnnotatedDocument
    from propscan.techniques import PTC18
    from propscan.training import preset_config, train

    # The fixture uses SemEval's merged class; the 18-technique inventory names the technique itself.
    corpus = [
        AnnotatedDocument(
            d.document,
            tuple(
                Span(s.start, s.end, "Bandwagon" if s.technique.startswith("Bandwagon") else s.technique)
                for s in d.spans
            ),
        )
        for d in tiny_corpus
    ]
    config = preset_config("fast-ptc18")
    config.ensemble, config.tagger_epochs, config.classifier_epochs = 1, 1, 3
    train(corpus, config, tmp_path / "m18", validation_fraction=0.3)
    model = PropagandaModel.load(tmp_path / "m18")
    assert model.config.labels == list(PTC18.labels) and model.config.inventory == "ptc18"
    labelled = model.classify(corpus[2].document, [(258, 275)])
    assert labelled[0].technique in PTC18.labels


def test_a_preset_brings_its_own_inventory_unless_told_otherwise():
    from propscan.techniques import PTC18, SEMEVAL2020
    from propscan.training import preset_config

    eighteen = preset_config("fast-ptc18")
    assert eighteen.inventory == "ptc18" and eighteen.labels == list(PTC18.labels) and len(eighteen.labels) == 18
    assert preset_config("fast").labels == list(SEMEVAL2020.labels)
    assert preset_config("fast-ptc18", "semeval2020").labels == list(SEMEVAL2020.labels)
    assert preset_config("fast", "ptc18").labels == list(PTC18.labels)


def test_snapshot_ensemble_averages_emissions_and_keeps_the_best_states():
    torch = pytest.importorskip("torch")
    from propscan.training.tagger import SpanTagger, TaggerSnapshots

    torch.manual_seed(0)
    members = [SpanTagger(n_layers=2, dim=8, n_surface=3, projection=6, hidden=5, dropout=0.0).eval() for _ in range(3)]
    layers, surface = torch.randn(1, 7, 2, 8), torch.randn(1, 7, 3)
    emissions, states = TaggerSnapshots(members)(layers, surface)
    each = [member(layers, surface) for member in members]
    assert torch.allclose(emissions, torch.stack([e for e, _ in each]).mean(dim=0))
    assert torch.equal(states, each[0][1])
    pairs = TaggerSnapshots(members).transitions().pairs
    assert pairs == pytest.approx(sum(m.transitions().pairs for m in members) / 3)


def test_joined_taggers_average_emissions_by_their_seeds_and_keep_the_first_states():
    torch = pytest.importorskip("torch")
    from propscan.model.runtime import inference_session
    from propscan.training.fitting import _tagger_graph, join_taggers
    from propscan.training.tagger import SpanTagger, TaggerSnapshots

    torch.manual_seed(0)
    config = ModelConfig(encoder="all-MiniLM-L6-v2", top_layers=2)
    taggers = [
        TaggerSnapshots(
            [SpanTagger(n_layers=2, dim=8, n_surface=len(SURFACE_FEATURES), projection=6, hidden=5, dropout=0.0)]
        )
        for _ in range(2)
    ]
    graphs = [_tagger_graph(tagger, config, 8) for tagger in taggers]
    feeds = {
        "layers": np.random.default_rng(0).normal(size=(1, 7, 2, 8)).astype(np.float32),
        "surface": np.ones((1, 7, len(SURFACE_FEATURES)), dtype=np.float32),
    }
    each = [inference_session(graph, threads=1).run(None, feeds) for graph in graphs]
    emissions, states = inference_session(join_taggers(graphs, [2, 1]), threads=1).run(None, feeds)
    assert np.allclose(emissions, (2 * each[0][0] + each[1][0]) / 3, atol=1e-5)
    assert np.array_equal(states, each[0][1])
    both = Transitions.mean([t.transitions() for t in taggers], [2, 1])
    assert both.pairs == pytest.approx((2 * taggers[0].transitions().pairs + taggers[1].transitions().pairs) / 3)
    assert both.pairs.dtype == np.float32  # as trained and saved


@pytest.mark.slow  # trains a model
def test_training_keeps_the_configured_snapshots_of_each_seed(tmp_path, tiny_corpus):
    from propscan.training import preset_config, train

    config = preset_config("fast")
    config.ensemble, config.tagger_epochs, config.classifier_epochs, config.tagger_snapshots = 1, 3, 2, 2
    config.reader_epochs, config.encoder_epochs, config.tagger_seeds = 0, 0, 2
    train(tiny_corpus, config, tmp_path / "snapshots", validation_fraction=0.3)
    model = PropagandaModel.load(tmp_path / "snapshots")
    kept = model.config.metrics["tagger_epochs_kept"]
    assert len(kept) == 4 and all(len(set(pair)) == 2 and set(pair) <= {1, 2, 3} for pair in (kept[:2], kept[2:]))
    assert isinstance(model.predict([tiny_corpus[0].document])[0], list)


@pytest.mark.slow  # trains a tagger
def test_a_tagger_joined_to_a_trained_model_moves_the_spans_not_the_classifier(tiny_model_dir, tiny_corpus, tmp_path):
    from propscan.training.recipe import add_taggers, split_corpus

    model = PropagandaModel.load(tiny_model_dir)
    document = tiny_corpus[0].document
    [enc] = model.encode([document.text])
    emissions, states = model.tagger_outputs(enc)
    spans = [(s.start, s.end) for s in tiny_corpus[0].spans]
    techniques = model.technique_probabilities(document, spans, enc)
    split = split_corpus(tiny_corpus, validation_fraction=0.3, test_fraction=0.0)
    add_taggers(model, split.train, split.validation, count=1, log=lambda _: None)
    joined_emissions, joined_states = model.tagger_outputs(enc)
    assert model.config.tagger_seeds == 2
    assert np.array_equal(joined_states, states) and not np.allclose(joined_emissions, emissions)
    assert np.allclose(model.technique_probabilities(document, spans, enc), techniques)
    model.save(tmp_path / "joined")
    again = PropagandaModel.load(tmp_path / "joined")
    assert again.config.tagger_seeds == 2 and again.predict([document]) == model.predict([document])


def test_predict_each_isolates_the_document_that_fails_its_batch(eager_analyzer, tiny_corpus):
    good = [tiny_corpus[0].document, tiny_corpus[1].document]
    bad = Document("   ", "bad")  # empty: the analyzer refuses it, and with it the whole batch
    results = predict_each(eager_analyzer, [good[0], bad, good[1]])
    assert [r.document for r in results if isinstance(r, Analysis)] == good
    assert isinstance(results[1], InputError)
    assert results[0] == eager_analyzer.predict([good[0]])[0]


def test_a_partner_tagger_votes_on_the_spans_and_is_named_by_its_preset(tiny_model_dir, tiny_corpus, tmp_path):
    model = PropagandaModel.load(tiny_model_dir)
    document = tiny_corpus[0].document
    [enc] = model.encode([document.text])
    own = model.tagger_outputs(enc)[0]
    # A partner with the same tokenizer and weights votes exactly what the model says.
    model.set_partner(PropagandaModel.load(tiny_model_dir))
    assert np.allclose(model.partner_emissions(document.text, enc), own, atol=1e-5)
    model.config.partner_weight = 0.0
    assert model.predict([document]) == PropagandaModel.load(tiny_model_dir).predict([document])
    model.config.partner_weight = 0.5
    assert np.allclose(model.voted_emissions(document.text, enc, own), 1.5 * own, atol=1e-5)
    # Saved, the partner is a preset's name that loading resolves, checked like any model.
    saved = tmp_path / "with-partner"
    model.config.partner = "fast"
    model.save(saved)
    loaded = PropagandaModel.load(saved)
    assert loaded.partner_ is not None and loaded.partner_.config.labels == model.config.labels
    assert loaded.config.partner_weight == 0.5
    with pytest.raises(ModelError, match="no preset named 'nowhere'"):
        PropagandaModel.load(saved, partner="nowhere")
    with pytest.raises(ModelError, match="partner of its own"):
        model.set_partner(loaded)


def test_a_partner_classifier_votes_on_the_techniques_from_the_pass_its_tagger_made(
    tiny_model_dir, tiny_corpus, monkeypatch
):
    model = PropagandaModel.load(tiny_model_dir)
    model.config.prior_correction = 0.0
    document = tiny_corpus[0].document
    spans = [(s.start, s.end) for s in tiny_corpus[0].spans]
    own = model.technique_probabilities(document, spans)
    partner = PropagandaModel.load(tiny_model_dir)
    model.set_partner(partner)
    model.config.partner_weight, model.config.partner_technique_weight = 0.5, 0.25
    # The same classifier on the same states agrees with the model: the mix changes nothing.
    assert np.allclose(model.technique_probabilities(document, spans), own, atol=1e-5)
    uniform = np.full(len(model.config.labels), 1 / len(model.config.labels), dtype=np.float32)
    monkeypatch.setattr(
        partner, "_classifier_probabilities", lambda text, enc, states, ranges: np.tile(uniform, (len(ranges), 1))
    )
    assert np.allclose(model.technique_probabilities(document, spans), 0.75 * own + 0.25 * uniform, atol=1e-5)
    # One pass of the partner over the text serves both its votes, on the spans and on the techniques.
    passes = []
    encode = partner.encode
    monkeypatch.setattr(partner, "encode", lambda texts: passes.append(len(texts)) or encode(texts))
    model.predict([document])
    assert passes == [1]
    fewer = PropagandaModel.load(tiny_model_dir)
    fewer.config.labels = fewer.config.labels[:-1]
    with pytest.raises(ModelError, match="must name 'Whataboutism"):
        model.set_partner(fewer)


def test_a_partner_naming_merged_classes_votes_through_them():
    """fast (SemEval's 14 classes) votes on fast-ptc18's 18 techniques: a merged class's probability
    is shared among its techniques as the model's own probabilities share theirs; obfuscation, which
    SemEval dropped, keeps the model's own probability as the vote."""
    from propscan.techniques import PTC18, SEMEVAL2020

    partner = ModelConfig(labels=list(SEMEVAL2020.labels), inventory="semeval2020")
    classes = propaganda.partner_classes(list(PTC18.labels), partner)
    named = dict(zip(PTC18.labels, classes, strict=True))
    assert named["Obfuscation,Intentional_Vagueness,Confusion"] == -1
    whataboutism = SEMEVAL2020.labels.index("Whataboutism,Straw_Men,Red_Herring")
    assert named["Straw_Men"] == named["Red_Herring"] == named["Whataboutism"] == whataboutism
    assert named["Doubt"] == SEMEVAL2020.labels.index("Doubt")
    # Two techniques merged into class 0, one alone in class 1, one the partner cannot name.
    theirs = np.asarray([[0.6, 0.4]], dtype=np.float32)
    own = np.asarray([[0.1, 0.3, 0.5, 0.1]], dtype=np.float32)
    votes = propaganda.spread_votes(theirs, own, np.asarray([0, 0, 1, -1]))
    assert np.allclose(votes, np.asarray([[0.15, 0.45, 0.4, 0.1]]) / 1.1)
    # A partner that lacks a class, or names one the model has no technique for, is refused.
    with pytest.raises(ModelError, match="must name 'Doubt'"):
        propaganda.partner_classes(list(PTC18.labels), ModelConfig(labels=[*partner.labels[:5], *partner.labels[6:]]))
    with pytest.raises(ModelError, match="must name only this model's techniques"):
        propaganda.partner_classes([label for label in PTC18.labels if label != "Slogans"], partner)


def test_a_borrowed_span_reader_is_named_not_copied_and_checked_where_it_lives(
    tiny_model_dir, tiny_corpus, tmp_path, monkeypatch
):
    accurate = preset_folder("accurate")
    packed = (accurate / READER_FILE).read_bytes()
    model = PropagandaModel.load(tiny_model_dir)
    model.config.reader_epochs = 3
    model.set_reader(packed, borrowed_from="accurate")
    saved = tmp_path / "borrowing"
    model.save(saved)
    assert not (saved / READER_FILE).exists()
    loaded = PropagandaModel.load(saved)
    assert loaded.config.reader_from == "accurate" and loaded.reader_.packed == packed
    document = tiny_corpus[2].document
    assert loaded.predict([document]) == model.predict([document])
    # A reader of its own (retrained, say) is saved as a file again.
    model.set_reader(packed)
    model.save(tmp_path / "own")
    assert (tmp_path / "own" / READER_FILE).read_bytes() == packed
    # Only a preset that ships a reader file can lend it, and that file is hash-checked.
    with pytest.raises(ModelError, match="no span reader of its own"):
        PropagandaModel.load(saved, reader_from="triage")
    altered = tmp_path / "accurate"
    shutil.copytree(accurate, altered)
    data = bytearray(packed)
    data[-1] ^= 1
    (altered / READER_FILE).write_bytes(bytes(data))
    monkeypatch.setattr("propscan.model.propaganda.preset_folder", lambda name: altered)
    with pytest.raises(ModelError, match=READER_FILE):
        PropagandaModel.load(saved)


def test_a_nested_span_is_shown_when_its_technique_is_listed_and_not_its_parents(monkeypatch):
    """Of the candidates inside each span (``decoding.nested_candidates``), a model keeps those whose
    technique is in ``nested_techniques`` and differs from the parent's; each follows its parent."""
    model = PropagandaModel(
        ModelConfig(labels=["Doubt", "Loaded_Language", "Slogans"], nested_techniques=["Loaded_Language"])
    )
    model.transitions_ = Transitions(np.zeros(3, np.float32), np.zeros((3, 3), np.float32), np.zeros(3, np.float32))
    doubt, loaded, slogan = np.eye(3, dtype=np.float32) * 0.6 + 0.1
    parents = [(FoundSpan(0, 40, 0, 10, 0.9), doubt), (FoundSpan(50, 90, 12, 22, 0.9), loaded)]
    inside = {0: [FoundSpan(5, 10, 1, 2, 0.8), FoundSpan(20, 30, 4, 6, 0.8)], 50: [FoundSpan(60, 70, 14, 16, 0.8)]}
    monkeypatch.setattr(
        propaganda, "nested_candidates", lambda text, offsets, emissions, transitions, parent, **_: inside[parent.start]
    )
    rows = {5: loaded, 20: slogan, 60: loaded}
    monkeypatch.setattr(
        model, "_classify_found", lambda text, enc, states, found, reading: np.array([rows[f.start] for f in found])
    )
    shown = model._with_nested("", SimpleNamespace(offsets=None), None, None, None, parents)
    # Loaded language inside doubt is shown; a slogan is not a nested technique; loaded language
    # inside loaded language says nothing new.
    assert [(found.start, found.end) for found, _ in shown] == [(0, 40), (5, 10), (50, 90)]
