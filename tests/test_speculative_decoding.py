"""Speculative decoding: the answer is decoded during the endpointer's trailing-silence wait.

The endpointer emits SpeechPause 0.2 s into a silence and SpeechResume if speech comes back;
VoiceEars then calls the recogniser's speculate() / resume(), and finish() returns the held
result at once. Pure timing logic with stand-ins on a VirtualClock; then the real PocketSphinx
recogniser on espeak-ng speech (sox-trimmed and spliced, over a faint room hiss).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skill.audio.ears import VoiceEars  # noqa: E402
from skill.audio.endpoint import (EndpointConfig, Endpointer, HighPassLevel, SpeechEnd,  # noqa: E402
                                  SpeechPause, SpeechResume, SpeechStart)
from skill.audio.sources import AudioBlock, EndOfAudio, WavFileSource  # noqa: E402
from skill.clock import VirtualClock  # noqa: E402
from skill.edges import Heard  # noqa: E402
from skill.recognition.base import Hypothesis  # noqa: E402

RATE = 16000
BLOCK = 320            # 20 ms, as the microphone delivers
PRE = 0.2              # silence before the speech in what the recogniser gets (0.3 s pre-roll,
                       # the last 0.1 s of it the speech that started the utterance)
rng = np.random.default_rng(3)
# The level is judged after a linear-phase high-pass whose lag carries a tone that stops at a
# frame's edge into the next frame: the last speech frame ends this much after the burst.
SMEAR = -(-HighPassLevel(RATE).lag // BLOCK) * BLOCK / RATE


def burst(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return 8000 * np.sin(2 * np.pi * 300 * t)


def quiet(seconds: float) -> np.ndarray:
    return rng.normal(0, 30, int(seconds * RATE))


def events(x: np.ndarray, config: EndpointConfig | None = None) -> list:
    ep = Endpointer(RATE, config)
    out = []
    for i in range(0, x.size, BLOCK):
        out += [ev for ev in ep.process(x[i:i + BLOCK].astype(np.int16))
                if not type(ev).__name__ == "SpeechAudio"]
    return out


# ------------------------------------------------------------------ endpointer (pure)
def test_a_pause_is_announced_two_tenths_of_a_second_into_the_trailing_silence():
    x = np.concatenate([quiet(0.5), burst(0.4), quiet(1.0)])
    evs = events(x)
    assert [type(e) for e in evs] == [SpeechStart, SpeechPause, SpeechEnd]
    _start, pause, end = evs
    assert pause.offset - end.offset == int(0.2 * RATE)     # 10 silent frames after the speech
    assert end.offset == int((0.9 + SMEAR) * RATE)


def test_speech_after_the_pause_resumes_the_utterance():
    x = np.concatenate([quiet(0.5), burst(0.3), quiet(0.24), burst(0.3), quiet(1.0)])
    evs = events(x)
    assert [type(e) for e in evs] == [SpeechStart, SpeechPause, SpeechResume, SpeechPause, SpeechEnd]
    assert evs[2].offset == int(1.04 * RATE)                 # the second burst's first frame


def test_gaps_shorter_than_the_setting_and_disabled_speculation_announce_nothing():
    x = np.concatenate([quiet(0.5), burst(0.3), quiet(0.16), burst(0.3), quiet(1.0)])
    assert [type(e) for e in events(x)] == [SpeechStart, SpeechPause, SpeechEnd]   # one pause: the end
    assert [type(e) for e in events(x, EndpointConfig(speculate_after=None))] == [SpeechStart, SpeechEnd]
    # at or beyond the trailing silence there is nothing to win: no pause
    assert [type(e) for e in events(x, EndpointConfig(speculate_after=0.3))] == [SpeechStart, SpeechEnd]


# ------------------------------------------------------------------ ears timing (pure, VirtualClock)
class ArraySource:
    """16 kHz blocks of an array, stamped on a VirtualClock that moves as they are read."""

    sample_rate = RATE
    description = "array"

    def __init__(self, x: np.ndarray, clock: VirtualClock) -> None:
        self.x, self.clock, self.pos = x.astype(np.int16), clock, 0

    def read(self, timeout):  # noqa: ANN001, ANN201
        if self.pos >= self.x.size:
            raise EndOfAudio("end")
        t = self.pos / RATE
        block = self.x[self.pos:self.pos + BLOCK]
        self.pos += block.size
        self.clock.advance_to(self.pos / RATE)
        return AudioBlock(t, block)

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        pass


class PlainRecognizer:
    """Stand-in engine that only decodes in finish() (as Vosk does): logs calls on the clock."""

    name, sample_rate = "stand-in", RATE

    def __init__(self, clock: VirtualClock) -> None:
        self.clock, self.calls, self.fed = clock, [], 0

    def begin(self, phrases):  # noqa: ANN001, ANN201
        self.calls.append(("begin", self.clock.now()))
        self.fed = 0

    def feed(self, pcm: bytes) -> None:
        self.fed += len(pcm) // 2

    def finish(self) -> Hypothesis:
        self.calls.append(("finish", self.clock.now()))
        return Hypothesis(f"{self.fed} samples", 0.9)


class SpeculatingRecognizer(PlainRecognizer):
    held: Hypothesis | None = None

    def speculate(self) -> bool:
        self.calls.append(("speculate", self.clock.now()))
        self.held = Hypothesis(f"{self.fed} samples", 0.9)
        return True

    def resume(self) -> None:
        self.calls.append(("resume", self.clock.now()))
        self.held = None

    def finish(self) -> Hypothesis:
        self.calls.append(("finish", self.clock.now()))
        return self.held or Hypothesis(f"{self.fed} samples", 0.9)


def _hear(rec, x: np.ndarray, clock: VirtualClock, **kw):  # noqa: ANN001, ANN202
    ears = VoiceEars(ArraySource(x, clock), rec, lambda ctx: ["x"], clock, **kw)
    seen = []
    ears.on_speech_end = lambda: seen.append((clock.now(), ears.gate.answer_ready))
    return ears.hear("any", None), seen, ears


def test_the_ears_speculate_at_the_pause_and_finish_returns_that_result_at_the_endpoint():
    clock = VirtualClock()
    rec = SpeculatingRecognizer(clock)
    heard, seen, ears = _hear(rec, np.concatenate([quiet(0.5), burst(0.4), quiet(1.0)]), clock)
    names = [c[0] for c in rec.calls]
    assert names == ["begin", "speculate", "finish"]
    when = dict(rec.calls)
    assert when["speculate"] == pytest.approx(0.9 + SMEAR + 0.2)   # 0.2 s after the last speech
    assert when["finish"] == pytest.approx(0.9 + SMEAR + 0.3)      # the endpoint itself
    # the result is the one decoded at the pause: pre-roll + speech + 0.2 s, not the whole wait
    assert heard == Heard(f"{int((PRE + 0.4 + SMEAR + 0.2) * RATE)} samples", 0.9)
    assert seen == [(pytest.approx(1.2 + SMEAR), True)]          # the mouth is told: answer ready
    assert ears.gate.answer_ready is False                    # only around on_speech_end
    assert ears.last_timing["speculated"] == 1.0 and ears.last_timing["speculations"] == 1.0


def test_speech_resuming_drops_the_speculation_and_the_whole_answer_is_returned():
    clock = VirtualClock()
    rec = SpeculatingRecognizer(clock)
    x = np.concatenate([quiet(0.5), burst(0.3), quiet(0.24), burst(0.3), quiet(1.0)])
    heard, seen, _ears = _hear(rec, x, clock)
    assert [c[0] for c in rec.calls] == ["begin", "speculate", "resume", "speculate", "finish"]
    assert heard.text == f"{int((PRE + 0.3 + 0.24 + 0.3 + SMEAR + 0.2) * RATE)} samples"
    assert [ready for _t, ready in seen] == [True]


def test_an_engine_without_speculation_decodes_at_the_endpoint_and_the_tone_fills_the_wait():
    clock = VirtualClock()
    rec = PlainRecognizer(clock)
    heard, seen, _ears = _hear(rec, np.concatenate([quiet(0.5), burst(0.4), quiet(1.0)]), clock)
    assert [c[0] for c in rec.calls] == ["begin", "finish"]
    assert heard.text == f"{int((PRE + 0.4 + SMEAR + 0.3) * RATE)} samples"   # the whole trailing silence
    assert [ready for _t, ready in seen] == [False]


def test_speculation_can_be_turned_off():
    clock = VirtualClock()
    rec = SpeculatingRecognizer(clock)
    _heard, seen, _ears = _hear(rec, np.concatenate([quiet(0.5), burst(0.4), quiet(1.0)]), clock,
                                speculative=False)
    assert [c[0] for c in rec.calls] == ["begin", "finish"]
    assert [ready for _t, ready in seen] == [False]


# ------------------------------------------------------------------ the real recogniser
needs_tools = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None,
                                 reason="espeak-ng and sox are needed to make the audio")


def spoken(parts: tuple[str, ...], pause: float, work: Path) -> Path:
    """The parts spoken by espeak-ng (150 wpm), trimmed, joined with `pause` s of silence;
    0.5 s before, 1.0 s after, a faint room hiss throughout: a 16 kHz WAV."""
    cut = []
    for i, text in enumerate(parts):
        raw, trimmed = work / f"raw{i}.wav", work / f"part{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), text], check=True,
                       capture_output=True)
        subprocess.run(["sox", str(raw), "-r", str(RATE), str(trimmed), "silence", "1", "0.01", "0.5%",
                        "reverse", "silence", "1", "0.01", "0.5%", "reverse"], check=True, capture_output=True)
        cut.append(str(trimmed))
    first, joined = work / "first.wav", work / "joined.wav"
    subprocess.run(["sox", cut[0], str(first), "pad", "0.5", str(pause if len(cut) > 1 else 0)],
                   check=True, capture_output=True)
    subprocess.run(["sox", str(first), *cut[1:], str(joined), "pad", "0", "1.0"], check=True,
                   capture_output=True)
    with wave.open(str(joined)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    x += np.random.default_rng(len(parts)).normal(0, 30, x.size)
    out = work / "answer.wav"
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes())
    return out


class Recording:
    """Wraps the real recogniser: what was fed before each speculate(), and the calls."""

    def __init__(self, rec) -> None:  # noqa: ANN001
        self.rec, self.name, self.sample_rate = rec, rec.name, rec.sample_rate
        self.calls: list[str] = []
        self.chunks: list[bytes] = []
        self.at_speculation: list[list[bytes]] = []
        self.held: list[bool] = []

    def begin(self, phrases):  # noqa: ANN001, ANN201
        self.calls.append("begin")
        self.chunks = []
        return self.rec.begin(phrases)

    def feed(self, pcm: bytes) -> None:
        self.chunks.append(pcm)
        self.rec.feed(pcm)

    def speculate(self) -> bool:
        self.calls.append("speculate")
        self.at_speculation.append(list(self.chunks))
        held = self.rec.speculate()
        self.held.append(held)
        return held

    def resume(self) -> None:
        self.calls.append("resume")
        self.rec.resume()

    def finish(self) -> Hypothesis:
        self.calls.append("finish")
        return self.rec.finish()


@pytest.fixture(scope="module")
def engine():  # noqa: ANN201
    from skill.cli import DEFAULT_LOCALE_DIR, load_assets
    from skill.recognition.pocketsphinx_engine import PocketSphinxRecognizer
    matcher = load_assets(DEFAULT_LOCALE_DIR).matcher
    words = {w for c in matcher.contexts() for p in matcher.phrases(c) for w in p.split()}
    return matcher, lambda: PocketSphinxRecognizer(vocabulary=words)


def _ears_on(path: Path, rec) -> VoiceEars:  # noqa: ANN001
    from skill.cli import DEFAULT_LOCALE_DIR, load_assets
    src = WavFileSource(path, RATE, fast=True)
    return VoiceEars(src, rec, load_assets(DEFAULT_LOCALE_DIR).matcher.phrases, src.clock)


@pytest.fixture()
def keep_every_speculation(monkeypatch):
    """No confidence band sends a result back to finish(): every speculation is kept."""
    from skill.recognition import pocketsphinx_engine
    monkeypatch.setattr(pocketsphinx_engine, "SPECULATION_UNSURE", (2.0, 2.0))


@needs_tools
def test_a_speculative_decode_equals_finish_on_the_same_audio(engine, tmp_path, keep_every_speculation):
    matcher, make = engine
    rec = Recording(make())
    heard = _ears_on(spoken(("no thank you",), 0.0, tmp_path), rec).hear("yes_no", None)
    assert rec.calls == ["begin", "speculate", "finish"]
    assert heard.text == "no thank you"
    # the same audio, decoded the ordinary way by a fresh engine: the very same hypothesis
    fresh = make()
    fresh.begin(matcher.phrases("yes_no"))
    for chunk in rec.at_speculation[0]:
        fresh.feed(chunk)
    assert fresh.finish() == Hypothesis(heard.text, heard.confidence)


@needs_tools
def test_speech_resuming_after_a_short_pause_is_recognised_whole(engine, tmp_path, keep_every_speculation):
    matcher, make = engine
    rec = Recording(make())
    # 0.27 s: past the 0.2 s where the ears speculate, short of the 0.3 s that ends the answer
    heard = _ears_on(spoken(("about a", "five"), 0.27, tmp_path), rec).hear("number", None)
    assert rec.calls == ["begin", "speculate", "resume", "speculate", "finish"]
    assert heard.text == "about a five"
    first, whole = rec.at_speculation
    assert len(whole) > len(first) and whole[:len(first)] == first   # the pause and "five" added
    # The reference: ordinary finish() calls on the same audio, with the same history (the
    # engine carries some state from one decode to the next, so the dropped decode of
    # "about a" nudges the next confidence by ~0.003, as any earlier answer would).
    fresh = make()
    for audio in (first, whole):
        fresh.begin(matcher.phrases("number"))
        for chunk in audio:
            fresh.feed(chunk)
        reference = fresh.finish()
    assert reference == Hypothesis(heard.text, heard.confidence)


@needs_tools
def test_a_result_near_the_threshold_is_decoded_again_on_the_whole_utterance(engine, tmp_path, monkeypatch):
    """A speculative confidence inside SPECULATION_UNSURE is not kept: the endpoint's finish()
    decodes everything fed, the whole trailing silence included, and the mouth keeps its tone."""
    from skill.recognition import pocketsphinx_engine
    monkeypatch.setattr(pocketsphinx_engine, "SPECULATION_UNSURE", (0.0, 1.01))   # every result
    matcher, make = engine
    rec = Recording(make())
    ears = _ears_on(spoken(("no thank you",), 0.0, tmp_path), rec)
    ready = []
    ears.on_speech_end = lambda: ready.append(ears.gate.answer_ready)
    heard = ears.hear("yes_no", None)
    assert rec.calls == ["begin", "speculate", "finish"] and rec.held == [False]
    assert ready == [False] and ears.last_timing["speculated"] == 0.0
    assert heard.text == "no thank you"
    assert len(rec.chunks) > len(rec.at_speculation[0])
    # The reference: ordinary finish() calls, with the same history. PocketSphinx carries state
    # from one decode to the next, and after the decode of this very answer's beginning the
    # confidence can move a lot (here 0.93 fresh -> 0.80), so a fresh engine is no reference.
    fresh = make()
    for audio in (rec.at_speculation[0], rec.chunks):   # then all of it: 0.3 s of silence
        fresh.begin(matcher.phrases("yes_no"))
        for chunk in audio:
            fresh.feed(chunk)
        reference = fresh.finish()
    assert reference == Hypothesis(heard.text, heard.confidence)
