"""The triage preset: word units, decoding, the exported BiGRU, training, saving and loading."""

import json

import numpy as np
import pytest

from propscan.document import AnnotatedDocument, Document, Span
from propscan.errors import ModelError, NotFittedError
from propscan.model import TriageConfig, TriageModel, load_model
from propscan.model.triage import decode_words
from propscan.model.words import MAX_SEGMENT, SURFACE_FEATURES, WordEncoder, WordUnits


@pytest.fixture(scope="module")
def words() -> WordEncoder:
    from tokenizers import Tokenizer

    from propscan.model.encoders import encoder_path

    return WordEncoder(Tokenizer.from_file(str(encoder_path("all-MiniLM-L6-v2") / "tokenizer.json")))


def units_of(text: str, segments: list[int]) -> WordUnits:
    """Units of ``text`` split on spaces, with the given segment starts (tests of decoding)."""
    offsets, position = [], 0
    for word in text.split(" "):
        offsets.append((position, position + len(word)))
        position += len(word) + 1
    n = len(offsets)
    return WordUnits(
        np.asarray(offsets),
        np.zeros(n, np.int64),
        np.zeros((n, len(SURFACE_FEATURES)), np.float32),
        np.asarray([*segments, n]),
    )


def test_units_keep_offsets_into_the_original_text(words):
    text = "The “so-called” EXPERTS lied!\n\nUnbelievably, again. Mr Smith? Yes"
    units = words.units(text)
    pieces = [text[a:b] for a, b in units.offsets]
    assert pieces[:8] == ["The", "“", "so", "-", "called", "”", "EXPERTS", "lied"]
    assert units.segments.tolist() == [0, 9, 13, 16, 17]  # line break, full stop, question mark
    surface = dict(zip(SURFACE_FEATURES, units.surface.T, strict=True))
    assert surface["all_upper"][6] == 1 and surface["first_upper"][0] == 1 and surface["in_title"][0] == 1
    assert surface["inside_quotes"][2] == 1 and surface["inside_quotes"][6] == 0
    assert surface["segment_exclaims"][0] == 1 and surface["segment_asks"][15] == 1 and surface["segment_asks"][16] == 0
    unbelievably = pieces.index("Unbelievably")
    assert units.rows[unbelievably] >= words.vocabulary_size  # several wordpieces: a row of its own
    assert len(words.compound_pieces(int(units.rows[unbelievably]))) > 1


def test_repetition_is_seen_across_the_article(words):
    units = words.units("Stop the steal now. They said: stop the steal! Nothing else")
    surface = dict(zip(SURFACE_FEATURES, units.surface.T, strict=True))
    assert surface["in_repeated_trigram"].tolist()[:3] == [1, 1, 1] and surface["word_repeats"][2] > 0
    assert surface["in_repeated_trigram"][-1] == 0


def test_long_sentences_are_cut_and_empty_text_has_no_units(words):
    units = words.units(" ".join(["word"] * (2 * MAX_SEGMENT + 10)))
    assert np.diff(units.segments).max() <= MAX_SEGMENT and units.segments[-1] == len(units)
    assert len(words.units("  \n ")) == 0


def _inside(*values: float, begins: tuple[float, ...] = ()) -> np.ndarray:
    """Word probabilities as the model gives them: inside, and begins a span (0 unless given)."""
    return np.column_stack([values, begins or np.zeros(len(values))])


def test_decoding_fills_small_gaps_within_a_sentence_only():
    text = "aa bb cc dd ee ff gg hh"
    units = units_of(text, [0, 4])
    inside = _inside(0.9, 0.1, 0.9, 0.9, 0.9, 0.1, 0.1, 0.9)
    spans = lambda **kw: [(f.start, f.end) for f in decode_words(text, units, inside, **kw)]  # noqa: E731
    assert spans(threshold=0.5, fill_gap=0, min_chars=0) == [(0, 2), (6, 11), (12, 14), (21, 23)]
    assert spans(threshold=0.5, fill_gap=1, min_chars=0) == [(0, 11), (12, 14), (21, 23)]
    assert spans(threshold=0.5, fill_gap=3, min_chars=0) == [(0, 11), (12, 23)]
    assert spans(threshold=0.5, fill_gap=1, min_chars=5) == [(0, 11)]
    [found] = decode_words(text, units, inside, threshold=0.5, fill_gap=1, min_chars=5)
    assert (found.first_token, found.last_token) == (0, 4) and found.score == pytest.approx((0.9 * 3 + 0.1) / 4)


def test_a_sure_beginning_cuts_a_run_and_is_not_joined_across_a_gap():
    text = "aa bb cc dd ee ff"
    units = units_of(text, [0])
    probabilities = _inside(0.9, 0.9, 0.9, 0.9, 0.1, 0.9, begins=(0.9, 0.1, 0.8, 0.2, 0.1, 0.8))
    spans = lambda **kw: [(f.start, f.end) for f in decode_words(text, units, probabilities, **kw)]  # noqa: E731
    assert spans(threshold=0.5, fill_gap=1, min_chars=0) == [(0, 17)]  # never cut: one span
    assert spans(threshold=0.5, fill_gap=1, min_chars=0, begin_threshold=0.75) == [(0, 5), (6, 11), (15, 17)]
    assert spans(threshold=0.5, fill_gap=1, min_chars=0, begin_threshold=0.85) == [(0, 17)]


def test_a_run_is_kept_only_if_one_of_its_words_reaches_the_peak():
    text = "aa bb cc dd ee ff"
    units = units_of(text, [0, 3])
    probabilities = _inside(0.4, 0.6, 0.1, 0.4, 0.45, 0.4)
    spans = lambda **kw: [(f.start, f.end) for f in decode_words(text, units, probabilities, **kw)]  # noqa: E731
    assert spans(threshold=0.3, fill_gap=0, min_chars=0) == [(0, 5), (9, 17)]
    assert spans(threshold=0.3, fill_gap=0, min_chars=0, peak_threshold=0.5) == [(0, 5)]
    assert spans(threshold=0.3, fill_gap=0, min_chars=0, peak_threshold=0.7) == []


def test_validation_chooses_a_peak_when_a_low_threshold_is_needed_for_the_extent(monkeypatch):
    """The gold span's extent needs a threshold that also lets a doubtful run through; only the peak
    threshold tells them apart (it is longer, so the shortest-span choice cannot)."""
    pytest.importorskip("torch")
    import propscan.training.triage as training

    text = "aa bb cc dddddddddd eeeeeeeeee"
    gold = AnnotatedDocument(Document(text, id="a"), (Span(0, 8, "Doubt"),))
    probabilities = _inside(0.6, 0.15, 0.15, 0.2, 0.2)
    monkeypatch.setattr(training, "word_probabilities", lambda net, units, device: probabilities)
    score, chosen = training._best_decoding(None, [gold], [units_of(text, [0, 3])], "cpu")
    assert score == pytest.approx(1.0)
    assert chosen.threshold <= 0.15 and 0.2 < chosen.peak_threshold <= 0.6


def test_decoding_trims_what_gold_spans_never_start_or_end_with():
    text = "aa , bb ."
    [found] = decode_words(text, units_of(text, [0]), _inside(1, 1, 1, 1), threshold=0.5, fill_gap=0, min_chars=0)
    assert text[found.start : found.end] == "aa , bb"


def test_the_exported_graph_computes_what_torch_computes():
    torch = pytest.importorskip("torch")
    import onnxruntime

    from propscan.training.triage import TriageNet, word_graph

    torch.manual_seed(0)
    net = TriageNet(torch.randn(50, 8), n_surface=3, projection=6, hidden=5, n_labels=4, dropout=0.0).eval()
    lengths = torch.tensor([7, 3, 5])
    rows = torch.randint(0, 50, (3, 7))
    surface = torch.randn(3, 7, 3)
    article = torch.randn(3, 8 + 3)
    states, inputs, logits = (t.detach().numpy() for t in net(rows, surface, lengths, article))
    linear = net.embed(article[:, :8]) + net.surface(article[:, 8:])
    embedded = net.embed(net.table[rows]) + net.surface.bias + net.context(linear)[:, None, :]
    session = onnxruntime.InferenceSession(word_graph(net), providers=["CPUExecutionProvider"])
    got = session.run(
        None,
        {
            "embedded": embedded.detach().transpose(0, 1).numpy(),
            "surface": surface.transpose(0, 1).numpy(),
            "lengths": lengths.numpy().astype(np.int32),
        },
    )
    for row, n in enumerate(lengths.tolist()):
        np.testing.assert_allclose(got[0][:n, row], inputs[row, :n], atol=1e-5)
        np.testing.assert_allclose(got[1][:n, row], states[row, :n], atol=1e-5)
        np.testing.assert_allclose(got[2][:n, row], 1 / (1 + np.exp(-logits[row, :n])), atol=1e-5)


@pytest.mark.slow
def test_the_shipped_form_computes_what_the_torch_network_computes(words):
    """Exported GRU, numpy heads and the article context folded in at inference agree with torch."""
    torch = pytest.importorskip("torch")
    from propscan.training import preset_config
    from propscan.training.triage import TriageNet, _extended_table, heads, word_graph, word_probabilities

    config = preset_config("triage")
    model = TriageModel(config, threads=1)
    model._encoder = words
    texts = ["The so-called experts are shameless liars!\nStop the deal now. Unbelievably, again.", "Calm report."]
    units = model.encode(texts)
    torch.manual_seed(0)
    net = TriageNet(
        torch.tensor(_extended_table(config.encoder, words)),
        n_surface=len(SURFACE_FEATURES),
        projection=config.projection,
        hidden=config.gru_hidden,
        n_labels=len(config.labels),
        dropout=0.0,
    ).eval()
    model.set_weights(word_graph(net), heads(net))
    for u, (_, _, inside) in zip(units, model.word_outputs(units), strict=True):
        np.testing.assert_allclose(inside, word_probabilities(net, u), atol=1e-5)


def test_an_unfitted_triage_model_says_how_to_fit_it():
    with pytest.raises(NotFittedError, match="propscan train --model triage"):
        TriageModel(TriageConfig(labels=["Doubt"])).predict([Document("Some text.")])


def test_a_folder_of_an_unknown_kind_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "something-else"}))
    with pytest.raises(ModelError, match="'something-else' model"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text("[]")
    with pytest.raises(ModelError, match="malformed"):
        load_model(tmp_path)


# ---------------------------------------------------------------------------- trained on the fixture
@pytest.fixture(scope="module")
def tiny_triage_dir(tmp_path_factory, tiny_corpus):
    """A triage model trained for two epochs on the four fixture articles (builds the static table once)."""
    from propscan.training import preset_config, train

    output = tmp_path_factory.mktemp("tiny-triage")
    config = preset_config("triage")
    config.tagger_epochs = 2
    trained = train(tiny_corpus, config, output, validation_fraction=0.5, test_fraction=0.0)
    texts = [d.document.text for d in tiny_corpus]
    inside = [o[2].tolist() for o in trained.word_outputs(trained.encode(texts))]
    (output.parent / "inside-in-memory.json").write_text(json.dumps(inside))
    return output


def test_a_saved_triage_model_computes_what_it_computed_before_saving(tiny_triage_dir, tiny_corpus):
    """Every weight survives the round trip (a transposed head was once saved untransposed)."""
    expected = json.loads((tiny_triage_dir.parent / "inside-in-memory.json").read_text())
    model = TriageModel.load(tiny_triage_dir, threads=1)
    got = model.word_outputs(model.encode([d.document.text for d in tiny_corpus]))
    for inside, (_, _, again) in zip(expected, got, strict=True):
        np.testing.assert_allclose(again, inside, atol=1e-6)


def test_a_trained_triage_model_round_trips_and_analyzes(tiny_triage_dir, tiny_corpus):
    from propscan import Analyzer

    assert sorted(p.name for p in tiny_triage_dir.iterdir()) == [
        "config.json",
        "heads.safetensors",
        "manifest.json",
        "tagger.onnx",
    ]
    config = json.loads((tiny_triage_dir / "config.json").read_text())
    assert config["model_type"] == "propscan-triage" and config["metrics"]["best_epoch"] in (1, 2)
    analyzer = Analyzer.load(tiny_triage_dir, threads=1)
    assert isinstance(analyzer.model, TriageModel)
    documents = [d.document for d in tiny_corpus]
    analyses = analyzer.predict(documents)
    again = TriageModel.load(tiny_triage_dir, threads=1).predict(documents)
    assert [list(a.spans) for a in analyses] == [
        sorted(s, key=lambda s: (s.start, s.end, -(s.score or 0))) for s in again
    ]
    for analysis in analyses:
        for span in analysis.spans:
            assert 0 <= (span.score or 0) <= 1 and span.technique in analyzer.inventory
    labelled = analyzer.model.classify(documents[0], [(0, 10), (0, 10)])
    assert len({s.technique for s in labelled}) == 2


def test_encodings_from_before_the_word_memory_restarted_are_refused(tiny_triage_dir, tiny_corpus, monkeypatch):
    """Past MAX_REMEMBERED words the encoder's memory restarts and compound rows change meaning:
    predict encodes and looks rows up under one lock, and stale encodings given to it are refused."""
    import propscan.model.words as words_module

    model = TriageModel.load(tiny_triage_dir, threads=1)
    documents = [d.document for d in tiny_corpus]
    expected = model.predict(documents)
    stale = model.encode([d.text for d in documents])
    monkeypatch.setattr(words_module, "MAX_REMEMBERED", len(model.encoder._entries) + 1)
    model.encode(["Unbelievably multitudinous antidisestablishmentarian circumlocutions"])  # restarts the memory
    with pytest.raises(ModelError, match="encode the texts again"):
        model.predict(documents, stale)
    monkeypatch.setattr(words_module, "MAX_REMEMBERED", 400_000)
    assert model.predict(documents) == expected


def test_a_tampered_triage_file_is_refused(tiny_triage_dir, tmp_path):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(tiny_triage_dir, folder)
    (folder / "heads.safetensors").write_bytes(b"tampered")
    with pytest.raises(ModelError, match="does not match the sha256"):
        TriageModel.load(folder)


@pytest.mark.slow
def test_the_shipped_triage_preset_works_from_the_cli_in_batch_and_as_a_screener(tmp_path, capsys):
    from pathlib import Path

    from propscan.cli import main

    example = Path(__file__).resolve().parents[1] / "examples" / "harbour-bridge.txt"
    assert main(["analyze", str(example), "--model", "triage", "--json"]) == 0
    analysis = json.loads(capsys.readouterr().out)
    assert analysis["model"].startswith("triage@") and analysis["spans"]
    assert all(0 <= s["score"] <= 1 and s["technique"] for s in analysis["spans"])
    articles = Path(__file__).parent / "data" / "tiny-ptc" / "train-articles"
    code = main(
        ["batch", str(articles), "--model", "triage", "--db", f"sqlite:///{tmp_path / 't.db'}", "--no-progress"]
    )
    assert code == 0 and "4 analyzed, 0 failed" in capsys.readouterr().err
    cascade = ["--model", "triage", "--then", "fast", "--db", f"sqlite:///{tmp_path / 'c.db'}", "--no-progress"]
    assert main(["batch", str(articles), *cascade]) == 0
    assert "(triage@" in capsys.readouterr().err  # the screener of a cascade, as issue 14 means it
