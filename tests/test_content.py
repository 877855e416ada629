"""Exercise/routine content: the real files load and make sense; every broken file is caught."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from skill.content import POSITIONS, Content, ContentError, Exercise, load_content

REPO = Path(__file__).resolve().parents[1]
LOCALE = REPO / "dialogs" / "en-us"
SEED = REPO.parent / "shared" / "seeds" / "000_846d9b8ede3280ce.txt"

REQUIRED_ROUTINES = {
    "back_relief": "back pain relief",
    "hip_mobility": "hip mobility",
    "glute_strength": "glute strength",
    "gentle_pregnancy": "gentle pregnancy-safe",
}
REQUIRED_EXERCISES = {
    "bridge_march", "mini_band_walk", "mini_band_side_walk", "side_lying_band_leg_lift",
    "fire_hydrant", "plank_leg_tap", "hip_opener", "pigeon_stretch", "thread_the_needle",
    "hip_flexor_stretch", "pelvic_tilt", "seated_figure_four", "chair_sit_to_stand",
}
NOT_PREGNANCY_SAFE_POSITIONS = {"lying_on_back", "lying_face_down", "plank"}


@pytest.fixture(scope="module")
def content() -> Content:
    return load_content(LOCALE)


# ---------------------------------------------------------------- the real content
def test_real_content_has_the_required_exercises_and_routines(content: Content) -> None:
    assert len(content.exercises) >= 12
    assert REQUIRED_EXERCISES <= set(content.exercises)
    assert len(content.routines) >= 3
    for routine_id, name in REQUIRED_ROUTINES.items():
        assert content.routine(routine_id).name == name
    assert content.default_routine.id == "back_relief"
    assert content.routine("gentle_pregnancy").pregnancy_safe


def test_every_routine_has_four_to_six_exercises_in_sequence_order(content: Content) -> None:
    for routine in content.routines.values():
        exercises = content.exercises_of(routine.id)
        assert 4 <= len(exercises) <= 6, routine.id
        assert all(isinstance(e, Exercise) for e in exercises)
        keys = [(e.sequence, e.id) for e in exercises]
        assert keys == sorted(keys), routine.id
        assert all(routine.id in e.routines for e in exercises)


def test_unknown_routine_is_a_key_error(content: Content) -> None:
    with pytest.raises(KeyError):
        content.routine("no_such_routine")


def test_pregnancy_safety_follows_the_positions(content: Content) -> None:
    for exercise in content.exercises.values():
        if NOT_PREGNANCY_SAFE_POSITIONS & set(exercise.positions):
            assert not exercise.pregnancy_safe, exercise.id
    assert all(e.pregnancy_safe for e in content.exercises_of("gentle_pregnancy"))


def test_chair_routine_never_goes_down_to_the_floor(content: Content) -> None:
    if "chair" not in content.routines:
        pytest.skip("no chair routine")
    for exercise in content.exercises_of("chair"):
        assert set(exercise.positions) <= {"seated", "standing"}, exercise.id


def test_dosing_is_realistic(content: Content) -> None:
    for e in content.exercises.values():
        assert 1 <= e.sets <= 3, e.id
        assert 15 <= e.rest_seconds <= 30, e.id
        assert set(e.positions) <= set(POSITIONS)
        if e.kind == "reps":
            assert 8 <= e.reps <= 12, e.id
            assert 2 <= e.tempo_seconds <= 4, e.id
        else:
            assert 20 <= e.hold_seconds <= 30, e.id
            assert e.progression is None


def test_bridge_march_works_up_to_thirty_alternating_steps(content: Content) -> None:
    march = content.exercises["bridge_march"]
    assert march.kind == "reps" and march.sides == "alternating"
    assert march.progression is not None and march.progression.target_reps == 30
    assert "lying_on_back" in march.positions and not march.pregnancy_safe


def test_spoken_text_is_short(content: Content) -> None:
    for e in content.exercises.values():
        for cue in e.steps:
            assert len(cue) <= 100, (e.id, cue)
            assert len(re.findall(r"[.!?]", cue)) <= 2, (e.id, cue)
        for cue in e.rep_cues:
            assert len(cue.split()) <= 4, (e.id, cue)
    for r in content.routines.values():
        assert len(r.description) <= 90 and r.description.count(".") <= 1, r.id
        assert all(a == a.lower() for a in r.aliases)


@pytest.mark.skipif(not SEED.is_file(), reason="seed text not present")
def test_sources_cite_lines_that_exist_in_the_seed(content: Content) -> None:
    seed_lines = SEED.read_text(encoding="utf-8").splitlines()
    for e in content.exercises.values():
        assert SEED.name in e.source, e.id
        cited = [int(n) for n in re.findall(r"\d+", e.source.split(SEED.name, 1)[1].split("(")[0])]
        assert cited, e.id
        for n in cited:
            assert 1 <= n <= len(seed_lines) and seed_lines[n - 1].strip(), (e.id, n)


# ---------------------------------------------------------------- broken files
@pytest.fixture
def locale(tmp_path: Path) -> Path:
    copy = tmp_path / "en-us"
    shutil.copytree(LOCALE, copy, ignore=shutil.ignore_patterns("prompts", "vocab", "*.voc", "*.dialog"))
    return copy


def test_the_unbroken_copy_loads(locale: Path) -> None:
    assert load_content(locale).exercises.keys() == load_content(LOCALE).exercises.keys()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in {path.name}; the content changed, update the test"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _edit_re(path: Path, pattern: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    edited, count = re.subn(pattern, new, text, count=1, flags=re.MULTILINE | re.DOTALL)
    assert count == 1, f"test setup: {pattern!r} not in {path.name}"
    path.write_text(edited, encoding="utf-8")


EX = "exercises/bridge_march.toml"  # a reps exercise, lying on the back, in back_relief + glute_strength
HOLD = "exercises/pigeon_stretch.toml"
RT = "routines.toml"
STEPS_BLOCK = r"^steps = \[.*?^\]"

# (case id, file that gets broken and must be named, edit, expected field)
BROKEN = [
    ("invalid_toml", EX, lambda p: _edit(p, 'name = "bridge march"', 'name = "bridge march'), "<toml>"),
    ("not_utf8", EX, lambda p: p.write_bytes(b'name = "\xff\xfe"\n'), "<toml>"),
    ("unreadable_routines", RT, lambda p: p.unlink(), "<toml>"),
    ("invalid_toml_routines", RT, lambda p: _edit(p, "[[routine]]", "[[routine]"), "<toml>"),
    ("missing_field", EX, lambda p: _edit_re(p, r"^breathing = .*?\n", ""), "breathing"),
    ("missing_reps_of_reps_kind", EX, lambda p: _edit(p, "reps = 10\n", ""), "reps"),
    ("missing_hold_of_hold_kind", HOLD, lambda p: _edit(p, "hold_seconds = 30\n", ""), "hold_seconds"),
    ("missing_routine_field", RT, lambda p: _edit(p, 'name = "hip mobility"\n', ""), "routine[1].name"),
    ("wrong_type_int_as_string", EX, lambda p: _edit(p, "sets = 2", 'sets = "2"'), "sets"),
    ("bool_is_not_int", EX, lambda p: _edit(p, "reps = 10", "reps = true"), "reps"),
    ("float_is_not_int", EX, lambda p: _edit(p, "rest_seconds = 30", "rest_seconds = 30.5"), "rest_seconds"),
    ("int_is_not_bool", EX, lambda p: _edit(p, "pregnancy_safe = false", "pregnancy_safe = 0"), "pregnancy_safe"),
    ("string_is_not_list", EX, lambda p: _edit(p, 'positions = ["lying_on_back"]', 'positions = "lying_on_back"'), "positions"),
    ("bool_is_not_tempo", EX, lambda p: _edit(p, "tempo_seconds = 2.0", "tempo_seconds = true"), "tempo_seconds"),
    ("routine_default_not_bool", RT, lambda p: _edit(p, "default = true", 'default = "yes"'), "routine[0].default"),
    ("unknown_field", EX, lambda p: _edit(p, "sets = 2\n", "sets = 2\nrep = 10\n"), "rep"),
    ("unknown_routine_field", RT, lambda p: _edit(p, "default = true\n", "default = true\nalias = []\n"), "routine[0].alias"),
    ("unknown_top_level_table", RT, lambda p: p.write_text(p.read_text() + "\n[[routines]]\nid = \"x\"\n"), "routines"),
    ("id_not_file_stem", EX, lambda p: _edit(p, 'id = "bridge_march"', 'id = "bridge_marches"'), "id"),
    ("id_bad_characters", EX, lambda p: _edit(p, 'id = "bridge_march"', 'id = "Bridge-March"'), "id"),
    ("bad_kind", EX, lambda p: _edit(p, 'kind = "reps"', 'kind = "count"'), "kind"),
    ("bad_sides", EX, lambda p: _edit(p, 'sides = "alternating"', 'sides = "both"'), "sides"),
    ("reps_below_one", EX, lambda p: _edit(p, "reps = 10", "reps = 0"), "reps"),
    ("hold_below_one", HOLD, lambda p: _edit(p, "hold_seconds = 30", "hold_seconds = 0"), "hold_seconds"),
    ("sets_below_one", EX, lambda p: _edit(p, "sets = 2", "sets = 0"), "sets"),
    ("negative_rest", EX, lambda p: _edit(p, "rest_seconds = 30", "rest_seconds = -5"), "rest_seconds"),
    ("zero_tempo", EX, lambda p: _edit(p, "tempo_seconds = 2.0", "tempo_seconds = 0.0"), "tempo_seconds"),
    ("negative_tempo", EX, lambda p: _edit(p, "tempo_seconds = 2.0", "tempo_seconds = -1"), "tempo_seconds"),
    ("unknown_routine_in_exercise", EX,
     lambda p: _edit(p, '"glute_strength"]', '"glute_strenght"]'), "routines"),
    ("routine_without_exercises", RT,
     lambda p: p.write_text(p.read_text() + '\n[[routine]]\nid = "core"\nname = "core"\naliases = ["core"]\n'
                            'description = "core work"\ndefault = false\npregnancy_safe = false\n'),
     "routine[5].id"),
    ("no_default_routine", RT, lambda p: _edit(p, "default = true", "default = false"), "default"),
    ("two_default_routines", RT,
     lambda p: _edit(p, 'tight hips"\ndefault = false', 'tight hips"\ndefault = true'), "default"),
    ("unsafe_exercise_in_pregnancy_routine", EX,
     lambda p: _edit(p, '"glute_strength"]', '"glute_strength", "gentle_pregnancy"]'), "pregnancy_safe"),
    ("alias_shared_between_routines", RT, lambda p: _edit(p, '"chair", "with a chair"', '"chair", "back"'),
     "routine[4].aliases"),
    ("alias_with_punctuation", RT, lambda p: _edit(p, '"my back"', '"My back!"'), "routine[0].aliases"),
    ("duplicate_routine_id", RT, lambda p: _edit(p, 'id = "chair"', 'id = "hip_mobility"'), "routine[4].id"),
    ("empty_string", EX, lambda p: _edit_re(p, r'^setup = ".*?"$', 'setup = "   "'), "setup"),
    ("empty_routine_name", RT, lambda p: _edit(p, 'name = "glute strength"', 'name = ""'), "routine[2].name"),
    ("empty_list", EX, lambda p: _edit_re(p, STEPS_BLOCK, "steps = []"), "steps"),
    ("empty_aliases", RT, lambda p: _edit_re(p, r'^aliases = \["hips".*?\]$', "aliases = []"), "routine[1].aliases"),
    ("empty_item_in_list", EX, lambda p: _edit_re(p, STEPS_BLOCK, 'steps = ["Squeeze.", ""]'), "steps"),
    ("unknown_position", EX,
     lambda p: _edit(p, 'positions = ["lying_on_back"]', 'positions = ["lying_on_the_back"]'), "positions"),
    ("progression_unknown_key", EX, lambda p: _edit(p, "step = 4 }", "steps = 4 }"), "progression.steps"),
    ("progression_target_not_above_reps", EX, lambda p: _edit(p, "target_reps = 30", "target_reps = 10"),
     "progression.target_reps"),
    ("progression_on_a_hold", HOLD, lambda p: _edit(p, "rep_cues = []\n", "rep_cues = []\nprogression = { target_reps = 40, step = 5 }\n"),
     "progression"),
]


@pytest.mark.parametrize("relpath, breaks, field", [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_broken_file_names_the_file_and_the_field(locale: Path, relpath: str, breaks, field: str) -> None:
    path = locale / relpath
    breaks(path)
    with pytest.raises(ContentError) as caught:
        load_content(locale)
    error = caught.value
    assert error.path == path
    assert error.field == field
    assert str(error).startswith(f"{path}: field '{field}': ")
    assert error.message and str(error).endswith(error.message)


def test_unknown_field_suggests_the_known_one(locale: Path) -> None:
    _edit(locale / EX, "sets = 2\n", "sets = 2\nrep = 10\n")
    with pytest.raises(ContentError, match="did you mean 'reps'"):
        load_content(locale)


def test_content_error_is_a_value_error() -> None:
    error = ContentError(Path("x/y.toml"), "reps", "must be at least 1, got 0")
    assert isinstance(error, ValueError)
    assert str(error) == "x/y.toml: field 'reps': must be at least 1, got 0"
