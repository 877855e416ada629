"""`history`, `report` and `forget`: the command-line side of the history.

`register(subparsers)` adds the three subcommands to the assistant's parser; each sets
`func` to a handler taking the parsed args and returning an exit code.
Run alone as `python -m skill.history.commands history`.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Callable, TextIO

from . import report as report_mod
from .queries import HistoryReader, SessionEntry
from .report import HOW_WORDS, LEVEL_WORDS, STATUS_WORDS
from .store import HistoryUnavailable, db_path, default_data_dir, forget, open_reader

DEFAULT_REPORT = "exercise-report.html"


def _data_dir_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a --data-dir given to the main parser is not reset by the subcommand's default.
    parser.add_argument("--data-dir", default=argparse.SUPPRESS, metavar="DIR",
                        help="where the history is kept (default: $XDG_DATA_HOME/voice-coach "
                             "or ~/.local/share/voice-coach)")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("history", help="print the exercise log")
    _data_dir_option(p)
    p.set_defaults(func=run_history)

    p = subparsers.add_parser("report", help="write an HTML page for a caregiver or physiotherapist")
    _data_dir_option(p)
    p.add_argument("--out", default=DEFAULT_REPORT, metavar="FILE",
                   help=f"where to write the page (default: {DEFAULT_REPORT})")
    p.set_defaults(func=run_report)

    p = subparsers.add_parser("forget", help="delete everything stored")
    _data_dir_option(p)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=run_forget)


def data_dir_of(args: argparse.Namespace) -> Path:
    given = getattr(args, "data_dir", None)
    return Path(given).expanduser() if given else default_data_dir()


def _when(ts: float | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "" if ts is None else datetime.fromtimestamp(ts).strftime(fmt)


def _exercise_line(e: dict) -> str:
    parts = [STATUS_WORDS.get(e["status"], e["status"])]
    if e["reps"]:
        parts.append(f"{e['reps']} reps")
    if e["hold_seconds"]:
        parts.append(f"{e['hold_seconds']} s hold")
    if e["sets"]:
        parts.append(f"{e['sets']} set{'s' if e['sets'] != 1 else ''}")
    return f"{e['exercise']}: {', '.join(parts)}"


def _screener_line(sc: dict) -> str:
    line = f"safety questions ({'full' if sc['full'] else 'daily'}): {LEVEL_WORDS.get(sc['level'], sc['level'])}"
    if sc["yes"]:
        line += f", yes to {', '.join(sc['yes'])}"
    if sc["unknown"]:
        line += f", unclear: {', '.join(sc['unknown'])}"
    return line


def format_session(s: SessionEntry) -> list[str]:
    how = HOW_WORDS.get(s.how, s.how or "")
    if s.how is None and s.last_position:
        lp = s.last_position
        side = f" ({lp['side']} side)" if lp["side"] else ""
        how += f" during {lp['exercise']}, set {lp['set']} of {lp['sets']}{side}"
    length = "" if s.ended_at is None else f", {max(0, round((s.ended_at - s.started_at) / 60))} min"
    lines = [f"{_when(s.started_at)}  {s.routine}  {how}{length}"]
    items: list[tuple[float, str]] = []
    items += [(sc["at"], _screener_line(sc)) for sc in s.screeners]
    items += [(p["at"], f"pain {p['when']}: {p['score']}") for p in s.pain]
    items += [(e["at"], _exercise_line(e)) for e in s.exercises]
    items += [(st["at"], f"setting: {st['name'].replace('_', ' ')} {st['value']:g}") for st in s.settings]
    lines += [f"    {text}" for _, text in sorted(items, key=lambda i: i[0])]
    return lines


def _loose_line(item: dict) -> str:
    kind = item["kind"]
    if kind == "screener":
        text = _screener_line(item)
    elif kind == "pain":
        text = f"pain {item['when']}: {item['score']}"
    elif kind == "setting":
        text = f"setting: {item['name'].replace('_', ' ')} {item['value']:g}"
    else:
        text = _exercise_line(item)
    return f"{_when(item['at'])}  {text}"


def run_history(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    data_dir = data_dir_of(args)
    try:
        conn = open_reader(data_dir)
    except HistoryUnavailable as exc:
        print(exc.message, file=sys.stderr)
        return 1
    if conn is None:
        print(f"No history yet (looked in {data_dir}).", file=out)
        return 0
    try:
        reader = HistoryReader(conn)
        entries: list[tuple[float, list[str]]] = [(s.started_at, format_session(s)) for s in reader.sessions()]
        entries += [(i["at"], [_loose_line(i)]) for i in reader.outside_sessions()]
        if not entries:
            print(f"No history yet (looked in {data_dir}).", file=out)
            return 0
        for _, lines in sorted(entries, key=lambda e: e[0]):
            print("\n".join(lines), file=out)
        settings = reader.settings()
        if settings:
            print("Settings: " + ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in settings.items()),
                  file=out)
    finally:
        conn.close()
    return 0


def run_report(args: argparse.Namespace, now: Callable[[], float] = time.time,
               out: TextIO = sys.stdout) -> int:
    data_dir = data_dir_of(args)
    try:
        conn = open_reader(data_dir)
    except HistoryUnavailable as exc:
        print(exc.message, file=sys.stderr)
        return 1
    if conn is None:
        print(f"No history yet (looked in {data_dir}); no report written.", file=sys.stderr)
        return 1
    try:
        page = report_mod.render(HistoryReader(conn), now())
    finally:
        conn.close()
    target = Path(args.out).expanduser()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        # Health data: owner-only, and written whole or not at all.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(page)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        print(f"Could not write the report to {target} ({exc.strerror}).", file=sys.stderr)
        return 1
    print(f"Report written to {target}", file=out)
    return 0


def run_forget(args: argparse.Namespace, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    data_dir = data_dir_of(args)
    path = db_path(data_dir)
    if not getattr(args, "yes", False):
        print(f"This deletes all exercise history in {data_dir}. It cannot be undone.", file=out)
        print("Type yes to delete it: ", end="", file=out, flush=True)
        answer = stdin.readline()
        if answer.strip().lower() != "yes":
            print("Nothing was deleted.", file=out)
            return 1
    try:
        deleted = forget(data_dir)
    except HistoryUnavailable as exc:
        print(exc.message, file=sys.stderr)
        return 1
    if deleted:
        print(f"Deleted all history ({path}).", file=out)
    else:
        print(f"Nothing was stored in {data_dir}.", file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_assistant.py")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
