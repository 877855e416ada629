"""`run_assistant.py devices --test` through the real PortAudio -> ALSA -> PulseAudio stack.

A PRIVATE PulseAudio daemon (own socket, own HOME with an .asoundrc pointing ALSA at it)
so no other test's audio reaches this microphone: a tone of known level is played into
coach_mic while the command records; its printed level must match, and its playback must
arrive at coach_speaker.monitor. The level arithmetic itself is checked on exact signals.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pulse_harness import PulseDevices, PulseUnavailable, missing_tools  # noqa: E402

from skill.audio.mic_check import measure  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "pulse-virtual-devices.sh"
LEVEL = re.compile(r"input level: peak (-?[\d.]+) dBFS, RMS (-?[\d.]+) dBFS, background (-?[\d.]+) dBFS: (.+)")


# ---------------------------------------------------------------------- the arithmetic
def sine(amplitude_dbfs: float, seconds: float = 1.0, rate: int = 48000, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.round(32768 * 10 ** (amplitude_dbfs / 20) * np.sin(2 * np.pi * hz * t)).clip(-32768, 32767)


def test_level_of_exact_signals():
    level = measure(sine(-12.0), 48000)
    assert abs(level.peak_dbfs + 12.0) <= 0.1 and abs(level.rms_dbfs + 15.0) <= 0.1
    assert level.verdict == "good"
    # a burst in near-silence: the floor is the quiet part, the RMS falls with the duty cycle
    x = np.concatenate([np.full(48000, 3.0), sine(-6.0, 1.0)])
    level = measure(x, 48000)
    assert abs(level.floor_dbfs - 20 * np.log10(3 / 32768)) <= 0.1
    assert abs(level.rms_dbfs - (-9.0 - 3.0)) <= 0.1


@pytest.mark.parametrize("dbfs, verdict", [(-70, "silent"), (-51, "silent"), (-49, "too quiet"),
                                           (-21, "too quiet"), (-19, "good"), (-1.5, "good"),
                                           (-0.5, "clipping"), (0, "clipping")])
def test_verdict_thresholds(dbfs, verdict):
    assert measure(sine(dbfs), 48000).verdict == verdict


def test_nothing_recorded_is_silent():
    assert measure(np.zeros(0, dtype=np.int16), 48000).verdict == "silent"


# ---------------------------------------------------------------------- through the audio stack
@pytest.fixture(scope="module")
def private(tmp_path_factory):
    if missing_tools():
        pytest.skip("PulseAudio test stack not installed: " + ", ".join(missing_tools()))
    base = tmp_path_factory.mktemp("devtest")
    try:
        pulse = PulseDevices.ensure(directory=str(base / "pulse"), client_config=False)
    except PulseUnavailable as exc:
        pytest.skip(str(exc))
    home = base / "home"
    home.mkdir()
    # ALSA default -> PulseAudio for this test's processes only (PULSE_SERVER picks the daemon)
    (home / ".asoundrc").write_text("pcm.!default { type pulse }\nctl.!default { type pulse }\n")
    env = dict(pulse.env, HOME=str(home), XDG_CONFIG_HOME=str(base / "config"))
    env.pop("VOICE_COACH_CONFIG", None)
    yield pulse, env
    subprocess.run(["sh", str(SCRIPT), "--stop"], env=dict(pulse.env, COACH_PULSE_DIR=pulse.dir),
                   capture_output=True, timeout=30)


def tone_wav(path: Path, dbfs: float, seconds: float, hz: int = 440) -> Path:
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(path), "synth", str(seconds),
                    "sine", str(hz), "vol", f"{dbfs}dB"], check=True, capture_output=True, timeout=30)
    return path


def devices_test(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run_assistant.py"), "devices", "--test", *argv],
                          env=env, capture_output=True, text=True, timeout=90)


def dominant_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[int(np.argmax(spectrum))])


@pytest.mark.audio
@pytest.mark.parametrize("dbfs, verdict, hz", [(-10.0, "good", 440), (-30.0, "too quiet", 660)])
def test_a_known_tone_is_measured_and_played_back(private, tmp_path, dbfs, verdict, hz):
    pulse, env = private
    # the tone outlasts the command's start-up and its 2 s recording, so RMS = peak - 3 dB
    tone = pulse.play_into_mic(tone_wav(tmp_path / "tone.wav", dbfs, 12.0, hz), wait=False)
    speaker = pulse.record_speaker(rate=48000)
    try:
        time.sleep(0.5)
        res = devices_test(env, "--seconds", "2")
    finally:
        x, rate = speaker.stop()
        tone.terminate()
        tone.wait(timeout=10)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    m = LEVEL.search(res.stdout)
    assert m, res.stdout
    peak, rms, floor, said = float(m[1]), float(m[2]), float(m[3]), m[4]
    assert abs(peak - dbfs) <= 2.0, res.stdout
    assert abs(rms - (dbfs - 3.0)) <= 2.0, res.stdout
    assert abs(floor - (dbfs - 3.0)) <= 2.0, res.stdout   # the tone filled the whole window
    assert said == verdict
    assert "microphone " in res.stdout and "Playing it back on speaker" in res.stdout
    # the playback reached the speaker: about 2 s of the same tone at about the same level
    win = rate // 10
    n = x.size // win
    rms_db = 20 * np.log10(np.sqrt(np.mean((x[: n * win].astype(np.float64) ** 2).reshape(n, win), axis=1))
                           / 32768 + 1e-12)
    loud = rms_db > dbfs - 3.0 - 6.0
    assert 1.5 <= loud.sum() / 10 <= 2.6, f"{loud.sum() / 10} s of tone at the speaker"
    assert abs(float(np.median(rms_db[loud])) - (dbfs - 3.0)) <= 2.0
    first = int(np.argmax(loud))
    assert abs(dominant_hz(x[first * win: (first + 10) * win], rate) - hz) <= 5.0


@pytest.mark.audio
def test_silence_is_called_silent(private):
    _pulse, env = private
    res = devices_test(env, "--seconds", "1")
    assert res.returncode == 0, res.stderr
    m = LEVEL.search(res.stdout)
    assert m and m[4] == "silent", res.stdout
    assert "Nothing came in" in res.stdout


@pytest.mark.audio
def test_configured_and_unknown_devices(private, tmp_path):
    _pulse, env = private
    res = devices_test(env, "--input-device", "no-such-mic", "--seconds", "1")
    assert res.returncode == 3 and "Traceback" not in res.stderr
    assert "There is no microphone called 'no-such-mic'" in res.stderr
    # the config file's device is the one tested (and named in the message)
    cfg = tmp_path / "c.toml"
    cfg.write_text('output_device = "no-such-speaker"\n')
    res = devices_test(env, "--config", str(cfg), "--seconds", "1")
    assert res.returncode == 3 and "Traceback" not in res.stderr
    assert "I cannot find a speaker called 'no-such-speaker'" in res.stderr
    assert "Recording" not in res.stdout          # checked before asking anyone to speak


@pytest.mark.audio
def test_no_audio_server_means_no_microphone_exit_3(tmp_path, private):
    _pulse, env = private
    dead = dict(env, PULSE_SERVER=f"unix:{tmp_path}/nothing-here")
    res = devices_test(dead, "--seconds", "1")
    assert res.returncode == 3, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    assert "I cannot find any microphone" in res.stderr


@pytest.mark.audio
def test_seconds_out_of_range(private):
    _pulse, env = private
    res = devices_test(env, "--seconds", "0")
    assert res.returncode == 2 and "--seconds must be between" in res.stderr
