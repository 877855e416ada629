"""Pure audio logic on synthetic arrays, plus file-driven ears with the real recogniser."""
from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from skill.audio.capture import StreamResampler, resample, to_int16  # noqa: E402
from skill.audio.endpoint import EndpointConfig, Endpointer, SpeechEnd, find_utterances  # noqa: E402
from skill.audio.ears import HalfDuplexGate, VoiceEars  # noqa: E402
from skill.audio.sources import AudioClock, WavFileSource  # noqa: E402
from skill.clock import VirtualClock  # noqa: E402
from skill.edges import EndOfInput, Heard, NothingHeard  # noqa: E402

RATE = 16000
rng = np.random.default_rng(7)


def tone(seconds: float, freq: float = 300.0, amp: float = 8000.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    # amplitude-modulated like syllables, so it is not a flat tone
    return amp * np.sin(2 * np.pi * freq * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))


def noise(seconds: float, amp: float = 30.0, rate: int = RATE) -> np.ndarray:
    return rng.normal(0, amp, int(seconds * rate))


# ------------------------------------------------------------------ resampling
@pytest.mark.parametrize("in_rate", [48000, 44100, 22050, 8000])
def test_resampled_sine_matches_the_ideal_one(in_rate):
    t = np.arange(in_rate) / in_rate
    y = resample(10000 * np.sin(2 * np.pi * 440 * t), in_rate, RATE)
    assert y.size == RATE
    ref = 10000 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)
    err = np.sqrt(np.mean((y[300:-300] - ref[300:-300]) ** 2)) / np.sqrt(np.mean(ref ** 2))
    assert err < 0.02, err


@pytest.mark.parametrize("in_rate", [48000, 44100])
def test_tones_above_the_new_nyquist_are_removed_not_aliased(in_rate):
    t = np.arange(in_rate) / in_rate
    x = 10000 * np.sin(2 * np.pi * 9500 * t)       # would alias to 6.5 kHz at 16 kHz
    y = resample(x, in_rate, RATE)
    gain_db = 20 * np.log10(np.sqrt(np.mean(y[300:-300] ** 2)) / np.sqrt(np.mean(x ** 2)))
    assert gain_db < -60, gain_db


def test_streaming_in_random_blocks_equals_one_shot():
    x = tone(1.3, rate=44100) + noise(1.3, 500, rate=44100)
    rs = StreamResampler(44100, RATE)
    parts, i = [], 0
    while i < x.size:
        n = int(rng.integers(1, 2500))
        parts.append(rs.process(x[i:i + n]))
        i += n
    streamed = np.concatenate(parts)
    whole = StreamResampler(44100, RATE).process(x)
    assert streamed.size == whole.size
    assert np.max(np.abs(streamed - whole)) < 1e-6


# ------------------------------------------------------------------ endpointing
def test_short_answer_is_one_utterance_ending_after_the_trailing_silence():
    cfg = EndpointConfig()
    x = np.concatenate([noise(1.0), tone(0.25), noise(0.12), tone(0.3), noise(1.5)])  # "twen-ty five"
    segs = find_utterances(x, RATE, cfg)
    assert len(segs) == 1, segs
    assert segs[0].reason == "silence"
    assert abs(segs[0].end - 1.67) < 0.05
    assert segs[0].start <= 1.0  # pre-roll keeps the onset


def test_end_event_comes_trailing_silence_after_the_speech():
    cfg = EndpointConfig(trailing_silence=0.5)
    ep = Endpointer(RATE, cfg)
    x = np.concatenate([noise(0.5), tone(0.4), noise(2.0)])
    pos, end_at = 0, None
    for block in np.array_split(x, x.size // 320):
        pos += block.size
        if any(isinstance(e, SpeechEnd) for e in ep.process(block)):
            end_at = pos / RATE
            break
    assert end_at is not None
    assert 0.9 + 0.45 <= end_at <= 0.9 + 0.56


def test_two_answers_separated_by_a_pause_are_two_utterances():
    x = np.concatenate([noise(0.5), tone(0.3), noise(0.8), tone(0.3), noise(1.0)])
    assert len(find_utterances(x, RATE)) == 2


def test_continuous_noise_is_cut_at_max_length_and_then_adapted_to():
    cfg = EndpointConfig(max_utterance=4.0)
    x = np.concatenate([noise(1.0), noise(20.0, amp=3000)])   # a vacuum cleaner starts
    segs = find_utterances(x, RATE, cfg)
    assert segs, "the noise onset should look like speech at first"
    assert segs[0].reason == "max_length"
    assert all(s.end - s.start <= 4.0 + 0.35 for s in segs)
    assert len(segs) <= 2  # after the cut the floor has adapted: no endless re-triggering


def test_speech_over_steady_noise_is_still_found_after_adapting():
    cfg = EndpointConfig(max_utterance=3.0)
    x = np.concatenate([noise(10.0, amp=1000), tone(0.4, amp=12000) + noise(0.4, 1000), noise(2.0, 1000)])
    segs = find_utterances(x, RATE, cfg)
    assert any(abs(s.start - 10.0) < 0.4 and s.reason == "silence" for s in segs), segs


def test_digital_silence_and_faint_hiss_are_not_speech():
    x = np.concatenate([np.zeros(RATE), noise(2.0, amp=3)])
    assert find_utterances(x, RATE) == []


# ------------------------------------------------------------------ half-duplex gate
def test_gate_mutes_while_speaking_and_for_the_tail():
    g = HalfDuplexGate(tail=0.3)
    assert not g.is_muted(5.0)
    g.speaking()
    assert g.is_muted(1e9)
    g.done_speaking(10.0)
    assert g.is_muted(10.29) and not g.is_muted(10.3)


# ------------------------------------------------------------------ file source + ears, real recogniser
def _write(path: Path, x: np.ndarray, rate: int) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(to_int16(x).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def speech():
    from pulse_harness import missing_tools, read_wav16, synth_wav
    if "espeak-ng" in missing_tools():
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")

    def make(word: str) -> np.ndarray:
        x, r = read_wav16(synth_wav(word))
        return resample(x, r, 48000)   # like a USB microphone
    return make


PHRASES = ["yes", "no", "stop", "resume", "repeat", "seven", "twelve"]


def _ears(path: Path, fast: bool = True):
    from pulse_harness import SphinxGrammarRecognizer
    src = WavFileSource(path, 16000, fast=fast)
    clock = src.clock if fast else None
    notices = []
    ears = VoiceEars(src, SphinxGrammarRecognizer(), lambda ctx: PHRASES, clock,
                     on_notice=lambda kind, msg: notices.append(kind))
    return ears, src, clock, notices


def test_fast_file_source_drives_the_clock_and_the_ears_hear_each_answer(tmp_path, speech):
    sil = lambda s: noise(s, 20, 48000)  # noqa: E731
    x = np.concatenate([sil(1.0), speech("yes"), sil(3.0), speech("stop"), sil(1.0)])
    ears, src, clock, _ = _ears(_write(tmp_path / "in.wav", x, 48000))
    assert isinstance(clock, AudioClock)
    first = ears.hear("any", deadline=None)
    assert first == Heard("yes", first.confidence)
    assert 1.0 + 0.5 < clock.now() < 1.0 + len(speech("yes")) / 48000 + 0.7
    # nothing in the next second: NothingHeard at the deadline, on audio time
    t = clock.now()
    assert isinstance(ears.hear("any", deadline=t + 1.0), NothingHeard)
    assert abs(clock.now() - (t + 1.0)) < 0.05
    second = ears.hear("any", deadline=None)
    assert second.text == "stop"
    assert isinstance(ears.hear("any", deadline=None), EndOfInput)


def test_half_duplex_drops_what_arrives_while_the_mouth_speaks(tmp_path, speech):
    sil = lambda s: noise(s, 20, 48000)  # noqa: E731
    x = np.concatenate([sil(0.5), speech("repeat"), sil(1.5), speech("seven"), sil(1.0)])
    ears, src, clock, _ = _ears(_write(tmp_path / "in.wav", x, 48000))
    # the mouth "speaks" over the first word (as if it were our own voice coming back)
    ears.gate.speaking()
    clock.sleep_until(0.5 + len(speech("repeat")) / 48000 - 0.2)
    ears.gate.done_speaking(clock.now())
    heard = ears.hear("any", deadline=None)
    assert heard.text == "seven"


def test_noise_burst_is_reported_and_listening_goes_on(tmp_path, speech):
    loud = rng.normal(0, 4000, int(8 * 48000))
    x = np.concatenate([noise(1.0, 20, 48000), loud, noise(1.0, 20, 48000), speech("no"),
                        noise(1.0, 20, 48000)])
    ears, src, clock, notices = _ears(_write(tmp_path / "in.wav", x, 48000))
    heard = ears.hear("any", deadline=None)
    assert "noise" in notices
    assert heard.text == "no"


def test_real_time_file_source_paces_like_a_microphone(tmp_path):
    import time
    x = noise(0.6, 20, 16000)
    src = WavFileSource(_write(tmp_path / "in.wav", x, 16000), 16000, fast=False)
    t0 = time.monotonic()
    n = 0
    while True:
        try:
            b = src.read(1.0)
        except Exception:  # noqa: BLE001 - EndOfAudio
            break
        n += b.pcm.size
    assert n == x.size
    assert time.monotonic() - t0 >= 0.55


def test_wav_out_mouth_places_speech_at_clock_times(tmp_path):
    from pulse_harness import missing_tools, read_wav16
    if "espeak-ng" in missing_tools():
        pytest.skip("espeak-ng not installed")
    from skill.audio.tts import WavOutMouth
    clock = VirtualClock(100.0)
    out = tmp_path / "said.wav"
    mouth = WavOutMouth(out, clock)
    mouth.say("Hello.")
    first_end = clock.now()
    assert first_end > 100.3          # saying takes the utterance's time
    clock.advance(2.0)
    mouth.say("Lift your knee.")
    mouth.close()
    x, r = read_wav16(out)
    segs = find_utterances(x, r)
    assert len(segs) >= 2
    assert segs[0].start < 0.3
    second_at = first_end + 2.0 - 100.0
    assert any(abs(s.start - second_at) < 0.35 for s in segs[1:]), (segs, second_at)
    assert abs(x.size / r - (clock.now() - 100.0)) < 0.05
