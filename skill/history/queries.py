"""Read-only questions about the history: where to resume, whether the full screener is due,
how the person is doing, which settings they chose, and the log for `history` and `report`.

Only reads; every answer depends on the database and the `now` passed in, so tests set the
dates. Day boundaries use `tz` (default: the machine's local time).
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Mapping

FULL_SCREENER_MAX_AGE = 7 * 24 * 3600.0
CLOCK_SLACK = 3600.0  # a screener "from the future" means the clock moved: be safe
RESUMABLE_ENDINGS = ("stopped", "end_of_input")  # plus NULL: killed, power cut
TREND_WINDOW_DAYS = 28
TREND_STEADY_PER_WEEK = 0.25  # |slope| below this (points per week) counts as steady


@dataclass(frozen=True)
class Interrupted:
    """Where the last unfinished session stopped."""

    session_id: int
    routine: str
    started_at: float
    at: float  # when that set/side began
    how: str | None  # None: the process died (killed, power cut) before it could end
    exercise: str
    set: int
    sets: int
    side: str | None
    exercise_finished: bool  # the exercise was recorded after this position: resume after it
    finished: tuple[str, ...] = ()  # exercises recorded in that session, in order


@dataclass(frozen=True)
class Progression:
    """How an exercise grows: `step` more each time, up to `target` (from the content)."""

    step: int
    target: int
    measure: str = "reps"  # or "hold_seconds"


@dataclass(frozen=True)
class ExerciseProgress:
    exercise: str
    last_at: float
    last_status: str
    last_value: int  # reps or hold seconds, per `measure`
    measure: str
    next_target: int | None  # None: no progression known, or nothing done yet
    target: int | None
    held_for_pain: bool = False  # the last attempt stopped for pain: no increase


@dataclass(frozen=True)
class PainTrend:
    sessions: int  # sessions in the window with a before-score
    average_change: float | None  # mean (after - before) per session; negative = eased
    before_first: int | None
    before_last: int | None
    before_slope_per_week: float | None  # least squares over the window; None below 3 points
    direction: str | None  # "better" | "steady" | "worse" | None


@dataclass(frozen=True)
class Progress:
    sessions_this_week: int  # calendar week, Monday first
    sessions_last_7_days: int
    streak_days: int  # consecutive days with a session, ending today (or yesterday)
    pain: PainTrend
    exercises: tuple[ExerciseProgress, ...] = ()


@dataclass
class SessionEntry:
    id: int
    started_at: float
    ended_at: float | None
    routine: str
    how: str | None
    exercises: list[dict] = field(default_factory=list)
    pain: list[dict] = field(default_factory=list)
    screeners: list[dict] = field(default_factory=list)
    settings: list[dict] = field(default_factory=list)
    last_position: dict | None = None


class HistoryReader:
    def __init__(self, conn: sqlite3.Connection, tz: tzinfo | None = None) -> None:
        self._conn = conn
        self._tz = tz

    def _day(self, ts: float) -> date:
        return datetime.fromtimestamp(ts, self._tz).date()

    # ------------------------------------------------------------ resume
    def interrupted_session(self, now: float | None = None,
                            max_age: float | None = None) -> Interrupted | None:
        """The latest session, if it did not finish and got as far as an exercise.

        Call it before the new session starts (the running one is unfinished too).
        Sessions that ended for pain or the screener are not offered again.
        """
        row = self._conn.execute(
            "SELECT id, routine, started_at, ended_at, how FROM sessions "
            "ORDER BY started_at DESC, id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        sid, routine, started_at, ended_at, how = row
        if not (ended_at is None or how in RESUMABLE_ENDINGS):
            return None
        pos = self._conn.execute(
            "SELECT at, exercise, set_no, sets, side FROM positions WHERE session_id = ? "
            "ORDER BY at DESC, id DESC LIMIT 1", (sid,)).fetchone()
        if pos is None:
            return None
        at, exercise, set_no, sets, side = pos
        if now is not None and max_age is not None and now - at > max_age:
            return None
        finished = [r[0] for r in self._conn.execute(
            "SELECT exercise FROM exercises WHERE session_id = ? ORDER BY at, id", (sid,))]
        done_after = self._conn.execute(
            "SELECT 1 FROM exercises WHERE session_id = ? AND exercise = ? AND at >= ? LIMIT 1",
            (sid, exercise, at)).fetchone()
        return Interrupted(session_id=sid, routine=routine, started_at=started_at, at=at,
                           how=how, exercise=exercise, set=set_no, sets=sets, side=side,
                           exercise_finished=done_after is not None, finished=tuple(finished))

    # ------------------------------------------------------------ screener
    def screener_due(self, now: float) -> str:
        """"full" on first use, after any non-ok or unclear answer, when the last full
        screener is over a week old (or dated in the future); otherwise "daily"."""
        rows = self._conn.execute(
            "SELECT at, level, yes_ids, unknown_ids, full FROM screeners "
            "ORDER BY at DESC, id DESC").fetchall()
        if not rows:
            return "full"
        _, level, yes_ids, unknown_ids, _ = rows[0]
        if level != "ok" or json.loads(yes_ids) or json.loads(unknown_ids):
            return "full"
        last_full = next((r for r in rows if r[4]), None)
        if last_full is None or last_full[1] != "ok" or json.loads(last_full[3]):
            return "full"
        age = now - last_full[0]
        if age > FULL_SCREENER_MAX_AGE or age < -CLOCK_SLACK:
            return "full"
        return "daily"

    # ------------------------------------------------------------ settings
    def settings(self) -> dict[str, float]:
        """The last value chosen for each setting, e.g. {"speech_rate": 0.8}."""
        out: dict[str, float] = {}
        for name, value in self._conn.execute(
                "SELECT name, value FROM settings ORDER BY at, id"):
            out[name] = value
        return out

    # ------------------------------------------------------------ progress
    def active_session_times(self) -> list[float]:
        """Start times of sessions in which at least one exercise was done."""
        return [r[0] for r in self._conn.execute(
            "SELECT s.started_at FROM sessions s WHERE EXISTS (SELECT 1 FROM exercises e "
            "WHERE e.session_id = s.id AND e.status = 'done') ORDER BY s.started_at")]

    def progress(self, now: float,
                 progression: Mapping[str, Progression | Mapping] | None = None) -> Progress:
        starts = self.active_session_times()
        today = self._day(now)
        week_start = today - timedelta(days=today.weekday())
        days = {self._day(t) for t in starts if t <= now + CLOCK_SLACK}
        this_week = sum(1 for t in starts if week_start <= self._day(t) <= today)
        last_7 = sum(1 for t in starts if now - 7 * 86400 < t <= now + CLOCK_SLACK)
        day = today if today in days else today - timedelta(days=1)
        streak = 0
        while day in days:
            streak += 1
            day -= timedelta(days=1)
        return Progress(sessions_this_week=this_week, sessions_last_7_days=last_7,
                        streak_days=streak, pain=self.pain_trend(now),
                        exercises=tuple(self.exercise_progress(progression or {})))

    def pain_trend(self, now: float, window_days: int = TREND_WINDOW_DAYS) -> PainTrend:
        since = now - window_days * 86400
        per_session: dict[int, dict] = {}
        for sid, started, moment, score in self._conn.execute(
                "SELECT s.id, s.started_at, p.moment, p.score FROM pain p "
                "JOIN sessions s ON s.id = p.session_id "
                "WHERE s.started_at > ? AND s.started_at <= ? ORDER BY p.at, p.id",
                (since, now + CLOCK_SLACK)):
            entry = per_session.setdefault(sid, {"at": started})
            if moment == "before":
                entry.setdefault("before", score)  # the first before-score of the session
            elif moment == "after":
                entry["after"] = score  # the last after-score
        ordered = sorted(per_session.values(), key=lambda e: e["at"])
        befores = [(e["at"], e["before"]) for e in ordered if "before" in e]
        changes = [e["after"] - e["before"] for e in ordered if "before" in e and "after" in e]
        slope = _slope_per_week(befores) if len(befores) >= 3 else None
        direction = None
        if slope is not None:
            direction = ("steady" if abs(slope) < TREND_STEADY_PER_WEEK
                         else "better" if slope < 0 else "worse")
        return PainTrend(
            sessions=len(befores),
            average_change=round(sum(changes) / len(changes), 2) if changes else None,
            before_first=befores[0][1] if befores else None,
            before_last=befores[-1][1] if befores else None,
            before_slope_per_week=None if slope is None else round(slope, 2),
            direction=direction)

    def exercise_progress(self, progression: Mapping[str, Progression | Mapping]
                          ) -> list[ExerciseProgress]:
        """Per exercise: what was done last and what to aim for next.

        Done: last + step, capped at the target (never below what was already done).
        Stopped for pain: no increase, aim for the last completed amount again.
        Skipped attempts are ignored.
        """
        rules = {name: _as_progression(p) for name, p in progression.items()}
        out = []
        names = [r[0] for r in self._conn.execute(
            "SELECT exercise FROM exercises WHERE status != 'skipped' "
            "GROUP BY exercise ORDER BY max(at) DESC")]
        for name in names:
            rule = rules.get(name)
            measure = rule.measure if rule else "reps"
            column = "hold_seconds" if measure == "hold_seconds" else "reps"
            at, status, value = self._conn.execute(
                f"SELECT at, status, {column} FROM exercises WHERE exercise = ? "
                "AND status != 'skipped' ORDER BY at DESC, id DESC LIMIT 1", (name,)).fetchone()
            done = self._conn.execute(
                f"SELECT {column} FROM exercises WHERE exercise = ? AND status = 'done' "
                "ORDER BY at DESC, id DESC LIMIT 1", (name,)).fetchone()
            next_target = None
            if rule is not None and done is not None:
                last_done = done[0]
                if status == "done":
                    next_target = max(last_done, min(last_done + rule.step, rule.target))
                else:
                    next_target = last_done
            out.append(ExerciseProgress(
                exercise=name, last_at=at, last_status=status, last_value=value, measure=measure,
                next_target=next_target, target=rule.target if rule else None,
                held_for_pain=status == "stopped_for_pain"))
        return out

    # ------------------------------------------------------------ log
    def sessions(self) -> list[SessionEntry]:
        """Every session, oldest first, with what happened in it."""
        entries = {r[0]: SessionEntry(*r) for r in self._conn.execute(
            "SELECT id, started_at, ended_at, routine, how FROM sessions ORDER BY started_at, id")}
        for sid, at, name, status, reps, sets, hold in self._conn.execute(
                "SELECT session_id, at, exercise, status, reps, sets, hold_seconds FROM exercises "
                "WHERE session_id IS NOT NULL ORDER BY at, id"):
            entries[sid].exercises.append({"at": at, "exercise": name, "status": status,
                                           "reps": reps, "sets": sets, "hold_seconds": hold})
        for sid, at, moment, score in self._conn.execute(
                "SELECT session_id, at, moment, score FROM pain WHERE session_id IS NOT NULL "
                "ORDER BY at, id"):
            entries[sid].pain.append({"at": at, "when": moment, "score": score})
        for sid, at, level, yes, unknown, full in self._conn.execute(
                "SELECT session_id, at, level, yes_ids, unknown_ids, full FROM screeners "
                "WHERE session_id IS NOT NULL ORDER BY at, id"):
            entries[sid].screeners.append({"at": at, "level": level, "yes": json.loads(yes),
                                           "unknown": json.loads(unknown), "full": bool(full)})
        for sid, at, name, value in self._conn.execute(
                "SELECT session_id, at, name, value FROM settings WHERE session_id IS NOT NULL "
                "ORDER BY at, id"):
            entries[sid].settings.append({"at": at, "name": name, "value": value})
        for sid, exercise, set_no, sets, side in self._conn.execute(
                "SELECT session_id, exercise, set_no, sets, side FROM positions p "
                "WHERE session_id IS NOT NULL AND id = (SELECT id FROM positions q "
                "WHERE q.session_id = p.session_id ORDER BY at DESC, id DESC LIMIT 1)"):
            entries[sid].last_position = {"exercise": exercise, "set": set_no, "sets": sets,
                                          "side": side}
        return list(entries.values())

    def outside_sessions(self) -> list[dict]:
        """Screeners, pain scores and settings recorded while no session was open."""
        items: list[dict] = []
        for at, level, yes, unknown, full in self._conn.execute(
                "SELECT at, level, yes_ids, unknown_ids, full FROM screeners WHERE session_id IS NULL"):
            items.append({"kind": "screener", "at": at, "level": level, "yes": json.loads(yes),
                          "unknown": json.loads(unknown), "full": bool(full)})
        for at, moment, score in self._conn.execute(
                "SELECT at, moment, score FROM pain WHERE session_id IS NULL"):
            items.append({"kind": "pain", "at": at, "when": moment, "score": score})
        for at, name, value in self._conn.execute(
                "SELECT at, name, value FROM settings WHERE session_id IS NULL"):
            items.append({"kind": "setting", "at": at, "name": name, "value": value})
        for at, name, status, reps, sets, hold in self._conn.execute(
                "SELECT at, exercise, status, reps, sets, hold_seconds FROM exercises "
                "WHERE session_id IS NULL"):
            items.append({"kind": "exercise", "at": at, "exercise": name, "status": status,
                          "reps": reps, "sets": sets, "hold_seconds": hold})
        return sorted(items, key=lambda i: i["at"])


def _as_progression(p: Progression | Mapping) -> Progression:
    if isinstance(p, Progression):
        return p
    return Progression(step=int(p["step"]), target=int(p["target"]),
                       measure=str(p.get("measure", "reps")))


def _slope_per_week(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of score against time, in points per week."""
    xs = [t / (7 * 86400) for t, _ in points]
    ys = [float(s) for _, s in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var
