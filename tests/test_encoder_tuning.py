"""An encoder fine-tuned as a span tagger: what it learns from, the deltas it ships, their use."""

import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from propscan.errors import ModelError
from propscan.model import PropagandaModel
from propscan.model.decoding import BEGIN, INSIDE, OUTSIDE
from propscan.model.propaganda import ENCODER_FILE


def test_windows_are_tagged_between_their_special_tokens_only():
    pytest.importorskip("torch")
    from propscan.training.encoder import Window, _batch

    encoder = SimpleNamespace(cls_id=101, sep_id=102)
    techniques = np.zeros((3, 2), np.float32)
    techniques[1:, 1] = 1
    windows = [
        Window([7, 8, 9], np.array([OUTSIDE, BEGIN, INSIDE]), techniques, [(1, 3, 1)]),
        Window([5], np.array([BEGIN]), techniques[:1], []),
    ]
    batch = _batch(windows, encoder)
    ids, mask, tagged, tags, targets = batch.ids, batch.mask, batch.tagged, batch.tags, batch.techniques
    assert ids.tolist() == [[101, 7, 8, 9, 102], [101, 5, 102, 0, 0]]
    assert mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert tagged.tolist() == [[False, True, True, True, False], [False, True, False, False, False]]
    assert tags[0, 1:4].tolist() == [OUTSIDE, BEGIN, INSIDE] and tags[1, 1] == BEGIN
    assert targets[0, 2:4, 1].tolist() == [1.0, 1.0] and targets[0, 1].sum() == 0
    # The gold span's tokens 1-2 of the first window sit at positions 2-3, after [CLS].
    assert batch.spans.tolist() == [[0, 2, 4, 1]]
    assert batch.lower is None


def test_a_window_keeps_only_the_gold_spans_wholly_inside_it():
    pytest.importorskip("torch")
    from propscan.document import AnnotatedDocument, Document, Span
    from propscan.training.encoder import _tagged_windows
    from propscan.training.recipe import preset_config

    text = "aa bb cc dd ee ff"  # one token per word, at 0, 3, 6, 9, 12, 15
    offsets = np.array([(i, i + 2) for i in range(0, 18, 3)])
    encoder = SimpleNamespace(tokenize=lambda texts: ([list(range(6))], [offsets]), windows=lambda n: [(0, 4), (2, 6)])
    config = preset_config("fast")
    document = AnnotatedDocument(
        Document(text),
        (Span(3, 8, "Doubt"), Span(9, 17, "Slogans")),  # tokens 1-2 and 3-5
    )
    first, second = _tagged_windows(config, encoder, [document])
    doubt, slogans = config.labels.index("Doubt"), config.labels.index("Slogans")
    assert first.spans == [(1, 3, doubt)]  # Slogans runs past the first window's end
    assert second.spans == [(1, 4, slogans)]  # Doubt starts before the second window
    assert first.techniques[:, slogans].tolist() == [0, 0, 0, 1]  # the token targets keep both


def test_the_top_layers_over_cached_lower_states_compute_what_the_whole_encoder_computes():
    torch = pytest.importorskip("torch")
    from propscan.training.encoder import TaggingNet

    net = TaggingNet("all-MiniLM-L6-v2", n_labels=3, tuned_layers=2, span_head=True).eval()
    trainable = {name for name, p in net.encoder.named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith(("encoder.layer.4.", "encoder.layer.5.")) for name in trainable)
    ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102], [101, 7592, 102, 0, 0, 0]])
    mask = (ids > 0).long()
    spans = torch.tensor([[0, 1, 3], [1, 1, 2]])
    (tags, techniques, by_span) = net(ids, mask, spans)
    (tags_cached, techniques_cached, by_span_cached) = net(ids, mask, spans, net.lower_states(ids, mask))
    real = mask.bool()
    # The lower states are cached as float16.
    assert (tags[real] - tags_cached[real]).abs().max() < 0.01
    assert (techniques[real] - techniques_cached[real]).abs().max() < 0.01
    assert (by_span - by_span_cached).abs().max() < 0.01


@pytest.fixture(scope="module")
def tuned_model_dir(tmp_path_factory, tiny_corpus):
    """A fast-preset model whose encoder was fine-tuned for two epochs on the fixture articles."""
    pytest.importorskip("torch")
    from propscan.training import preset_config, train

    output = tmp_path_factory.mktemp("tuned-model")
    config = preset_config("fast")
    # The fixture is one batch: its first step is the warm-up's, at learning rate 0.
    config.ensemble, config.tagger_epochs, config.classifier_epochs, config.encoder_epochs = 1, 1, 3, 2
    config.encoder_learning_rate = 1e-3  # one step on four articles must move the weights visibly
    config.reader_epochs = 0
    train(tiny_corpus, config, output, validation_fraction=0.3, test_fraction=0.0)
    return output


@pytest.mark.slow  # fine-tunes MiniLM
def test_a_fine_tuned_encoder_ships_as_deltas_and_its_states_change(tuned_model_dir, tiny_corpus):
    assert (tuned_model_dir / ENCODER_FILE).stat().st_size < 15e6
    assert ENCODER_FILE in (tuned_model_dir / "manifest.json").read_text()
    model = PropagandaModel.load(tuned_model_dir)
    frozen = PropagandaModel.load(tuned_model_dir, encoder_epochs=0)
    text = tiny_corpus[0].document.text
    [tuned_states], [frozen_states] = model.encode([text]), frozen.encode([text])
    assert tuned_states.layers.shape == frozen_states.layers.shape
    assert np.abs(tuned_states.layers - frozen_states.layers).mean() > 0.01
    document = tiny_corpus[2].document
    assert model.predict([document]) == PropagandaModel.load(tuned_model_dir).predict([document])


@pytest.mark.slow  # fine-tunes MiniLM
def test_the_onnx_encoder_computes_what_torch_computes_with_the_merged_weights(tuned_model_dir, tiny_corpus):
    torch = pytest.importorskip("torch")
    from safetensors.numpy import load_file
    from transformers import AutoModel

    from propscan.model.encoders import encoder_path
    from propscan.model.encoders.deltas import merged_weights

    folder = encoder_path("all-MiniLM-L6-v2")
    net = AutoModel.from_pretrained(folder).eval()
    merged = merged_weights(
        load_file(str(folder / "model.safetensors")), load_file(str(tuned_model_dir / ENCODER_FILE))
    )
    net.load_state_dict({k: torch.from_numpy(v) for k, v in merged.items() if k in net.state_dict()}, strict=False)
    model = PropagandaModel.load(tuned_model_dir, int8=False)  # the fp32 graph, to compare exactly
    ids = model.encoder.tokenize([tiny_corpus[1].document.text])[0][0][:100]
    with torch.no_grad():
        expected = net(torch.tensor([[model.encoder.cls_id, *ids, model.encoder.sep_id]])).last_hidden_state
    got = model.encoder.forward(ids)[:, -1]
    assert np.abs(got - expected[0, 1:-1].numpy()).max() < 1e-4


@pytest.mark.slow  # fine-tunes MiniLM
def test_a_missing_encoder_file_is_refused(tuned_model_dir, tmp_path):
    missing = tmp_path / "missing"
    shutil.copytree(tuned_model_dir, missing)
    (missing / ENCODER_FILE).unlink()
    with pytest.raises(ModelError, match=f"lacks {ENCODER_FILE}"):
        PropagandaModel.load(missing)


@pytest.mark.slow  # fine-tunes two of MiniLM's layers
def test_top_layer_tuning_ships_deltas_of_those_layers_only(tiny_corpus):
    pytest.importorskip("torch")
    from safetensors.numpy import load

    from propscan.training import preset_config
    from propscan.training.encoder import fit_encoder

    config = preset_config("fast")
    config.encoder_epochs, config.encoder_tuned_layers, config.encoder_span_weight = 2, 2, 1.0
    config.encoder_learning_rate = 1e-3
    deltas = load(fit_encoder(config, PropagandaModel(config).encoder, tiny_corpus, log=lambda _: None))
    assert deltas and all(name.startswith(("encoder.layer.4.", "encoder.layer.5.")) for name in deltas)
