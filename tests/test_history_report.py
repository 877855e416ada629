"""`history`, `report` and `forget` from the command line, and the HTML page itself."""
from __future__ import annotations

import argparse
import io
import re
import stat
import subprocess
import sys
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from skill.history import commands
from skill.history.queries import HistoryReader
from skill.history.report import render
from skill.history.store import HistoryStore, db_path

REPO = Path(__file__).resolve().parents[1]
UTC = timezone.utc


def at(day: int, hour: float = 9.0) -> float:
    return datetime(2025, 3, day, tzinfo=UTC).timestamp() + hour * 3600


def fill(data_dir: Path, days=(3, 4, 5, 7, 8)) -> None:
    store = HistoryStore.open(data_dir)
    store.record("screener", {"level": "ok", "yes": [], "unknown": [], "full": True}, at=at(days[0], 8.9))
    for i, day in enumerate(days):
        t = at(day)
        store.record("session_start", {"routine": "back <basics> & more"}, at=t)
        store.record("screener", {"level": "ok", "yes": [], "unknown": [], "full": False}, at=t + 10)
        store.record("pain", {"when": "before", "score": 7 - i}, at=t + 60)
        store.record("position", {"exercise": "bridge march", "set": 1, "sets": 3, "side": None}, at=t + 100)
        store.record("exercise", {"exercise": "bridge march", "status": "done", "reps": 16 + 2 * i,
                                  "sets": 3, "hold_seconds": 0}, at=t + 300)
        store.record("position", {"exercise": "knee to chest", "set": 1, "sets": 2, "side": "left"}, at=t + 310)
        if i == len(days) - 1:
            break  # the last session is killed mid-exercise
        store.record("exercise", {"exercise": "knee to chest", "status": "done", "reps": 0,
                                  "sets": 2, "hold_seconds": 20}, at=t + 500)
        store.record("pain", {"when": "after", "score": 5 - i}, at=t + 900)
        store.record("session_end", {"how": "completed"}, at=t + 1000)
    store.record("setting", {"name": "speech_rate", "value": 0.8}, at=at(days[-1], 10))
    store.close()


def args(data_dir: Path, **kw) -> argparse.Namespace:
    return argparse.Namespace(data_dir=str(data_dir), **kw)


class Structure(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


# ---------------------------------------------------------------- report
def test_report_has_one_point_per_session_and_nothing_external(tmp_path: Path) -> None:
    fill(tmp_path)
    conn = HistoryStore.open(tmp_path).connection
    page = render(HistoryReader(conn, tz=UTC), now=at(9), tz=UTC)
    parsed = Structure()
    parsed.feed(page)
    tags = parsed.tags
    assert sum(1 for t, _ in tags if t == "svg") == 1
    before = [a for t, a in tags if t == "circle" and a.get("class") == "pain-before" and "data-session" in a]
    after = [a for t, a in tags if t == "circle" and a.get("class") == "pain-after" and "data-session" in a]
    assert len(before) == 5  # one per session
    assert len(after) == 4  # the killed session never got its after-score
    assert len({a["data-session"] for a in before}) == 5
    # Higher pain is drawn higher up (smaller y): scores fall 7 -> 3, so y must rise.
    ys = [float(a["cy"]) for a in before]
    xs = [float(a["cx"]) for a in before]
    assert ys == sorted(ys) and xs == sorted(xs) and len(set(xs)) == 5
    # Self-contained: no scripts, no external anything.
    assert not any(t in ("script", "link", "img", "iframe") for t, _ in tags)
    assert not re.search(r"""(src|href)\s*=|url\(|@import""", page)
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page
    # Text is escaped, tables are there.
    assert "back &lt;basics&gt; &amp; more" in page and "<basics>" not in page
    assert page.count("<tr>") >= 1 + 5 + 1 + 9
    assert "interrupted at knee to chest, set 1 of 2" in page
    assert "20 s" in page
    assert "Streak: 2 days in a row" in page  # Fri 7 and Sat 8, looked at on Sunday 9


def test_report_without_pain_scores(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path)
    store.record("session_start", {"routine": "r"}, at=at(3))
    page = render(HistoryReader(store.connection, tz=UTC), now=at(3, 12), tz=UTC)
    assert "<svg" in page and "No pain scores recorded yet." in page
    assert "<circle class=\"pain-before\" data-session" not in page


def test_report_command_writes_an_owner_only_file(tmp_path: Path) -> None:
    fill(tmp_path / "data")
    out = tmp_path / "report.html"
    buf = io.StringIO()
    assert commands.run_report(args(tmp_path / "data", out=str(out)), now=lambda: at(9), out=buf) == 0
    assert "Report written to" in buf.getvalue()
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


# ---------------------------------------------------------------- history
def test_history_prints_the_log(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    fill(tmp_path)
    buf = io.StringIO()
    assert commands.run_history(args(tmp_path), out=buf) == 0
    text = buf.getvalue()
    assert text.count("back <basics> & more") == 5
    assert text.count("bridge march: done") == 5
    assert "knee to chest: done, 20 s hold, 2 sets" in text
    assert "interrupted during knee to chest, set 1 of 2 (left side)" in text
    assert "safety questions (full): ok" in text
    assert "pain before: 7" in text and "pain after: 5" in text
    assert "Settings: speech rate 0.8" in text


def test_history_with_nothing_stored_creates_nothing(tmp_path: Path) -> None:
    buf = io.StringIO()
    assert commands.run_history(args(tmp_path / "none"), out=buf) == 0
    assert "No history yet" in buf.getvalue()
    assert not (tmp_path / "none").exists()


def test_history_on_a_damaged_file_says_so(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db_path(tmp_path).write_bytes(b"garbage" * 1000)
    assert commands.run_history(args(tmp_path), out=io.StringIO()) == 1
    assert "damaged" in capsys.readouterr().err
    assert db_path(tmp_path).read_bytes() == b"garbage" * 1000


# ---------------------------------------------------------------- forget
@pytest.mark.parametrize("answer", ["no\n", "\n", "y\n", "", "yes please\n"])
def test_forget_refuses_without_a_yes(tmp_path: Path, answer: str) -> None:
    fill(tmp_path)
    before = db_path(tmp_path).read_bytes()
    out = io.StringIO()
    assert commands.run_forget(args(tmp_path, yes=False), stdin=io.StringIO(answer), out=out) == 1
    assert "Nothing was deleted" in out.getvalue()
    assert db_path(tmp_path).read_bytes() == before


@pytest.mark.parametrize("answer", ["yes\n", " YES \n"])
def test_forget_after_typed_yes(tmp_path: Path, answer: str) -> None:
    fill(tmp_path)
    (tmp_path / "notes.txt").write_text("not ours")
    assert commands.run_forget(args(tmp_path, yes=False), stdin=io.StringIO(answer), out=io.StringIO()) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_forget_with_yes_flag_while_a_store_is_open(tmp_path: Path) -> None:
    fill(tmp_path)
    store = HistoryStore.open(tmp_path)
    store.record("session_start", {"routine": "r"})
    assert (tmp_path / "history.sqlite3-wal").exists()
    assert commands.run_forget(args(tmp_path, yes=True), stdin=io.StringIO(""), out=io.StringIO()) == 0
    store.close()
    assert not list(tmp_path.glob("history.sqlite3*"))
    # A fresh start after forgetting has nothing of the old history.
    store = HistoryStore.open(tmp_path)
    assert store.connection.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
    assert HistoryReader(store.connection).screener_due(at(9)) == "full"


# ---------------------------------------------------------------- the real command line
def run_cli(*argv: str, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "skill.history.commands", *argv], cwd=REPO,
                          input=stdin, capture_output=True, text=True, timeout=60, env=env)


def test_cli_end_to_end(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    fill(data_dir)
    done = run_cli("history", "--data-dir", str(data_dir))
    assert done.returncode == 0 and "bridge march: done" in done.stdout
    out = tmp_path / "r.html"
    done = run_cli("report", "--data-dir", str(data_dir), "--out", str(out))
    assert done.returncode == 0 and "<svg" in out.read_text()
    done = run_cli("forget", "--data-dir", str(data_dir), stdin="nope\n")
    assert done.returncode == 1 and db_path(data_dir).exists()
    done = run_cli("forget", "--data-dir", str(data_dir), stdin="yes\n")
    assert done.returncode == 0 and not db_path(data_dir).exists()
    done = run_cli("history", "--data-dir", str(data_dir))
    assert done.returncode == 0 and "No history yet" in done.stdout


def test_cli_default_dir_is_under_xdg_data_home(tmp_path: Path) -> None:
    import os
    fill(tmp_path / "xdg" / "voice-coach")
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "xdg"))
    done = run_cli("history", env=env)
    assert done.returncode == 0 and "bridge march: done" in done.stdout


def test_register_keeps_a_main_parser_data_dir(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir")
    commands.register(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["--data-dir", "/x", "history"]).data_dir == "/x"
    assert parser.parse_args(["history", "--data-dir", "/y"]).data_dir == "/y"
    ns = parser.parse_args(["forget"])
    assert ns.func is commands.run_forget and ns.yes is False
