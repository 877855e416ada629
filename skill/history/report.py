"""A self-contained HTML page for a caregiver or physiotherapist.

One file, no scripts, no fonts or images from anywhere: pain over time as an inline SVG
(one point per session for the pain before, one for after), then the sessions and the
exercises as tables. Prints well on paper.
"""
from __future__ import annotations

from datetime import datetime, tzinfo
from html import escape
from typing import Iterable, Mapping

from .queries import HistoryReader, Progression, SessionEntry

HOW_WORDS = {
    None: "interrupted",
    "completed": "completed",
    "stopped": "stopped by the person",
    "end_of_input": "input ended",
    "pain": "stopped for pain",
    "screener": "stopped by the safety questions",
    "restarted": "restarted",
}
STATUS_WORDS = {"done": "done", "skipped": "skipped", "stopped_for_pain": "stopped for pain"}
LEVEL_WORDS = {"ok": "ok", "clinician": "see a clinician", "urgent": "urgent care",
               "emergency": "emergency"}

CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num{text-align:right}
.summary li{margin:.2rem 0}.muted{color:#666}
svg{max-width:100%;height:auto}
@media print{body{margin:0}h2{break-after:avoid}tr{break-inside:avoid}}
"""


def _when(ts: float | None, tz: tzinfo | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, tz).strftime(fmt)


def _minutes(s: SessionEntry) -> str:
    if s.ended_at is None:
        return ""
    return f"{max(0, round((s.ended_at - s.started_at) / 60))} min"


def _pain_points(sessions: Iterable[SessionEntry]) -> list[tuple[SessionEntry, int | None, int | None]]:
    """Per session with any pain score: its first before-score and last after-score."""
    out = []
    for s in sessions:
        before = next((p["score"] for p in s.pain if p["when"] == "before"), None)
        after = next((p["score"] for p in reversed(s.pain) if p["when"] == "after"), None)
        if before is not None or after is not None:
            out.append((s, before, after))
    return out


# Colours as attributes, not CSS, so the chart looks the same if it is copied out of the page.
STYLE = {
    "before": 'fill="#b03030"',
    "after": 'fill="#2060b0"',
    "line-before": 'fill="none" stroke="#b03030" stroke-width="1.5"',
    "line-after": 'fill="none" stroke="#2060b0" stroke-width="1.5" stroke-dasharray="4 3"',
    "grid": 'stroke="#ddd"',
    "axis": 'stroke="#888"',
}
TEXT = 'font-family="sans-serif" font-size="11" fill="#444"'


def pain_chart(sessions: list[SessionEntry], tz: tzinfo | None = None) -> str:
    """Inline SVG: pain 0-10 against date, one point per session and moment."""
    points = _pain_points(sessions)
    width, height = 720, 280
    left, right, top, bottom = 40, 20, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-labelledby="pain-title">',
             '<title id="pain-title">Pain score before and after each session, '
             '0 (none) to 10 (worst)</title>']
    for score in range(0, 11, 2):
        y = top + plot_h - score / 10 * plot_h
        parts.append(f'<line class="grid" {STYLE["grid"]} x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}"/>')
        parts.append(f'<text {TEXT} x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{score}</text>')
    parts.append(f'<line class="axis" {STYLE["axis"]} x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}"/>')
    parts.append(f'<line class="axis" {STYLE["axis"]} x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
                 f'y2="{top + plot_h}"/>')
    if not points:
        parts.append(f'<text {TEXT} x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle">'
                     'No pain scores recorded yet.</text></svg>')
        return "\n".join(parts)
    t0, t1 = points[0][0].started_at, points[-1][0].started_at
    span = t1 - t0

    def x_of(t: float) -> float:
        return left + plot_w / 2 if span <= 0 else left + (t - t0) / span * plot_w

    def y_of(score: int) -> float:
        return top + plot_h - score / 10 * plot_h

    for series, index in (("before", 1), ("after", 2)):
        coords = [(x_of(p[0].started_at), y_of(p[index]), p) for p in points if p[index] is not None]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in coords)
            parts.append(f'<polyline class="line-{series}" {STYLE["line-" + series]} points="{path}"/>')
        for x, y, p in coords:
            label = f"{_when(p[0].started_at, tz)}: pain {series} {p[index]}"
            parts.append(f'<circle class="pain-{series}" {STYLE[series]} data-session="{p[0].id}" cx="{x:.1f}" '
                         f'cy="{y:.1f}" r="4"><title>{escape(label)}</title></circle>')
    parts.append(f'<text {TEXT} x="{left}" y="{height - 12}">{escape(_when(t0, tz, "%Y-%m-%d"))}</text>')
    if span > 0:
        parts.append(f'<text {TEXT} x="{left + plot_w}" y="{height - 12}" text-anchor="end">'
                     f'{escape(_when(t1, tz, "%Y-%m-%d"))}</text>')
    legend_x = left + plot_w - 190
    parts.append(f'<circle class="pain-before" {STYLE["before"]} cx="{legend_x}" cy="{top - 8}" r="4"/>'
                 f'<text {TEXT} x="{legend_x + 8}" y="{top - 4}">before</text>'
                 f'<circle class="pain-after" {STYLE["after"]} cx="{legend_x + 70}" cy="{top - 8}" r="4"/>'
                 f'<text {TEXT} x="{legend_x + 78}" y="{top - 4}">after exercising</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    if not rows:
        return '<p class="muted">Nothing recorded yet.</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(f'<td class="num">{escape(c)}</td>' if i in numeric else f"<td>{escape(c)}</td>"
                        for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _screener_text(sc: dict) -> str:
    text = f"{'full' if sc['full'] else 'daily'}: {LEVEL_WORDS.get(sc['level'], sc['level'])}"
    if sc["yes"]:
        text += f"; yes to {', '.join(sc['yes'])}"
    if sc["unknown"]:
        text += f"; unclear: {', '.join(sc['unknown'])}"
    return text


def render(reader: HistoryReader, now: float, tz: tzinfo | None = None,
           progression: Mapping[str, Progression] | None = None, title: str = "Exercise history") -> str:
    sessions = reader.sessions()
    progress = reader.progress(now, progression)
    pain = progress.pain
    summary = [
        f"Sessions this week: {progress.sessions_this_week} "
        f"(last 7 days: {progress.sessions_last_7_days})",
        f"Streak: {progress.streak_days} day{'s' if progress.streak_days != 1 else ''} in a row",
    ]
    if pain.average_change is not None:
        summary.append(f"Pain change during a session, on average: {pain.average_change:+.1f} points "
                       "(negative means it eased)")
    if pain.before_first is not None:
        trend = f"Pain before exercising, last {pain.sessions} session(s): {pain.before_first} → {pain.before_last}"
        if pain.direction:
            trend += f" ({pain.direction}, {pain.before_slope_per_week:+.2f} points a week)"
        summary.append(trend)
    settings = reader.settings()
    if settings:
        summary.append("Chosen settings: " + ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in settings.items()))

    session_rows = []
    for s in reversed(sessions):
        before = next((str(p["score"]) for p in s.pain if p["when"] == "before"), "")
        after = next((str(p["score"]) for p in reversed(s.pain) if p["when"] == "after"), "")
        how = HOW_WORDS.get(s.how, s.how or "")
        if s.how is None and s.last_position:
            lp = s.last_position
            how += f" at {lp['exercise']}, set {lp['set']} of {lp['sets']}"
        session_rows.append([_when(s.started_at, tz), s.routine, _minutes(s), how, before, after,
                             "; ".join(_screener_text(sc) for sc in s.screeners)])
    exercise_rows = []
    for s in reversed(sessions):
        for e in s.exercises:
            exercise_rows.append([_when(e["at"], tz), e["exercise"],
                                  STATUS_WORDS.get(e["status"], e["status"]),
                                  str(e["reps"]) if e["reps"] else "", str(e["sets"]) if e["sets"] else "",
                                  f"{e['hold_seconds']} s" if e["hold_seconds"] else ""])
    progression_rows = [[p.exercise, _when(p.last_at, tz, "%Y-%m-%d"),
                         STATUS_WORDS.get(p.last_status, p.last_status),
                         f"{p.last_value} {'s' if p.measure == 'hold_seconds' else 'reps'}",
                         "" if p.next_target is None else str(p.next_target),
                         "" if p.target is None else str(p.target)]
                        for p in progress.exercises]
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="muted">Written {escape(_when(now, tz))} from the coach\'s own record. '
        "Pain is scored by the person, 0 (none) to 10 (worst).</p>",
        '<h2>Summary</h2><ul class="summary">' + "".join(f"<li>{escape(x)}</li>" for x in summary) + "</ul>",
        "<h2>Pain over time</h2>",
        pain_chart(sessions, tz),
        "<h2>Sessions</h2>",
        _table(["Started", "Routine", "Length", "How it ended", "Pain before", "Pain after",
                "Safety questions"], session_rows, {4, 5}),
        "<h2>Exercises</h2>",
        _table(["When", "Exercise", "Result", "Reps", "Sets", "Hold"], exercise_rows, {3, 4, 5}),
        "<h2>Progression</h2>",
        _table(["Exercise", "Last time", "Result", "Amount", "Next aim", "Goal"], progression_rows, {4, 5}),
        "</body></html>",
    ])
