"""Diagrams of the dialog machines, exported from the same STATES/TRANSITIONS tables they run on."""
from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

MACHINES = {"session": "skill.coach", "screener": "skill.screener"}


def _edges(transitions: list[dict]) -> list[tuple[str, str, str]]:
    """(source, dest, label) with one edge per pair, labels merged; conditions in brackets."""
    merged: dict[tuple[str, str], list[str]] = {}
    for t in transitions:
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        label = t["trigger"]
        cond = t.get("conditions")
        if cond:
            label += f" [{cond if isinstance(cond, str) else ', '.join(cond)}]"
        for src in sources:
            labels = merged.setdefault((src, t["dest"]), [])
            if label not in labels:
                labels.append(label)
    return [(s, d, " / ".join(ls)) for (s, d), ls in merged.items()]


def table_of(machine: str) -> tuple[list[str], list[dict], str]:
    module = importlib.import_module(MACHINES[machine])
    states = [s if isinstance(s, str) else s["name"] for s in module.STATES]
    initial = getattr(module, "INITIAL", states[0])
    return states, module.TRANSITIONS, initial


def mermaid(machine: str) -> str:
    states, transitions, initial = table_of(machine)
    lines = ["stateDiagram-v2", f"    [*] --> {initial}"]
    lines += [f"    {s} --> {d}: {label}" for s, d, label in _edges(transitions)]
    if "finished" in states:
        lines.append("    finished --> [*]")
    return "\n".join(lines) + "\n"


def dot(machine: str) -> str:
    states, transitions, initial = table_of(machine)
    lines = [f'digraph {machine} {{', '  rankdir=TB; node [shape=box, style=rounded, fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=9];', '  __start [shape=point];',
             f'  __start -> "{initial}";']
    lines += [f'  "{s}";' for s in states]
    lines += [f'  "{s}" -> "{d}" [label="{label}"];' for s, d, label in _edges(transitions)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(machine: str, fmt: str, out: Path | None) -> int:
    if fmt in ("mermaid", "dot"):
        text = mermaid(machine) if fmt == "mermaid" else dot(machine)
        if out:
            out.write_text(text, encoding="utf-8")
            print(f"wrote {out}")
        else:
            sys.stdout.write(text)
        return 0
    exe = shutil.which("dot")
    if exe is None:
        print("Drawing a picture needs Graphviz (`apt-get install graphviz`); "
              "use --format mermaid or --format dot for text.", file=sys.stderr)
        return 1
    out = out or Path(f"{machine}.{fmt}")
    result = subprocess.run([exe, f"-T{fmt}", "-o", str(out)], input=dot(machine), text=True,
                            capture_output=True)
    if result.returncode != 0:
        print(f"Graphviz failed: {result.stderr.strip()}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0
