"""Phone-string distances (skill/recognition/phones.py): pure logic, used by the wake
detector and by the command rejection."""
from __future__ import annotations

import math

from skill.recognition.phones import (PHONE_CLASS, phone_distance, relative_distance,
                                      speech_phones, spellings)


def test_distance_counts_substitutions_within_a_class_as_half():
    assert phone_distance("N OW".split(), "N OW".split()) == 0
    assert phone_distance("N UW".split(), "N OW".split()) == 0.5     # vowel for vowel
    assert phone_distance("T OW".split(), "N OW".split()) == 1.0     # stop for nasal
    assert phone_distance("N OW".split(), "N".split()) == 1.0        # one inserted
    assert phone_distance([], "Y EH S".split()) == 3.0               # all missing
    assert phone_distance("S T AA P".split(), []) == 4.0


def test_distance_is_symmetric_and_never_above_the_longer_string():
    a, b = "S K IH P IH T".split(), "D IH D IH D".split()
    assert phone_distance(a, b) == phone_distance(b, a)
    assert phone_distance(a, b) <= max(len(a), len(b))


def test_every_model_phone_has_a_class():
    # the 39 phones of the CMUdict set the model uses (SIL and fillers are filtered out first)
    assert len(PHONE_CLASS) == 39


def test_speech_phones_leave_out_silence_and_fillers():
    assert speech_phones(["SIL", "N", "+NSN+", "OW", "SIL", "+SPN+"]) == ["N", "OW"]


def test_spellings_multiply_out_word_alternatives_up_to_a_limit():
    per_word = [["Y EH S"], ["P L IY Z", "P L IY S"]]
    assert spellings(per_word) == [["Y", "EH", "S", "P", "L", "IY", "Z"],
                                   ["Y", "EH", "S", "P", "L", "IY", "S"]]
    assert len(spellings([["A", "B"]] * 10, limit=16)) == 16


def test_relative_distance_takes_the_closest_spelling_per_phone():
    targets = [["N", "OW"], ["N", "AA", "T"]]
    assert relative_distance(["N", "AA", "T"], targets) == 0.0
    assert relative_distance(["M", "OW"], targets) == 0.25         # nasal for nasal, of 2 phones
    assert math.isinf(relative_distance(["N"], []))


# ---------------------------------------------------------------- the engine's combination
def test_combined_confidence_falls_with_each_measure():
    from skill.recognition.pocketsphinx_engine import REJECT_BELOW, combined_confidence
    good = combined_confidence(gap=0.0, uncovered=0.0, distance=0.3)
    assert 0.0 < good < 1.0 and good >= REJECT_BELOW
    assert combined_confidence(-30.0, 0.0, 0.3) < good          # the grammar fits worse
    assert combined_confidence(0.0, 0.3, 0.3) < good            # speech swallowed as silence
    assert combined_confidence(0.0, 0.0, 0.9) < good            # the phones heard are others
    assert combined_confidence(0.0, 0.0, float("inf")) == 0.0   # no pronunciation to compare


def test_combined_confidence_clips_an_extreme_gap():
    from skill.recognition.pocketsphinx_engine import GAP_CLIP, combined_confidence
    assert combined_confidence(GAP_CLIP[1] + 500, 0.0, 0.5) == combined_confidence(GAP_CLIP[1], 0.0, 0.5)
    assert combined_confidence(GAP_CLIP[0] - 500, 0.0, 0.5) == combined_confidence(GAP_CLIP[0], 0.0, 0.5)


def test_unrelated_phones_are_rejected_however_well_the_grammar_scores():
    # "where did i leave my keys" forced onto a phrase: the loop hears a dozen other phones
    from skill.recognition.pocketsphinx_engine import REJECT_BELOW, combined_confidence
    heard = "W EH R D IH D AY L IY V M AY K IY Z".split()
    distance = relative_distance(heard, [["N", "OW"]])
    assert combined_confidence(gap=10.0, uncovered=0.0, distance=distance) < REJECT_BELOW
