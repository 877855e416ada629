"""skill.bench.breadth: the grammar variants it compares, its scoring, and one real run."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from skill.bench import breadth
from skill.cli import load_assets

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def matcher():
    return load_assets(REPO / "dialogs" / "en-us").matcher


def _meanings(matcher, context: str, phrases: list[str]) -> set[tuple]:
    return {(matcher.intent_of(p, context).intent, repr(matcher.intent_of(p, context).value)) for p in phrases}


@pytest.mark.parametrize("context", ["yes_no", "number", "coach", "menu"])
def test_narrower_variants_are_subsets_that_keep_every_meaning(matcher, context: str) -> None:
    full = breadth.VARIANTS["shipped"](matcher, context)
    assert full == matcher.phrases(context)
    every = _meanings(matcher, context, full)
    short2, short1 = breadth.VARIANTS["short2"](matcher, context), breadth.VARIANTS["short1"](matcher, context)
    assert set(short1) < set(short2) < set(full)
    assert _meanings(matcher, context, short1) == every      # one phrasing of every intent and value
    assert len(short1) == len(every)


def test_number_variants_only_change_the_number_context(matcher) -> None:
    for name in ("num_bare", "num_bare_outof", "num_bare_short2", "digits_only"):
        assert breadth.VARIANTS[name](matcher, "coach") == matcher.phrases("coach")
    bare = breadth.VARIANTS["num_bare"](matcher, "number")
    assert {"seven", "no pain", "pause"} <= set(bare) and "about five" not in bare
    assert "seven out of ten" in breadth.VARIANTS["num_bare_outof"](matcher, "number")
    digits = breadth.VARIANTS["digits_only"](matcher, "number")
    assert {matcher.intent_of(p, "number").intent for p in digits} == {"number"}
    assert {matcher.intent_of(p, "number").value for p in digits} == set(range(11))


def test_scoring_counts_decoded_right_correct_wrong_and_false_accepts(matcher) -> None:
    items = {
        "a": {"id": "a", "kind": "command", "context": "number", "text": "seven", "intent": "number",
              "value": 7, "noise": "clean"},
        "b": {"id": "b", "kind": "command", "context": "number", "text": "pause", "intent": "pause",
              "value": None, "noise": "clean"},
        "o": {"id": "o", "kind": "ood", "context": "*", "text": "hello there", "intent": "none",
              "value": None, "noise": "clean"},
    }
    records = [  # right but unsure (rejected); misheard with confidence (wrong); ood accepted
        {"variant": "v", "context": "number", "id": "a", "text": "seven", "confidence": 0.2, "cpu": 0.1},
        {"variant": "v", "context": "number", "id": "b", "text": "stop", "confidence": 0.9, "cpu": 0.3},
        {"variant": "v", "context": "number", "id": "o", "text": "nine", "confidence": 0.8, "cpu": 0.2},
    ]
    sizes = {"v": {"number": {"n": 2, "set": {"seven", "stop"}}}}
    rows = {(r["kind"], r["condition"]): r for r in breadth.score(records, items, matcher, 0.5, sizes)}
    cmd = rows[("command", "all")]
    assert (cmd["n"], cmd["in_grammar"], cmd["decoded_right"], cmd["correct"], cmd["wrong"]) == (2, 50.0, 50.0, 0.0, 50.0)
    assert cmd["cpu_per_decode"] == 0.2
    assert rows[("ood", "all")]["false_accept"] == 100.0
    thief = breadth.thieves(records, items, matcher, 0.5, variant="v")
    assert thief == [{"context": "number", "decoded": "stop", "times": 1, "said": ["pause"]}]


@pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None,
                    reason="espeak-ng and sox make the audio")
def test_a_real_run_decodes_through_the_product_recogniser(tmp_path: Path, capsys) -> None:
    from skill.bench.evalset import speak
    items = []
    for i, (text, value) in enumerate((("seven", 7), ("two", 2))):
        speak(text, "en-us", 140, tmp_path / f"{i}.wav")
        items.append({"id": f"c{i}", "kind": "command", "context": "number", "text": text,
                      "intent": "number", "value": value, "noise": "clean", "wav": f"{i}.wav"})
    (tmp_path / "manifest.json").write_text(json.dumps({"items": items}))
    out = tmp_path / "out"
    assert breadth.main(["--evalset", str(tmp_path), "--contexts", "number", "--variants",
                         "digits_only,shipped", "--conditions", "clean", "--fsdd-stride", "0",
                         "--jobs", "1", "--out", str(out)]) == 0
    result = json.loads((out / "breadth.json").read_text())
    assert {(r["variant"], r["id"]) for r in result["records"]} == {
        (v, i) for v in ("digits_only", "shipped") for i in ("c0", "c1")}
    assert result["sizes"]["digits_only"]["number"] == 13
    digits = next(r for r in result["rows"] if r["variant"] == "digits_only" and r["condition"] == "all")
    assert digits["decoded_right"] == 100.0      # two clear espeak digits in a 13-word grammar
    assert "digits_only" in capsys.readouterr().out


def test_a_missing_evaluation_set_is_a_message_not_a_traceback(tmp_path: Path, capsys) -> None:
    assert breadth.main(["--evalset", str(tmp_path / "nowhere")]) == 2
    assert "No evaluation set at" in capsys.readouterr().err
