"""Wake-phrase detection (skill/wake.py) with the real PocketSphinx engine on espeak-ng speech."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from skill.wake import (WakeError, WakeRecognizer, load_wake_phrases, phone_distance,
                        read_accents)

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "dialogs" / "en-us"


def speech(text: str, tmp: Path, voice: str = "en-us", wpm: int = 160) -> bytes:
    from skill.bench.evalset import read_pcm, speak
    path = tmp / f"{voice}_{wpm}_{text.replace(' ', '_')}.wav"
    speak(text, voice, wpm, path)
    return read_pcm(path).astype("<i2").tobytes()


@pytest.fixture(scope="module")
def wake() -> WakeRecognizer:
    return WakeRecognizer(load_wake_phrases(LOCALE), LOCALE)


def decode(rec: WakeRecognizer, pcm: bytes) -> str:
    rec.begin(["ignored: the wake grammar is the recogniser's own"])
    for i in range(0, len(pcm), 640):          # 20 ms blocks, as the ears feed it
        rec.feed(pcm[i:i + 640])
    return rec.finish().text


def test_the_locale_wake_phrases_are_read_from_the_dialog_folder():
    assert load_wake_phrases(LOCALE) == ["hey coach", "start my exercises"]
    assert load_wake_phrases(LOCALE, "Hey,  Computer") == ["hey computer"]
    with pytest.raises(WakeError):
        load_wake_phrases(LOCALE, " , ")


def test_a_missing_wake_file_is_a_clear_error(tmp_path):
    with pytest.raises(WakeError, match="cannot be read"):
        load_wake_phrases(tmp_path)


@pytest.mark.parametrize("text,voice,wpm", [
    ("hey coach", "en-us", 150), ("hey coach", "en-us+f3", 175), ("hey coach", "en-us", 200),
    ("start my exercises", "en-us", 160), ("start my exercises", "en-gb", 175),
])
def test_the_wake_phrase_wakes(wake, tmp_path, text, voice, wpm):
    assert decode(wake, speech(text, tmp_path, voice, wpm)) == text, wake.last_measures


@pytest.mark.parametrize("text,voice,wpm", [
    # each of these fits the wake grammar with a high phone-loop confidence (measured):
    # only the phone check rejects them
    ("where did i leave my keys", "en-gb", 175), ("the floor is cold", "en-us", 200),
    ("the television is too loud", "en-gb-x-rp", 175), ("nine hundred", "en-gb-x-rp", 175),
    ("hip hip hooray", "en-us+f3", 200), ("the weather is lovely today", "en-us", 160),
])
def test_everyday_speech_does_not_wake(wake, tmp_path, text, voice, wpm):
    assert decode(wake, speech(text, tmp_path, voice, wpm)) == "", wake.last_measures


def test_noise_and_silence_do_not_wake(wake):
    rng = np.random.default_rng(3)
    for pcm in (np.zeros(16000), rng.normal(0, 2000, 32000)):
        assert decode(wake, pcm.astype("<i2").tobytes()) == ""


def test_a_long_utterance_is_never_a_wake_phrase(wake, tmp_path):
    from skill.wake import MAX_WAKE_SECONDS
    long = speech("hey coach", tmp_path) * 4       # the phrase four times over: > 5 s
    assert len(long) / 2 / 16000 > MAX_WAKE_SECONDS
    assert decode(wake, long) == ""
    assert wake.last_measures["rejected"] == "too long"


def test_a_custom_wake_phrase(tmp_path):
    # (recall of a custom phrase depends on the voice: the male en-us voice's "hello
    # computer" loses phones in the phone loop and is rejected; BENCHMARKS.md section 5)
    rec = WakeRecognizer(load_wake_phrases(LOCALE, "hello computer"), LOCALE)
    assert decode(rec, speech("hello computer", tmp_path, "en-us+f3")) == "hello computer"
    assert decode(rec, speech("hey coach", tmp_path, "en-us+f3")) == ""


def test_a_wake_phrase_with_unknown_words_is_refused_with_the_words_named():
    with pytest.raises(WakeError, match="zorblax"):
        WakeRecognizer(["hey zorblax"], LOCALE)


def test_phone_distance_counts_similar_phones_as_half():
    assert phone_distance("HH EY K OW CH".split(), "HH EY K OW CH".split()) == 0
    assert phone_distance("HH EY G OW CH".split(), "HH EY K OW CH".split()) == 0.5   # K~G: stops
    assert phone_distance("HH EY M OW CH".split(), "HH EY K OW CH".split()) == 1.0
    assert phone_distance([], "HH EY".split()) == 2.0


def test_accent_spellings_come_from_the_locale_file():
    accents = read_accents(LOCALE / "wake_accents.dict")
    assert "K AH UW CH" in accents["coach"]
    assert read_accents(LOCALE / "no-such-file") == {}


def test_the_wake_benchmark_runs_end_to_end_in_quick_mode(tmp_path):
    """Shape and consistency of `bench --only wake --quick` (numbers: BENCHMARKS.md section 5)."""
    import json
    import sys
    res = subprocess.run([sys.executable, "-m", "skill.bench", "--quick", "--engine", "pocketsphinx",
                          "--only", "wake", "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    wake = json.loads((tmp_path / "bench-quick.json").read_text())["wake"]
    rows = wake["detection"]["rows"]
    assert rows["wake/clean"]["n"] == 4 and rows["wake/10dB"]["n"] == 8
    assert 0 <= rows["wake/clean"]["woke"] <= 4
    fw = wake["false_wakes"]
    assert fw["audio_hours"] > 0 and fw["segments"] >= fw["grammar_candidates"] >= fw["false_wakes"]
    assert fw["false_wakes"] == len(fw["wakes"])
    idle = wake["idle"]
    assert 0 < idle["cpu_percent_of_one_core"] < 100 and idle["rss_mb"] > 20
    assert idle["exit_on_sigterm"] == 0          # serve stops cleanly on SIGTERM
    assert [r["max_distance"] for r in wake["sweep"]] == [0.5, 0.6, 0.67, 0.75, 1.0]
