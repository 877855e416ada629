"""Spoken prompts from .dialog files: alternative phrasings, no immediate repeats, clear errors."""
from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

import pytest

from skill.cli import DEFAULT_LOCALE_DIR, load_assets
from skill.coach import PROMPTS_USED, CoachSession
from skill.content import load_content
from skill.prompts import PromptError, Prompts, read_dialog_file

REPO = Path(__file__).resolve().parents[1]
PROMPT_DIR = REPO / "dialogs" / "en-us" / "prompts"


@pytest.fixture(scope="module")
def real() -> Prompts:
    return Prompts.load(PROMPT_DIR, rng=random.Random(3))


def _write(tmp_path: Path, name: str, text: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{name}.dialog"
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- the real prompts
def test_every_prompt_the_session_uses_has_a_file(real: Prompts) -> None:
    real.require(PROMPTS_USED)
    assert set(PROMPTS_USED) <= set(real.ids())


def test_most_prompts_have_alternative_phrasings() -> None:
    files = [read_dialog_file(p) for p in sorted(PROMPT_DIR.glob("*.dialog"))]
    multi = [f for f in files if len(f.lines) >= 2]
    assert len(multi) >= len(files) * 0.8


@pytest.mark.parametrize("seed", range(5))
def test_no_immediate_repeats_over_many_draws(seed: int) -> None:
    prompts = Prompts.load(PROMPT_DIR, rng=random.Random(seed))
    for prompt_id in prompts.ids():
        pf = read_dialog_file(PROMPT_DIR / f"{prompt_id}.dialog")
        slots = {name: "X" for name in pf.slots}
        draws = [prompts.text(prompt_id, **slots) for _ in range(60)]
        if len(set(pf.lines)) >= 2:
            assert all(a != b for a, b in zip(draws, draws[1:])), prompt_id
            assert len(set(draws)) == len(set(pf.lines)), f"{prompt_id}: some phrasings never used"


def test_repeats_are_tracked_per_prompt(tmp_path: Path) -> None:
    _write(tmp_path, "a", "A one\nA two\n")
    _write(tmp_path, "b", "B one\nB two\nB three\n")
    prompts = Prompts.load(tmp_path, rng=random.Random(0))
    last = {"a": None, "b": None}
    for i in range(300):
        pid = "ab"[i % 3 == 0]
        text = prompts.text(pid)
        assert text != last[pid]
        last[pid] = text


def test_a_single_phrasing_is_allowed_to_repeat(tmp_path: Path) -> None:
    _write(tmp_path, "only", "# the one way to say it\nJust this.\n")
    prompts = Prompts.load(tmp_path, rng=random.Random(0))
    assert [prompts.text("only") for _ in range(3)] == ["Just this."] * 3


def test_slots_are_filled_and_say_carries_the_prompt_id(tmp_path: Path) -> None:
    _write(tmp_path, "rest", "Rest for {rest}. Next: {name}.\nTake {rest}, then {name}.\n")
    prompts = Prompts.load(tmp_path, rng=random.Random(0))
    say = prompts.say("rest", rest="10 seconds", name="bridge")
    assert say.prompt == "rest"
    assert say.text in ("Rest for 10 seconds. Next: bridge.", "Take 10 seconds, then bridge.")


def test_the_same_seed_gives_the_same_choices() -> None:
    a = Prompts.load(PROMPT_DIR, rng=random.Random(42))
    b = Prompts.load(PROMPT_DIR, rng=random.Random(42))
    assert [a.text("paused") for _ in range(10)] == [b.text("paused") for _ in range(10)]


# ---------------------------------------------------------------- broken files
def test_placeholders_must_be_the_same_on_every_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "rest", "Rest for {rest}.\nRest for {seconds}.\n")
    with pytest.raises(PromptError) as err:
        read_dialog_file(path)
    assert str(path) in str(err.value)
    assert "same placeholders" in str(err.value)
    with pytest.raises(PromptError):
        Prompts.load(tmp_path)


def test_a_missing_placeholder_on_one_line_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "count", "{count}.\nAnd that's it.\n")
    with pytest.raises(PromptError, match="same placeholders"):
        read_dialog_file(path)


def test_a_malformed_placeholder_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad", "Rest for {rest.\n")
    with pytest.raises(PromptError) as err:
        read_dialog_file(path)
    assert str(path) in str(err.value) and "placeholder" in str(err.value)


def test_an_empty_dialog_file_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "empty", "# nothing but a comment\n\n   \n")
    with pytest.raises(PromptError, match="has no phrasing") as err:
        read_dialog_file(path)
    assert str(path) in str(err.value)


def test_an_unreadable_dialog_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.dialog"
    path.write_bytes("Caf\xe9 time.\n".encode("latin-1"))
    with pytest.raises(PromptError, match="cannot read"):
        read_dialog_file(path)


def test_a_slot_not_given_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "rest", "Rest for {rest}.\n")
    prompts = Prompts.load(tmp_path)
    with pytest.raises(PromptError) as err:
        prompts.text("rest")
    assert str(path) in str(err.value) and "rest" in str(err.value)


def test_a_missing_prompt_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "hello", "Hello.\n")
    prompts = Prompts.load(tmp_path)
    with pytest.raises(PromptError, match=r"no prompt goodbye\.dialog"):
        prompts.text("goodbye")
    with pytest.raises(PromptError, match=r"missing \.dialog files: bye\.dialog, goodbye\.dialog"):
        prompts.require(["hello", "goodbye", "bye"])


def test_a_missing_prompt_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="prompt folder not found"):
        Prompts.load(tmp_path / "nope")


def test_the_session_refuses_to_start_without_a_prompt_it_uses(tmp_path: Path) -> None:
    shutil.copytree(PROMPT_DIR, tmp_path / "prompts")
    (tmp_path / "prompts" / "paused.dialog").unlink()
    prompts = Prompts.load(tmp_path / "prompts")
    content = load_content(REPO / "dialogs" / "en-us")
    with pytest.raises(PromptError, match=r"paused\.dialog"):
        CoachSession(content, prompts, {})


def test_what_a_prompt_tells_the_person_to_say_is_a_phrase_it_understands(real: Prompts) -> None:
    # A quoted span in a prompt is what the person is told to say: a suggestion the grammar does
    # not hold invites an answer that can only be rejected. The example answers to a yes/no
    # question ("no, I don't") must be that answer in the yes_no context: the screener suggests
    # them because a few words are heard far better than a bare "no" (BENCHMARKS.md section 1,
    # session 11).
    matcher = load_assets(DEFAULT_LOCALE_DIR).matcher
    said = [(p.stem, q) for p in sorted(PROMPT_DIR.glob("*.dialog"))
            for line in read_dialog_file(p).lines for q in re.findall(r'"([^"]+)"', line)]
    assert len(said) >= 20, said
    unknown = [(stem, q) for stem, q in said
               if all(matcher.match(q, c).intent == "none" for c in matcher.contexts())]
    assert not unknown, unknown
    answers = [(stem, q, q.split(",")[0].lower()) for stem, q in said if q.lower().startswith(("yes,", "no,"))]
    assert len(answers) >= 8, answers
    wrong = [(stem, q) for stem, q, want in answers if matcher.match(q, "yes_no").intent != want]
    assert not wrong, wrong
