"""The early "done" tone carries the reply on in its own output stream (skill/audio/tts.py).

Pure logic of the hand-over, with a stand-in PortAudio module that records what each stream
was given; the real synthesiser makes the reply. The real speaker is exercised in
tests/test_earcons.py (the reply follows the tone on a PulseAudio recording) and by the
turn-latency benchmark.
"""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skill.audio import tts  # noqa: E402
from skill.audio.earcons import NOTE_SECONDS  # noqa: E402
from skill.audio.ears import HalfDuplexGate  # noqa: E402


class FakeStream:
    def __init__(self, sd, samplerate, **_kw):
        self.sd, self.rate, self.written, self.closed = sd, samplerate, [], False
        sd.streams.append(self)

    write_available = 1 << 20

    def start(self):
        pass

    def write(self, data):
        if self.sd.fail_on_write == len(self.written):
            raise RuntimeError("device gone")
        self.written.append(np.asarray(data).reshape(-1).copy())
        time.sleep(0.002)

    def stop(self):
        pass

    def close(self):
        self.closed = True


class FakeSd:
    def __init__(self, rates=None):
        self.streams: list[FakeStream] = []
        self.fail_on_write: int | None = None
        self.rates = rates        # None: every rate opens

    def query_devices(self, device=None, kind=None):
        return {"default_samplerate": 48000}

    def OutputStream(self, samplerate, **kw):  # noqa: N802 - sounddevice's name
        if self.rates is not None and samplerate not in self.rates:
            raise RuntimeError(f"cannot open at {samplerate}")
        return FakeStream(self, samplerate, **kw)


@pytest.fixture()
def mouth(monkeypatch):
    sd = FakeSd()
    monkeypatch.setattr(tts, "load_sounddevice", lambda: sd)
    gate = HalfDuplexGate()
    m = tts.PyttsxMouth(gate=gate)
    m.say("hello")               # learns the speech's rate, as the session's first prompt does
    yield m, sd, gate
    m.close()


def test_the_reply_follows_the_tone_in_the_same_stream(mouth):
    m, sd, gate = mouth
    m.cue_async("done")
    m.say("next question")
    tone_stream = sd.streams[1]
    assert len(sd.streams) == 2, "the reply opened a stream of its own"
    tone, words = tone_stream.written      # (the whole tone fits the buffer: one write)
    assert tone.size == pytest.approx(2 * NOTE_SECONDS * tone_stream.rate, abs=2)
    assert words.size > tone.size and tone_stream.closed
    (c0, c1, name), = m.cues
    start, end, text = m.spoken[-1]
    assert name == "done" and text == "next question" and c1 <= start <= end
    assert gate.muted_until == pytest.approx(end + gate.tail)


def test_without_a_reply_the_microphone_hears_again_after_the_tone(mouth):
    m, sd, gate = mouth
    m.cue_async("done")
    deadline = time.monotonic() + 2
    while gate.muted_until == float("inf") and time.monotonic() < deadline:
        time.sleep(0.01)
    (c0, c1, _), = m.cues
    assert gate.muted_until == pytest.approx(c1 + gate.tail)   # not held while the stream waits
    m.cue("listen")                       # anything else closes the waiting stream first
    assert sd.streams[1].closed and len(sd.streams) == 3
    assert [len(s.written) for s in sd.streams[1:]] == [1, 1]


def test_a_reply_at_another_rate_is_played_on_its_own(mouth, monkeypatch):
    m, sd, gate = mouth
    m.cue_async("done")
    pcm, rate = m.synth.synthesize("twelve")
    monkeypatch.setattr(m.synth, "synthesize", lambda text: (pcm[::2].copy(), rate // 2))
    m.say("twelve")
    assert len(sd.streams) == 3 and sd.streams[2].rate == rate // 2
    assert len(sd.streams[1].written) == 1 and m.spoken[-1][2] == "twelve"


def test_a_speaker_lost_during_the_reply_is_reported(mouth):
    m, sd, gate = mouth
    sd.fail_on_write = 1                  # the tone plays, the words do not
    m.cue_async("done")
    with pytest.raises(tts.TtsError, match="device gone"):
        m.say("next question")
    assert gate.muted_until < float("inf")   # the microphone is not left deaf
    assert [t for _, _, t in m.spoken] == ["hello"]


def test_a_tone_that_will_not_open_at_the_speech_rate_falls_back(monkeypatch):
    sd = FakeSd(rates={48000})
    monkeypatch.setattr(tts, "load_sounddevice", lambda: sd)
    m = tts.PyttsxMouth(gate=HalfDuplexGate())
    try:
        m._speech_rate = 22050
        m.cue_async("done")
        m.say("next question")        # the speech is resampled to a rate that opens
        assert [s.rate for s in sd.streams] == [48000, 48000]
        assert [n for _, _, n in m.cues] == ["done"] and m.spoken[-1][2] == "next question"
        assert threading.active_count() >= 1
    finally:
        m.close()


# ------------------------------------------------------------------ an answer recognised at its end
def test_a_reply_ready_at_once_is_played_without_the_tone(mouth):
    """The ears decoded the answer during its trailing silence (gate.answer_ready): the reply
    comes within the grace time, so it is played at once and the tone is left out."""
    m, sd, gate = mouth
    gate.answer_ready = True             # as VoiceEars sets it around on_speech_end
    m.cue_async("done")
    gate.answer_ready = False
    m.say("next question")
    stream = sd.streams[1]
    assert len(sd.streams) == 2 and stream.closed
    words, = stream.written              # the words alone: no tone before them
    assert words.size > 4 * NOTE_SECONDS * stream.rate
    assert m.cues == []
    start, end, text = m.spoken[-1]
    assert text == "next question"
    assert gate.muted_until == pytest.approx(end + gate.tail)


def test_a_slow_reply_gets_the_tone_first_even_when_the_answer_was_ready(mouth):
    m, sd, gate = mouth
    gate.answer_ready = True
    t0 = time.monotonic()
    m.cue_async("done")
    gate.answer_ready = False
    deadline = time.monotonic() + 2
    while not m.cues and time.monotonic() < deadline:   # nothing said within the grace time
        time.sleep(0.01)
    (c0, c1, name), = m.cues
    assert name == "done" and c0 - t0 >= tts.REPLY_GRACE_SECONDS - 0.01
    m.say("next question")
    tone, words = sd.streams[1].written
    assert tone.size == pytest.approx(2 * NOTE_SECONDS * sd.streams[1].rate, abs=2)
    assert m.spoken[-1][0] >= c1


def test_the_listen_tone_is_never_left_out(mouth):
    m, sd, gate = mouth
    gate.answer_ready = True             # only the "done" tone stands for a wait
    m.cue_async("listen")
    gate.answer_ready = False
    m.say("next question")
    tone, words = sd.streams[1].written
    assert [n for _, _, n in m.cues] == ["listen"]
