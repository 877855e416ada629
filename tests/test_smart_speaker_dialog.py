"""Issue 7, dialog side: "where am I", more/less detail, louder/quieter, and the earcon hooks.

Pure-core tests through the real Runtime with scripted ears and a virtual clock (the fixture
routine of test_coach: squeeze 2 sets x 4 reps with a rest, stretch a 30 s hold on each side,
march 4 alternating steps), plus the real screener, pain check and daily check, and scripted
`run_assistant.py --text --json --fast` sessions showing the detail level persists.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from skill.daily_check import DailyCheck
from skill.prompts import Prompts
from skill.protocol import Ask, Listen, Say, Utterance
from skill.safety import PainCheck
from skill.screener import Screener, load_questions
from test_coach import (LOCALE, TO, At, FakePainCheck, RecordingMouth, reach, run)

REPO = Path(__file__).resolve().parents[1]
PROMPTS = Prompts.load(LOCALE / "prompts", rng=random.Random(3))
QUESTIONS = load_questions(LOCALE)

COMMANDS = {"where": "where am i", "more_detail": "more detail", "less_detail": "less detail",
            "louder": "louder", "quieter": "quieter"}
# Prompts whose timing is the exercise's own clock: a command must not move them.
TIMED = {"count", "count_side", "hold_halfway", "hold_seconds_left", "hold_count", "hold_release",
         "set_start", "side_start", "begin_reps", "hold_start", "hold_start_short", "rest_next_set",
         "rest_next_side", "rest_next_exercise", "switch_side", "exercise_done"}


def timeline(r, skip_reply_to: int | None = None) -> list[tuple[float, str]]:
    skip = set()
    if skip_reply_to is not None:
        start = r.heard_index(skip_reply_to)
        skip = set(range(start, start + len(r.reply_to(skip_reply_to)) + 1))
    return [(t, o["prompt"]) for i, (t, o) in enumerate(r.log)
            if i not in skip and o["type"] == "say" and o["prompt"] in TIMED]


def said_texts(batch: list[dict]) -> str:
    return " ".join(o["text"] for o in batch if o["type"] == "say")


# ---------------------------------------------------------------- every state x every command
@pytest.mark.parametrize("intent", list(COMMANDS))
@pytest.mark.parametrize("state", list(TO))
def test_every_state_takes_every_new_command(state: str, intent: str) -> None:
    r = run(reach(state) + [COMMANDS[intent]])
    heard = r.objs("heard")[-1]
    assert heard["intent"] == intent
    reply = r.reply_to(-1)
    assert reply[-1]["type"] == "listen", "the session goes on listening"
    assert r.state_after(-1) == state, f"{intent} must not move the session on"
    assert any(o["type"] == "say" for o in reply), "every command gets a spoken answer"
    assert not any(o["type"] in ("timer", "cancel_timer") for o in reply), "timers are left alone"
    assert "not_now" not in [o.get("prompt") for o in reply] and "sorry" not in [o.get("prompt") for o in reply]
    volumes = [o for o in reply if o["type"] == "volume"]
    prefs = [o for o in reply if o["type"] == "record" and o["kind"] == "preference"]
    if intent in ("louder", "quieter"):
        level = 9 if intent == "louder" else 7
        assert volumes == [{"type": "volume", "level": level}]
        assert prefs == [{"type": "record", "kind": "preference", "volume": level}]
        # the new level is set before the confirmation is spoken, so it is heard at that level
        assert reply.index(volumes[0]) < next(i for i, o in enumerate(reply) if o["type"] == "say")
    elif intent == "less_detail":
        assert prefs == [{"type": "record", "kind": "preference", "detail": "short"}]
        assert "detail_short" in [o.get("prompt") for o in reply]
    elif intent == "more_detail":      # full is the default
        assert prefs == [] and [o.get("prompt") for o in reply if o["type"] == "say"][0] == "detail_already_full"
    else:
        assert volumes == [] and prefs == []
        assert reply[0]["type"] == "say" and reply[0]["prompt"].startswith("where_")
    if state in ("menu", "pain_before", "intro", "confirm_stop", "pain_after") and intent in ("where", "louder"):
        # the question is asked again, so the person knows what to answer
        assert reply[-1]["prompted"] is True
        assert len([o for o in reply if o["type"] == "say"]) >= 2


@pytest.mark.parametrize("intent", list(COMMANDS))
@pytest.mark.parametrize("state", ["counting", "holding", "resting"])
def test_commands_leave_the_exercise_clock_alone(state: str, intent: str) -> None:
    base = run(reach(state) + ["", ""] + [""] * 8)
    with_cmd = run(reach(state) + ["", COMMANDS[intent]] + [""] * 9)   # heard at once: no time passes
    assert with_cmd.objs("heard")[-1]["intent"] == intent
    same = lambda tl: [(t, p.replace("hold_start_short", "hold_start")) for t, p in tl]  # noqa: E731
    assert same(timeline(with_cmd, skip_reply_to=-1)) == same(timeline(base))
    assert len(timeline(base)) >= 4


# ---------------------------------------------------------------- what "where" says
def test_where_mid_count_gives_exercise_set_and_rep() -> None:
    r = run(TO["counting"] + ["", "", "where am i"])       # two counts have been said
    text = said_texts(r.reply_to(-1)).lower()
    for part in ("exercise one of three", "squeeze", "set one of two", "rep two of four"):
        assert part in text


def test_where_in_a_hold_gives_seconds_left_and_keeps_counting() -> None:
    # hip mobility: stretch, 30 s on each side; the hold starts when "ready" is heard
    r = run(TO["holding"])
    t0 = r.said_at("hold_start")[0]
    r = run(TO["holding"] + [At(t0 + 12, "where am i")] + [""] * 6)
    reply = r.reply_to(-1)
    text = said_texts(reply).lower()
    assert "about 18 seconds left" in text and "left side" in text
    assert reply[0]["prompt"] == "where_holding_side"
    # the hold was not paused: halfway still at 15 s and the release at 30 s
    assert r.said_at("hold_halfway")[0] == t0 + 15
    assert r.said_at("hold_release")[0] == t0 + 30


def test_where_in_a_rest_gives_seconds_to_the_next_set() -> None:
    r = run(TO["resting"])
    t0 = max(t for t, o in r.log if o["type"] == "state" and o["state"] == "resting")
    r = run(TO["resting"] + [At(t0 + 4, "how much longer")] + [""])
    text = said_texts(r.reply_to(-1)).lower()
    assert "about 6 seconds" in text and "set two of two" in text and "squeeze" in text


def test_where_while_paused_says_what_resumes() -> None:
    r = run(TO["holding"])
    t0 = r.said_at("hold_start")[0]
    r = run(TO["holding"] + [At(t0 + 10, "hold on"), At(t0 + 100, "where are we"), "resume"] + [""] * 6)
    reply = r.reply_to(-2)
    assert reply[0]["prompt"] == "where_paused_holding"
    assert "20 seconds" in said_texts(reply) and "resume" in said_texts(reply).lower()
    assert not any(o["type"] == "timer" for o in reply), "paused: nothing restarts"
    # resume picks up the 20 s that were left
    resumed_at = r.said_at("resumed_hold")[0]
    assert r.said_at("hold_release")[0] == resumed_at + 20


def test_where_at_a_question_re_asks_it() -> None:
    r = run(TO["pain_before"] + ["where am i", "4", "yes"] + [""])
    reply = r.reply_to(-3)
    assert [o["prompt"] for o in reply if o["type"] == "say"] == ["where_pain_before", "pain_reprompt"]
    assert "back pain relief" in said_texts(reply)
    assert r.session.pain_before == 4


def test_where_in_the_pain_check_is_never_an_answer() -> None:
    check_factory = lambda: PainCheck(PROMPTS, QUESTIONS)  # noqa: E731
    r = run(TO["counting"] + ["it hurts", "no", "where am i", "no", "no", "no", "2"] + [""] * 3,
            pain_check=check_factory)
    reply = r.reply_to(6)                     # the reply to "where am i"
    prompts = [o["prompt"] for o in reply if o["type"] == "say"]
    assert prompts == ["where_pain_check", "paincheck_where", "paincheck_spreading"]
    assert "question 2 of 4" in said_texts(reply)
    assert {"type": "ask", "question_id": "pain_spreading"} in reply
    assert reply[-1]["prompted"] is True
    check = [o for o in r.objs("record") if o["kind"] == "pain_check"][0]
    assert check["decision"] == "continue" and check["unclear"] == []


def test_where_and_settings_in_the_screener_re_ask_the_same_question() -> None:
    screener = lambda: Screener(QUESTIONS, PROMPTS)  # noqa: E731
    r = run(["my back", "where am i", "louder", "less detail"], screener=screener)
    asks = [o["question_id"] for o in r.objs("ask")]
    first = QUESTIONS.questions[0].id
    assert asks == ["pain_site", first, first, first, first]
    where = r.reply_to(1)
    assert where[0]["prompt"] == "screener_where" and "safety question 1 of about" in where[0]["text"]
    assert r.state_after(-1) == "screening"
    assert r.session._sub.answers == {}, "nothing was taken as an answer"
    assert r.objs("volume") == [{"type": "volume", "level": 9}]
    # the screener's wording is never shortened: the question is the same text as before
    said = [o["text"] for o in r.objs("say") if o["prompt"] == f"screener/{first}"]
    assert len(set(said)) == 1 and len(said) == 4


def test_where_in_the_daily_check() -> None:
    check = DailyCheck(PROMPTS, lambda: Screener(QUESTIONS, PROMPTS))
    check.start(0.0)
    again = check.handle(Utterance("where"))
    assert [a.prompt for a in again if isinstance(a, Say)] == ["daily_check_where", "daily_check"]
    assert Ask("daily_check") in again and again[-1] == Listen("yes_no", 10.0, prompted=True)
    for intent in ("louder", "quieter", "more_detail", "less_detail"):
        assert Ask("daily_check") in check.handle(Utterance(intent))
    assert not check.finished and check._tries == 0


# ---------------------------------------------------------------- detail level
def _step_lines(r) -> list[str]:
    return [o["prompt"] for o in r.objs("say") if o["prompt"].startswith(("step:", "cue:"))]


def test_short_mode_gives_name_dose_cue_and_keeps_cautions() -> None:
    full = run(["hip mobility", "3", "yes", "ready"] + [""] * 12)
    short = run(["hip mobility", "3", "yes", "ready"] + [""] * 12, detail="short")
    assert _step_lines(full) and not _step_lines(short)
    for r in (full, short):
        prompts = [o["prompt"] for o in r.objs("say")]
        # name and dose, the one-line setup cue, and the cautions: never cut
        for p in ("exercise_intro", "setup:stretch", "exercise_cautions", "ready"):
            assert p in prompts
    assert "hold_start" in [o["prompt"] for o in full.objs("say")]
    assert "hold_start_short" in [o["prompt"] for o in short.objs("say")]
    assert "Breathe easy." not in said_texts(short.objs("say"))
    assert timeline(short) == [(t, p.replace("hold_start", "hold_start_short") if p == "hold_start" else p)
                               for t, p in timeline(full)], "the same timing, fewer words"


def test_short_mode_counts_without_rep_cues() -> None:
    full = run(TO["counting"] + [""] * 5)
    short = run(TO["counting"] + [""] * 5, detail="short")
    assert "cue:squeeze" in [o["prompt"] for o in full.objs("say")]
    said = [o["prompt"] for o in short.objs("say")]
    assert "cue:squeeze" not in said and "keep_breathing" not in said and said.count("count") == 4


def test_more_detail_mid_set_gives_the_steps_now() -> None:
    r = run(TO["counting"] + ["", "more detail"] + [""] * 3, detail="short")
    reply = [o["prompt"] for o in r.reply_to(-1) if o["type"] == "say"]
    assert reply == ["detail_full", "step:squeeze", "step:squeeze"]
    assert r.session.detail == "full"


def test_repeat_in_short_mode_repeats_what_was_said() -> None:
    # decided: "repeat" repeats the short intro; mid-set it gives the steps (as in full mode)
    r = run(TO["intro"] + ["repeat"], detail="short")
    assert "step:squeeze" not in [o["prompt"] for o in r.reply_to(-1) if o["type"] == "say"]
    r = run(TO["counting"] + ["", "repeat"], detail="short")
    assert [o["prompt"] for o in r.reply_to(-1) if o["type"] == "say"] == ["step:squeeze", "step:squeeze"]


def test_detail_already_set_is_said_and_not_recorded_again() -> None:
    r = run(TO["menu"] + ["less detail", "just the counts"])
    assert [o["prompt"] for o in r.reply_to(-1) if o["type"] == "say"][0] == "detail_already_short"
    assert len([o for o in r.objs("record") if o["kind"] == "preference"]) == 1


# ---------------------------------------------------------------- volume
def test_volume_limits_are_said_and_nothing_changes() -> None:
    r = run(TO["menu"] + ["louder", "louder", "louder"], volume=8)
    assert [o["level"] for o in r.objs("volume")] == [9, 10]
    assert r.reply_to(-1)[0]["prompt"] == "volume_max"
    r = run(TO["menu"] + ["quieter", "turn it down"], volume=2)
    assert [o["level"] for o in r.objs("volume")] == [2, 1]     # the saved level at the start, then one step
    assert r.reply_to(-1)[0]["prompt"] == "volume_min"


def test_saved_volume_is_set_before_the_welcome_and_default_is_not() -> None:
    r = run([], volume=5)
    first = r.log[0][1]
    assert first == {"type": "volume", "level": 5}
    assert run([]).objs("volume") == []


def test_unsaveable_setting_is_said_once() -> None:
    r = run(TO["menu"] + ["louder", "quieter", "less detail"], preferences_unsaved="/x is not writable")
    said = [o["prompt"] for o in r.objs("say")]
    assert said.count("preference_not_saved") == 1
    assert len([o for o in r.objs("record") if o["kind"] == "preference"]) == 3


# ---------------------------------------------------------------- runtime: cues and volume
class CueMouth(RecordingMouth):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple] = []

    def say(self, text: str) -> None:
        super().say(text)
        self.calls.append(("say", text))

    def cue(self, name: str) -> None:
        self.calls.append(("cue", name))

    def set_volume(self, level: int) -> None:
        self.calls.append(("volume", level))


def test_runtime_cues_a_prompted_listen_once_and_the_end_of_the_answer() -> None:
    mouth = CueMouth()
    r = run(["", "", "back pain relief", "3", "yes", "louder", "ready", "", "where am i"], mouth=mouth)
    # S: speech (runs of lines as one), L: "listen" cue, D: "done" cue, V: volume change
    token = {"cue": lambda c: "L" if c[1] == "listen" else "D", "volume": lambda c: "V", "say": lambda c: "S"}
    tokens = "".join(token[c[0]](c) for c in mouth.calls)
    while "SS" in tokens:
        tokens = tokens.replace("SS", "S")
    assert tokens == ("SL"        # welcome + menu question, then the cue
                      "SL"        # silence: the one reprompt, cued again; the next silence: no cue
                      "DSL"       # "back pain relief" heard; pain question
                      "DSL"       # "3"; "three out of ten, is that right?"
                      "DSL"       # "yes"; the exercise intro ends with "say ready"
                      "DVSL"      # "louder": volume first, then the confirmation and "ready" again
                      "DS")       # "ready": counting listens for commands only, no cue; the counts,
    #                               "where am i" mid-set (answered, no cues), then the summary
    assert [c for c in mouth.calls if c[0] == "volume"] == [("volume", 9)]
    # the sink carries the same cues: "listen" just before its listen, "done" just before a heard
    log = [o for _, o in r.log]
    cues = [(i, o["cue"]) for i, o in enumerate(log) if o["type"] == "cue"]
    assert len(cues) == tokens.count("L") + tokens.count("D")
    for i, cue in cues:
        follower = log[i + 1]
        if cue == "listen":
            assert follower["type"] == "listen" and follower["prompted"] is True
        else:
            assert follower["type"] == "heard" and follower["context"] in ("menu", "number", "pain_confirm", "coach")


def test_runtime_without_cue_or_volume_on_the_mouth_still_runs() -> None:
    r = run(TO["menu"] + ["louder", "back pain relief"])
    assert r.objs("volume") == [{"type": "volume", "level": 9}]
    assert {"type": "cue", "cue": "listen"} in r.objs("cue")


def test_prompted_flag_follows_the_state() -> None:
    r = run(TO["pain_before"] + ["3", "yes", "ready", "hold on", "resume", "", "stop", "no"])
    seen = {}
    for i, (_, o) in enumerate(r.log):
        if o["type"] == "listen":
            seen.setdefault(r.state_at(i), set()).add(o["prompted"])
    assert seen["menu"] == {True} and seen["pain_before"] == {True} and seen["intro"] == {True}
    assert seen["confirm_pain"] == {True}
    assert seen["confirm_stop"] == {True}
    assert seen["counting"] == {False} and seen["paused"] == {False}


def test_fake_pain_check_listens_pass_through_unprompted() -> None:
    # a sub-dialog decides its own prompted flag; the session passes its Listen on unchanged
    r = run(TO["counting"] + ["it hurts", "what"], pain_check=lambda: FakePainCheck())
    assert r.objs("listen")[-2]["prompted"] is False


# ---------------------------------------------------------------- scripted CLI: detail persists
def _cli(data_dir: Path, lines: list[str]) -> tuple[list[dict], str]:
    proc = subprocess.run([sys.executable, "run_assistant.py", "--text", "--json", "--fast", "--skip-screener",
                           "--seed", "1", "--routine", "back_relief", "--data-dir", str(data_dir)],
                          cwd=REPO, input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr


def test_detail_and_volume_persist_across_two_runs(tmp_path: Path) -> None:
    data = tmp_path / "coach-data"
    first, _ = _cli(data, ["less detail", "quieter", "3", "yes", "stop", "yes", "3"])
    assert {"type": "record", "kind": "preference", "detail": "short"} in first
    assert json.loads((data / "preferences.json").read_text()) == {"detail": "short", "volume": 7}
    second, _ = _cli(data, ["3", "yes", "ready", "", "", "stop", "yes", "3"])
    assert second[0] == {"type": "volume", "level": 7}
    said = [o["prompt"] for o in second if o["type"] == "say"]
    assert "exercise_intro" in said and "count" in said
    assert not [p for p in said if p.startswith("step:")], "short mode: no step list"
    # a third run with a damaged file: told, defaults used, the session runs
    (data / "preferences.json").write_text("{not json")
    # (the second run stopped mid-exercise: "no" to picking up there)
    third, err = _cli(data, ["no", "3", "yes", "ready", "stop", "yes", "3"])
    assert any(o.get("prompt") == "offer_resume" for o in third)
    assert "damaged" in err and "default" in err
    assert [p for p in (o.get("prompt", "") for o in third) if p.startswith("step:")]
    assert not [o for o in third if o["type"] == "volume"]


class EarlyCueEars:
    """Like voice ears: they call `on_speech_end` when an answer's speech ends, before
    recognising it (the runtime then starts the "done" tone without waiting)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.on_speech_end = None
        self.armed: list[bool] = []

    def hear(self, context, deadline):
        self.armed.append(self.on_speech_end is not None)
        result = self.inner.hear(context, deadline)
        if getattr(result, "text", "").strip() and self.on_speech_end is not None:
            self.on_speech_end()
        return result

    def close(self) -> None:
        pass


class AsyncCueMouth(CueMouth):
    def cue_async(self, name: str) -> None:
        self.calls.append(("cue_async", name))


def test_voice_ears_get_the_done_tone_at_the_end_of_speech_once_and_without_waiting() -> None:
    from skill.clock import VirtualClock
    from skill.runtime import EventSink, Runtime
    from test_coach import CONTENT, MATCHER, ScriptEars, hints_of
    from skill.coach import CoachSession, SessionOptions
    clock = VirtualClock()
    ears = EarlyCueEars(ScriptEars(clock, ["", "blah blah blah", "back pain relief", "3", "yes", "ready", "where am i"]))
    mouth = AsyncCueMouth()
    sink = EventSink([])
    log: list[dict] = []
    sink.listeners.append(log.append)
    session = CoachSession(CONTENT, Prompts.load(LOCALE / "prompts", rng=random.Random(7)), hints_of(MATCHER),
                           SessionOptions())
    Runtime(session, ears, mouth, MATCHER, clock, sink).run()
    done_calls = [c for c in mouth.calls if c[1] == "done"]
    # every answer to a question (the rejected "blah blah blah" too: the coach did stop listening)
    # got the tone once, started without waiting; none by the blocking cue()
    assert done_calls == [("cue_async", "done")] * 5, mouth.calls
    heard = [o for o in log if o["type"] == "heard"]
    assert [h["text"] for h in heard][:5] == ["blah blah blah", "back pain relief", "3", "yes", "ready"]
    for i, o in enumerate(log):          # each "done" cue is followed by what was heard
        if o.get("cue") == "done":
            assert log[i + 1]["type"] == "heard"
    # armed only for prompted listens: "where am i" mid-set (commands only) got no tone
    assert heard[-1]["text"] == "where am i" and len(done_calls) == len(heard) - 1
    assert ears.armed.count(False) >= 1
