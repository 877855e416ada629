"""The long false-wake corpus (skill/bench/wake_long.py): real espeak-ng speech, real detector,
a few seconds of audio (the hours themselves are a benchmark: BENCHMARKS.md section 5)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skill.bench import evalset as E
from skill.bench import wake_long as W

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def texts() -> dict[str, list[str]]:
    return W.corpus_text()


def test_the_corpus_never_says_a_wake_phrase_and_reads_every_source(texts):
    assert set(texts) == set(W.SOURCES)
    for source, clauses in texts.items():
        assert clauses, source
        for c in clauses:
            low = c.lower()
            assert "coach" not in low and "my exercises" not in low, (source, c)
            assert "{" not in c, (source, c)          # prompt placeholders are filled
    # the assistant's own prompts (dialogs/), the seed text, Python's documentation prose
    assert "Off we go." in texts["assistant"]
    assert any("pain" in c for c in texts["seeds"])
    assert len(texts["python-docs"]) > 1000
    # the prompt that names the wake phrase is left out, not spoken with a gap
    assert W._clauses("Say hey coach when you are ready.") == []


def test_a_chunk_is_the_same_every_time_it_is_built(texts, tmp_path):
    noises = E.make_noise(tmp_path)
    small = {k: v[:40] for k, v in texts.items()}
    a, ca = W.build_chunk(0, 8.0, small, noises, tmp_path)
    b, cb = W.build_chunk(0, 8.0, small, noises, tmp_path)
    assert a.dtype == np.int16 and a.size == 8 * E.RATE
    assert np.array_equal(a, b) and ca == cb
    assert ca, "chunk 0 has speech"
    for c in ca:
        assert 0 <= c.start < c.end <= 8.0 and c.text in small[c.source]
        assert c.voice in W.VOICES and c.wpm in W.RATES_WPM
    other, _ = W.build_chunk(1, 8.0, small, noises, tmp_path)
    assert not np.array_equal(a, other)
    # never silent: noise runs under the whole chunk
    assert np.sqrt(np.mean(a[: E.RATE // 10].astype(float) ** 2)) > 1


def test_a_wake_phrase_is_counted_and_the_recorded_measures_rescore_it(tmp_path):
    """Positive control: the scorer does count wakes, and says where and what was said."""
    pcm, clauses, at = [], [], 0
    for text in ("hey coach", "the weather is lovely today", "hey coach", "hey coach"):
        wav = tmp_path / f"{len(clauses)}.wav"
        E.speak(text, "en-us", 150, wav)
        x = E.read_pcm(wav)
        clauses.append(W.Clause(at / E.RATE, (at + x.size) / E.RATE, text, "test", "en-us", 150, 0))
        pcm += [x, np.zeros(int(1.5 * E.RATE), np.int16)]
        at += x.size + int(1.5 * E.RATE)
    x = np.concatenate(pcm).astype(float) + np.random.default_rng(1).normal(0, 30, at)
    path = tmp_path / "chunk.wav"
    E.write_pcm(path, np.round(x).astype(np.int16))
    summary, cands = W.score(path, clauses, 7)
    assert summary["segments"] == 4 and summary["false_wakes"] >= 2, cands
    woke = [c for c in cands if c["woke"]]
    assert len(woke) == summary["false_wakes"]
    assert all(c["said"] == ["hey coach"] and c["chunk"] == 7 and "distance" in c["measures"] for c in woke)
    assert not any(c["woke"] for c in cands if "weather" in " ".join(c["said"]))
    # the rule re-applied to the recorded measures decides as the detector did
    assert W.rescore(cands) == summary["false_wakes"]
    assert W.rescore(cands, lambda m: False) == 0


def test_a_run_writes_each_chunk_and_resumes(tmp_path):
    logs: list[str] = []
    res = W.run(tmp_path, hours=12 / 3600, jobs=1, chunk_seconds=6.0, log=logs.append)
    assert res["chunks"] == 2 and res["audio_hours"] == round(12 / 3600, 3)
    assert res["segments"] >= res["grammar_candidates"] >= res["false_wakes"] == 0
    assert res["upper_95_per_hour"] == round(W.poisson_upper(0) / (12 / 3600), 4)
    lines = W.read_candidates(tmp_path / "wake-long")
    assert len(lines) == res["grammar_candidates"]
    assert "2 to go" in logs[0]
    again = W.run(tmp_path, hours=12 / 3600, jobs=1, chunk_seconds=6.0, log=logs.append)
    assert "2 done, 0 to go" in logs[-1] and again == res
    # hours never heard before are new indices: chunks 1 and 2, of which 1 is done
    later = W.run(tmp_path, hours=12 / 3600, jobs=1, chunk_seconds=6.0, log=logs.append, first=1)
    assert any("(from chunk 1); 1 done, 1 to go" in line for line in logs), logs
    assert later["chunks"] == 2 and sorted(p.name for p in (tmp_path / "wake-long").glob("chunk-*.json")) == \
        ["chunk-0000.json", "chunk-0001.json", "chunk-0002.json"]


def test_the_poisson_bound():
    assert W.poisson_upper(0) == pytest.approx(2.996, abs=1e-3)     # the "rule of three"
    assert W.poisson_upper(1) == pytest.approx(4.744, abs=1e-3)
    assert W.poisson_upper(3) == pytest.approx(7.754, abs=1e-3)


def test_the_bench_command_runs_it_on_request_only(tmp_path):
    res = subprocess.run([sys.executable, "run_assistant.py", "bench", "--quick", "--engine", "pocketsphinx",
                          "--only", "wake-long", "--jobs", "1", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads((tmp_path / "bench-quick.json").read_text())["wake-long"]
    assert report["chunks"] == 1 and report["false_wakes"] == 0 and report["segments"] > 0
    assert "False wakes, long corpus" in res.stdout
    from skill.bench.__main__ import SUITES
    assert "wake-long" not in SUITES        # hours of audio: never part of a default run


def test_an_interrupted_run_totals_the_chunks_it_finished(tmp_path):
    def log(line: str) -> None:
        if "chunk 0:" in line:
            raise KeyboardInterrupt
    res = W.run(tmp_path, hours=3 * 4 / 3600, jobs=1, chunk_seconds=4.0, log=log)
    assert res["partial"] and res["chunks"] == 1 and res["audio_hours"] == round(4 / 3600, 3)


def test_every_voice_is_a_voice_of_its_own(tmp_path):
    """espeak-ng quietly ignores some spellings ("en-gb+f4" is plain en-gb): 16 names, 16 voices."""
    heard = set()
    for voice in W.VOICES:
        out = tmp_path / "v.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(out), "hello there"], check=True,
                       capture_output=True)
        heard.add(out.read_bytes())
    assert len(heard) == len(W.VOICES)


def test_every_kind_of_scene_is_built(texts, tmp_path):
    """Noise alone, one talker, two taking turns, a television: chunks of two seconds each."""
    noises = E.make_noise(tmp_path)
    small = {k: v[:20] for k, v in texts.items()}
    talkers = []
    for i in range(16):
        pcm, clauses = W.build_chunk(i, 2.0, small, noises, tmp_path)
        assert pcm.size == 2 * E.RATE and np.abs(pcm).max() > 0
        talkers.append(len({(c.voice, c.wpm) for c in clauses}))
    assert 0 in talkers and 1 in talkers     # a chunk of noise alone, a chunk of one talker


def test_a_chunk_that_fails_is_reported_and_the_run_goes_on(tmp_path, monkeypatch):
    real = W.run_chunk

    def run_chunk(root, index, seconds, key, keep_audio=False):
        if index == 1:
            raise RuntimeError("espeak-ng -v en-xx ... failed: no such voice")
        return real(root, index, seconds, key, keep_audio)
    monkeypatch.setattr(W, "run_chunk", run_chunk)
    logs: list[str] = []
    res = W.run(tmp_path, hours=3 * 4 / 3600, jobs=1, chunk_seconds=4.0, log=logs.append)
    assert res["chunks"] == 2 and res["partial"] and list(res["failed_chunks"]) == [1]
    assert "no such voice" in res["failed_chunks"][1] and any("chunk 1 FAILED" in line for line in logs)
