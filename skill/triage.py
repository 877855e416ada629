"""Red-flag triage: the screener's answers in, one outcome level and its reasons out.

Pure and table-driven. Each question's own level comes from the data file
(`dialogs/<locale>/screener.toml`); the rules that combine answers are the COMBINATIONS
table below. The outcome is the most severe level reached. An answer the person could not
give clearly ("unknown") is never read as "no": any unknown makes the outcome at least
`clinician`, so `ok` means every question asked was a clear no.

Combination rules only fire on clear yeses; an unknown raises the floor instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

# Least to most severe. "none" is for questions that steer the screener (pregnant) but
# carry no level of their own.
LEVELS: tuple[str, ...] = ("ok", "clinician", "urgent", "emergency")
QUESTION_LEVELS: tuple[str, ...] = ("none", "clinician", "urgent", "emergency")
ANSWERS: tuple[str, ...] = ("yes", "no", "unknown")

UNKNOWN_FLOOR = "clinician"


_RANK = {level: rank for rank, level in enumerate(LEVELS)}


def severity(level: str) -> int:
    return _RANK[level]


def most_severe(levels) -> str:
    return max(levels, key=severity, default="ok")


@dataclass(frozen=True)
class Combination:
    """`level` when every id in `all_of` is yes and at least `min_of` ids in `any_of` are yes."""

    level: str
    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    min_of: int = 0
    why: str = ""

    def fired_by(self, yes: set[str]) -> tuple[str, ...] | None:
        """The yes ids that make this rule fire, or None when it does not."""
        if not set(self.all_of) <= yes:
            return None
        hits = tuple(q for q in self.any_of if q in yes)
        if len(hits) < self.min_of:
            return None
        return self.all_of + hits

    def ids(self) -> set[str]:
        return set(self.all_of) | set(self.any_of)


# Rules from the issue (NICE NG59/CKS, ACP/APS 2007, IFOMPT/Finucane 2020). Single-question
# levels live in the data file; only rules that need two or more answers are here.
COMBINATIONS: tuple[Combination, ...] = (
    Combination("emergency", all_of=("leg_weakness", "both_legs"),
                why="weakness with symptoms in both legs: possible cauda equina or cord compression"),
    Combination("emergency", all_of=("cancer_history",),
                any_of=("saddle_numbness", "bladder", "bowel", "both_legs", "leg_weakness"), min_of=1,
                why="past cancer with nerve signs: possible spinal cord compression"),
    Combination("urgent", all_of=("infection_risk", "fever"),
                why="infection risk with fever: possible spinal infection"),
    Combination("urgent", any_of=("age_50_new_pain", "weight_loss", "no_improvement"), min_of=2,
                why="two risk factors for a serious cause together"),
    # cancer_history with age_50_new_pain stays urgent: cancer_history alone is urgent and
    # no rule raises that pair further (tested in tests/test_triage.py).
)


def triage(
    answers: Mapping[str, str],
    levels: Mapping[str, str],
    combinations: tuple[Combination, ...] = COMBINATIONS,
) -> tuple[str, tuple[str, ...]]:
    """(outcome level, reasons) for `answers` {question_id: "yes"|"no"|"unknown"}.

    `levels` maps each question id to its own level ("none" for steering questions).
    Reasons are the ids that brought the outcome to its level, in the order of `answers`:
    the yes answers (alone or through a combination) at that level, and, when the outcome is
    `clinician`, every unknown answer. Questions not in `answers` were not asked.
    """
    yes: set[str] = set()
    unknown: list[str] = []
    for qid, answer in answers.items():
        if qid not in levels:
            raise ValueError(f"no level for question {qid!r}")
        if answer == "yes":
            yes.add(qid)
        elif answer == "unknown":
            unknown.append(qid)
        elif answer != "no":
            raise ValueError(f"answer to {qid!r} must be one of {ANSWERS}, not {answer!r}")

    best = 0                 # severity reached so far
    because: set[str] = set()  # ids that reached it

    def reach(level: str, ids) -> None:
        nonlocal best, because
        rank = _RANK[level]
        if rank > best:
            best, because = rank, set(ids)
        elif rank == best and rank:
            because.update(ids)

    for qid in yes:
        if levels[qid] != "none":
            reach(levels[qid], (qid,))
    if yes:
        for rule in combinations:
            fired = rule.fired_by(yes)
            if fired is not None:
                reach(rule.level, fired)
    if unknown:
        reach(UNKNOWN_FLOOR, unknown)

    if best == 0:
        return "ok", ()
    return LEVELS[best], tuple(q for q in answers if q in because)


def highest_possible(
    answers: Mapping[str, str],
    still_to_ask: list[str] | tuple[str, ...],
    levels: Mapping[str, str],
    combinations: tuple[Combination, ...] = COMBINATIONS,
) -> str:
    """The most severe outcome any answers to `still_to_ask` could still produce.

    Every rule is monotone: a yes or an unknown never lowers the outcome. The worst case is
    therefore every remaining answer yes, or, for questions whose yes carries no level of its
    own (pregnant), unknown, which raises the floor to `clinician`.
    """
    all_yes = dict(answers)
    all_yes.update({q: "yes" for q in still_to_ask})
    worst = triage(all_yes, levels, combinations)[0]
    if still_to_ask:
        worst = most_severe((worst, UNKNOWN_FLOOR))
    return worst
