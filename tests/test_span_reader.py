"""The span reader: its inputs, its shipped deltas, and a model that carries one."""

import re
import shutil

import numpy as np
import pytest

from propscan.errors import ModelError
from propscan.model import PropagandaModel
from propscan.model.encoders.deltas import merged_weights, pack_deltas
from propscan.model.span_reader import BATCH, READER_FILE, ArticleWords, marked_sentence, reader_inputs

TEXT = "Stop the invasion now. They lie and lie.\nStop the invasion now, they shout, and nobody listens."


def test_the_span_is_marked_inside_its_own_sentence_only():
    start = TEXT.index("lie and lie")
    assert marked_sentence(TEXT, start, start + len("lie and lie")) == " They  << lie and lie >> .\n"
    [first] = reader_inputs(TEXT, [(0, len("Stop the invasion now"))])
    assert first.words == "Stop the invasion now"
    assert first.sentence == " << Stop the invasion now >> ."


def test_recurrence_counts_the_span_elsewhere_in_the_article():
    words = ArticleWords(TEXT)
    exact, shared, length = words.recurrence(0, len("Stop the invasion now"))
    assert exact == pytest.approx(np.log1p(1)) and shared == 1.0 and length == pytest.approx(np.log1p(4) / 4)
    once = TEXT.index("nobody listens")
    assert words.recurrence(once, once + len("nobody listens"))[:2] == (0.0, 0.0)


def test_recurrence_cuts_the_span_out_of_the_article_even_inside_a_word():
    """Every span of a short text, word boundaries or not, against the definition: the words of
    the article with the span cut out (its text before and after, apart)."""
    text = "Runrun now. The rerun ran; RUN, they said: run!"
    words = ArticleWords(text)

    def by_definition(start: int, end: int) -> float:
        outside = set(re.findall(r"\w+", text.lower()[:start] + " " + text.lower()[end:]))
        inside = [w.lower() for w in re.findall(r"\w+", text[start:end])]
        return sum(w in outside for w in inside) / max(1, len(inside))

    for start in range(len(text) + 1):
        for end in range(start, len(text) + 1):
            assert words.recurrence(start, end)[1] == by_definition(start, end), text[start:end]
    assert words.recurrence(3, 6)[1] == 1.0  # "Run|run": the cut-off "run" before it counts


def test_deltas_ship_only_what_changed_and_merge_back_within_int8_rounding():
    rng = np.random.default_rng(0)
    base = {
        "w": rng.normal(size=(6, 5)).astype(np.float32),
        "b": np.ones(5, np.float32),
        "same": np.zeros(3, np.float32),
    }
    tuned = {"w": base["w"] + rng.normal(scale=0.02, size=(6, 5)), "b": base["b"] + 0.1, "same": base["same"]}
    packed = pack_deltas(tuned, base)
    assert set(packed) == {"w.delta", "w.scale", "b.delta"} and packed["w.delta"].dtype == np.int8
    merged = merged_weights(base, packed)
    assert np.abs(merged["w"] - tuned["w"]).max() <= packed["w.scale"].max() / 2 + 1e-7
    assert np.allclose(merged["b"], tuned["b"]) and merged["same"] is base["same"]
    with pytest.raises(ModelError, match="does not fit"):
        merged_weights({"w": base["w"][:3]}, packed)


def test_four_bit_deltas_take_half_the_bytes_and_merge_back_within_their_group_rounding():
    rng = np.random.default_rng(1)
    base = {"w": rng.normal(size=(3, 256)).astype(np.float32), "odd": np.zeros((2, 10), np.float32)}
    change = rng.standard_t(3, size=(3, 256)).astype(np.float32) * 0.01  # heavy tails, as fine-tuning's
    tuned = {"w": base["w"] + change, "odd": base["odd"] + 0.5}
    packed = pack_deltas(tuned, base, bits=4)
    assert packed["w.delta4"].shape == (3, 128) and packed["w.delta4"].dtype == np.uint8
    assert packed["w.scale4"].shape == (3, 4) and packed["w.scale4"].dtype == np.float16
    assert packed["odd.delta"].dtype == np.int8  # rows that do not split into groups of 64 stay int8
    merged = merged_weights(base, packed)
    step = np.repeat(packed["w.scale4"].astype(np.float32), 64, axis=1)
    assert (np.abs(merged["w"] - tuned["w"]) <= step / 2 + 1e-6).all()
    assert np.linalg.norm(merged["w"] - tuned["w"]) < 0.2 * np.linalg.norm(change)
    assert np.allclose(merged["odd"], tuned["odd"])
    with pytest.raises(ValueError, match="4 or 8 bits"):
        pack_deltas(tuned, base, bits=2)


@pytest.fixture(scope="module")
def reader_model_dir(tmp_path_factory, tiny_corpus):
    """A fast-preset model with a span reader fine-tuned for one epoch on the fixture articles."""
    pytest.importorskip("torch")
    from propscan.training import preset_config, train

    output = tmp_path_factory.mktemp("reader-model")
    config = preset_config("fast")
    config.ensemble, config.tagger_epochs, config.classifier_epochs, config.reader_epochs = 1, 1, 3, 1
    train(tiny_corpus, config, output, validation_fraction=0.3, test_fraction=0.0)
    return output


@pytest.mark.slow  # fine-tunes MiniLM
def test_a_model_with_a_reader_saves_loads_and_averages_both_classifiers(reader_model_dir, tiny_corpus):
    assert (reader_model_dir / READER_FILE).stat().st_size < 7e6  # MiniLM's deltas in 4 bits
    assert READER_FILE in (reader_model_dir / "manifest.json").read_text()
    model = PropagandaModel.load(reader_model_dir)
    without = PropagandaModel.load(reader_model_dir, reader_epochs=0)
    assert model.reader_ is not None and without.reader_ is None
    document = tiny_corpus[2].document
    spans = [(s.start, s.end) for s in tiny_corpus[2].spans]
    mixed = model.technique_probabilities(document, spans)
    expected = 0.5 * without.technique_probabilities(document, spans) + 0.5 * model.reader_.probabilities(
        document.text, spans
    )
    assert np.allclose(mixed, expected, atol=1e-6) and np.allclose(mixed.sum(axis=1), 1, atol=1e-5)
    assert model.predict([document]) == PropagandaModel.load(reader_model_dir).predict([document])


@pytest.mark.slow  # fine-tunes MiniLM
def test_the_onnx_reader_computes_what_torch_computes_with_the_merged_weights(reader_model_dir, tiny_corpus):
    torch = pytest.importorskip("torch")
    from safetensors.numpy import load_file

    from propscan.model.encoders import encoder_path
    from propscan.model.span_reader import encode_pairs, pair_tokenizer
    from propscan.training.reader import ReaderNet

    packed = load_file(str(reader_model_dir / READER_FILE))
    base = load_file(str(encoder_path("all-MiniLM-L6-v2") / "model.safetensors"))
    net = ReaderNet("all-MiniLM-L6-v2", len(packed["head.bias"])).eval()
    state = net.encoder.state_dict()
    state.update({k: torch.from_numpy(v) for k, v in merged_weights(base, packed).items() if k in state})
    net.encoder.load_state_dict(state)
    net.head.load_state_dict(
        {"weight": torch.from_numpy(packed["head.weight"]), "bias": torch.from_numpy(packed["head.bias"])}
    )
    text = tiny_corpus[1].document.text
    spans = [(s.start, s.end) for s in tiny_corpus[1].spans]
    # Gold spans, clauses and word pairs: more spans than a batch, of many lengths, in no order of
    # length, so the batches must hand each row back to its own span.
    clauses = [(m.start(), m.end()) for m in re.finditer(r"[^.,;\n]{12,}", text)]
    pairs = [(m.start(), m.end()) for m in re.finditer(r"\w+ \w+", text)]
    many = [*spans, *clauses[::-1], *pairs[:12]]
    assert len(many) > 2 * BATCH

    def by_torch(spans: list[tuple[int, int]]) -> np.ndarray:
        inputs = reader_inputs(text, spans)
        batch = {k: torch.from_numpy(v) for k, v in encode_pairs(pair_tokenizer("all-MiniLM-L6-v2"), inputs).items()}
        with torch.no_grad():
            return torch.softmax(net(batch, torch.tensor([r.cues for r in inputs])), -1).numpy()

    got = PropagandaModel.load(reader_model_dir, int8=False).reader_.probabilities(text, many)
    assert np.abs(got - by_torch(many)).max() < 1e-4
    # fast runs its encoders in int8, the reader's too: close to float32, not the same.
    quantized = PropagandaModel.load(reader_model_dir).reader_.probabilities(text, spans)
    assert 1e-6 < np.abs(quantized - by_torch(spans)).max() < 0.05


@pytest.mark.slow  # fine-tunes MiniLM
def test_a_missing_or_altered_reader_is_refused(reader_model_dir, tmp_path):
    missing = tmp_path / "missing"
    shutil.copytree(reader_model_dir, missing)
    (missing / READER_FILE).unlink()
    with pytest.raises(ModelError, match=f"lacks {READER_FILE}"):
        PropagandaModel.load(missing)
    altered = tmp_path / "altered"
    shutil.copytree(reader_model_dir, altered)
    data = bytearray((altered / READER_FILE).read_bytes())
    data[-1] ^= 1
    (altered / READER_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match=READER_FILE):
        PropagandaModel.load(altered)
