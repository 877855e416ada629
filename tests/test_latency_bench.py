"""The turn-latency benchmark's driver: its analysis on made-up recordings, and a short real run.

The real run drives the real assistant (PocketSphinx, espeak-ng, PortAudio) through a private
PulseAudio daemon (skill/bench/stage.py) for three turns and checks the numbers are whole and
consistent; it does not assert speed (that is the benchmark's job, BENCHMARKS.md section 2).
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skill.bench import latency  # noqa: E402
from skill.bench.stage import REC_RATE  # noqa: E402


def _room(events: list[tuple[str, float, float]], seconds: float = 12.0) -> np.ndarray:
    """A stereo recording: ("user"|"coach", start, end) bursts over the user's faint hiss."""
    rng = np.random.default_rng(3)
    x = np.zeros((int(seconds * REC_RATE), 2))
    x[:, 0] = rng.normal(0, 30, x.shape[0])
    for who, a, b in events:
        i, j = int(a * REC_RATE), int(b * REC_RATE)
        t = np.arange(j - i) / REC_RATE
        x[i:j, 0 if who == "user" else 1] += 6000 * np.sin(2 * np.pi * 220 * t)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def test_turns_are_read_off_one_recording():
    audio = _room([("coach", 0.5, 2.0), ("user", 3.0, 3.8), ("coach", 4.15, 6.0),
                   ("user", 7.0, 7.3), ("user", 7.55, 8.0),     # one answer with a 0.25 s pause
                   ("coach", 8.42, 9.5)])
    turns = latency.turns_from_audio(audio)
    assert len(turns) == 2
    assert turns[0]["user_end"] == pytest.approx(3.8, abs=0.011)
    assert turns[0]["reply_onset"] - turns[0]["user_end"] == pytest.approx(0.35, abs=0.021)
    assert turns[1]["reply_onset"] - turns[1]["user_end"] == pytest.approx(0.42, abs=0.021)
    assert not any(t["coach_during_speech"] for t in turns)


def test_breakdown_leaves_the_rest_to_audio_io():
    audio = _room([("user", 1.0, 1.5), ("coach", 1.9, 3.0)])
    stamps = [{"speech_end": 10.0, "endpoint": 10.3, "finish_start": 10.3, "finish_end": 10.33,
               "say": 10.331, "synth_end": 10.35, "text": "no thank you", "say_text": "Next question."}]
    res = latency.analyse(audio, stamps, [{"text": "no thank you", "context": "yes_no"}])
    row, = res["rows"]
    assert row["total"] == pytest.approx(0.4, abs=0.021)
    assert row["endpointing"] == pytest.approx(0.3) and row["recognition"] == pytest.approx(0.03)
    assert row["audio_io"] == pytest.approx(row["total"] - 0.35, abs=1e-3)
    assert res["matched_one_to_one"] and res["summary"]["total"]["n"] == 1


def _early_tone_stamps(cue: float) -> list[dict]:
    return [{"speech_end": 10.0, "endpoint": 10.3, "cue_start": 10.305, "cue_end": 10.305 + cue,
             "finish_start": 10.31, "finish_end": 10.38, "say": 10.381, "synth_end": 10.395,
             "text": "no thank you", "say_text": "Next question."}]


@pytest.mark.parametrize("gap", [0.03, 0.0])
def test_first_word_is_read_off_the_recording_after_the_tone(gap):
    # tone 0.31 s after the answer, 0.09 s long; the words `gap` after it (none: contiguous)
    audio = _room([("user", 1.0, 1.5), ("coach", 1.81, 1.9), ("coach", 1.9 + gap, 3.0)])
    res = latency.analyse(audio, _early_tone_stamps(0.09), [{"text": "no thank you", "context": "yes_no"}])
    row, = res["rows"]
    assert row["total"] == pytest.approx(0.31, abs=0.021)
    assert row["first_word_from"] == "recording"
    assert row["to_first_word"] == pytest.approx(0.40 + gap, abs=0.021)
    # the estimate from the stamps knows nothing of the gap between tone and words
    assert row["to_first_word_estimate"] == pytest.approx(row["total"] + 0.09, abs=1e-3)


def test_first_word_falls_back_to_the_estimate_when_the_recording_does_not_tell():
    # the coach's sound is much shorter than the tone it should be: not the tone, no reading
    audio = _room([("user", 1.0, 1.5), ("coach", 1.81, 1.85), ("coach", 2.2, 3.0)])
    res = latency.analyse(audio, _early_tone_stamps(0.14), [{"text": "no thank you", "context": "yes_no"}])
    row, = res["rows"]
    assert row["first_word_from"] == "estimate"
    assert row["to_first_word"] == row["to_first_word_estimate"]


def test_a_turn_without_a_reply_is_not_counted():
    audio = _room([("user", 1.0, 1.5)])
    res = latency.analyse(audio, [], [])
    assert res["turns_measured"] == 0 and res["summary"]["total"] is None


@pytest.mark.audio
@pytest.mark.slow
@pytest.mark.skipif(bool(latency.missing_prerequisites()), reason="PulseAudio/espeak-ng/PortAudio missing")
@pytest.mark.skipif(shutil.which("sox") is None, reason="sox missing")
def test_three_real_turns_through_pulseaudio(tmp_path):
    from skill.bench.engines import EngineSpec
    res = latency.run([EngineSpec("pocketsphinx")], None, turns=3, out_dir=tmp_path, log=lambda *_: None,
                      sweep=False)
    assert "skipped" not in res, res
    assert res["answered"] == 3
    assert res["matched_one_to_one"], (res["utterances_in_room"], res["utterances_finished_by_assistant"])
    assert res["turns_measured"] == 3, res["rows"]
    assert res["recognised_non_empty"] >= 2, res["rows"]
    for row in res["rows"]:
        parts = [row[k] for k in ("endpointing", "recognition", "dialog", "synthesis")]
        assert all(p >= 0 for p in parts), row
        # the parts happen inside the total; what is left is the audio stack's own delay
        assert -0.06 <= row["audio_io"] <= row["total"], row
        assert 0.1 < row["total"] < 3.0, row
    assert Path(res["recording"]).stat().st_size > 0


def test_stamps_that_lag_the_room_are_paired_by_what_was_heard():
    """An answer the assistant never finished leaves no stamp line: every later room utterance
    would be paired with the stamps of the one before it. The shift is found from the texts."""
    said = [{"text": t, "context": "yes_no"} for t in
            ("both of them", "say that again", "no", "come again", "no thank you")]
    heard = [{"text": t} for t in ("say that again", "nope", "come again", "no thank you")]
    assert latency.stamp_offset(heard, said) == 1
    assert latency.stamp_offset([{"text": x["text"]} for x in said], said) == 0
    assert latency.stamp_offset([{"text": ""}, {"text": ""}], said) == 0      # nothing tells: as is
