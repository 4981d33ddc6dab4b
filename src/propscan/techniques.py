"""The propaganda techniques propscan knows, in the two inventories the field uses.

This module is the only source of technique labels: models store the label list they were trained
with, readers validate against it, and the interfaces show the names, definitions and colours from
here. Labels are spelled exactly as in the PTC label files so that files round-trip unchanged.
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from propscan.errors import UnknownTechniqueError


@dataclass(frozen=True)
class Technique:
    """One propaganda technique.

    Attributes:
        label: the identifier used in PTC/SemEval files, e.g. ``"Name_Calling,Labeling"``.
        name: a human-readable name.
        definition: what the technique is, in one paragraph.
        example: a short illustration (our own wording).
        color: a background colour for highlighting, readable with black text.
    """

    label: str
    name: str
    definition: str
    example: str
    color: str


_ALL = (
    Technique(
        "Loaded_Language",
        "Loaded language",
        "Words or phrases chosen for their emotional charge rather than their meaning, so that the "
        "reader reacts to the feeling before weighing the facts.",
        "The council's reckless, job-destroying scheme.",
        "#ffb3b3",
    ),
    Technique(
        "Name_Calling,Labeling",
        "Name calling, labeling",
        "Attaching a label to a person or group that the audience fears, hates or finds "
        "ridiculous, so that the label does the arguing.",
        "The so-called experts and their cheerleaders.",
        "#ffd59e",
    ),
    Technique(
        "Repetition",
        "Repetition",
        "Saying the same message over and over so that familiarity makes it feel true.",
        "They lied. They lied about the budget, and they lied about the schools.",
        "#c6e5a0",
    ),
    Technique(
        "Exaggeration,Minimisation",
        "Exaggeration or minimisation",
        "Making something seem much larger, better or worse than it is, or downplaying something "
        "serious as if it did not matter.",
        "The worst disaster in the history of the world; a minor paperwork slip.",
        "#a8d8ea",
    ),
    Technique(
        "Doubt",
        "Doubt",
        "Questioning the credibility of someone or something without offering evidence, leaving "
        "suspicion to do the work.",
        "Can we really trust a minister who changes his mind so often?",
        "#d7c4f2",
    ),
    Technique(
        "Appeal_to_fear-prejudice",
        "Appeal to fear or prejudice",
        "Building support for an idea by stirring up anxiety or panic about an alternative, or by "
        "playing on existing prejudices.",
        "If this passes, your children will not be safe on their own street.",
        "#f4a6d7",
    ),
    Technique(
        "Flag-Waving",
        "Flag-waving",
        "Justifying an idea by appealing to patriotism or group pride, as if loyalty required agreement.",
        "Any true patriot will stand with our brave troops on this.",
        "#9fd3c7",
    ),
    Technique(
        "Causal_Oversimplification",
        "Causal oversimplification",
        "Pinning a complex outcome on a single cause, or blaming one person or group for a problem with many causes.",
        "Crime went up because the mayor cut one program.",
        "#f7e07e",
    ),
    Technique(
        "Slogans",
        "Slogans",
        "A short, striking phrase that stands in for an argument and is easy to repeat.",
        "Take the country back!",
        "#ffc4a3",
    ),
    Technique(
        "Appeal_to_Authority",
        "Appeal to authority",
        "Claiming something is true only because an authority, often unnamed or outside their field, says so.",
        "A leading expert, who asked not to be named, confirms the plan will fail.",
        "#b5c7f5",
    ),
    Technique(
        "Black-and-White_Fallacy",
        "Black-and-white fallacy",
        "Presenting two options as the only ones possible when more exist, or a single option as the only choice.",
        "Either you support this law or you support the criminals.",
        "#d9d9d9",
    ),
    Technique(
        "Thought-terminating_Cliches",
        "Thought-terminating cliché",
        "A stock phrase that discourages further thought or discussion, offered as if it closed the question.",
        "It is what it is. Enough said.",
        "#e6cba8",
    ),
    Technique(
        "Whataboutism",
        "Whataboutism",
        "Deflecting criticism by pointing at the opponent's supposed hypocrisy instead of answering it.",
        "Why complain about our spending when they wasted far more?",
        "#c9e4ff",
    ),
    Technique(
        "Reductio_ad_hitlerum",
        "Reductio ad Hitlerum",
        "Discrediting an idea by associating it with a group or figure the audience despises, such as the Nazis.",
        "That is exactly the kind of policy dictators love.",
        "#e0b0b0",
    ),
    Technique(
        "Red_Herring",
        "Red herring",
        "Introducing an irrelevant point to pull attention away from the issue being discussed.",
        "Asked about the budget, the spokesman talked about the weather at the summit.",
        "#d0f0c0",
    ),
    Technique(
        "Bandwagon",
        "Bandwagon",
        "Urging the audience to join in because everyone else supposedly already has.",
        "Millions have already switched; do not be the last one left behind.",
        "#fde2a7",
    ),
    Technique(
        "Obfuscation,Intentional_Vagueness,Confusion",
        "Obfuscation, intentional vagueness",
        "Using deliberately unclear words so that the audience can read into them whatever it "
        "wants, avoiding a claim that could be checked.",
        "Certain measures will be taken at the appropriate time.",
        "#e8e8c0",
    ),
    Technique(
        "Straw_Men",
        "Straw man",
        "Replacing an opponent's position with a weaker or distorted version and then refuting that version.",
        "My opponent wants to leave the borders wide open to anyone.",
        "#cfe8e0",
    ),
    # SemEval-2020 Task 11 merged rare techniques into these two super-classes.
    Technique(
        "Bandwagon,Reductio_ad_hitlerum",
        "Bandwagon or Reductio ad Hitlerum",
        "Either urging the audience to follow the crowd, or discrediting an idea by associating "
        "it with a hated group (two rare techniques merged by SemEval-2020 Task 11).",
        "Everyone has already signed; only extremists refuse.",
        "#fde2a7",
    ),
    Technique(
        "Whataboutism,Straw_Men,Red_Herring",
        "Whataboutism, straw man or red herring",
        "Avoiding the argument: pointing at the opponent's hypocrisy, attacking a distorted "
        "version of their view, or changing the subject (three rare techniques merged by "
        "SemEval-2020 Task 11).",
        "Why listen to them about taxes, when they want to abolish all police?",
        "#c9e4ff",
    ),
)

TECHNIQUES: dict[str, Technique] = {t.label: t for t in _ALL}


def _key(name: str) -> str:
    """The loose form of a name: case, accents, spaces and punctuation do not count."""
    decomposed = unicodedata.normalize("NFKD", name).casefold()
    return "".join(ch for ch in decomposed if ch.isalnum())


# Every spelling a technique answers to (label or readable name, loosely) -> its label.
_BY_KEY: dict[str, str] = {_key(form): t.label for t in _ALL for form in (t.label, t.name)}


def split_names(text: str) -> list[str]:
    """Split a comma-separated list of technique names, keeping labels that contain commas whole.

    ``"Loaded language,Exaggeration,Minimisation"`` gives ``["Loaded language",
    "Exaggeration,Minimisation"]``: at each position the longest run of pieces that names a
    technique wins; a piece that names none stays alone, for the caller to refuse.
    """
    pieces = [piece.strip() for piece in text.split(",") if piece.strip()]
    names = []
    start = 0
    while start < len(pieces):
        end = next(
            (end for end in range(len(pieces), start + 1, -1) if _key(",".join(pieces[start:end])) in _BY_KEY),
            start + 1,
        )
        names.append(",".join(pieces[start:end]))
        start = end
    return names


@dataclass(frozen=True)
class Inventory:
    """A named, ordered set of technique labels a model predicts from."""

    name: str
    labels: tuple[str, ...]

    def __contains__(self, label: object) -> bool:
        return label in self.labels

    def __len__(self) -> int:
        return len(self.labels)

    def techniques(self) -> list[Technique]:
        return [TECHNIQUES[label] for label in self.labels]

    def valid_names(self) -> list[str]:
        """Each technique as users may name it: ``Readable name (Label)``."""
        return [f"{t.name} ({t.label})" for t in self.techniques()]

    def select(self, names: str | Iterable[str]) -> tuple[str, ...]:
        """The labels of this inventory that ``names`` pick, in inventory order.

        Users write techniques as they read them ("Loaded language"), as files spell them
        (``Loaded_Language``) or loosely ("loaded-language"); every interface resolves them here.
        A string is a comma-separated list (labels with commas, such as
        ``Exaggeration,Minimisation``, are recognised whole). A PTC technique picks the SemEval
        class it was merged into, and a merged class picks its PTC techniques.

        Raises:
            UnknownTechniqueError: for a name no technique of this inventory answers to, or no name at all.
        """
        pieces = split_names(names) if isinstance(names, str) else [n.strip() for n in names if n.strip()]
        if not pieces:
            raise UnknownTechniqueError("", self.valid_names(), self.name)
        picked = {label for piece in pieces for label in self._labels_for(piece)}
        return tuple(label for label in self.labels if label in picked)

    def _labels_for(self, name: str) -> tuple[str, ...]:
        label = _BY_KEY.get(_key(name), name)
        if label in self.labels:
            return (label,)
        merged = _MERGED_INTO_SEMEVAL.get(label)
        if merged in self.labels:
            return (merged,)
        members = tuple(member for member, target in _MERGED_INTO_SEMEVAL.items() if target == label)
        if members and all(member in self.labels for member in members):
            return members
        raise UnknownTechniqueError(name, self.valid_names(), self.name)

    def normalize(self, label: str) -> str:
        """Map a label from either PTC inventory into this one.

        Raises:
            UnknownTechniqueError: if the label belongs to no known inventory.
        """
        label = label.strip()
        if label in self.labels:
            return label
        merged = _MERGED_INTO_SEMEVAL.get(label)
        if merged is not None and merged in self.labels:
            return merged
        raise UnknownTechniqueError(label, self.valid_names(), self.name)


PTC18 = Inventory(
    "ptc18",
    (
        "Appeal_to_Authority",
        "Appeal_to_fear-prejudice",
        "Bandwagon",
        "Black-and-White_Fallacy",
        "Causal_Oversimplification",
        "Doubt",
        "Exaggeration,Minimisation",
        "Flag-Waving",
        "Loaded_Language",
        "Name_Calling,Labeling",
        "Obfuscation,Intentional_Vagueness,Confusion",
        "Red_Herring",
        "Reductio_ad_hitlerum",
        "Repetition",
        "Slogans",
        "Straw_Men",
        "Thought-terminating_Cliches",
        "Whataboutism",
    ),
)

# How SemEval-2020 Task 11 folded the 18 PTC techniques into 14 classes.
_MERGED_INTO_SEMEVAL = {
    "Bandwagon": "Bandwagon,Reductio_ad_hitlerum",
    "Reductio_ad_hitlerum": "Bandwagon,Reductio_ad_hitlerum",
    "Whataboutism": "Whataboutism,Straw_Men,Red_Herring",
    "Straw_Men": "Whataboutism,Straw_Men,Red_Herring",
    "Red_Herring": "Whataboutism,Straw_Men,Red_Herring",
}
# ... and dropped Obfuscation altogether (11 cases in the whole corpus).
DROPPED_BY_SEMEVAL = ("Obfuscation,Intentional_Vagueness,Confusion",)

SEMEVAL2020 = Inventory(
    "semeval2020",
    tuple(sorted({_MERGED_INTO_SEMEVAL.get(label, label) for label in PTC18.labels} - set(DROPPED_BY_SEMEVAL))),
)

INVENTORIES: dict[str, Inventory] = {inv.name: inv for inv in (SEMEVAL2020, PTC18)}


def labels_named(names: Iterable[str]) -> tuple[str, ...]:
    """The labels of either inventory that ``names`` pick: for stored spans whose model is not at hand.

    Raises:
        UnknownTechniqueError: for a name that no technique of either inventory answers to.
    """
    picked: set[str] = set()
    for name in names:
        found: set[str] = set()
        for inventory in INVENTORIES.values():
            with contextlib.suppress(UnknownTechniqueError):
                found.update(inventory.select([name]))
        if not found:
            raise UnknownTechniqueError(name, PTC18.valid_names(), PTC18.name)
        picked |= found
    return tuple(sorted(picked))


def get_inventory(name: str) -> Inventory:
    """Return the inventory called ``name`` (``semeval2020`` or ``ptc18``)."""
    try:
        return INVENTORIES[name]
    except KeyError:
        raise UnknownTechniqueError(name, INVENTORIES) from None
