"""`run_assistant.py serve`: idle on the wake phrase, a session, idle again; real recogniser on
espeak-ng audio through --audio-in --fast (the recording's own clock), real TTS to --audio-out."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skill.bench.evalset import make_noise, read_pcm, speak, write_pcm

ROOT = Path(__file__).resolve().parent.parent
RATE = 16000


def build_wav(path: Path, parts: list, tmp: Path) -> dict[str, float]:
    """Concatenate speech (str) and silences (float seconds) over a faint pink-noise floor;
    returns where each spoken part starts and ends."""
    noise = make_noise(tmp)["pink"]
    chunks, marks, t = [], {}, 0.0
    for i, part in enumerate(parts):
        if isinstance(part, str):
            wav = tmp / f"part{i}.wav"
            speak(part, "en-us", 160, wav)
            x = read_pcm(wav).astype(np.float64)
            marks[f"{i}:{part}"] = (t, t + x.size / RATE)
        else:
            x = np.zeros(int(part * RATE))
        chunks.append(x)
        t += x.size / RATE
    x = np.concatenate(chunks)
    x += noise[np.arange(x.size) % noise.size] * 0.03          # about -45 dBFS of room noise
    write_pcm(path, np.clip(x, -32768, 32767))
    return marks


def run_serve(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run_assistant.py"), "serve", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_serve_ignores_other_talk_wakes_on_hey_coach_and_runs_a_session(tmp_path):
    wav = tmp_path / "in.wav"
    marks = build_wav(wav, [2.0, "the weather is lovely today", 1.5, "where did i leave my keys", 1.5,
                            "hey coach", 60.0], tmp_path)
    events = tmp_path / "events.jsonl"
    res = run_serve("--audio-in", str(wav), "--fast", "--audio-out", str(tmp_path / "out.wav"),
                    "--engine", "pocketsphinx", "--skip-screener", "--no-history", "--seed", "1",
                    "--events", str(events))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    assert res.stdout == ""                     # serve logs; it prints nothing
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("<") for ln in lines), lines[:5]   # journal priorities
    ev = read_events(events)
    wakes = [e for e in ev if e["type"] == "wake"]
    assert [w["phrase"] for w in wakes] == ["hey coach"], wakes
    # it woke on the wake phrase, not on the talk before it
    woke_at = float(res.stderr.split("heard (confidence")[1].split(" at ")[1].split()[0])
    start, end = marks["5:hey coach"]
    assert end - 0.1 <= woke_at <= end + 1.5, (woke_at, marks)
    kinds = [e["type"] for e in ev]
    i = kinds.index("wake")
    assert ev[0]["prompt"] == "serve_ready" and "hey coach" in ev[0]["text"]
    # then the session: its own prompts and actions, ended by the end of the recording
    assert any(e["type"] == "say" and e.get("prompt") == "serve_wake" for e in ev[i:])
    session = ev[i + 3:]
    assert any(e["type"] == "listen" for e in session)
    assert session[-1]["type"] == "end" and session[-1]["summary"]["ended"] == "end_of_input"
    # the earcons are in what was "played", in the order of the cue events: "done" on waking,
    # "listen" before each question of the session
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from skill.audio.sources import read_wav
    from test_earcons import find_tones
    said, rate = read_wav(tmp_path / "out.wav")
    assert said.size > 5 * rate                                 # the coach really spoke
    cues = [e["cue"] for e in ev if e["type"] == "cue"]
    assert cues[0] == "done" and "listen" in cues
    assert [name for _, name in find_tones(said, rate)] == cues


def _args(**kw) -> argparse.Namespace:
    base = dict(json=False, events=None, no_history=True, routine=None, skip_screener=True,
                data_dir=None, seed=1)
    base.update(kw)
    return argparse.Namespace(**base)


def test_after_a_session_serve_goes_back_to_idle_and_wakes_again(tmp_path):
    """The loop itself, with the real wake recogniser on a recording and a recorded session
    runner in place of the coaching dialog (which test_serve's first test runs for real)."""
    from skill.audio.ears import HalfDuplexGate, VoiceEars
    from skill.audio.sources import WavFileSource
    from skill.audio.tts import WavOutMouth
    from skill.cli import load_assets
    from skill.runtime import EventSink
    from skill.serve_command import Server
    from skill.wake import WakeRecognizer, load_wake_phrases
    locale = ROOT / "dialogs" / "en-us"
    wav = tmp_path / "in.wav"
    marks = build_wav(wav, [8.0, "hey coach", 3.0, "the floor is cold", 25.0, "start my exercises", 2.0],
                      tmp_path)
    source = WavFileSource(wav, RATE, fast=True)
    clock = source.clock
    gate = HalfDuplexGate()
    phrases = load_wake_phrases(locale)
    wake = WakeRecognizer(phrases, locale)
    ears = VoiceEars(source, wake, lambda c: phrases, clock, gate=gate)   # the session's ears
    mouth = WavOutMouth(tmp_path / "out.wav", clock, gate=gate)
    sessions: list[float] = []

    def session() -> None:          # a session that lasts 20 s on the recording's clock
        sessions.append(clock.now())
        clock.sleep_until(clock.now() + 20.0)

    emitted: list[dict] = []
    sink = EventSink()
    sink.listeners.append(emitted.append)
    server = Server(_args(), load_assets(locale, 1), ears, mouth, clock, 0.5, wake, phrases, sink,
                    run_session=session)
    server.run()                                  # returns when the recording ends
    assert server.sessions == 2
    assert [e["phrase"] for e in emitted if e["type"] == "wake"] == ["hey coach", "start my exercises"]
    # each session began just after its wake phrase (plus the cue and the greeting)
    assert marks["1:hey coach"][1] < sessions[0] < marks["1:hey coach"][1] + 4
    assert marks["5:start my exercises"][1] < sessions[1] < marks["5:start my exercises"][1] + 4
    said = [e["prompt"] for e in emitted if e["type"] == "say"]
    assert said == ["serve_ready", "serve_wake", "serve_again", "serve_wake", "serve_again"]
    assert [name for *_, name in mouth.cues] == ["done", "done"]
    mouth.close()


def test_an_unusable_wake_phrase_is_a_clear_message_not_a_traceback(tmp_path):
    wav = tmp_path / "in.wav"
    write_pcm(wav, np.zeros(RATE))
    res = run_serve("--audio-in", str(wav), "--fast", "--audio-out", str(tmp_path / "o.wav"),
                    "--engine", "pocketsphinx", "--wake-phrase", "hey zorblax")
    assert res.returncode == 2, res.stderr
    assert "zorblax" in res.stderr and "Traceback" not in res.stderr


def test_serve_has_no_text_mode(tmp_path):
    res = run_serve("--text")
    assert res.returncode == 2 and "no --text mode" in res.stderr and "Traceback" not in res.stderr


# ------------------------------------------------------------------ real microphone
class LogWatcher:
    """Collects a process's stderr lines in a thread; wait_for(text) blocks until one has it."""

    def __init__(self, proc: subprocess.Popen) -> None:
        import threading
        self.lines: list[str] = []
        self._cv = threading.Condition()
        self._t = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._t.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            with self._cv:
                self.lines.append(line.rstrip("\n"))
                self._cv.notify_all()

    def wait_for(self, text: str, timeout: float, after: int = 0) -> int:
        import time
        end = time.monotonic() + timeout
        with self._cv:
            while True:
                for i in range(after, len(self.lines)):
                    if text in self.lines[i]:
                        return i
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {text!r} in the log within {timeout} s:\n" + "\n".join(self.lines[-30:]))
                self._cv.wait(left)


def private_pulse(tmp_path):  # noqa: ANN001, ANN201
    """A PulseAudio daemon of this test's own (skip when the stack is missing):
    (the PulseDevices class, its directory, the running devices)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pulse_harness import PulseDevices, PulseUnavailable, missing_tools
    if missing_tools():
        pytest.skip("PulseAudio test stack not installed: " + ", ".join(missing_tools()))
    pulse_dir = str(tmp_path / "pulse")
    try:
        return PulseDevices, pulse_dir, PulseDevices.ensure(pulse_dir, client_config=False)
    except PulseUnavailable as exc:
        pytest.skip(str(exc))


def test_serve_waits_for_an_unplugged_microphone_and_wakes_after_it_is_back(tmp_path):
    """Private PulseAudio daemon as the microphone: kill it while serve idles (the device is
    gone), start it again, then say "hey coach" into it; SIGTERM ends serve cleanly."""
    import signal
    import time
    PulseDevices, pulse_dir, pulse = private_pulse(tmp_path)
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_assistant.py"), "serve", "--engine", "pocketsphinx",
                             "--no-history", "--skip-screener", "--audio-out", str(tmp_path / "out.wav"),
                             "--events", str(tmp_path / "events.jsonl")],
                            # the microphone by name, as a USB one would be: reopening right as
                            # the daemon restarts must not settle for whatever source exists yet
                            env=dict(pulse.env, PULSE_SOURCE="coach_mic"), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = LogWatcher(proc)
    try:
        log.wait_for("serving", 60)
        time.sleep(3.0)                              # idle on the wake phrase
        pid = pulse.daemon_pid()
        assert pid
        os_kill(pid)                                 # the "USB microphone" disappears
        lost = log.wait_for("I will wait for it to come back", 30)
        time.sleep(4.0)
        assert proc.poll() is None, "serve gave up instead of waiting"
        pulse = PulseDevices.ensure(pulse_dir, client_config=False)     # plugged back in
        back = log.wait_for("working again", 30, after=lost)
        time.sleep(4.0)       # it is saying so (~2.5 s): half-duplex, the mic is deaf meanwhile
        for attempt in range(3):        # as a person would, say it again if it was missed
            pulse.say_into_mic("hey coach")
            try:
                log.wait_for("wake phrase 'hey coach' heard", 12, after=back)
                break
            except AssertionError:
                if attempt == 2:
                    raise
        events = tmp_path / "events.jsonl"
        give_up = time.monotonic() + 90
        while time.monotonic() < give_up and '"type": "listen"' not in events.read_text():
            time.sleep(0.5)                          # until the session asks its first question
        # then stop the service in the middle of the session, as systemd would
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        end_serve(proc, pulse, pulse_dir)
    text = "\n".join(log.lines)
    assert "Traceback" not in text, text[-3000:]
    assert log.wait_for("stopping", 5) > 0
    kinds = [e["type"] for e in read_events(tmp_path / "events.jsonl")]
    assert "wake" in kinds and "listen" in kinds[kinds.index("wake"):]


def stop_pulse(pulse, pulse_dir) -> None:  # noqa: ANN001
    """Stop the test's private PulseAudio daemon (the microphone disappears)."""
    subprocess.run(["sh", str(ROOT / "scripts" / "pulse-virtual-devices.sh"), "--stop"],
                   env=dict(pulse.env, COACH_PULSE_DIR=pulse_dir), capture_output=True, timeout=30)


def end_serve(proc: subprocess.Popen, pulse, pulse_dir) -> None:  # noqa: ANN001
    """Teardown: a serve still running is killed, then its private daemon stopped."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    stop_pulse(pulse, pulse_dir)


def os_kill(pid: int) -> None:
    import os
    import signal
    os.kill(pid, signal.SIGKILL)


def test_serve_started_before_its_microphone_waits_for_it(tmp_path):
    """A speaker that boots before its USB microphone: serve says so once, keeps looking, opens
    the microphone when it appears (no restart), and SIGTERM still ends it cleanly."""
    import signal
    import time
    PulseDevices, pulse_dir, pulse = private_pulse(tmp_path)
    env = dict(pulse.env, PULSE_SOURCE="coach_mic")
    stop_pulse(pulse, pulse_dir)                              # no microphone yet
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_assistant.py"), "serve", "--engine", "pocketsphinx",
                             "--no-history", "--skip-screener", "--audio-out", str(tmp_path / "out.wav")],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = LogWatcher(proc)
    try:
        first = log.wait_for("waiting for one", 60)            # no microphone: it waits
        time.sleep(6.0)                                          # at least one more look
        assert proc.poll() is None, "serve gave up instead of waiting"
        PulseDevices.ensure(pulse_dir, client_config=False)     # the microphone arrives
        log.wait_for("The microphone is working now", 40, after=first)
        log.wait_for("serving", 30, after=first)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        end_serve(proc, pulse, pulse_dir)
    text = "\n".join(log.lines)
    assert "Traceback" not in text, text[-3000:]
    assert sum("I can't hear you" in line for line in log.lines) <= 1, "told once, not at every look"
    assert proc.stdout.read() == ""


@pytest.mark.parametrize("mouth", ["speaker", "audio-out"])
def test_serve_stopped_while_waiting_for_its_microphone_closes_its_speech_output(tmp_path, mouth):
    """SIGTERM (systemd stopping the unit) while serve waits for a microphone that is not there
    yet: it stops at once, cleanly, and its speech output is closed like on any other stop
    (espeak's scratch folder removed, the --audio-out file finished)."""
    import signal
    import time
    import wave
    PulseDevices, pulse_dir, pulse = private_pulse(tmp_path)   # the speaker is there
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = ["--audio-out", str(tmp_path / "out.wav")] if mouth == "audio-out" else []
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_assistant.py"), "serve", "--engine", "pocketsphinx",
                             "--no-history", "--skip-screener", *out,
                             "--input-device", "No Such USB Microphone"],     # not plugged in
                            env=dict(pulse.env, TMPDIR=str(scratch)), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = LogWatcher(proc)
    try:
        log.wait_for("waiting for one", 60)
        assert proc.poll() is None, "serve gave up instead of waiting"
        assert list(scratch.glob("coach-tts-*")), "no speech output open: nothing to check"
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert proc.wait(timeout=20) == 0
        stopped_after = time.monotonic() - started
    finally:
        end_serve(proc, pulse, pulse_dir)
    text = "\n".join(log.lines)
    assert "Traceback" not in text, text[-3000:]
    assert "stopping while waiting for a microphone" in text, text[-3000:]
    assert stopped_after < 10, stopped_after            # not after the next look, or a hang
    assert list(scratch.iterdir()) == [], list(scratch.iterdir())   # the mouth was closed
    if mouth == "audio-out":
        with wave.open(str(tmp_path / "out.wav")) as w:    # what it said, in a finished file
            assert w.getnframes() > w.getframerate()       # the "I can't hear you" notice
