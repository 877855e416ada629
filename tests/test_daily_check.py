"""The daily check: pause and resume behave as in the full screener (never an unclear answer)."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from skill.daily_check import DailyCheck
from skill.prompts import Prompts
from skill.protocol import Ask, Listen, Say, Silence, Utterance
from skill.screener import Screener, load_questions

LOCALE = Path(__file__).resolve().parents[1] / "dialogs" / "en-us"
PROMPTS = Prompts.load(LOCALE / "prompts", rng=random.Random(3))
QUESTIONS = load_questions(LOCALE)


def _check() -> DailyCheck:
    check = DailyCheck(PROMPTS, lambda: Screener(QUESTIONS, PROMPTS))
    check.start(0.0)
    return check


def _said(actions) -> list[str]:
    return [a.prompt for a in actions if isinstance(a, Say)]


def test_pause_twice_does_not_run_the_full_screener() -> None:
    check = _check()
    for _ in range(3):
        out = check.handle(Utterance("pause"))
        assert _said(out) == ["screener_paused"] and out[-1] == Listen("yes_no", None)
        assert "daily_check_full" not in _said(out)
    assert check._full is None and not check.finished


def test_silence_while_paused_keeps_waiting_and_no_still_clears() -> None:
    check = _check()
    check.handle(Utterance("pause"))
    for t in (10.0, 20.0, 30.0):
        assert check.handle(Silence(now=t)) == [Listen("yes_no", None)]
    out = check.handle(Utterance("no"))
    assert check.finished and check.outcome.level == "ok" and check.outcome.proceed
    assert "daily_check_clear" in _said(out)


def test_resume_asks_the_question_again_and_unclear_counts_again() -> None:
    check = _check()
    check.handle(Utterance("pause"))
    out = check.handle(Utterance("resume"))
    assert _said(out) == ["daily_check"] and Ask("daily_check") in out
    assert out[-1] == Listen("yes_no", 10.0, prompted=True)
    # no longer paused: silence is an unclear try again, and two of them screen fully
    assert _said(check.handle(Silence(now=40.0))) == ["daily_check_rephrase"]
    assert "daily_check_full" in _said(check.handle(Silence(now=50.0)))
    assert check._full is not None


def test_an_answer_while_paused_is_taken() -> None:
    check = _check()
    check.handle(Utterance("pause"))
    out = check.handle(Utterance("yes"))
    assert "daily_check_full" in _said(out) and check._full is not None


@pytest.mark.parametrize("intent", ["unsure", "partial_yes", "leaning_no"])
def test_i_dont_know_a_little_or_not_really_runs_the_full_screener(intent: str) -> None:
    # not sure whether anything has changed since last time, or only a little: the safe answer
    # is the full screen
    check = _check()
    out = check.handle(Utterance(intent))
    assert "daily_check_full" in _said(out) and check._full is not None and not check.finished
