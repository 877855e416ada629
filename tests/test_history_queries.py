"""Resume point, screener schedule, progress and settings, with the dates set by the test."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from skill.history.queries import HistoryReader, Progression
from skill.history.store import HistoryStore

UTC = timezone.utc
DAY = 86400.0


def at(day: int, hour: float = 9.0) -> float:
    """Epoch seconds for March `day`, 2025 (the 3rd is a Monday), UTC."""
    return datetime(2025, 3, day, tzinfo=UTC).timestamp() + hour * 3600


@pytest.fixture
def store(tmp_path: Path) -> HistoryStore:
    s = HistoryStore.open(tmp_path)
    yield s
    s.close()


def reader(store: HistoryStore) -> HistoryReader:
    return HistoryReader(store.connection, tz=UTC)


def session(store: HistoryStore, t: float, *, routine: str = "back basics", before: int | None = 5,
            after: int | None = 3, exercises=(("bridge march", "done", 20, 3, 0),),
            how: str | None = "completed") -> None:
    store.record("session_start", {"routine": routine}, at=t)
    if before is not None:
        store.record("pain", {"when": "before", "score": before}, at=t + 60)
    for i, (name, status, reps, sets, hold) in enumerate(exercises):
        store.record("position", {"exercise": name, "set": 1, "sets": sets, "side": None}, at=t + 100 + i * 100)
        store.record("exercise", {"exercise": name, "status": status, "reps": reps, "sets": sets,
                                  "hold_seconds": hold}, at=t + 150 + i * 100)
    if after is not None:
        store.record("pain", {"when": "after", "score": after}, at=t + 900)
    if how is not None:
        store.record("session_end", {"how": how}, at=t + 1000)


# ---------------------------------------------------------------- interrupted session
def test_no_history_nothing_to_resume(store: HistoryStore) -> None:
    assert reader(store).interrupted_session() is None


def test_killed_mid_set_resumes_there(store: HistoryStore) -> None:
    session(store, at(3))
    t = at(4)
    store.record("session_start", {"routine": "back basics"}, at=t)
    store.record("position", {"exercise": "pelvic tilt", "set": 1, "sets": 2, "side": None}, at=t + 10)
    store.record("exercise", {"exercise": "pelvic tilt", "status": "done", "reps": 10, "sets": 2,
                              "hold_seconds": 5}, at=t + 100)
    store.record("position", {"exercise": "bridge march", "set": 1, "sets": 3, "side": None}, at=t + 110)
    store.record("position", {"exercise": "bridge march", "set": 2, "sets": 3, "side": None}, at=t + 200)
    # ... and the power went. No session_end.
    got = reader(store).interrupted_session()
    assert got is not None
    assert (got.routine, got.exercise, got.set, got.sets, got.side) == ("back basics", "bridge march", 2, 3, None)
    assert got.how is None and not got.exercise_finished
    assert got.finished == ("pelvic tilt",)


def test_side_is_kept(store: HistoryStore) -> None:
    store.record("session_start", {"routine": "hips"}, at=at(5))
    store.record("position", {"exercise": "clamshell", "set": 2, "sets": 2, "side": "left"}, at=at(5) + 5)
    store.record("session_end", {"how": "stopped"}, at=at(5) + 50)
    got = reader(store).interrupted_session()
    assert (got.exercise, got.set, got.sets, got.side, got.how) == ("clamshell", 2, 2, "left", "stopped")


def test_stopped_between_exercises(store: HistoryStore) -> None:
    session(store, at(5), how="end_of_input")
    got = reader(store).interrupted_session()
    assert got.exercise == "bridge march" and got.exercise_finished


@pytest.mark.parametrize("how", ["completed", "pain", "screener"])
def test_not_offered_after_a_proper_ending(store: HistoryStore, how: str) -> None:
    session(store, at(5), how=how)
    assert reader(store).interrupted_session() is None


def test_only_the_latest_session_counts(store: HistoryStore) -> None:
    store.record("session_start", {"routine": "r"}, at=at(3))
    store.record("position", {"exercise": "bridge march", "set": 2, "sets": 3, "side": None}, at=at(3) + 5)
    session(store, at(4))  # the next day's session finished: the old one is not offered
    assert reader(store).interrupted_session() is None


def test_nothing_begun_nothing_to_resume(store: HistoryStore) -> None:
    store.record("session_start", {"routine": "r"}, at=at(3))
    store.record("pain", {"when": "before", "score": 4}, at=at(3) + 5)
    assert reader(store).interrupted_session() is None


def test_too_old_to_resume(store: HistoryStore) -> None:
    store.record("session_start", {"routine": "r"}, at=at(3))
    store.record("position", {"exercise": "bridge march", "set": 2, "sets": 3, "side": None}, at=at(3) + 5)
    r = reader(store)
    assert r.interrupted_session(now=at(4), max_age=2 * DAY) is not None
    assert r.interrupted_session(now=at(10), max_age=2 * DAY) is None


# ---------------------------------------------------------------- screener schedule
def screener(store: HistoryStore, t: float, level: str = "ok", yes=(), unknown=(), full: bool = True) -> None:
    store.record("screener", {"level": level, "yes": list(yes), "unknown": list(unknown), "full": full}, at=t)


def test_first_use_is_full(store: HistoryStore) -> None:
    assert reader(store).screener_due(at(3)) == "full"


def test_daily_within_a_week_full_after(store: HistoryStore) -> None:
    screener(store, at(3))
    r = reader(store)
    assert r.screener_due(at(3, 18)) == "daily"
    assert r.screener_due(at(10, 8.9)) == "daily"  # 6 days 23.9 hours
    assert r.screener_due(at(10, 9.1)) == "full"   # just over a week
    # Daily checks in between do not reset the week.
    screener(store, at(5), full=False)
    screener(store, at(9), full=False)
    assert r.screener_due(at(10, 9.1)) == "full"
    screener(store, at(10, 9.2), full=True)
    assert r.screener_due(at(11)) == "daily"


@pytest.mark.parametrize("level,yes,unknown", [
    ("clinician", ["night_pain"], []),
    ("urgent", ["fever"], []),
    ("emergency", ["saddle_numbness"], []),
    ("ok", [], ["weight_loss"]),  # an unclear answer is never a "no"
])
def test_full_after_a_non_ok_or_unclear_screener(store: HistoryStore, level, yes, unknown) -> None:
    screener(store, at(3))
    screener(store, at(4), level=level, yes=yes, unknown=unknown, full=False)
    assert reader(store).screener_due(at(4, 12)) == "full"
    # Once a full screener comes out ok again, back to daily checks.
    screener(store, at(5))
    assert reader(store).screener_due(at(6)) == "daily"


def test_daily_yes_then_killed_before_the_full_one(store: HistoryStore) -> None:
    screener(store, at(3))
    screener(store, at(4), level="ok", yes=["bladder"], full=False)
    assert reader(store).screener_due(at(4, 10)) == "full"


def test_clock_moved_backwards_means_full(store: HistoryStore) -> None:
    screener(store, at(10))
    assert reader(store).screener_due(at(3)) == "full"


# ---------------------------------------------------------------- settings
def test_settings_last_choice_wins(store: HistoryStore) -> None:
    assert reader(store).settings() == {}
    store.record("setting", {"name": "speech_rate", "value": 0.8}, at=at(3))
    store.record("setting", {"name": "tempo", "value": 1.2}, at=at(3, 10))
    store.record("setting", {"name": "speech_rate", "value": 0.7}, at=at(4))
    assert reader(store).settings() == {"speech_rate": 0.7, "tempo": 1.2}


# ---------------------------------------------------------------- progress
def test_sessions_this_week_and_streak(store: HistoryStore) -> None:
    # The week before: Thursday 27 February and Sunday 2 March.
    for t in (at(3) - 4 * DAY, at(3) - 1 * DAY):  # Thursday and Sunday before
        session(store, t)
    for day in (3, 4, 5, 6):  # Mon..Thu this week
        session(store, at(day))
    session(store, at(6, 19))  # twice on Thursday
    # A session where nothing was done (stopped by the screener) is not counted.
    session(store, at(7), exercises=(), how="screener", before=None, after=None)
    r = reader(store)
    p = r.progress(at(7, 12))  # Friday noon
    assert p.sessions_this_week == 5
    assert p.streak_days == 5  # Sun, Mon, Tue, Wed, Thu; today (Fri) not yet: still alive
    assert p.sessions_last_7_days == 6  # since Fri 28 Feb noon: Sun + Mon..Thu (5)
    assert r.progress(at(8, 12)).streak_days == 0  # Saturday: Friday was missed
    assert r.progress(at(10, 12)).sessions_this_week == 0  # a new week


def test_streak_counts_today(store: HistoryStore) -> None:
    session(store, at(4))
    session(store, at(5, 7))
    assert reader(store).progress(at(5, 20)).streak_days == 2


def test_streak_breaks_on_a_missed_day(store: HistoryStore) -> None:
    for day in (3, 4, 6, 7):
        session(store, at(day))
    assert reader(store).progress(at(7, 20)).streak_days == 2


def test_pain_trend(store: HistoryStore) -> None:
    r = reader(store)
    assert r.progress(at(3)).pain.sessions == 0
    assert r.progress(at(3)).pain.direction is None
    for i, (before, after) in enumerate([(7, 5), (6, 5), (6, 4), (5, 4), (4, 3), (4, None)]):
        session(store, at(3 + 2 * i), before=before, after=after)
    pain = r.progress(at(14, 12)).pain
    assert pain.sessions == 6
    assert pain.average_change == pytest.approx((-2 - 1 - 2 - 1 - 1) / 5)
    assert (pain.before_first, pain.before_last) == (7, 4)
    assert pain.before_slope_per_week == pytest.approx(-2.0, abs=0.3)
    assert pain.direction == "better"


def test_pain_trend_worse_and_steady(store: HistoryStore) -> None:
    for i, before in enumerate([3, 3, 4, 5, 6]):
        session(store, at(3 + i), before=before, after=None)
    assert reader(store).progress(at(8)).pain.direction == "worse"
    for i in range(5):
        session(store, at(10 + i), before=5, after=5)
    # Only the window's sessions count: look from far enough ahead that the first five are out.
    pain = reader(store).pain_trend(at(15), window_days=6)
    assert pain.sessions == 5 and pain.direction == "steady" and pain.average_change == 0


def test_progression_towards_the_target(store: HistoryStore) -> None:
    rules = {"bridge march": Progression(step=4, target=30),
             "knee to chest": Progression(step=5, target=30, measure="hold_seconds")}
    session(store, at(3), exercises=[("bridge march", "done", 20, 3, 0), ("knee to chest", "done", 0, 2, 15)])
    ex = {e.exercise: e for e in reader(store).progress(at(4), rules).exercises}
    assert (ex["bridge march"].last_value, ex["bridge march"].next_target) == (20, 24)
    assert (ex["knee to chest"].last_value, ex["knee to chest"].next_target) == (15, 20)
    assert ex["knee to chest"].measure == "hold_seconds"

    session(store, at(4), exercises=[("bridge march", "done", 28, 3, 0)])
    ex = {e.exercise: e for e in reader(store).progress(at(5), rules).exercises}
    assert ex["bridge march"].next_target == 30  # capped at the seed's 30

    session(store, at(5), exercises=[("bridge march", "done", 30, 3, 0)])
    assert reader(store).progress(at(6), rules).exercises[0].next_target == 30

    # Skipped: ignored. Stopped for pain: no increase, aim for the last completed amount.
    session(store, at(6), exercises=[("bridge march", "skipped", 0, 0, 0)])
    session(store, at(7), exercises=[("bridge march", "stopped_for_pain", 12, 1, 0)])
    e = reader(store).progress(at(8), rules).exercises[0]
    assert (e.last_status, e.last_value, e.next_target, e.held_for_pain) == ("stopped_for_pain", 12, 30, True)


def test_progression_without_rules_or_completion(store: HistoryStore) -> None:
    session(store, at(3), exercises=[("cat cow", "done", 10, 2, 0),
                                     ("bridge march", "stopped_for_pain", 6, 1, 0)])
    ex = {e.exercise: e for e in reader(store).progress(at(4), {"bridge march": {"step": 4, "target": 30}}).exercises}
    assert ex["cat cow"].next_target is None and ex["cat cow"].target is None  # no rule known
    assert ex["bridge march"].next_target is None  # never completed: the routine's own start
