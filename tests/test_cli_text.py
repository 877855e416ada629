"""Whole sessions through `run_assistant.py --text --json --fast`, driven line by line like a person.

The driver reads the JSON actions the process prints and writes an answer only after it has read
a listen: the way a script (or a screen reader user) talks to the assistant.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

import pytest

from skill.content import load_content

REPO = Path(__file__).resolve().parents[1]
LOCALE = REPO / "dialogs" / "en-us"
CONTENT = load_content(LOCALE)
BASE = [sys.executable, "run_assistant.py", "--text", "--json", "--fast", "--skip-screener"]


class Session:
    """A running assistant: `lines` are the JSON objects read so far."""

    def __init__(self, args: list[str], tmp_path: Path) -> None:
        self.stderr_path = tmp_path / "stderr.txt"
        self._stderr = self.stderr_path.open("w")
        self.proc = subprocess.Popen(BASE + args, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, bufsize=1)
        self._watchdog = threading.Timer(30, self.proc.kill)
        self._watchdog.start()
        self.lines: list[dict] = []
        self.raw: list[str] = []
        self.state = "idle"

    def read_until_listen(self) -> dict | None:
        """Read actions until the next listen (returned) or the end (None)."""
        while True:
            raw = self.proc.stdout.readline()
            if not raw:
                return None
            self.raw.append(raw)
            obj = json.loads(raw)
            self.lines.append(obj)
            if obj["type"] == "state":
                self.state = obj["state"]
            if obj["type"] == "listen":
                return obj
            if obj["type"] == "end":
                return None

    def answer(self, text: str) -> None:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def drive(self, policy: Callable[["Session", dict], str | None], max_turns: int = 2000) -> None:
        for _ in range(max_turns):
            listen = self.read_until_listen()
            if listen is None:
                break
            reply = policy(self, listen)
            if reply is None:      # close the input: end of input
                self.proc.stdin.close()
                self.read_until_listen()
                break
            self.answer(reply)
        else:
            pytest.fail("the session did not end")

    def finish(self) -> tuple[int, str]:
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        rest = self.proc.stdout.read()
        self.raw.extend(rest.splitlines(keepends=True))
        self.lines.extend(json.loads(r) for r in rest.splitlines() if r.strip())
        code = self.proc.wait(timeout=30)
        self._watchdog.cancel()
        self._stderr.close()
        return code, self.stderr_path.read_text()

    @property
    def end(self) -> dict:
        ends = [o for o in self.lines if o["type"] == "end"]
        assert len(ends) == 1, "exactly one end"
        return ends[0]

    def prompts(self) -> list[str]:
        return [o["prompt"] for o in self.lines if o["type"] == "say"]


def person(routine_name: str, pain_before: str = "3", pain_after: str = "2"):
    """Answers like someone who does everything: names the routine, is ready, lets timers run."""
    asked_before = []

    def policy(s: Session, listen: dict) -> str:
        ctx = listen["context"]
        if ctx == "menu":
            return routine_name
        if ctx == "pain_confirm":      # "three out of ten, is that right?"
            return "yes"
        if ctx == "number":
            if not asked_before:
                asked_before.append(1)
                return pain_before
            return pain_after
        if ctx == "coach":
            return "ready" if s.state == "intro" else ""
        pytest.fail(f"unexpected listen {listen} in state {s.state}")
    return policy


@pytest.mark.parametrize("routine_id", sorted(CONTENT.routines))
def test_every_routine_end_to_end(routine_id: str, tmp_path: Path) -> None:
    routine = CONTENT.routine(routine_id)
    events = tmp_path / "events.jsonl"
    s = Session(["--seed", "5", "--events", str(events)], tmp_path)
    s.drive(person(routine.name, "4", "1"))
    code, err = s.finish()
    assert code == 0, err
    assert "Traceback" not in err
    # the JSON contract
    for obj in s.lines:
        assert obj["type"] in {"say", "listen", "state", "end", "timer", "cancel_timer", "record",
                               "speech_rate", "heard", "ask", "triage", "cue", "volume"}
        if obj["type"] == "say":
            assert isinstance(obj["text"], str) and obj["text"]
        if obj["type"] == "listen":
            assert obj["context"] in {"yes_no", "number", "pain_confirm", "coach", "menu"}
        if obj["type"] == "state":
            assert obj["state"]
    assert s.lines[-1]["type"] == "end"
    summary = s.end["summary"]
    expected = [e.id for e in CONTENT.exercises_of(routine_id)]
    assert summary["routine"] == routine_id
    assert summary["ended"] == "completed"
    assert summary["exercises_done"] == expected
    assert summary["exercises_skipped"] == [] and summary["exercises_stopped"] == []
    assert summary["pain_before"] == 4 and summary["pain_after"] == 1
    reps = sum(e.reps * e.sets * (2 if e.sides == "each" else 1) for e in CONTENT.exercises_of(routine_id)
               if e.kind == "reps")
    holds = sum(e.hold_seconds * e.sets * (2 if e.sides == "each" else 1) for e in CONTENT.exercises_of(routine_id)
                if e.kind == "hold")
    assert summary["total_reps"] == reps
    assert summary["total_hold_seconds"] == holds
    assert summary["duration_seconds"] >= holds            # virtual time ran every timer
    assert "pain_change_better" in s.prompts() and s.prompts()[-1] == "goodbye"
    # every exercise was introduced, and the states came in a sensible order
    assert s.prompts().count("exercise_intro") == len(expected)
    states = [o["state"] for o in s.lines if o["type"] == "state"]
    assert states[:4] == ["menu", "pain_before", "confirm_pain", "intro"] and states[-2:] == ["pain_after", "finished"]
    # --events got the very same lines
    assert events.read_text(encoding="utf-8").splitlines() == [r.rstrip("\n") for r in s.raw]


def test_the_same_seed_gives_the_same_session(tmp_path: Path) -> None:
    runs = []
    for i in range(2):
        (tmp_path / str(i)).mkdir()
        s = Session(["--seed", "11"], tmp_path / str(i))
        s.drive(person("hip mobility"))
        s.finish()
        runs.append(s.raw)
    assert runs[0] == runs[1]


def test_eof_mid_session_ends_with_a_summary(tmp_path: Path) -> None:
    turns = []

    def policy(s: Session, listen: dict) -> str | None:
        turns.append(s.state)
        if s.state == "counting" and len([t for t in turns if t == "counting"]) > 3:
            return None                      # the input goes away mid-set
        return person("back pain relief")(s, listen) if s.state != "pain_before" else "2"
    s = Session(["--seed", "1"], tmp_path)
    s.drive(policy)
    code, err = s.finish()
    assert code == 0 and "Traceback" not in err
    summary = s.end["summary"]
    assert summary["ended"] == "end_of_input"
    assert summary["exercises_stopped"] == [CONTENT.exercises_of("back_relief")[0].id]
    assert summary["total_reps"] >= 2
    assert s.prompts()[-2:] == ["summary", "goodbye"]
    assert s.lines[-1]["type"] == "end"


def test_eof_at_once_ends_cleanly(tmp_path: Path) -> None:
    s = Session([], tmp_path)
    code, err = s.finish()
    assert code == 0 and "Traceback" not in err
    assert s.lines[-1] == {"type": "end", "summary": s.lines[-1]["summary"]}
    assert s.end["summary"]["ended"] == "end_of_input"


def test_stop_confirm_pain_after_summary(tmp_path: Path) -> None:
    script = iter(["you choose", "about a five", "yes", "ready", "", "", "i'm done", "yeah", "five out of ten"])
    s = Session(["--seed", "2"], tmp_path)
    s.drive(lambda s, listen: next(script, None))
    code, _ = s.finish()
    assert code == 0
    summary = s.end["summary"]
    assert summary["ended"] == "stopped"
    assert summary["pain_before"] == 5 and summary["pain_after"] == 5
    assert "pain_change_same" in s.prompts()


def test_empty_lines_in_a_question_reprompt_once_then_wait(tmp_path: Path) -> None:
    script = iter(["", "", "", ""])
    s = Session(["--seed", "2"], tmp_path)
    s.drive(lambda s, listen: next(script, None))
    s.finish()
    assert s.prompts().count("menu_reprompt") == 1
    assert s.end["summary"]["ended"] == "end_of_input"


def test_not_understood_and_help(tmp_path: Path) -> None:
    script = iter(["banana", "what can i say"])
    s = Session(["--seed", "2"], tmp_path)
    s.drive(lambda s, listen: next(script, None))
    s.finish()
    sorry = next(o for o in s.lines if o.get("prompt") == "sorry")
    assert "back pain relief" in sorry["text"] and "you choose" in sorry["text"]
    assert "help_menu" in s.prompts()
    heard = [o for o in s.lines if o["type"] == "heard"]
    assert [h["intent"] for h in heard] == ["none", "help"]


def test_routine_option_skips_the_menu(tmp_path: Path) -> None:
    s = Session(["--routine", "chair"], tmp_path)
    s.drive(lambda s, listen: None)
    s.finish()
    assert "menu" not in s.prompts()
    assert s.end["summary"]["routine"] == "chair"


# ---------------------------------------------------------------- broken data: exit 2, clear message
def _broken_locale(tmp_path: Path, rel: str, change: Callable[[str], str]) -> Path:
    dest = tmp_path / "en-us"
    shutil.copytree(LOCALE, dest)
    path = dest / rel
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")
    return dest


@pytest.mark.parametrize("rel,change,must_say", [
    ("exercises/pelvic_tilt.toml", lambda t: t.replace("reps = 10", 'reps = "ten"'),
     ["pelvic_tilt.toml", "reps", "whole number"]),
    ("exercises/bridge_march.toml", lambda t: t.replace('kind = "reps"', 'kind = "repz"'),
     ["bridge_march.toml", "kind"]),
    ("exercises/pelvic_tilt.toml", lambda t: t + "\nreps_per_side = 3\n",
     ["pelvic_tilt.toml", "reps_per_side", "unknown field"]),
    ("exercises/pelvic_tilt.toml", lambda t: t.replace("[", "", 1), ["pelvic_tilt.toml", "TOML"]),
    ("routines.toml", lambda t: t.replace("default = true", "default = false"), ["routines.toml", "default"]),
    ("prompts/paused.dialog", lambda t: t + "Paused for {minutes}.\n", ["paused.dialog", "placeholders"]),
    ("vocab/pause.voc", lambda t: t + "wait (a|the\n", ["pause.voc:", "missing ')'"]),
    ("contexts.toml", lambda t: t.replace('hints = ["take a break", "okay i\'m ready"]', 'hints = ["take a break", "dance"]'),
     ["contexts.toml", "dance"]),
])
def test_malformed_content_exits_2_with_a_clear_message(tmp_path: Path, rel: str, change, must_say) -> None:
    locale = _broken_locale(tmp_path, rel, change)
    out = subprocess.run(BASE + ["--dialogs", str(locale)], cwd=REPO, input="", capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "broken" in out.stderr
    for text in must_say:
        assert text in out.stderr, (text, out.stderr)
    assert out.stdout == ""


def test_a_missing_prompt_file_exits_2(tmp_path: Path) -> None:
    locale = _broken_locale(tmp_path, "prompts/goodbye.dialog", lambda t: t)
    (locale / "prompts" / "goodbye.dialog").unlink()
    out = subprocess.run(BASE + ["--dialogs", str(locale)], cwd=REPO, input="", capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "goodbye.dialog" in out.stderr and "Traceback" not in out.stderr


def test_unknown_routine_exits_2(tmp_path: Path) -> None:
    out = subprocess.run(BASE + ["--routine", "yoga"], cwd=REPO, input="", capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "yoga" in out.stderr and "back_relief" in out.stderr
    assert "Traceback" not in out.stderr


# ---------------------------------------------------------------- listings and help
def test_exercises_lists_every_routine_and_exercise() -> None:
    out = subprocess.run([sys.executable, "run_assistant.py", "exercises"], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for routine in CONTENT.routines.values():
        assert f"{routine.name} [{routine.id}]" in out.stdout
        for ex in CONTENT.exercises_of(routine.id):
            assert f"[{ex.id}]" in out.stdout
    first = out.stdout.splitlines()[0]
    assert CONTENT.default_routine.id in first


def test_exercises_with_broken_content_exits_2(tmp_path: Path) -> None:
    locale = _broken_locale(tmp_path, "routines.toml", lambda t: t.replace('id = "chair"', 'id = "Chair!"'))
    out = subprocess.run([sys.executable, "run_assistant.py", "exercises", "--dialogs", str(locale)], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "routines.toml" in out.stderr and "Traceback" not in out.stderr


def test_help() -> None:
    out = subprocess.run([sys.executable, "run_assistant.py", "--help"], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0
    for word in ("--text", "--json", "--fast", "--events", "--seed", "--skip-screener", "exercises", "diagram"):
        assert word in out.stdout, word


# ---------------------------------------------------------------- where start-up notices go
def _damaged_preferences(tmp_path: Path) -> Path:
    data = tmp_path / "coach-data"
    data.mkdir()
    (data / "preferences.json").write_text("{not json", encoding="utf-8")
    return data


def _session_args(data: Path):
    import argparse
    return argparse.Namespace(routine=None, no_history=False, data_dir=data, detail=None, volume=None,
                              skip_screener=True)


def test_prepare_session_prints_its_notices_for_an_interactive_run(tmp_path: Path, capsys) -> None:
    from skill.cli import load_assets, prepare_session
    plan = prepare_session(_session_args(_damaged_preferences(tmp_path)), load_assets(LOCALE))
    plan.close()
    err = capsys.readouterr().err
    assert err.startswith("Settings: ") and "damaged" in err


def test_prepare_session_reports_through_the_path_the_caller_chooses(tmp_path: Path, capsys) -> None:
    from skill.cli import load_assets, prepare_session
    got: list[str] = []
    plan = prepare_session(_session_args(_damaged_preferences(tmp_path)), load_assets(LOCALE), report=got.append)
    plan.close()
    assert len(got) == 1 and got[0].startswith("Settings: ") and "damaged" in got[0]
    assert capsys.readouterr().err == ""


def test_serve_logs_the_notices_with_a_journal_priority(tmp_path: Path, capsys, monkeypatch) -> None:
    """serve runs under systemd: a notice is a log record (warning: <4> in the journal), not a print."""
    import io
    import logging
    import types

    import skill.cli
    from skill.cli import load_assets
    from skill.logs import configure_logging
    from skill.serve_command import Server
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging(service=True, stream=stream)
    try:
        monkeypatch.setattr(skill.cli, "run_dialog", lambda *a, **kw: None)   # the session itself is not the point
        server = types.SimpleNamespace(args=_session_args(_damaged_preferences(tmp_path)),
                                       assets=load_assets(LOCALE), ears=None, mouth=None, clock=None, threshold=0.0)
        Server._coaching_session(server)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = stream.getvalue().splitlines()
    assert any(ln.startswith("<4>skill.serve_command: Settings: ") and "damaged" in ln for ln in lines), lines
    assert capsys.readouterr().err == ""


def test_the_history_keeps_only_the_confirmed_pain_score(tmp_path: Path) -> None:
    """"about nine" misheard as "two": the person says no, then nine is confirmed; the history
    (the real SQLite store, read back by `history`) has nine and never two."""
    data = tmp_path / "coach-data"
    script = iter(["back pain relief", "two", "no", "about a nine", "yes"])
    s = Session(["--seed", "2", "--data-dir", str(data)], tmp_path)
    s.drive(lambda s, listen: next(script, None))
    code, err = s.finish()
    assert code == 0 and "Traceback" not in err
    states = [o["state"] for o in s.lines if o["type"] == "state"]
    assert states[:5] == ["menu", "pain_before", "confirm_pain", "pain_before", "confirm_pain"]
    pains = [(o["when"], o["score"]) for o in s.lines if o["type"] == "record" and o["kind"] == "pain"]
    assert pains == [("before", 9)]
    hist = subprocess.run([sys.executable, "run_assistant.py", "history", "--data-dir", str(data)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert hist.returncode == 0, hist.stderr
    assert "pain before: 9" in hist.stdout and "pain before: 2" not in hist.stdout, hist.stdout
