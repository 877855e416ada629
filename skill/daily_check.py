"""The short daily check: one question about the emergency signs; any yes runs the full screener.

Used instead of the full screener when the last full one is recent and was clear (history
decides which is due). An unclear answer twice also runs the full screener: unclear is never no.
"Where am I?" and the session-wide commands (louder, quieter, more/less detail) are not
answers: the question is asked again. "Pause" waits, as the full screener does: silence while
paused is not an unclear answer, and "resume" asks the question again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .prompts import Prompts
from .protocol import Action, Ask, Event, Listen, Record, Silence, Triage, Utterance

QUESTION_ID = "daily_check"
LISTEN_TIMEOUT = 10.0
MAX_TRIES = 2


@dataclass(frozen=True)
class DailyOutcome:
    level: str = "ok"
    reasons: tuple[str, ...] = ()
    pregnant: bool = False
    proceed: bool = True


class DailyCheck:
    PROMPTS = ("daily_check", "daily_check_rephrase", "daily_check_clear", "daily_check_full",
               "daily_check_explain", "daily_check_where", "screener_paused")

    def __init__(self, prompts: Prompts, full_screener: Callable[[], Any], pregnant: bool = False) -> None:
        prompts.require(self.PROMPTS)
        self.prompts = prompts
        self._make_full = full_screener
        self._full: Any = None
        self._tries = 0
        self._pregnant = pregnant
        self._paused = False
        self.finished = False
        self.outcome: Any = None

    def start(self, now: float) -> list[Action]:
        return self._ask("daily_check")

    def _ask(self, prompt_id: str) -> list[Action]:
        self._paused = False
        return [Ask(QUESTION_ID), self.prompts.say(prompt_id), Listen("yes_no", LISTEN_TIMEOUT, prompted=True)]

    def handle(self, event: Event) -> list[Action]:
        if self._full is not None:
            out = self._full.handle(event)
            if self._full.finished:
                self.finished, self.outcome = True, self._full.outcome
            return out
        intent = event.intent if isinstance(event, Utterance) else "silence"
        if intent == "no":
            self.finished = True
            self.outcome = DailyOutcome(pregnant=self._pregnant)
            return [self.prompts.say("daily_check_clear"), Triage("ok", ()),
                    Record("screener", {"level": "ok", "yes": [], "unknown": [], "full": False})]
        if intent in ("explain", "help"):
            return self._ask("daily_check_explain")
        if intent == "where":
            return [self.prompts.say("daily_check_where")] + self._ask("daily_check")
        if intent in ("repeat", "resume", "louder", "quieter", "more_detail", "less_detail"):
            return self._ask("daily_check")
        if intent == "pause":
            # same words and behaviour as the full screener's pause: wait without a timeout
            self._paused = True
            return [self.prompts.say("screener_paused"), Listen("yes_no", None)]
        if intent == "silence" and self._paused:
            return [Listen("yes_no", None)]      # paused on purpose: keep waiting, not a try
        # a yes, a partial one, or not sure whether anything changed: screen fully
        if intent in ("yes", "stop", "unsure", "partial_yes", "leaning_no"):
            return self._run_full()
        self._tries += 1       # unclear or silence: ask again in other words, then screen fully
        if self._tries >= MAX_TRIES:
            return self._run_full()
        return self._ask("daily_check_rephrase")

    def _run_full(self) -> list[Action]:
        self._full = self._make_full()
        return [self.prompts.say("daily_check_full")] + self._full.start(0.0)
