"""Safety during the session: the pain check sub-dialog, the pain-rise rule, and scripted
sessions through `run_assistant.py --text --json --fast` that report pain mid-exercise."""
from __future__ import annotations

import copy
import itertools
import json
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from skill.prompts import Prompts
from skill.protocol import Ask, End, Listen, Record, Silence, Tick, Triage, Utterance
from skill.safety import CHECKS, NEURO_RECHECK, PainCheck, decide, pain_rise_stops
from skill.screener import load_questions

REPO = Path(__file__).resolve().parents[1]
LOCALE = REPO / "dialogs" / "en-us"
QS = load_questions(LOCALE)
TURNS = {"yes": Utterance("yes"), "no": Utterance("no"), "unclear": Utterance("none"), "silence": Silence(),
         "unsure": Utterance("unsure")}   # "I don't know"
# the four checks also hear hedges: a partial yes ("a little") and a doubtful no ("not really")
CHECK_TURNS = TURNS | {"partly": Utterance("partial_yes"), "doubtful": Utterance("leaning_no")}


def prompts() -> Prompts:
    return Prompts.load(LOCALE / "prompts", rng=random.Random(0))


# ---------------------------------------------------------------- the pain-rise rule
@pytest.mark.parametrize("before, now, stops", [
    (None, 5, False), (None, 6, True), (3, 5, False), (3, 6, True), (0, 2, False), (0, 3, True),
    (4, 6, True), (5, 5, False), (6, 6, True), (2, 5, True), (8, 4, False), (None, 0, False),
])
def test_pain_rise_examples(before, now, stops):
    assert pain_rise_stops(before, now) is stops


def test_pain_rise_every_pair():
    for before in [None, *range(11)]:
        for now in range(11):
            expected = now > 5 or (before is not None and now > before + 2)
            assert pain_rise_stops(before, now) == expected, (before, now)


# ---------------------------------------------------------------- the decision table
def test_decision_for_every_set_of_yes_answers():
    for n in range(len(CHECKS) + 1):
        for yes in itertools.combinations(CHECKS, n):
            yes = set(yes)
            if "pain_numbness" in yes or "pain_dizzy" in yes or {"pain_sharp", "pain_spreading"} <= yes:
                expected = "stop_session"
            elif yes:
                expected = "gentler"
            else:
                expected = "continue"
            assert decide(yes) == expected, yes


# ---------------------------------------------------------------- every answer sequence
def test_every_answer_sequence_of_the_four_checks():
    paths = 0
    for combo in itertools.product(CHECK_TURNS, repeat=len(CHECKS)):
        check = PainCheck(prompts())
        actions = check.start(0.0)
        asked = []
        for i, (cid, said) in enumerate(zip(CHECKS, combo)):
            # ask precedes listen, and the question asked is the next check
            assert actions[-1] == Listen("yes_no", timeout=10.0, prompted=True)
            asks = [a for a in actions if isinstance(a, Ask)]
            assert asks == [Ask(cid)] and actions.index(asks[0]) < len(actions) - 1
            asked.append(cid)
            assert not check.finished
            actions = check.handle(CHECK_TURNS[said])
            spoken = [getattr(a, "prompt", "") for a in actions]
            if said == "unsure":   # told why it counts as a yes, in words for "I don't know"
                assert "paincheck_unsure_as_yes" in spoken
            # "a little" is a yes, and said to be one; "not really" is unclear, counted as yes
            assert ("paincheck_partial_as_yes" in spoken) == (said == "partly")
            assert ("paincheck_unclear_as_yes" in spoken) == (said in ("unclear", "silence", "doubtful"))
        assert check.finished and asked == list(CHECKS)
        assert not any(isinstance(a, (Listen, Ask, End)) for a in actions)
        records = [a for a in actions if isinstance(a, Record)]
        assert len(records) == 1 and records[0].kind == "pain_check"
        not_no = {c for c, said in zip(CHECKS, combo) if said != "no"}
        r = check.result
        assert set(r.yes) == not_no, "an unclear answer counts as yes"
        assert set(r.unclear) == {c for c, said in zip(CHECKS, combo)
                                  if said in ("unclear", "silence", "unsure", "doubtful")}
        assert check.decision == decide(not_no)
        if check.decision == "continue":
            assert combo == ("no",) * 4, "continue only after four clear noes"
        if combo[2] != "no" or combo[3] != "no":
            assert check.decision == "stop_session"
        assert r.recheck == (NEURO_RECHECK if combo[2] != "no" else ())
        assert records[0].data["decision"] == check.decision
        assert check.handle(Utterance("yes")) == []
        paths += 1
    assert paths == len(CHECK_TURNS) ** 4


def test_a_partial_yes_in_the_neurological_recheck_is_a_yes():
    """ "A little" to a nerve question asked again after new numbness: a yes, at once."""
    for question in NEURO_RECHECK:
        check = PainCheck(prompts(), QS)
        check.start(0.0)
        for said in ("no", "no", "yes", "no"):   # new numbness or weakness
            actions = check.handle(TURNS[said])
        while Ask(question) not in actions:
            actions = check.handle(TURNS["no"])
        actions = check.handle(Utterance("partial_yes"))
        assert "paincheck_partial_as_yes" in [getattr(a, "prompt", "") for a in actions]
        assert check.result.recheck_answers[question] == "yes"
        if QS.levels[question] == "emergency":
            assert check.finished and check.result.level == "emergency"


def test_every_answer_sequence_of_the_neurological_recheck():
    """New numbness or weakness: the screener's nerve questions again, every answer sequence."""
    levels = QS.levels
    counted = {"paths": 0, "emergency": 0}

    shared = prompts()

    def fork(check: PainCheck) -> PainCheck:
        return copy.deepcopy(check, {id(shared): shared, id(QS): QS})

    def explore(check: PainCheck, actions: list) -> None:
        if not check.finished:
            asks = [a for a in actions if isinstance(a, Ask)]
            assert asks and actions[-1] == Listen("yes_no", timeout=10.0, prompted=True)
            assert asks[-1].question_id in NEURO_RECHECK
            for said in TURNS.values():
                child = fork(check)
                explore(child, child.handle(said))
            return
        counted["paths"] += 1
        r = check.result
        assert r.decision == "stop_session" and r.recheck == NEURO_RECHECK
        answers = r.recheck_answers
        triage = [a for a in actions if isinstance(a, Triage)]
        assert len(triage) == 1 and triage[0].level == r.level
        emergency_yes = [q for q, a in answers.items() if a == "yes" and levels[q] == "emergency"]
        if emergency_yes:
            counted["emergency"] += 1
            assert r.level == "emergency"
            assert list(answers)[-1] in emergency_yes, "an emergency answer ends the re-check at once"
        else:
            assert r.level in ("urgent", "emergency")  # never milder than "see a doctor today"
        if r.level != "emergency":
            assert list(answers) == list(NEURO_RECHECK), "all nerve questions asked unless an emergency"
        assert "screener_not_diagnosis" in [a.prompt for a in actions if hasattr(a, "prompt")]

    root = PainCheck(shared, QS)
    root.start(0.0)
    for said in ("no", "no", "yes", "no"):   # new numbness or weakness
        actions = root.handle(TURNS[said])
    explore(root, actions)
    # per question: yes, no, unclear/silence then yes/no/unclear/silence; emergency yes ends
    assert counted["paths"] > 1000 and counted["emergency"] > 0
    print(f"\n  neurological re-check: {counted['paths']} answer sequences", file=sys.stderr)


def test_commands_during_the_check():
    check = PainCheck(prompts())
    check.start(0.0)
    again = check.handle(Utterance("repeat"))
    assert Ask("pain_sharp") in again and again[-1] == Listen("yes_no", timeout=10.0, prompted=True)
    explained = check.handle(Utterance("explain"))
    assert explained[0].prompt == "paincheck_help" and Ask("pain_sharp") in explained
    waiting = check.handle(Utterance("pause"))
    assert waiting[-1] == Listen("yes_no", timeout=None)
    assert check.handle(Tick("beat")) == []
    check.handle(Utterance("resume"))
    stopped = check.handle(Utterance("stop"))
    assert check.finished and check.decision == "stop_session"
    assert any(isinstance(a, Record) for a in stopped)


def test_input_gone_stops_the_session():
    check = PainCheck(prompts())
    check.start(0.0)
    check.handle(Utterance("no"))
    check.end_of_input(5.0)
    assert check.finished and check.decision == "stop_session"


# ---------------------------------------------------------------- scripted sessions (CLI)
BASE = [sys.executable, "run_assistant.py", "--text", "--json", "--fast", "--skip-screener", "--seed", "3"]


def run_session(answer_for, tmp_path: Path, max_turns: int = 400) -> list[dict]:
    """Drive a whole session: `answer_for(lines, listen)` gives the next typed line (or None to close)."""
    err = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen(BASE, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                            text=True, bufsize=1)
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    lines: list[dict] = []
    try:
        for _ in range(max_turns):
            listen = None
            while True:
                raw = proc.stdout.readline()
                if not raw:
                    break
                obj = json.loads(raw)
                lines.append(obj)
                if obj["type"] in ("listen", "end"):
                    listen = obj
                    break
            if listen is None or listen["type"] == "end":
                break
            text = answer_for(lines, listen)
            if text is None:
                break
            proc.stdin.write(text + "\n")
            proc.stdin.flush()
        proc.stdin.close()
        proc.wait(timeout=30)
    finally:
        watchdog.cancel()
        err.close()
    assert proc.returncode == 0, (tmp_path / "stderr.txt").read_text()
    return lines


def person_reporting_pain(complaint: str, check_answers: dict[str, str], rating: str = "3"):
    """Choose the default routine, start, say `complaint` at the first count; answer the
    pain check from `check_answers`, rate pain `rating`; then finish politely."""
    state = {"complained": False}

    def answer(lines, listen):
        last_ask = next((o["question_id"] for o in reversed(lines) if o["type"] == "ask"), None)
        ctx = listen["context"]
        before = [o for o in lines[:-1] if o["type"] != "cue"][-1]   # the earcon sits before the listen
        if ctx == "menu":
            return "back pain relief"
        if ctx == "number":
            return rating if state["complained"] else "3"
        if ctx == "pain_confirm":          # "three out of ten, is that right?"
            return "yes"
        if ctx == "yes_no" and last_ask in CHECKS and before["type"] == "say" and \
                before["prompt"].startswith("paincheck_"):
            return check_answers.get(last_ask, "no")
        if ctx == "coach":
            if not state["complained"] and any(o["type"] == "timer" for o in lines):
                state["complained"] = True
                return complaint
            return "stop" if state["complained"] else "ready"
        if ctx == "yes_no":
            return "yes"   # confirm stop
        return None
    return answer


def said(lines, kind):
    return [o for o in lines if o["type"] == kind]


@pytest.mark.parametrize("complaint", ["it hurts", "ouch", "that's painful"])
def test_pain_report_sharp_pain_moves_to_a_gentler_exercise(tmp_path, complaint):
    lines = run_session(person_reporting_pain(complaint, {"pain_sharp": "yes"}), tmp_path)
    heard = [o for o in said(lines, "heard") if o.get("intent") == "pain"]
    assert heard, "the complaint is understood as a pain report"
    asks = [o["question_id"] for o in said(lines, "ask")]
    assert asks[:4] == list(CHECKS)
    checks = [o for o in said(lines, "record") if o["kind"] == "pain_check"]
    assert checks[0]["decision"] == "gentler" and checks[0]["yes"] == ["pain_sharp"]
    stopped = [o for o in said(lines, "record") if o["kind"] == "exercise" and o["status"] == "stopped_for_pain"]
    assert stopped, "that exercise stopped"
    states = [o["state"] for o in said(lines, "state")]
    assert states[states.index("pain_check") + 1] == "intro", "the session goes on with the next exercise"


def test_pain_report_new_numbness_stops_the_session_with_advice(tmp_path):
    lines = run_session(person_reporting_pain("it hurts", {"pain_numbness": "yes"}), tmp_path)
    checks = [o for o in said(lines, "record") if o["kind"] == "pain_check"]
    assert checks[0]["decision"] == "stop_session" and checks[0]["recheck"] == list(NEURO_RECHECK)
    prompts_said = [o["prompt"] for o in said(lines, "say")]
    # the nerve questions are asked again; a yes there gives the screener's emergency advice
    assert said(lines, "ask")[-1]["question_id"] in NEURO_RECHECK
    assert {"paincheck_neuro_advice", "paincheck_neuro_urgent", "screener_outcome_emergency"} & set(prompts_said)
    end = said(lines, "end")[-1]
    assert "exercise" not in [o["state"] for o in said(lines, "state")][-1:]
    assert [o["state"] for o in said(lines, "state")][-1] == "finished" and end


def test_pain_report_all_clear_then_high_rating_stops_that_exercise(tmp_path):
    lines = run_session(person_reporting_pain("ouch", {}, rating="7"), tmp_path)
    checks = [o for o in said(lines, "record") if o["kind"] == "pain_check"]
    assert checks[0]["decision"] == "continue"
    ratings = [o for o in said(lines, "record") if o["kind"] == "pain" and o["when"] == "check"]
    assert ratings and ratings[0]["score"] == 7
    assert "pain_rating_stop_exercise" in [o["prompt"] for o in said(lines, "say")]


def test_pain_report_unclear_answer_counts_as_yes(tmp_path):
    lines = run_session(person_reporting_pain("it hurts", {"pain_dizzy": "banana"}), tmp_path)
    checks = [o for o in said(lines, "record") if o["kind"] == "pain_check"]
    assert checks[0]["unclear"] == ["pain_dizzy"] and checks[0]["decision"] == "stop_session"
