"""skill/bench/accuracy.py: the best threshold at a false-accept limit and the per-voice
table (pure bookkeeping over decoded records; the real matcher, no audio); and the evaluation
set's noise mixing (skill/bench/evalset.py, on synthetic arrays)."""
from __future__ import annotations

from pathlib import Path

import pytest

from skill.bench.accuracy import best_at_false_accepts, by_voice, score
from skill.bench.evalset import Item


@pytest.fixture(scope="module")
def matcher():
    from skill.cli import DEFAULT_LOCALE_DIR, load_assets
    return load_assets(DEFAULT_LOCALE_DIR).matcher


def _item(iid: str, kind: str, intent: str, voice: str = "en-us") -> Item:
    return Item(iid, kind, "yes_no" if kind == "command" else "*", "", intent, None, voice, 140,
                "clean", None, "x.wav")


def test_best_threshold_keeps_the_most_commands_within_the_false_accept_limits(matcher):
    items = {"c1": _item("c1", "command", "yes"), "c2": _item("c2", "command", "yes", "en-gb"),
             "c3": _item("c3", "command", "no"), "o1": _item("o1", "ood", "none")}
    records = [{"id": "c1", "context": "yes_no", "text": "yes", "confidence": 0.9},
               {"id": "c2", "context": "yes_no", "text": "yes", "confidence": 0.4},
               {"id": "c3", "context": "yes_no", "text": "yes", "confidence": 0.7},   # wrong
               {"id": "o1", "context": "yes_no", "text": "no", "confidence": 0.6}]    # false accept
    best = best_at_false_accepts(records, matcher, items, max_fa=0.0, max_fa_yes_no=0.0)
    # the false accept at 0.6 must go: just above it, c1 and the wrong c3 stay
    assert 0.6 < best["threshold"] <= 0.61
    assert best["commands/all/all:correct"] == pytest.approx(1 / 3, abs=1e-3)
    assert best["commands/all/all:wrong"] == pytest.approx(1 / 3, abs=1e-3)
    assert best["ood/yes_no:false_accept"] == 0.0
    loose = best_at_false_accepts(records, matcher, items, max_fa=1.0, max_fa_yes_no=1.0)
    assert loose["threshold"] == 0.0 and loose["commands/all/all:correct"] == pytest.approx(2 / 3, abs=1e-3)
    voices = by_voice(score(records, best["threshold"], matcher, items), items)
    assert voices["en-gb"]["rejected"] == 1.0 and voices["en-us"]["total"] == 2


def test_out_of_domain_sentences_are_scored_only_where_they_are_no_phrase(matcher):
    # "i don't know" became a phrase of yes_no (intent unsure): heard as such it is right there,
    # so it is scored out-of-domain only in the other contexts
    from skill.bench.accuracy import tasks_for
    from skill.bench.evalset import EvalSet
    ood = [Item(f"o{i}", "ood", "*", text, "none", None, "en-us", 140, "clean", None, "x.wav")
           for i, text in enumerate(("i don't know", "the bus was late"))]
    evalset = EvalSet(Path("."), ood)
    contexts = ["yes_no", "coach"]
    pairs = {(c, it.text) for c, it in tasks_for(evalset, contexts, matcher)}
    assert pairs == {("coach", "i don't know"), ("yes_no", "the bus was late"), ("coach", "the bus was late")}
    assert len(tasks_for(evalset, contexts)) == 4     # without a matcher: every context


def test_noise_is_mixed_at_the_asked_snr_whatever_its_sample_type():
    # Noise read straight from a WAV is int16, and its squares overflow int16: the noise then
    # came out about 40 dB too loud (a session-10 probe mixed "10 dB" clips at -30 dB).
    import numpy as np
    from skill.bench.evalset import mix_at_snr
    t = np.arange(2 * 16000) / 16000
    clean = np.r_[np.zeros(4800), 8000 * np.sin(2 * np.pi * 300 * t), np.zeros(4800)].astype(np.int16)
    noise = (3000 * np.random.default_rng(3).normal(size=60000)).astype(np.int16)
    for n in (noise, noise.astype(np.float64)):
        _, measured = mix_at_snr(clean, n, 10.0, 123)
        assert abs(measured - 10.0) < 0.5, (n.dtype, measured)
