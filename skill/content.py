"""Exercise and routine content: loads `dialogs/<locale>/exercises/*.toml` and `routines.toml`.

Everything is checked at start-up so a typo in a data file stops the assistant with a
message naming the file and the field, instead of surfacing mid-session on the floor.
The format is specified in `dialogs/README.md`.
"""
from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS = ("reps", "hold")
SIDES = ("none", "each", "alternating")
POSITIONS = (
    "lying_on_back",
    "lying_on_side",
    "lying_face_down",
    "hands_and_knees",
    "kneeling",
    "standing",
    "seated",
    "plank",
)
_ID = re.compile(r"[a-z_]+")
# Aliases are phrases a person says to pick a routine: lower case words, no punctuation.
_ALIAS = re.compile(r"[a-z]+( [a-z]+)*")


class ContentError(ValueError):
    """A content file is unreadable or breaks the format; names the file and the field."""

    def __init__(self, path: Path, field: str, message: str) -> None:
        self.path = Path(path)
        self.field = field
        self.message = message
        super().__init__(f"{self.path}: field '{field}': {message}")


@dataclass(frozen=True)
class Progression:
    """How to work up over sessions: add `step` reps per set until `target_reps`."""

    target_reps: int
    step: int


@dataclass(frozen=True)
class Exercise:
    """One exercise file.

    For kind "reps", `reps` is the count per set (per side when sides = "each"; with
    sides = "alternating" every counted rep is one side, so 10 reps = 5 per side) and
    `hold_seconds` is unused (0). For kind "hold", `hold_seconds` is the hold per set
    (per side when sides = "each"); `reps` and `tempo_seconds` are unused (0).
    """

    id: str
    name: str
    sequence: int
    routines: tuple[str, ...]
    setup: str
    steps: tuple[str, ...]
    kind: str
    reps: int
    hold_seconds: int
    sets: int
    sides: str
    rest_seconds: int
    tempo_seconds: float
    rep_cues: tuple[str, ...]
    breathing: str
    cautions: tuple[str, ...]
    positions: tuple[str, ...]
    pregnancy_safe: bool
    progression: Progression | None
    source: str
    path: Path


@dataclass(frozen=True)
class Routine:
    id: str
    name: str
    aliases: tuple[str, ...]
    description: str
    default: bool
    pregnancy_safe: bool
    exercise_ids: tuple[str, ...]  # ordered by exercise.sequence, then id
    gentle: bool = False  # offered when the screener says "see a clinician, gentle exercise only"


@dataclass(frozen=True)
class Content:
    exercises: dict[str, Exercise]
    routines: dict[str, Routine]

    def routine(self, routine_id: str) -> Routine:
        try:
            return self.routines[routine_id]
        except KeyError:
            raise KeyError(f"no routine {routine_id!r}; known: {', '.join(sorted(self.routines))}") from None

    def exercises_of(self, routine_id: str) -> list[Exercise]:
        return [self.exercises[eid] for eid in self.routine(routine_id).exercise_ids]

    @property
    def default_routine(self) -> Routine:
        return next(r for r in self.routines.values() if r.default)


# ---------------------------------------------------------------- typed field access
_MISSING = object()


class _Fields:
    """Typed, named access to one TOML table; every failure is a ContentError."""

    def __init__(self, path: Path, data: dict[str, Any], prefix: str = "") -> None:
        self.path = path
        self.data = data
        self.prefix = prefix

    def error(self, name: str, message: str) -> ContentError:
        return ContentError(self.path, self.prefix + name, message)

    def only(self, allowed: tuple[str, ...]) -> None:
        for key in self.data:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise self.error(key, f"unknown field{hint}; allowed: {', '.join(allowed)}")

    def _get(self, name: str, default: Any) -> Any:
        if name in self.data:
            return self.data[name]
        if default is _MISSING:
            raise self.error(name, "missing")
        return default

    def text(self, name: str) -> str:
        value = self._get(name, _MISSING)
        if not isinstance(value, str):
            raise self.error(name, f"must be a string, not {_type_name(value)}")
        if not value.strip():
            raise self.error(name, "must not be empty")
        return value.strip()

    def integer(self, name: str, minimum: int, default: Any = _MISSING) -> int:
        value = self._get(name, default)
        # bool is a subclass of int in Python; `reps = true` is a mistake, not 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"must be a whole number, not {_type_name(value)}")
        if value < minimum:
            raise self.error(name, f"must be at least {minimum}, got {value}")
        return value

    def number(self, name: str, default: Any = _MISSING) -> float:
        value = self._get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(name, f"must be a number, not {_type_name(value)}")
        return float(value)

    def boolean(self, name: str) -> bool:
        value = self._get(name, _MISSING)
        if not isinstance(value, bool):
            raise self.error(name, f"must be true or false, not {_type_name(value)}")
        return value

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self._get(name, _MISSING)
        if value not in allowed or not isinstance(value, str):
            raise self.error(name, f"must be one of {', '.join(map(repr, allowed))}, got {value!r}")
        return value

    def texts(self, name: str, allow_empty: bool = False, default: Any = _MISSING) -> tuple[str, ...]:
        value = self._get(name, default)
        if not isinstance(value, list):
            raise self.error(name, f"must be a list of strings, not {_type_name(value)}")
        if not value and not allow_empty:
            raise self.error(name, "must not be an empty list")
        items = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(name, f"item {i + 1} must be a string, not {_type_name(item)}")
            if not item.strip():
                raise self.error(name, f"item {i + 1} must not be empty")
            items.append(item.strip())
        duplicates = sorted({x for x in items if items.count(x) > 1})
        if duplicates:
            raise self.error(name, f"lists {duplicates[0]!r} more than once")
        return tuple(items)

    def table(self, name: str) -> dict[str, Any] | None:
        value = self._get(name, None)
        if value is not None and not isinstance(value, dict):
            raise self.error(name, f"must be a table like {{ target_reps = 30, step = 4 }}, not {_type_name(value)}")
        return value


def _type_name(value: Any) -> str:
    return {bool: "true/false", int: "a whole number", float: "a decimal number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ContentError(path, "<toml>", f"cannot read the file ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ContentError(path, "<toml>", f"not UTF-8 ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ContentError(path, "<toml>", f"invalid TOML ({exc})") from None


# ---------------------------------------------------------------- exercises
EXERCISE_FIELDS = (
    "id", "name", "sequence", "routines", "setup", "steps", "kind", "reps", "hold_seconds",
    "sets", "sides", "rest_seconds", "tempo_seconds", "rep_cues", "breathing", "cautions",
    "positions", "pregnancy_safe", "progression", "source",
)


def load_exercise(path: Path) -> Exercise:
    """One exercise file, checked on its own (routine ids are checked by load_content)."""
    f = _Fields(path, _read_toml(path))
    f.only(EXERCISE_FIELDS)

    exercise_id = f.text("id")
    if not _ID.fullmatch(exercise_id):
        raise f.error("id", f"{exercise_id!r} must be lower-case letters and underscores only")
    if exercise_id != path.stem:
        raise f.error("id", f"{exercise_id!r} must equal the file name without .toml ({path.stem!r})")

    kind = f.choice("kind", KINDS)
    if kind == "reps":
        reps = f.integer("reps", minimum=1)
        hold_seconds = f.integer("hold_seconds", minimum=0, default=0)
        tempo = f.number("tempo_seconds")
        if tempo <= 0:
            raise f.error("tempo_seconds", f"must be more than 0, got {tempo:g}")
    else:
        hold_seconds = f.integer("hold_seconds", minimum=1)
        reps = f.integer("reps", minimum=0, default=0)
        tempo = f.number("tempo_seconds", default=0.0)
        if tempo < 0:
            raise f.error("tempo_seconds", f"must not be negative, got {tempo:g}")

    positions = f.texts("positions")
    for position in positions:
        if position not in POSITIONS:
            raise f.error("positions", f"unknown position {position!r}; allowed: {', '.join(POSITIONS)}")

    routines = f.texts("routines")
    for routine_id in routines:
        if not _ID.fullmatch(routine_id):
            raise f.error("routines", f"{routine_id!r} is not a routine id (lower-case letters and underscores)")

    progression = None
    raw_progression = f.table("progression")
    if raw_progression is not None:
        if kind != "reps":
            raise f.error("progression", "only exercises of kind 'reps' can have a progression")
        p = _Fields(path, raw_progression, prefix="progression.")
        p.only(("target_reps", "step"))
        progression = Progression(p.integer("target_reps", minimum=1), p.integer("step", minimum=1))
        if progression.target_reps <= reps:
            raise p.error("target_reps", f"must be more than reps ({reps}), got {progression.target_reps}")

    return Exercise(
        id=exercise_id,
        name=f.text("name"),
        sequence=f.integer("sequence", minimum=0),
        routines=routines,
        setup=f.text("setup"),
        steps=f.texts("steps"),
        kind=kind,
        reps=reps,
        hold_seconds=hold_seconds,
        sets=f.integer("sets", minimum=1),
        sides=f.choice("sides", SIDES),
        rest_seconds=f.integer("rest_seconds", minimum=0),
        tempo_seconds=tempo,
        rep_cues=f.texts("rep_cues", allow_empty=True, default=[]),
        breathing=f.text("breathing"),
        cautions=f.texts("cautions", allow_empty=True),
        positions=positions,
        pregnancy_safe=f.boolean("pregnancy_safe"),
        progression=progression,
        source=f.text("source"),
        path=path,
    )


# ---------------------------------------------------------------- routines
ROUTINE_FIELDS = ("id", "name", "aliases", "description", "default", "pregnancy_safe", "gentle")


def _load_routine_headers(path: Path) -> list[tuple[Routine, str]]:
    """Routines as written in routines.toml (no exercises yet), each with its field prefix."""
    top = _Fields(path, _read_toml(path))
    top.only(("routine",))
    tables = top._get("routine", _MISSING)
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise top.error("routine", "must be a list of [[routine]] tables")
    if not tables:
        raise top.error("routine", "needs at least one [[routine]]")

    routines: list[tuple[Routine, str]] = []
    alias_owner: dict[str, str] = {}
    for index, table in enumerate(tables):
        f = _Fields(path, table, prefix=f"routine[{index}].")
        f.only(ROUTINE_FIELDS)
        routine_id = f.text("id")
        if not _ID.fullmatch(routine_id):
            raise f.error("id", f"{routine_id!r} must be lower-case letters and underscores only")
        if any(r.id == routine_id for r, _ in routines):
            raise f.error("id", f"routine {routine_id!r} is defined twice")
        aliases = f.texts("aliases")
        for alias in aliases:
            if not _ALIAS.fullmatch(alias):
                raise f.error("aliases", f"{alias!r} must be lower-case words with single spaces, no punctuation")
            if alias in alias_owner:
                raise f.error("aliases", f"{alias!r} is also an alias of routine {alias_owner[alias]!r}")
            alias_owner[alias] = routine_id
        routine = Routine(
            id=routine_id,
            name=f.text("name"),
            aliases=aliases,
            description=f.text("description"),
            default=f.boolean("default"),
            pregnancy_safe=f.boolean("pregnancy_safe"),
            exercise_ids=(),
            gentle=f.boolean("gentle") if "gentle" in table else False,
        )
        routines.append((routine, f.prefix))

    defaults = [r.id for r, _ in routines if r.default]
    if len(defaults) != 1:
        found = ", ".join(defaults) if defaults else "none"
        raise ContentError(path, "default", f"exactly one routine must have default = true, found {found}")
    return routines


# ---------------------------------------------------------------- the whole locale
def load_content(locale_dir: Path) -> Content:
    """Load and cross-check every exercise and routine of one locale folder (dialogs/en-us)."""
    locale_dir = Path(locale_dir)
    routines_path = locale_dir / "routines.toml"
    exercise_dir = locale_dir / "exercises"

    headers = _load_routine_headers(routines_path)
    known_routines = {r.id for r, _ in headers}

    if not exercise_dir.is_dir():
        raise ContentError(exercise_dir, "<files>", "exercise folder not found")
    exercise_paths = sorted(exercise_dir.glob("*.toml"))
    if not exercise_paths:
        raise ContentError(exercise_dir, "<files>", "no exercise files (*.toml)")

    exercises: dict[str, Exercise] = {}
    for path in exercise_paths:
        exercise = load_exercise(path)
        for routine_id in exercise.routines:
            if routine_id not in known_routines:
                raise ContentError(
                    path, "routines",
                    f"unknown routine {routine_id!r}; routines.toml has {', '.join(sorted(known_routines))}",
                )
        exercises[exercise.id] = exercise

    routines: dict[str, Routine] = {}
    for header, prefix in headers:
        members = sorted(
            (e for e in exercises.values() if header.id in e.routines),
            key=lambda e: (e.sequence, e.id),
        )
        if not members:
            raise ContentError(
                routines_path, prefix + "id",
                f"routine {header.id!r} has no exercises (no exercise file lists it in its routines)",
            )
        if header.pregnancy_safe:
            for exercise in members:
                if not exercise.pregnancy_safe:
                    raise ContentError(
                        exercise.path, "pregnancy_safe",
                        f"is false, but the exercise is in the pregnancy-safe routine {header.id!r} "
                        "(remove that routine from its routines)",
                    )
        routines[header.id] = Routine(
            id=header.id,
            name=header.name,
            aliases=header.aliases,
            description=header.description,
            default=header.default,
            pregnancy_safe=header.pregnancy_safe,
            exercise_ids=tuple(e.id for e in members),
            gentle=header.gentle,
        )
    return Content(exercises=exercises, routines=routines)
