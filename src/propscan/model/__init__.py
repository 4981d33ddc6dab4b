"""The propaganda models and their configuration."""

from propscan.model.config import PRESETS, ModelConfig, TriageConfig
from propscan.model.loading import load_model
from propscan.model.propaganda import PropagandaModel
from propscan.model.triage import TriageModel

__all__ = ["PRESETS", "ModelConfig", "PropagandaModel", "TriageConfig", "TriageModel", "load_model"]
