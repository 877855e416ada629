"""skill.triage: the pure answers -> (level, reasons) function, against the issue's rules."""
from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from skill.screener import load_questions
from skill.triage import COMBINATIONS, LEVELS, highest_possible, severity, triage

LOCALE = Path(__file__).resolve().parents[1] / "dialogs" / "en-us"
LEVELS_OF = load_questions(LOCALE).levels

# The issue's table, verbatim in levels ("none": steers the screener, no level of its own).
ISSUE_LEVELS = {
    "saddle_numbness": "emergency", "bladder": "emergency", "bowel": "emergency",
    "both_legs": "emergency", "leg_weakness": "urgent", "major_trauma": "emergency",
    "sudden_severe_pain": "emergency", "fever": "urgent", "infection_risk": "clinician",
    "cancer_history": "urgent", "steroids_osteoporosis": "urgent", "age_50_new_pain": "clinician",
    "weight_loss": "clinician", "no_improvement": "clinician", "night_pain": "clinician",
    "hip_cannot_bear_weight": "emergency", "hip_hot_swollen": "emergency",
    "hip_replacement_problem": "emergency", "groin_pain_risk": "urgent", "pregnant": "none",
    "pregnancy_warning": "emergency",
}
NEURO = ("saddle_numbness", "bladder", "bowel", "both_legs", "leg_weakness")
RISK_TRIO = ("age_50_new_pain", "weight_loss", "no_improvement")


def reference_level(answers: dict[str, str]) -> str:
    """The issue's rules written out longhand, independently of the table-driven code."""
    yes = {q for q, a in answers.items() if a == "yes"}
    if any(ISSUE_LEVELS[q] == "emergency" for q in yes):
        return "emergency"
    if {"leg_weakness", "both_legs"} <= yes:
        return "emergency"
    if "cancer_history" in yes and yes & set(NEURO):
        return "emergency"
    if any(ISSUE_LEVELS[q] == "urgent" for q in yes):
        return "urgent"
    if {"infection_risk", "fever"} <= yes or len(yes & set(RISK_TRIO)) >= 2:
        return "urgent"
    if any(ISSUE_LEVELS[q] == "clinician" for q in yes) or "unknown" in answers.values():
        return "clinician"
    return "ok"


def test_data_file_levels_are_the_issues():
    assert LEVELS_OF == ISSUE_LEVELS


@pytest.mark.parametrize("qid", sorted(ISSUE_LEVELS))
def test_a_single_yes_gives_the_questions_own_level(qid):
    answers = {q: "no" for q in ISSUE_LEVELS}
    answers[qid] = "yes"
    level, reasons = triage(answers, LEVELS_OF)
    expected = "ok" if ISSUE_LEVELS[qid] == "none" else ISSUE_LEVELS[qid]
    assert level == expected
    assert reasons == (() if expected == "ok" else (qid,))


@pytest.mark.parametrize("qid", sorted(ISSUE_LEVELS))
def test_a_single_unknown_is_never_ok(qid):
    answers = {q: "no" for q in ISSUE_LEVELS}
    answers[qid] = "unknown"
    assert triage(answers, LEVELS_OF) == ("clinician", (qid,))


def test_all_no_is_ok_and_nothing_asked_is_ok():
    assert triage({q: "no" for q in ISSUE_LEVELS}, LEVELS_OF) == ("ok", ())
    assert triage({}, LEVELS_OF) == ("ok", ())


@pytest.mark.parametrize("answers, level, reasons", [
    ({"leg_weakness": "yes"}, "urgent", ("leg_weakness",)),
    ({"leg_weakness": "yes", "both_legs": "yes"}, "emergency", ("leg_weakness", "both_legs")),
    ({"infection_risk": "yes"}, "clinician", ("infection_risk",)),
    ({"infection_risk": "yes", "fever": "yes"}, "urgent", ("infection_risk", "fever")),
    ({"fever": "yes", "infection_risk": "unknown"}, "urgent", ("fever",)),
    ({"cancer_history": "yes"}, "urgent", ("cancer_history",)),
    ({"cancer_history": "yes", "age_50_new_pain": "yes"}, "urgent", ("cancer_history",)),
    ({"leg_weakness": "yes", "cancer_history": "yes"}, "emergency", ("leg_weakness", "cancer_history")),
    ({"age_50_new_pain": "yes"}, "clinician", ("age_50_new_pain",)),
    ({"age_50_new_pain": "yes", "weight_loss": "yes"}, "urgent", ("age_50_new_pain", "weight_loss")),
    ({"weight_loss": "yes", "no_improvement": "yes"}, "urgent", ("weight_loss", "no_improvement")),
    ({"age_50_new_pain": "yes", "weight_loss": "unknown"}, "clinician", ("age_50_new_pain", "weight_loss")),
    ({"pregnant": "yes"}, "ok", ()),
    ({"pregnant": "yes", "pregnancy_warning": "yes"}, "emergency", ("pregnancy_warning",)),
    ({"pregnant": "unknown"}, "clinician", ("pregnant",)),
    ({"night_pain": "yes", "bladder": "unknown"}, "clinician", ("night_pain", "bladder")),
    ({"fever": "yes", "bladder": "unknown"}, "urgent", ("fever",)),
])
def test_combination_rules(answers, level, reasons):
    assert triage(answers, LEVELS_OF) == (level, reasons)


@pytest.mark.parametrize("neuro", NEURO)
def test_cancer_with_any_nerve_sign_is_an_emergency(neuro):
    level, reasons = triage({"cancer_history": "yes", neuro: "yes"}, LEVELS_OF)
    assert level == "emergency"
    assert neuro in reasons


def test_every_combination_of_the_interacting_questions_matches_the_reference():
    """All 3^11 answer sets over every question a combination rule mentions."""
    ids = sorted(set().union(*(rule.ids() for rule in COMBINATIONS)))
    assert len(ids) == 11
    count = 0
    for combo in itertools.product(("yes", "no", "unknown"), repeat=len(ids)):
        answers = dict(zip(ids, combo))
        assert triage(answers, LEVELS_OF)[0] == reference_level(answers), answers
        count += 1
    assert count == 3 ** 11


def _random_answers(rng: random.Random, ids=tuple(ISSUE_LEVELS)) -> dict[str, str]:
    answers = {}
    for q in ids:
        roll = rng.random()
        if roll < 0.25:
            continue  # not asked
        answers[q] = "yes" if roll < 0.35 else "unknown" if roll < 0.45 else "no"
    return answers


def test_random_full_answer_sets_match_the_reference():
    rng = random.Random(4)
    for _ in range(20000):
        answers = _random_answers(rng)
        level, reasons = triage(answers, LEVELS_OF)
        assert level == reference_level(answers), answers
        assert (level == "ok") == (reasons == ())
        assert set(reasons) <= set(answers)


def test_reasons_alone_reproduce_the_level():
    """The reasons given are enough on their own to reach the level (they are the cause)."""
    rng = random.Random(5)
    for _ in range(5000):
        answers = _random_answers(rng)
        level, reasons = triage(answers, LEVELS_OF)
        only = {q: answers[q] for q in reasons}
        assert triage(only, LEVELS_OF)[0] == level, (answers, reasons)


def test_monotone_a_yes_or_unknown_never_lowers_the_level():
    rng = random.Random(6)
    for _ in range(5000):
        answers = _random_answers(rng)
        base = severity(triage(answers, LEVELS_OF)[0])
        for q in ISSUE_LEVELS:
            for worse in ("unknown", "yes"):
                if answers.get(q) in (None, "no") or (answers.get(q) == "unknown" and worse == "yes"):
                    if ISSUE_LEVELS[q] == "none" and worse == "yes":
                        continue  # pregnant yes carries no level; its unknown does
                    changed = dict(answers, **{q: worse})
                    assert severity(triage(changed, LEVELS_OF)[0]) >= base, (answers, q, worse)


def test_highest_possible_bounds_every_completion():
    rng = random.Random(7)
    ids = list(ISSUE_LEVELS)
    for _ in range(3000):
        cut = rng.randrange(len(ids) + 1)
        asked = {q: rng.choice(("yes", "no", "unknown")) for q in ids[:cut]}
        rest = ids[cut:]
        bound = highest_possible(asked, rest, LEVELS_OF)
        for _ in range(5):
            full = dict(asked, **{q: rng.choice(("yes", "no", "unknown")) for q in rest})
            assert severity(triage(full, LEVELS_OF)[0]) <= severity(bound)
        # and the bound is reached by some completion
        reached = max((triage(dict(asked, **{q: a for q in rest}), LEVELS_OF)[0] for a in ("yes", "unknown")),
                      key=severity)
        assert reached == bound or not rest


def test_bad_answers_are_rejected():
    with pytest.raises(ValueError, match="bladder"):
        triage({"bladder": "maybe"}, LEVELS_OF)
    with pytest.raises(ValueError, match="no level"):
        triage({"not_a_question": "no"}, LEVELS_OF)


def test_levels_order():
    assert LEVELS == ("ok", "clinician", "urgent", "emergency")
