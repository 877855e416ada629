"""The diagram is exported from the same STATES/TRANSITIONS tables the session machine runs on."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from skill.coach import STATES, TRANSITIONS
from skill.diagram import dot, mermaid

REPO = Path(__file__).resolve().parents[1]


def _table_edges() -> set[tuple[str, str, str]]:
    edges = set()
    for t in TRANSITIONS:
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        for s in sources:
            edges.add((s, t["dest"], t["trigger"]))
    return edges


def _mermaid_edges(text: str) -> set[tuple[str, str, str]]:
    edges = set()
    for m in re.finditer(r"^\s+(\w+) --> (\w+): (.+)$", text, re.M):
        for label in m.group(3).split(" / "):
            edges.add((m.group(1), m.group(2), label.split(" [")[0]))
    return edges


def _dot_edges(text: str) -> set[tuple[str, str, str]]:
    edges = set()
    for m in re.finditer(r'^\s+"(\w+)" -> "(\w+)" \[label="([^"]*)"\];$', text, re.M):
        for label in m.group(3).split(" / "):
            edges.add((m.group(1), m.group(2), label.split(" [")[0]))
    return edges


def test_the_table_is_not_trivial() -> None:
    assert len(STATES) >= 10 and len(_table_edges()) >= 40


def test_mermaid_has_every_state_and_every_transition() -> None:
    text = mermaid("session")
    assert text.startswith("stateDiagram-v2\n")
    assert "[*] --> idle" in text
    for state in STATES:
        assert re.search(rf"\b{state}\b", text), state
    assert _mermaid_edges(text) == _table_edges()


def test_dot_has_every_state_and_every_transition() -> None:
    text = dot("session")
    assert text.startswith("digraph session {") and text.rstrip().endswith("}")
    for state in STATES:
        assert f'  "{state}";' in text, state
    assert _dot_edges(text) == _table_edges()


def test_conditions_are_shown_on_the_edges() -> None:
    text = mermaid("session")
    for t in TRANSITIONS:
        if t.get("conditions"):
            src = t["source"] if isinstance(t["source"], str) else t["source"][0]
            line = next(ln for ln in text.splitlines() if ln.strip().startswith(f"{src} --> {t['dest']}:"))
            cond = t["conditions"] if isinstance(t["conditions"], str) else ", ".join(t["conditions"])
            assert f"{t['trigger']} [{cond}]" in line


def test_a_changed_table_changes_the_diagram(monkeypatch: pytest.MonkeyPatch) -> None:
    import skill.coach
    extra = {"trigger": "teleport", "source": "menu", "dest": "holding"}
    monkeypatch.setattr(skill.coach, "TRANSITIONS", [*TRANSITIONS, extra])
    assert "menu --> holding: teleport" in mermaid("session")
    assert '"menu" -> "holding" [label="teleport"];' in dot("session")


@pytest.mark.parametrize("fmt,check", [("mermaid", _mermaid_edges), ("dot", _dot_edges)])
def test_the_diagram_command(fmt: str, check, tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "run_assistant.py", "diagram", "--format", fmt], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert check(out.stdout) == _table_edges()
    target = tmp_path / f"session.{fmt}"
    out = subprocess.run([sys.executable, "run_assistant.py", "diagram", "--format", fmt, "--out", str(target)],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and check(target.read_text(encoding="utf-8")) == _table_edges()


def test_the_pain_score_confirmation_is_drawn() -> None:
    """The read-back question (confirm_pain) and its ways out are in the table, so in the picture."""
    text = mermaid("session")
    assert "pain_before --> confirm_pain: heard_score" in text
    assert "confirm_pain --> confirm_pain: heard_score" in text          # another number: read back again
    assert "confirm_pain --> pain_before: reask_score" in text           # "no"
    assert "confirm_pain --> intro: rated / unconfirmed" in text         # confirmed, or gave up safely
    assert not re.search(r"^\s+pain_before --> intro:", text, re.M), "no way past the question unconfirmed"
    assert '"confirm_pain" -> "paused" [label="pause"];' in dot("session")
