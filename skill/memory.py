"""What the session remembers from history, as plain data (the dialog core stays pure),
and the recorder that writes the session's Record actions into the history store."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .content import Content


@dataclass(frozen=True)
class ResumePoint:
    routine: str
    exercise: str
    set: int
    sets: int
    side: str | None
    exercise_finished: bool


@dataclass(frozen=True)
class Recollection:
    resume: ResumePoint | None = None
    progress: Any = None                      # skill.history.queries.Progress, or None
    targets: dict[str, tuple[int, int]] = field(default_factory=dict)  # exercise -> (last, next target)
    tempo_factor: float | None = None
    speech_factor: float | None = None
    screener_due: str = "full"                # "full" | "daily"
    unavailable: str | None = None            # why history is off this time, said at the start
    pregnant: bool = False                    # the last full screener's answer (daily checks keep it)


def _blocks(content: Content) -> dict[str, int]:
    """Blocks (set x side) per exercise with a progression: the history stores an exercise's
    total reps over all its blocks, while a progression (and the count) is per block."""
    from .pacing import plan_blocks
    return {ex.id: len(plan_blocks(ex.sets, ex.sides)) for ex in content.exercises.values()
            if ex.progression is not None}


def _progressions(content: Content) -> dict[str, dict]:
    # Scaled to the stored totals; recall() divides the answers back to per-block numbers.
    blocks = _blocks(content)
    return {ex.id: {"step": ex.progression.step * blocks[ex.id], "target": ex.progression.target_reps * blocks[ex.id]}
            for ex in content.exercises.values() if ex.progression is not None}


def _per_block(progress: Any, blocks: dict[str, int]) -> Any:
    """Progress with the progressed exercises' totals turned into reps per set (and side)."""
    from dataclasses import replace

    def per(value: int | None, n: int) -> int | None:
        return None if value is None else int(round(value / n))
    exercises = tuple(replace(p, last_value=per(p.last_value, blocks[p.exercise]),
                              next_target=per(p.next_target, blocks[p.exercise]),
                              target=per(p.target, blocks[p.exercise]))
                      if p.exercise in blocks and p.measure == "reps" else p for p in progress.exercises)
    return replace(progress, exercises=exercises)


def recall(data_dir: Path, content: Content, now: float | None = None) -> tuple[Recollection, Any]:
    """Open the store and read what the session needs; (Recollection, store or None)."""
    from .history.queries import HistoryReader
    from .history.store import HistoryStore, HistoryUnavailable
    now = time.time() if now is None else now
    try:
        store = HistoryStore.open(data_dir)
    except HistoryUnavailable as exc:
        return Recollection(unavailable=getattr(exc, "message", str(exc))), None
    reader = HistoryReader(store._conn)
    interrupted = reader.interrupted_session(now)
    resume = None
    if interrupted is not None and interrupted.routine in content.routines \
            and interrupted.exercise in content.exercises:
        finished = interrupted.exercise_finished
        if finished:  # stopped by the person part-way: that exercise is where to pick up
            row = store._conn.execute(
                "SELECT status FROM exercises WHERE session_id = ? AND exercise = ? ORDER BY at DESC, id DESC LIMIT 1",
                (interrupted.session_id, interrupted.exercise)).fetchone()
            finished = not (row and row[0] == "stopped")
        resume = ResumePoint(interrupted.routine, interrupted.exercise, interrupted.set,
                             interrupted.sets, interrupted.side, finished)
    progress = _per_block(reader.progress(now, _progressions(content)), _blocks(content))
    targets = {p.exercise: (p.last_value, p.next_target) for p in progress.exercises
               if p.next_target is not None and p.measure == "reps" and p.exercise in content.exercises}
    settings = reader.settings()
    row = store._conn.execute("SELECT yes_ids FROM screeners WHERE full = 1 ORDER BY at DESC, id DESC LIMIT 1").fetchone()
    pregnant = bool(row) and "pregnant" in json.loads(row[0] or "[]")
    has_sessions = bool(reader.active_session_times())
    return Recollection(resume=resume, progress=progress if has_sessions else None, targets=targets,
                        tempo_factor=settings.get("tempo"), speech_factor=settings.get("speech_rate"),
                        screener_due=reader.screener_due(now), pregnant=pregnant), store


class HistoryRecorder:
    """EventSink listener: commits every Record action as it happens."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.failed: str | None = None

    def __call__(self, obj: dict) -> None:
        if obj.get("type") != "record" or self.store is None or self.failed:
            return
        if obj.get("kind") == "preference":
            return  # settings live in preferences.json (skill.preferences), not in the history
        from .history.store import HistoryUnavailable
        data = {k: v for k, v in obj.items() if k not in ("type", "kind")}
        try:
            self.store.record(obj["kind"], data)
        except HistoryUnavailable as exc:
            self.failed = getattr(exc, "message", str(exc))
            print(f"History is no longer being saved: {self.failed}", file=sys.stderr, flush=True)
        except ValueError as exc:  # a record the store does not know: keep the session going
            print(f"History: record not saved ({exc})", file=sys.stderr, flush=True)
