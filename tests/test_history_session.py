"""Issue 6, "Using it", end to end: the real assistant (`run_assistant.py --text --json --fast
--data-dir DIR`) in subprocesses, with the history on disk between runs.

Resume after `kill -9`, daily check vs full screener, "how am I doing", remembered settings,
progression targets, a history that cannot be used, and the history/report/forget commands.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from skill.content import load_content
from skill.pacing import count_word, plan_blocks

REPO = Path(__file__).resolve().parents[1]
LOCALE = REPO / "dialogs" / "en-us"
CONTENT = load_content(LOCALE)
SESSION = [sys.executable, "run_assistant.py", "--text", "--json", "--fast", "--seed", "3"]
KILL = object()       # a policy's answer: kill -9 the process now
DB = "history.sqlite3"


class Run:
    """One assistant process on `data_dir`, driven like a person: answer each listen."""

    def __init__(self, data_dir: Path, *args: str, skip_screener: bool = True) -> None:
        cmd = SESSION + ["--data-dir", str(data_dir), *args] + (["--skip-screener"] if skip_screener else [])
        self._err = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, text=True, bufsize=1)
        self._watchdog = threading.Timer(30, self.proc.kill)
        self._watchdog.daemon = True
        self._watchdog.start()
        self.lines: list[dict] = []
        self.state = "idle"
        self.ask: str | None = None           # the screener question awaiting an answer
        self.code: int | None = None
        self.stderr = ""

    def _take(self, raw: str) -> dict:
        obj = json.loads(raw)
        self.lines.append(obj)
        if obj["type"] == "state":
            self.state = obj["state"]
        elif obj["type"] == "ask":
            self.ask = obj["question_id"]
        return obj

    def read_until(self, stop: Callable[[dict], bool]) -> dict | None:
        while True:
            raw = self.proc.stdout.readline()
            if not raw:
                return None
            obj = self._take(raw)
            if stop(obj) or obj["type"] == "end":
                return obj if stop(obj) else None

    def read_until_listen(self) -> dict | None:
        return self.read_until(lambda o: o["type"] == "listen")

    def answer(self, text: str) -> None:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def drive(self, policy: Callable[["Run", dict], object], max_turns: int = 3000) -> "Run":
        """policy(run, listen) -> a line to type, None (close the input) or KILL."""
        for _ in range(max_turns):
            listen = self.read_until_listen()
            if listen is None:
                return self.finish()
            reply = policy(self, listen)
            if reply is KILL:
                return self.kill()
            if reply is None:
                return self.finish()
            self.answer(reply)
        pytest.fail("the session did not end")

    def kill(self) -> "Run":
        os.kill(self.proc.pid, signal.SIGKILL)
        return self._collect()

    def finish(self) -> "Run":
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        return self._collect()

    def _collect(self) -> "Run":
        rest = self.proc.stdout.read()
        self.proc.wait(timeout=30)
        self._watchdog.cancel()
        self._err.seek(0)
        self.stderr = self._err.read()
        self._err.close()
        for raw in rest.splitlines():
            if raw.strip():
                self._take(raw)
        self.code = self.proc.returncode
        return self

    # what was printed
    def of(self, kind: str) -> list[dict]:
        return [o for o in self.lines if o["type"] == kind]

    def prompts(self) -> list[str]:
        return [o["prompt"] for o in self.of("say")]

    def said(self, prompt: str) -> list[str]:
        return [o["text"] for o in self.of("say") if o["prompt"] == prompt]

    def records(self, kind: str | None = None) -> list[dict]:
        return [o for o in self.of("record") if kind is None or o["kind"] == kind]

    def states(self) -> list[str]:
        return [o["state"] for o in self.of("state")]

    @property
    def summary(self) -> dict:
        ends = self.of("end")
        assert len(ends) == 1, "exactly one end"
        return ends[0]["summary"]


def ok(run: Run) -> Run:
    assert run.code == 0, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    return run


def everything(routine: str, pain_before: str = "3", pain_after: str = "2",
               extra: Callable[[Run, dict], object] | None = None) -> Callable[[Run, dict], object]:
    """A person who does the whole routine and lets every timer run; `extra` may answer first."""
    pains = [pain_before, pain_after]

    def policy(run: Run, listen: dict) -> object:
        if extra is not None:
            reply = extra(run, listen)
            if reply is not None:
                return reply
        ctx = listen["context"]
        if ctx == "menu":
            return routine
        if ctx == "pain_confirm":      # the score before is read back as a question
            return "yes"
        if ctx == "number":
            return pains.pop(0) if len(pains) > 1 else pains[0]
        if ctx == "coach":
            return "ready" if run.state == "intro" else ""
        pytest.fail(f"unexpected listen {listen} in state {run.state}")
    return policy


def screener_answers(site: str = "back", yes: tuple[str, ...] = (), daily: str = "no",
                     then: Callable[[Run, dict], object] | None = None) -> Callable[[Run, dict], object]:
    """Answers the daily check with `daily`, the full screener with `site` and "no" to every
    question except `yes`, confirms the read-back; from the menu on, `then` (default: leave)."""
    def policy(run: Run, listen: dict) -> object:
        if run.state == "screening":
            if run.ask == "daily_check":
                return daily
            if run.ask == "pain_site":
                return site
            if run.ask == "readback":
                return "yes"
            if run.ask == "go_ahead":
                return "no"
            return "yes" if run.ask in yes else "no"
        return then(run, listen) if then else None
    return policy


def db_records(data_dir: Path) -> list[tuple[str, dict]]:
    conn = sqlite3.connect(data_dir / DB)
    try:
        return [(k, json.loads(d)) for k, d in conn.execute("SELECT kind, data FROM records ORDER BY id")]
    finally:
        conn.close()


def sql(data_dir: Path, query: str, *params: object) -> list[tuple]:
    conn = sqlite3.connect(data_dir / DB)
    try:
        with conn:
            return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def printed_records(run: Run) -> list[tuple[str, dict]]:
    return [(o["kind"], {k: v for k, v in o.items() if k not in ("type", "kind")}) for o in run.records()]


def counted_reps(run: Run, exercise_id: str) -> list[int]:
    """Reps counted aloud in each set of `exercise_id` (the last count before the set ended)."""
    sets: list[int] = []
    current = None
    for o in run.lines:
        if o["type"] == "record" and o["kind"] == "position":
            current = o["exercise"]
            if current == exercise_id:
                sets.append(0)
        elif o["type"] == "record" and o["kind"] == "exercise":
            current = None
        elif o["type"] == "say" and current == exercise_id and o["prompt"] in ("count", "count_side"):
            sets[-1] += 1
    return sets


# ================================================================ 1. kill -9, then resume
def _beats_in_current_set(run: Run) -> int:
    n = 0
    for o in reversed(run.lines):
        if o["type"] == "record" and o["kind"] == "position":
            return n
        if o["type"] == "say" and o["prompt"] in ("count", "count_side"):
            n += 1
    return n


def _last_position(run: Run) -> dict | None:
    pos = run.records("position")
    return pos[-1] if pos else None


def kill_counting_set_2(run: Run, listen: dict) -> object:
    """Three counts into set 2 of the first exercise of back pain relief, waiting for the next."""
    pos = _last_position(run)
    if run.state == "counting" and pos and pos["set"] == 2 and _beats_in_current_set(run) == 3:
        return KILL
    return everything("back pain relief")(run, listen)


def kill_holding_second_side(run: Run, listen: dict) -> object:
    """Mid-hold on the second side of thread the needle (fourth exercise of back pain relief)."""
    pos = _last_position(run)
    if (run.state == "holding" and pos and pos["exercise"] == "thread_the_needle"
            and pos["side"] == "right" and run.prompts()[-1] == "hold_halfway"):
        return KILL
    return everything("back pain relief")(run, listen)


def kill_in_flight(run: Run, listen: dict) -> object:
    """The chair routine's first exercise running on its own: every empty line it needs is
    already queued, and the kill lands while the process is busy (right after it printed the
    start of set 2), not while it waits for input."""
    if run.state == "intro":
        run.answer("ready")
        run.answer("\n" * 60)
        assert run.read_until(lambda o: o["type"] == "record" and o["kind"] == "position"
                              and o["set"] == 2), "set 2 never started"
        return KILL
    return everything("chair")(run, listen)


KILL_POINTS = {
    "counting-set-2": kill_counting_set_2,
    "holding-second-side": kill_holding_second_side,
    "in-flight": kill_in_flight,
}


def killed_session(data_dir: Path, policy: Callable[[Run, dict], object]) -> Run:
    run = Run(data_dir).drive(policy)
    assert run.code == -signal.SIGKILL, (run.code, run.stderr)
    assert run.of("end") == [], "the kill landed before the session could end"
    return run


def expected_resume(data_dir: Path) -> tuple[dict, bool]:
    """The last position stored, and whether that exercise was recorded as finished after it."""
    kinds = db_records(data_dir)
    last = max(i for i, (k, _) in enumerate(kinds) if k == "position")
    pos = kinds[last][1]
    finished = any(k == "exercise" and d["exercise"] == pos["exercise"] for k, d in kinds[last:])
    return pos, finished


@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_kill_9_mid_exercise_then_resume_where_it_stopped(point: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "coach"
    killed = killed_session(data_dir, KILL_POINTS[point])

    # The file is sound and holds every record the process printed before its last one
    # (records are printed, then committed: only the last printed may have been in flight).
    conn = sqlite3.connect(data_dir / DB)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT count(*) FROM sessions WHERE ended_at IS NULL").fetchone()[0] == 1
    finally:
        conn.close()
    printed, stored = printed_records(killed), db_records(data_dir)
    assert stored in (printed, printed[:-1]), f"printed {printed[-3:]}, stored {stored[-3:]}"
    assert {k for k, _ in stored} >= {"session_start", "position", "pain"}
    assert stored[0] == ("session_start", {"routine": killed.records("session_start")[0]["routine"]})
    pos, finished = expected_resume(data_dir)
    if point != "in-flight":   # killed while waiting for input: nothing was in flight
        assert stored == printed
        assert pos == {k: v for k, v in killed.records("position")[-1].items() if k not in ("type", "kind")}
        assert not finished

    # A new session on the same history offers to pick up there...
    name = CONTENT.exercises[pos["exercise"]].name
    resumed = Run(data_dir)
    assert resumed.read_until_listen() == {"type": "listen", "context": "yes_no", "prompted": True}
    assert resumed.states() == ["offer_resume"]
    if finished:
        assert len(resumed.said("offer_resume_next")) == 1 and name in resumed.said("offer_resume_next")[0]
    else:
        offer = resumed.said("offer_resume")
        assert len(offer) == 1, resumed.prompts()
        assert name in offer[0]
        assert f"set {count_word(pos['set'])} of {count_word(pos['sets'])}" in offer[0]
    # ...and "yes" carries on at that exercise and set (side included).
    resumed.answer("yes")
    assert resumed.read_until_listen()["context"] == "number"
    assert "resuming_session" in resumed.prompts() and resumed.state == "pain_before"
    resumed.answer("2")
    assert resumed.read_until_listen()["context"] == "pain_confirm"    # "two out of ten, is that right?"
    resumed.answer("yes")
    resumed.read_until_listen()
    assert resumed.state == "intro"
    resumed.answer("ready")
    resumed.read_until_listen()
    ok(resumed.finish())
    first = resumed.records("position")[0]
    routine = stored[0][1]["routine"]
    if finished:
        ids = [e.id for e in CONTENT.exercises_of(routine)]
        want = {"exercise": ids[ids.index(pos["exercise"]) + 1], "set": 1}
    else:
        want = {"exercise": pos["exercise"], "set": pos["set"], "sets": pos["sets"], "side": pos["side"]}
    assert {k: first[k] for k in want} == want
    assert resumed.records("session_start") == [{"type": "record", "kind": "session_start", "routine": routine}]
    intro = resumed.said("exercise_intro")[0]
    assert CONTENT.exercises[want["exercise"]].name in intro
    # and the new session's position is in the history too
    assert sql(data_dir, "SELECT exercise, set_no FROM positions ORDER BY id DESC LIMIT 1") == \
        [(want["exercise"], want["set"])]


def test_kill_point_sanity(tmp_path: Path) -> None:
    """The scripted kills land where they say (else the test above proves less than it claims)."""
    run = killed_session(tmp_path / "a", kill_counting_set_2)
    pos = run.records("position")[-1]
    assert (pos["exercise"], pos["set"], run.state) == ("hands_knees_pelvic_tilt", 2, "counting")
    assert _beats_in_current_set(run) == 3
    run = killed_session(tmp_path / "b", kill_holding_second_side)
    pos = run.records("position")[-1]
    assert (pos["exercise"], pos["side"], run.state) == ("thread_the_needle", "right", "holding")


def test_no_to_the_resume_offer_goes_to_the_menu(tmp_path: Path) -> None:
    data_dir = tmp_path / "coach"
    killed_session(data_dir, kill_counting_set_2)
    run = Run(data_dir)
    run.read_until_listen()
    assert run.state == "offer_resume"
    run.answer("no")
    assert run.read_until_listen() == {"type": "listen", "context": "menu", "prompted": True}
    assert run.states() == ["offer_resume", "menu"]
    assert "menu" in run.prompts() and "resuming_session" not in run.prompts()
    ok(run.finish())
    assert run.records("session_start") == []


def test_a_completed_session_is_not_offered_again(tmp_path: Path) -> None:
    data_dir = tmp_path / "coach"
    ok(Run(data_dir).drive(everything("chair")))
    run = Run(data_dir)
    assert run.read_until_listen()["context"] == "menu"
    assert run.states() == ["menu"]
    ok(run.finish())


# ================================================================ 3. daily check or full screener
def first_ask(run: Run) -> str | None:
    asks = run.of("ask")
    return asks[0]["question_id"] if asks else None


def test_screener_full_then_daily_then_full_again(tmp_path: Path) -> None:
    data_dir = tmp_path / "coach"
    # first use: the full screener, pain site first; all clear and confirmed -> the menu
    run = ok(Run(data_dir, skip_screener=False).drive(screener_answers()))
    assert first_ask(run) == "pain_site"
    assert run.of("triage")[-1]["level"] == "ok" and run.states()[-2:] == ["menu", "finished"]
    assert run.records("screener")[-1]["full"] is True

    # within the week: the short daily check; "no" goes on to the menu
    run = ok(Run(data_dir, skip_screener=False).drive(screener_answers(daily="no")))
    assert [a["question_id"] for a in run.of("ask")] == ["daily_check"]
    assert "menu" in run.states() and "daily_check_clear" in run.prompts()
    assert run.records("screener") == [{"type": "record", "kind": "screener", "level": "ok", "yes": [],
                                        "unknown": [], "full": False}]

    # still daily (a daily check keeps the last full one); "yes" runs the full screener
    run = ok(Run(data_dir, skip_screener=False).drive(screener_answers(daily="yes")))
    asks = [a["question_id"] for a in run.of("ask")]
    assert asks[:2] == ["daily_check", "pain_site"] and asks[-1] == "readback"
    assert "daily_check_full" in run.prompts() and "menu" in run.states()
    assert run.records("screener")[-1]["full"] is True

    # a week later: full again
    sql(data_dir, "UPDATE screeners SET at = at - 8 * 86400")
    run = ok(Run(data_dir, skip_screener=False).drive(screener_answers()))
    assert first_ask(run) == "pain_site"

    # within the week again: daily; then a non-ok outcome (an emergency sign) ...
    run = ok(Run(data_dir, skip_screener=False).drive(screener_answers(daily="yes", yes=("saddle_numbness",))))
    assert first_ask(run) == "daily_check"
    assert run.of("triage")[-1]["level"] == "emergency" and "menu" not in run.states()
    assert run.summary["ended"] == "screener"
    # ... and the next run is the full screener again
    run = ok(Run(data_dir, skip_screener=False).drive(screener_answers()))
    assert first_ask(run) == "pain_site"
    assert "daily_check" not in [a["question_id"] for a in run.of("ask")]


def test_clinician_outcome_makes_the_next_screener_full(tmp_path: Path) -> None:
    data_dir = tmp_path / "coach"
    ok(Run(data_dir, skip_screener=False).drive(screener_answers()))
    run = ok(Run(data_dir, skip_screener=False).drive(screener_answers(daily="yes", yes=("night_pain",))))
    assert run.of("triage")[-1]["level"] == "clinician"
    assert first_ask(Run(data_dir, skip_screener=False).drive(screener_answers())) == "pain_site"


# ================================================================ 4. "how am I doing"
def ask_progress_then_leave(run: Run, listen: dict) -> object:
    if listen["context"] == "menu" and "progress_none" not in run.prompts() \
            and "progress_sessions" not in run.prompts():
        return "how am i doing"
    return None


def test_how_am_i_doing(tmp_path: Path) -> None:
    data_dir = tmp_path / "coach"
    run = ok(Run(data_dir).drive(ask_progress_then_leave))
    assert "progress_none" in run.prompts() and "progress_sessions" not in run.prompts()
    assert run.of("heard")[0]["intent"] == "progress"
    assert run.states() == ["menu", "finished"]     # the menu question stays open

    ok(Run(data_dir).drive(everything("glute strength")))
    run = ok(Run(data_dir).drive(ask_progress_then_leave))
    assert "progress_none" not in run.prompts()
    sessions = run.said("progress_sessions")
    assert len(sessions) == 1
    assert "one session" in sessions[0] and "one day" in sessions[0]
    # an exercise with a progression is named, per set: last time's count and the next aim
    aim = run.said("progress_exercise")
    assert len(aim) == 1, run.prompts()
    progressed = [e for e in CONTENT.exercises_of("glute_strength") if e.progression]
    assert any(e.name in aim[0] and str(e.reps) in aim[0]
               and str(min(e.reps + e.progression.step, e.progression.target_reps)) in aim[0]
               for e in progressed), aim


# ================================================================ 5. settings persist
def beats_then(action_at: int, reply: object, when: Callable[[Run], bool]) -> Callable[[Run, dict], object]:
    """Back pain relief; in counting, once `when(run)` and `action_at` counts are in, answer `reply`."""
    def policy(run: Run, listen: dict) -> object:
        if run.state == "offer_resume":
            return "no"
        if run.state == "counting" and when(run) and _beats_in_current_set(run) >= action_at:
            return reply
        return everything("back pain relief")(run, listen)
    return policy


def test_slower_is_remembered_for_the_next_session(tmp_path: Path) -> None:
    data_dir = tmp_path / "coach"
    tempo = CONTENT.exercises["hands_knees_pelvic_tilt"].tempo_seconds
    # "slower" after two counts of the first set, then leave two counts later
    say_slower = beats_then(2, "slower", lambda r: not r.of("speech_rate"))
    leave = beats_then(4, None, lambda r: bool(r.of("speech_rate")))
    first = ok(Run(data_dir).drive(lambda r, l: say_slower(r, l) if not r.of("speech_rate") else leave(r, l)))
    rate = first.of("speech_rate")
    assert len(rate) == 1 and 0 < rate[0]["factor"] < 1.0
    beats = [t["seconds"] for t in first.of("timer") if t["timer"] == "beat"]
    assert beats[0] == tempo and beats[-1] > tempo            # slower took effect at once
    settings = {r["name"]: r["value"] for r in first.records("setting")}
    assert settings == {"speech_rate": rate[0]["factor"], "tempo": round(beats[-1] / tempo, 4)}

    second = ok(Run(data_dir).drive(beats_then(2, None, lambda r: True)))
    # the remembered rate is set before anything is said
    assert second.lines[0] == {"type": "speech_rate", "factor": rate[0]["factor"]}
    assert second.lines[1]["type"] == "say" and second.lines[1]["prompt"] == "welcome"
    assert len(second.of("speech_rate")) == 1
    # and the reps are counted at the slower tempo from the first one
    beats2 = [t["seconds"] for t in second.of("timer") if t["timer"] == "beat"]
    assert len(beats2) >= 2 and set(beats2) == {beats[-1]}
    assert second.summary["tempo_factor"] == settings["tempo"]
    assert second.summary["speech_factor"] == rate[0]["factor"]


def test_no_slower_means_no_speech_rate_action(tmp_path: Path) -> None:
    run = Run(tmp_path / "coach")
    run.read_until_listen()
    ok(run.finish())
    assert run.of("speech_rate") == []


# ================================================================ 6. progression
def intro_and_aim(run: Run, exercise_id: str) -> tuple[str, list[str]]:
    """The exercise's intro, and the progression_aim said between it and the next intro."""
    name = CONTENT.exercises[exercise_id].name
    out: list[str] = []
    intro = None
    for o in run.of("say"):
        if o["prompt"] == "exercise_intro":
            if intro is not None:
                break
            if f": {name}." in o["text"] or f"the {name}:" in o["text"]:   # either phrasing
                intro = o["text"]
        elif o["prompt"] == "progression_aim" and intro is not None:
            out.append(o["text"])
    assert intro is not None, f"{name} was not introduced"
    return intro, out


def test_bridge_march_progresses_in_the_next_session(tmp_path: Path) -> None:
    data_dir = tmp_path / "coach"
    bridge = CONTENT.exercises["bridge_march"]
    step, top = bridge.progression.step, bridge.progression.target_reps
    first = ok(Run(data_dir).drive(everything("glute strength")))
    assert "progression_aim" not in first.prompts()
    assert counted_reps(first, "bridge_march") == [bridge.reps] * bridge.sets
    assert next(r for r in first.records("exercise") if r["exercise"] == "bridge_march")["status"] == "done"

    last = bridge.reps
    for _ in range(2):   # two more sessions: each aims one step higher, per set
        target = min(last + step, top)
        run = ok(Run(data_dir).drive(everything("glute strength")))
        intro, aim = intro_and_aim(run, "bridge_march")
        assert f"{target} steps" in intro
        assert len(aim) == 1 and str(last) in aim[0] and str(target) in aim[0], aim
        assert counted_reps(run, "bridge_march") == [target] * bridge.sets
        last = target


def test_progression_stops_at_the_target(tmp_path: Path) -> None:
    data_dir = tmp_path / "coach"
    bridge = CONTENT.exercises["bridge_march"]
    top = bridge.progression.target_reps
    ok(Run(data_dir).drive(everything("back pain relief")))
    # as if the person had already reached the top: the stored total is per set x sets
    sql(data_dir, "UPDATE exercises SET reps = ? WHERE exercise = 'bridge_march'", top * bridge.sets)
    run = ok(Run(data_dir).drive(everything("back pain relief")))
    assert counted_reps(run, "bridge_march") == [top] * bridge.sets
    intro, aim = intro_and_aim(run, "bridge_march")
    assert f"{top} steps" in intro and len(aim) == 1 and str(top) in aim[0]


# ================================================================ 7. history unavailable
def test_data_dir_that_is_a_file_still_runs_the_session(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "coach"
    not_a_dir.write_text("not a folder")
    run = ok(Run(not_a_dir).drive(everything("chair")))
    assert run.prompts()[:2] == ["welcome", "history_unavailable"]
    # said plainly; the path and the reason are printed, not read aloud
    assert str(not_a_dir) not in run.said("history_unavailable")[0]
    assert "History unavailable" in run.stderr and str(not_a_dir) in run.stderr
    assert run.summary["ended"] == "completed"
    assert not_a_dir.read_text() == "not a folder"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_data_dir_still_runs_the_session(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        run = ok(Run(ro / "coach").drive(ask_progress_then_leave))
        assert "history_unavailable" in run.prompts()
        assert not (ro / "coach").exists()
    finally:
        ro.chmod(0o700)


# ================================================================ 8. history, report, forget
def command(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run_assistant.py", *args], cwd=REPO, input=stdin,
                          capture_output=True, text=True, timeout=30)


def test_history_report_and_forget_commands(tmp_path: Path) -> None:
    data_dir = tmp_path / "coach"
    ok(Run(data_dir).drive(everything("chair", "4", "2")))

    listing = command("history", "--data-dir", str(data_dir))
    assert listing.returncode == 0, listing.stderr
    assert "chair" in listing.stdout and "seated_pelvic_tilt" in listing.stdout
    assert "pain before: 4" in listing.stdout and "pain after: 2" in listing.stdout

    html = tmp_path / "report.html"
    rep = command("report", "--data-dir", str(data_dir), "--out", str(html))
    assert rep.returncode == 0, rep.stderr
    page = html.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html") and "<svg" in page
    assert "seated_pelvic_tilt" in page or "seated pelvic tilt" in page

    kept = command("forget", "--data-dir", str(data_dir), stdin="no\n")
    assert kept.returncode != 0 and "Nothing was deleted" in kept.stdout
    assert (data_dir / DB).exists()
    assert "chair" in command("history", "--data-dir", str(data_dir)).stdout

    gone = command("forget", "--data-dir", str(data_dir), "--yes")
    assert gone.returncode == 0, gone.stderr
    assert not (data_dir / DB).exists()
    assert not any(p.name.startswith(DB) for p in data_dir.iterdir())
    assert "No history yet" in command("history", "--data-dir", str(data_dir)).stdout
    # and the next session starts from nothing: no resume offer, full screener due
    run = ok(Run(data_dir, skip_screener=False).drive(screener_answers()))
    assert first_ask(run) == "pain_site"
