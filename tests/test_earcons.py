"""Earcons and volume: the tones themselves, in the --audio-out WAV at the right times, and
through the real PortAudio -> PulseAudio stack (a private daemon: recorded from its
coach_speaker.monitor, tones found by FFT, speech level checked against the volume level)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from skill.audio.earcons import (DEFAULT_LEVEL, EARCONS, NOTE_SECONDS, clamp_level, earcon,
                                 level_gain, level_gain_db)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pulse_harness import PulseDevices, PulseUnavailable, missing_tools, rms_dbfs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def dominant_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[int(np.argmax(spec))])


def tone_at(x: np.ndarray, rate: int, start: float) -> tuple[float, float]:
    """Dominant frequency of the first and of the second note of a tone starting at `start`."""
    n = int(NOTE_SECONDS * rate)
    i = int(round(start * rate))
    return dominant_hz(x[i + n // 5: i + n - n // 5], rate), dominant_hz(x[i + n + n // 5: i + 2 * n - n // 5], rate)


def find_tones(x: np.ndarray, rate: int) -> list[tuple[float, str]]:
    """(time, name) of each earcon in a recording: 10 ms frames whose spectrum is nearly all
    one of the earcon frequencies (speech never is), grouped into notes, notes into pairs."""
    hop = rate // 100
    frames = []
    for k in range(0, x.size - 2 * hop, hop):
        seg = x[k: k + 2 * hop].astype(np.float64)
        if rms_dbfs(seg) < -45:
            frames.append(None)
            continue
        spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size))) ** 2
        freqs = np.fft.rfftfreq(seg.size, 1 / rate)
        peak = float(freqs[int(np.argmax(spec))])
        share = spec[np.abs(freqs - peak) <= 60].sum() / spec.sum()
        frames.append(round(peak / 110) * 110 if share > 0.9 and peak in _near_tones(peak) else None)
    notes: list[tuple[float, float]] = []       # (start s, Hz)
    for k, f in enumerate(frames):
        if f is not None and (k == 0 or frames[k - 1] != f):
            notes.append((k * hop / rate, f))
    tones = []
    for (t1, f1), (t2, f2) in zip(notes, notes[1:]):
        if 0.04 < t2 - t1 < 0.1:
            for name, (a, b) in EARCONS.items():
                if abs(f1 - a) < 60 and abs(f2 - b) < 60:
                    tones.append((t1, name))
    return tones


def _near_tones(peak: float) -> list[float]:
    return [peak] if any(abs(peak - f) < 60 for pair in EARCONS.values() for f in pair) else []


# ------------------------------------------------------------------ the tones
def test_volume_levels_follow_the_agreed_gain():
    assert level_gain_db(10) == 0 and level_gain_db(8) == -6 and level_gain_db(1) == -27
    assert clamp_level(0) == 1 and clamp_level(42) == 10 and DEFAULT_LEVEL == 8
    assert abs(20 * np.log10(level_gain(5)) + 15) < 1e-9


@pytest.mark.parametrize("name", sorted(EARCONS))
def test_each_earcon_is_two_notes_in_its_direction(name):
    x = earcon(name, 16000)
    first, second = tone_at(x, 16000, 0.0)
    assert abs(first - EARCONS[name][0]) < 30 and abs(second - EARCONS[name][1]) < 30
    assert abs(x.size / 16000 - 2 * NOTE_SECONDS) < 0.002
    assert abs(int(x[0])) < 50 and abs(int(x[-1])) < 500          # faded: no click
    quiet = earcon(name, 16000, level_gain(4))
    assert abs(rms_dbfs(quiet) - rms_dbfs(x) - level_gain_db(4)) < 0.2


def test_an_unknown_earcon_is_an_error():
    with pytest.raises(ValueError, match="listen"):
        earcon("ding", 16000)


# ------------------------------------------------------------------ --audio-out
def test_wav_out_writes_tones_and_speech_at_their_times_and_levels(tmp_path):
    from skill.audio.sources import read_wav
    from skill.audio.tts import WavOutMouth
    from skill.clock import VirtualClock
    clock = VirtualClock()
    mouth = WavOutMouth(tmp_path / "out.wav", clock)
    mouth.say("repeat")
    clock.advance(0.5)
    mouth.cue("listen")
    clock.advance(1.0)
    mouth.cue("done")
    mouth.set_volume(10)
    clock.advance(0.5)
    mouth.say("twelve")
    mouth.set_volume(5)
    clock.advance(0.5)
    mouth.say("twelve")
    mouth.close()
    x, rate = read_wav(tmp_path / "out.wav")
    (s1, e1, _), (s2, e2, _), (s3, e3, _) = mouth.spoken
    (c1, _, n1), (c2, _, n2) = mouth.cues
    assert (n1, n2) == ("listen", "done") and e1 < c1 < c2 < s2
    found = find_tones(x, rate)
    assert [name for _, name in found] == ["listen", "done"], found
    for (t, _), c in zip(found, (c1, c2)):
        assert abs(t - c) < 0.03
    loud = rms_dbfs(x[int(s2 * rate): int(e2 * rate)])
    soft = rms_dbfs(x[int(s3 * rate): int(e3 * rate)])
    assert abs((soft - loud) - (level_gain_db(5) - level_gain_db(10))) < 0.5


# ------------------------------------------------------------------ real speaker
# Each real-speaker test runs a small script in its own process (PortAudio/PulseAudio state
# stays out of pytest): the same set-up, then the test's own steps, which print "LOG" + JSON.
SPEAKER_SETUP = """\
import json, sys, time
sys.path.insert(0, {root!r})
from skill.audio.ears import HalfDuplexGate
from skill.audio.tts import PyttsxMouth
gate = HalfDuplexGate()
mouth = PyttsxMouth(gate=gate)
"""


def run_speaker_script(speaker: PulseDevices, tmp_path: Path, steps: str) -> tuple[object, np.ndarray, int]:
    """Run the set-up plus `steps` against the private daemon while recording its speaker:
    (the script's LOG object, the recording, its rate)."""
    script = tmp_path / "speak.py"
    script.write_text(SPEAKER_SETUP.format(root=str(ROOT)) + textwrap.dedent(steps))
    rec = speaker.record_speaker()
    try:
        res = subprocess.run([sys.executable, str(script)], env=speaker.env, capture_output=True,
                             text=True, timeout=120)
    finally:
        x, rate = rec.stop()
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.split("LOG", 1)[1]), x, rate


VOLUME_STEPS = """
    log = []
    def step(what, fn):
        t0 = time.monotonic(); fn(); log.append([what, t0, time.monotonic(), gate.muted_until])
    step("say8", lambda: mouth.say("twelve"))
    time.sleep(0.4)
    step("listen", lambda: mouth.cue("listen"))
    time.sleep(0.6)
    step("done", lambda: mouth.cue("done"))
    time.sleep(0.4)
    mouth.set_volume(10)
    step("say10", lambda: mouth.say("twelve"))
    time.sleep(0.4)
    mouth.set_volume(5)
    step("say5", lambda: mouth.say("twelve"))
    mouth.close()
    print("LOG", json.dumps(log))
"""


@pytest.fixture(scope="module")
def speaker(tmp_path_factory) -> PulseDevices:
    if missing_tools():
        pytest.skip("PulseAudio test stack not installed: " + ", ".join(missing_tools()))
    try:
        return PulseDevices.ensure(str(tmp_path_factory.mktemp("pulse")), client_config=False)
    except PulseUnavailable as exc:
        pytest.skip(str(exc))


def test_tones_and_volume_reach_the_real_speaker(speaker, tmp_path):
    from skill.audio.endpoint import find_utterances
    log, x, rate = run_speaker_script(speaker, tmp_path, VOLUME_STEPS)
    # the microphone is deaf while a tone plays: the gate was muted to just after it ended
    for what, _t0, t1, muted_until in log:
        assert t1 <= muted_until <= t1 + 0.5, (what, t1, muted_until)
    tones = find_tones(x, rate)
    assert [n for _, n in tones] == ["listen", "done"], tones
    # order and spacing on the recording match the order and spacing of the calls
    gap_calls = log[2][1] - log[1][1]
    assert abs((tones[1][0] - tones[0][0]) - gap_calls) < 0.15
    speech = [(s.start, s.end) for s in find_utterances(x, rate)
              if not any(s.start - 0.1 <= t <= s.end for t, _ in tones)]     # the tones are no speech
    assert len(speech) == 3, speech
    levels = [rms_dbfs(x[int(a * rate): int(b * rate)]) for a, b in speech]
    assert speech[0][1] < tones[0][0] < tones[1][0] < speech[1][0]
    # louder/quieter: the recorded speech level moves by the agreed dB (+-1.5)
    assert abs((levels[1] - levels[0]) - (level_gain_db(10) - level_gain_db(DEFAULT_LEVEL))) < 1.5, levels
    assert abs((levels[2] - levels[1]) - (level_gain_db(5) - level_gain_db(10))) < 1.5, levels


ASYNC_STEPS = """
    mouth.say("twelve")
    time.sleep(0.5)
    t0 = time.monotonic()
    mouth.cue_async("done")           # as at the end of an answer: returns while the tone plays
    t_returned = time.monotonic()
    muted_at_return = gate.muted_until
    mouth.say("twelve")               # the reply waits for the tone, never overlaps it
    mouth.close()
    (c0, c1, name), = mouth.cues
    print("LOG", json.dumps(dict(t0=t0, returned=t_returned, cue=[c0, c1], muted=muted_at_return,
                                 speech=mouth.spoken[1][:2])))
"""


def test_an_early_done_tone_overlaps_the_caller_and_the_reply_waits_for_it(speaker, tmp_path):
    """The runtime starts the "done" tone when the answer's speech ends (cue_async) and
    recognises meanwhile; the microphone is deaf at once, and the reply follows the tone."""
    log, x, rate = run_speaker_script(speaker, tmp_path, ASYNC_STEPS)
    assert log["muted"] == float("inf")               # deaf from the call, not from the thread
    assert log["returned"] < log["cue"][1]            # returned before the tone had finished
    assert log["cue"][1] <= log["speech"][0]          # the reply started after the tone
    tones = find_tones(x, rate)
    assert [n for _, n in tones] == ["done"], tones
    from skill.audio.endpoint import find_utterances
    sound = find_utterances(x, rate)        # the reply follows the tone closely: one segment
    assert len(sound) == 2, sound
    first, tone_and_reply = sound
    assert first.end < tones[0][0] and tone_and_reply.start - 0.1 <= tones[0][0]
    assert tone_and_reply.end - tones[0][0] > 0.4, (sound, tones)    # "twelve" came after it
