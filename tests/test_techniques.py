"""Technique names: every interface resolves what users type through ``Inventory.select``."""

import pickle

import pytest

from propscan.errors import CorpusFormatError, UnknownTechniqueError
from propscan.techniques import PTC18, SEMEVAL2020, labels_named, split_names


@pytest.mark.parametrize(
    "name",
    ["Loaded_Language", "Loaded language", "loaded language", "LOADED-LANGUAGE", " loaded_language "],
)
def test_a_technique_answers_to_its_label_its_name_and_loose_forms(name):
    assert SEMEVAL2020.select([name]) == ("Loaded_Language",)


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("Exaggeration,Minimisation", "Exaggeration,Minimisation"),
        ("Exaggeration or minimisation", "Exaggeration,Minimisation"),
        ("name calling, labeling", "Name_Calling,Labeling"),
        ("Thought-terminating cliche", "Thought-terminating_Cliches"),
        ("thought terminating clichés", "Thought-terminating_Cliches"),
        ("flag waving", "Flag-Waving"),
    ],
)
def test_names_with_commas_accents_and_hyphens_resolve(name, label):
    assert SEMEVAL2020.select([name]) == (label,)


def test_a_string_is_a_comma_separated_list_that_keeps_labels_with_commas_whole():
    assert split_names("Loaded language,Exaggeration,Minimisation, doubt,,") == [
        "Loaded language",
        "Exaggeration,Minimisation",
        "doubt",
    ]
    assert SEMEVAL2020.select("doubt,Exaggeration,Minimisation,Loaded language") == (
        "Doubt",
        "Exaggeration,Minimisation",
        "Loaded_Language",
    )


def test_merged_classes_and_their_members_map_across_inventories():
    assert SEMEVAL2020.select(["Bandwagon"]) == ("Bandwagon,Reductio_ad_hitlerum",)
    assert PTC18.select("Whataboutism,Straw_Men,Red_Herring") == ("Red_Herring", "Straw_Men", "Whataboutism")
    assert PTC18.select(["Bandwagon or Reductio ad Hitlerum"]) == ("Bandwagon", "Reductio_ad_hitlerum")


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        (["Nope"], "unknown technique 'Nope'"),
        ("Loaded_Language,Nope", "unknown technique 'Nope'"),
        (["Obfuscation,Intentional_Vagueness,Confusion"], "unknown technique 'Obfuscation"),  # dropped by SemEval
        ([], "no technique named"),
        (" , ", "no technique named"),
    ],
)
def test_an_unknown_or_missing_name_is_refused_with_the_valid_names(names, problem):
    with pytest.raises(UnknownTechniqueError) as error:
        SEMEVAL2020.select(names)
    message = str(error.value)
    assert problem in message
    assert (
        "Loaded language (Loaded_Language)" in message
        and "Exaggeration or minimisation (Exaggeration,Minimisation)" in message
    )
    assert "\n" not in message


def test_labels_named_picks_from_both_inventories():
    assert labels_named(["loaded language"]) == ("Loaded_Language",)
    assert labels_named(["Bandwagon"]) == ("Bandwagon", "Bandwagon,Reductio_ad_hitlerum")
    with pytest.raises(UnknownTechniqueError, match="unknown technique 'Nope'"):
        labels_named(["Nope"])


@pytest.mark.parametrize(
    "error",
    [
        UnknownTechniqueError("Nope", ["Doubt", "Slogans"], "semeval2020"),
        UnknownTechniqueError("nope", iter(["semeval2020", "ptc18"])),
        CorpusFormatError("labels.tsv", 3, "expected 4 fields"),
    ],
)
def test_errors_survive_pickling_as_they_cross_to_and_from_worker_processes(error):
    # A process pool could not unpickle these (missing constructor arguments) and broke instead.
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error)
