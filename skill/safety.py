"""Safety during the session: the pain check after "it hurts", and the pain-rise rule.

Pure: `PainCheck` takes events and returns actions like every dialog here. It asks four
yes/no questions (sharp pain? spreading down the leg? new numbness or weakness? dizziness?)
and decides:

- "stop_session": new numbness or weakness, dizziness, or sharp pain that also spreads
  down the leg. With numbness or weakness the neurological screener questions are asked
  again (when the screener's questions are given) or their warning signs are read out.
- "gentler": sharp pain, or pain spreading down the leg: stop this exercise, offer a gentler one.
- "continue": a clear no to all four (the session then asks for a 0-10 rating).

A partial yes ("a little", "sometimes") is a yes. An answer that is not clearly yes or no
counts as yes: in pain, mid-exercise, one more question is worse than stopping one exercise
early. "stop" stops the session. "Where am I?" and the session-wide commands (louder,
quieter, more/less detail) are not answers: the question is asked again.
"""
from __future__ import annotations

from dataclasses import dataclass

from .prompts import Prompts
from .protocol import Action, Ask, Event, Listen, Record, Say, Triage, answer_kind
from .triage import triage

LISTEN_TIMEOUT = 10.0
# Commands about the session, not answers: the caller acts on them, the question is asked again.
REASK = ("repeat", "resume", "louder", "quieter", "more_detail", "less_detail")
PAIN_LIMIT = 5        # a rating above this stops the exercise
PAIN_RISE_LIMIT = 2   # ... and so does a rise of more than this over the starting rating

# The check's own questions, in the order asked: (id, prompt id of the question)
CHECKS: tuple[str, ...] = ("pain_sharp", "pain_spreading", "pain_numbness", "pain_dizzy")
# Screener questions about nerves, asked again after new numbness or weakness
NEURO_RECHECK: tuple[str, ...] = ("saddle_numbness", "bladder", "bowel", "both_legs", "leg_weakness")


def pain_rise_stops(before: int | None, now: int) -> bool:
    """True when a 0-10 rating means stop this exercise: above 5, or more than 2 over the start."""
    if now > PAIN_LIMIT:
        return True
    return before is not None and now - before > PAIN_RISE_LIMIT


def decide(yes: set[str]) -> str:
    """The pain check's decision from the checks answered yes (unclear counts as yes)."""
    if "pain_numbness" in yes or "pain_dizzy" in yes:
        return "stop_session"
    if {"pain_sharp", "pain_spreading"} <= yes:
        return "stop_session"
    if yes & {"pain_sharp", "pain_spreading"}:
        return "gentler"
    return "continue"


@dataclass(frozen=True)
class PainCheckResult:
    decision: str                      # continue | gentler | stop_session
    yes: tuple[str, ...]               # checks answered yes, or counted as yes
    unclear: tuple[str, ...]           # checks whose answer was unclear (counted as yes)
    recheck: tuple[str, ...] = ()      # screener question ids to ask again (new numbness/weakness)
    recheck_answers: dict | None = None
    level: str | None = None           # triage level of the re-asked questions, if asked


class PainCheck:
    """The pain-report sub-dialog. `questions` (the screener's QuestionSet) enables asking
    the neurological screener questions again in place; without it they are advised."""

    def __init__(self, prompts: Prompts, questions=None) -> None:
        self.prompts = prompts
        self.questions = questions
        self._answers: dict[str, str] = {}          # check id -> yes | no | unclear
        self._pending: str | None = None
        self._recheck: list[str] = []               # screener ids still to re-ask
        self._recheck_answers: dict[str, str] = {}
        self._tries = 0
        self._stopped = False
        self._level: str | None = None
        self.finished = False
        self._out: list[Action] = []
        prompts.require(PROMPT_IDS)

    # ------------------------------------------------------------------ public
    def start(self, now: float = 0.0) -> list[Action]:
        self._say("paincheck_intro")
        self._ask(CHECKS[0])
        return self._flush()

    def handle(self, event: Event) -> list[Action]:
        if self.finished or self._pending is None:
            return []
        kind = answer_kind(event)
        if kind is None:
            return []
        if self._pending in CHECKS:
            self._on_check(kind)
        else:
            self._on_recheck(kind)
        return self._flush()

    def end_of_input(self, now: float) -> list[Action]:
        """Input is gone: the safe ending is to stop the session."""
        if not self.finished:
            self._stopped = True
            self._finish()
        return self._flush()

    @property
    def decision(self) -> str | None:
        return self.result.decision if self.finished else None

    @property
    def result(self) -> PainCheckResult:
        yes = tuple(c for c in CHECKS if self._answers.get(c) in ("yes", "unclear"))
        unclear = tuple(c for c in CHECKS if self._answers.get(c) == "unclear")
        decision = "stop_session" if self._stopped else decide(set(yes))
        recheck = NEURO_RECHECK if "pain_numbness" in yes else ()
        return PainCheckResult(decision, yes, unclear, recheck,
                               dict(self._recheck_answers) if self._recheck_answers else None, self._level)

    @property
    def yes(self) -> tuple[str, ...]:
        return self.result.yes

    # ------------------------------------------------------------------ the four checks
    def _flush(self) -> list[Action]:
        out, self._out = self._out, []
        return out

    def _say(self, prompt_id: str, **slots: object) -> None:
        self._out.append(self.prompts.say(prompt_id, **slots))

    def _ask(self, check: str) -> None:
        self._pending = check
        self._out += [Ask(check), self.prompts.say(f"paincheck_{check[5:]}"),
                      Listen("yes_no", timeout=LISTEN_TIMEOUT, prompted=True)]

    def _on_check(self, kind: str) -> None:
        check = self._pending
        if kind == "where":
            self._say("paincheck_where", number=CHECKS.index(check) + 1, total=len(CHECKS))
            self._ask(check)
            return
        if kind in REASK + ("help", "explain"):
            if kind in ("help", "explain"):
                self._say("paincheck_help")
            self._ask(check)
            return
        if self._paused_or_stopped(kind):
            return
        if kind in ("yes", "no"):
            self._answers[check] = kind
        elif kind == "partial_yes":     # "a little": any amount is a yes
            self._answers[check] = "yes"
            self._say("paincheck_partial_as_yes")
        else:
            self._answers[check] = "unclear"
            self._say("paincheck_unsure_as_yes" if kind == "unsure" else "paincheck_unclear_as_yes")
        index = CHECKS.index(check)
        if index + 1 < len(CHECKS):
            self._ask(CHECKS[index + 1])
            return
        self._after_checks()

    def _paused_or_stopped(self, kind: str) -> bool:
        """A pause waits with no time limit; a stop ends the check. True if it was either."""
        if kind == "pause":
            self._say("paincheck_take_time")
            self._out.append(Listen("yes_no", timeout=None))
            return True
        if kind == "stop":
            self._stopped = True
            self._finish()
            return True
        return False

    def _after_checks(self) -> None:
        if "pain_numbness" in self.result.yes and self.questions is not None:
            self._say("paincheck_recheck_intro")
            self._recheck = [q for q in NEURO_RECHECK if q in self.questions.levels]
            self._ask_recheck()
            return
        self._finish()

    # ------------------------------------------------------------------ neurological re-check
    def _ask_recheck(self, rephrase: bool = False) -> None:
        q = self.questions.get(self._recheck[0])
        self._pending = q.id
        self._out += [Ask(q.id), Say(q.rephrase if rephrase else q.text, prompt=f"screener/{q.id}"),
                      Listen("yes_no", timeout=LISTEN_TIMEOUT, prompted=True)]

    def _on_recheck(self, kind: str) -> None:
        q = self.questions.get(self._pending)
        if kind == "where":
            self._say("paincheck_where_recheck", number=len(self._recheck_answers) + 1,
                      total=len(self._recheck_answers) + len(self._recheck))
            self._ask_recheck()
            return
        if kind in REASK + ("help",):
            self._ask_recheck()
            return
        if kind == "explain":
            self._out.append(Say(q.explain, prompt=f"screener/{q.id}/explain"))
            self._ask_recheck()
            return
        if self._paused_or_stopped(kind):
            return
        if kind in ("yes", "no"):
            answer = kind
        elif kind == "partial_yes":     # "a little": any amount is a yes
            answer = "yes"
            self._say("paincheck_partial_as_yes")
        else:
            self._tries += 1
            if self._tries < 2:
                self._say("paincheck_unclear")
                self._ask_recheck(rephrase=True)
                return
            answer = "unknown"
        self._tries = 0
        self._recheck_answers[q.id] = answer
        self._recheck.pop(0)
        levels = self.questions.levels
        if triage(self._recheck_answers, levels)[0] == "emergency" or not self._recheck:
            self._finish()
        else:
            self._ask_recheck()

    # ------------------------------------------------------------------ the end
    def _finish(self) -> None:
        self.finished = True
        self._pending = None
        r = self.result
        if self._recheck_answers:
            level, reasons = triage(self._recheck_answers, self.questions.levels)
            # new numbness or weakness is reason enough to see a doctor today
            level = level if level == "emergency" else "urgent"
            self._level = level
            self._out.append(Triage(level, reasons))
            self._say("screener_outcome_emergency" if level == "emergency" else "paincheck_neuro_urgent")
            self._say("screener_not_diagnosis")
        elif r.decision == "stop_session":
            if "pain_numbness" in r.yes:
                self._say("paincheck_neuro_advice")
            elif "pain_dizzy" in r.yes:
                self._say("paincheck_dizzy_advice")
            else:
                self._say("paincheck_stop_session")
        elif r.decision == "gentler":
            self._say("paincheck_gentler")
        else:
            self._say("paincheck_continue")
        r = self.result
        data = {"decision": r.decision, "yes": list(r.yes), "unclear": list(r.unclear),
                "recheck": list(r.recheck)}
        if r.recheck_answers:
            data["recheck_answers"] = r.recheck_answers
            data["level"] = r.level
        self._out.append(Record("pain_check", data))


PROMPT_IDS = {
    "paincheck_intro", "paincheck_sharp", "paincheck_spreading", "paincheck_numbness", "paincheck_dizzy",
    "paincheck_help", "paincheck_take_time", "paincheck_unclear_as_yes", "paincheck_unclear",
    "paincheck_recheck_intro", "paincheck_neuro_urgent", "paincheck_neuro_advice", "paincheck_dizzy_advice",
    "paincheck_stop_session", "paincheck_gentler", "paincheck_continue", "paincheck_where",
    "paincheck_where_recheck", "paincheck_unsure_as_yes", "paincheck_partial_as_yes",
    "screener_outcome_emergency", "screener_not_diagnosis",
}
