"""Real-audio test harness: PulseAudio virtual devices, espeak-ng speech, a grammar recogniser.

`PulseDevices.ensure()` runs scripts/pulse-virtual-devices.sh (idempotent) and returns a
handle with helpers to play "the user's" speech into the virtual microphone (sink
user_mouth -> source coach_mic) and to record what the assistant says (coach_speaker.monitor).
Tests skip only when the PulseAudio binaries are absent (CI installs them, so there they run).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "pulse-virtual-devices.sh"
PULSE_DIR = os.environ.get("COACH_PULSE_DIR", "/tmp/coach-pulse")
NEEDED = ("pulseaudio", "pactl", "paplay", "parecord", "espeak-ng")


def missing_tools() -> list[str]:
    return [t for t in NEEDED if shutil.which(t) is None]


class PulseUnavailable(RuntimeError):
    pass


@dataclass
class Recording:
    proc: subprocess.Popen
    path: Path

    def stop(self, settle: float = 2.5) -> tuple[np.ndarray, int]:
        # a null sink renders in blocks of up to 2 s: its monitor delivers that late
        time.sleep(settle)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return read_wav16(self.path)


class PulseDevices:
    def __init__(self, env: dict[str, str], directory: str) -> None:
        self.env = env
        self.dir = directory

    @classmethod
    def ensure(cls, directory: str = PULSE_DIR, client_config: bool = True) -> "PulseDevices":
        missing = missing_tools()
        if missing:
            raise PulseUnavailable("not installed: " + ", ".join(missing)
                                   + " (apt-get install pulseaudio pulseaudio-utils espeak-ng)")
        env = dict(os.environ, COACH_PULSE_DIR=directory,
                   COACH_PULSE_CLIENT_CONFIG="1" if client_config else "0")
        env.pop("PULSE_SERVER", None)
        res = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise RuntimeError(f"{SCRIPT.name} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        client_env = dict(os.environ, PULSE_SERVER=f"unix:{directory}/native")
        return cls(client_env, directory)

    # --------------------------------------------------------------- control
    def pactl(self, *args: str) -> str:
        res = subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True, timeout=20)
        if res.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)}: {res.stderr.strip()}")
        return res.stdout

    def module_ids(self, module: str) -> list[str]:
        return [line.split("\t")[0] for line in self.pactl("list", "short", "modules").splitlines()
                if f"\t{module}\t" in line or line.split("\t")[1:2] == [module]]

    def daemon_pid(self) -> int | None:
        try:
            return int(Path(self.dir, "pid").read_text().strip())
        except (OSError, ValueError):
            return None

    # --------------------------------------------------------------- audio
    def say_into_mic(self, text: str, voice: str = "en-us", wpm: int = 150,
                     wait: bool = True) -> subprocess.Popen | None:
        """Speak `text` with espeak-ng into the virtual microphone."""
        wav = synth_wav(text, voice=voice, wpm=wpm)
        return self.play_into_mic(wav, wait=wait)

    def play_into_mic(self, wav: Path, wait: bool = True) -> subprocess.Popen | None:
        proc = subprocess.Popen(["paplay", "--device=user_mouth", str(wav)], env=self.env)
        if wait:
            proc.wait(timeout=60)
            return None
        return proc

    def record_speaker(self, rate: int = 16000) -> Recording:
        """Start recording what is played on coach_speaker."""
        path = Path(tempfile.mkstemp(suffix=".wav", prefix="coach-speaker-")[1])
        proc = subprocess.Popen(["parecord", "--device=coach_speaker.monitor", f"--rate={rate}",
                                 "--channels=1", "--format=s16le", "--file-format=wav",
                                 "--latency-msec=20", str(path)], env=self.env)
        time.sleep(1.0)
        return Recording(proc, path)


def synth_wav(text: str, voice: str = "en-us", wpm: int = 150, path: Path | None = None) -> Path:
    if path is None:
        fd, name = tempfile.mkstemp(suffix=".wav", prefix="espeak-")
        os.close(fd)
        path = Path(name)
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(path), text], check=True,
                   capture_output=True, timeout=30)
    return path


def read_wav16(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        rate, ch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    assert width == 2, f"{path}: {width * 8}-bit"
    x = np.frombuffer(raw, dtype="<i2")
    if ch > 1:
        x = x[: x.size - x.size % ch].reshape(-1, ch).mean(axis=1).astype(np.int16)
    return x, rate


def rms_dbfs(x: np.ndarray) -> float:
    if x.size == 0:
        return -100.0
    r = float(np.sqrt(np.mean(np.square(x.astype(np.float64)))))
    return -100.0 if r <= 0 else 20 * np.log10(r / 32768.0)


# ------------------------------------------------------------------- recogniser for tests
class SphinxGrammarRecognizer:
    """PocketSphinx with a JSGF grammar of the given phrases: a real recogniser for the audio
    tests, used when the project's engines (skill.recognition.engines) are not importable."""

    name = "pocketsphinx"
    sample_rate = 16000

    def __init__(self) -> None:
        import pocketsphinx
        self._ps = pocketsphinx
        self.decoder = pocketsphinx.Decoder(samprate=16000, lm=None, loglevel="FATAL")
        self._n = 0
        self._grammars: dict[tuple[str, ...], str] = {}

    def begin(self, phrases: list[str]) -> None:
        key = tuple(phrases)
        if key not in self._grammars:
            self._n += 1
            name = f"g{self._n}"
            alts = " | ".join(f"( {p} )" for p in phrases)
            self.decoder.add_jsgf_string(name, f"#JSGF V1.0;\ngrammar {name};\npublic <s> = {alts} ;\n")
            self._grammars[key] = name
        self.decoder.activate_search(self._grammars[key])
        self.decoder.start_utt()

    def feed(self, pcm: bytes) -> None:
        self.decoder.process_raw(pcm, False, False)

    def finish(self):  # noqa: ANN201
        from skill.recognition.base import Hypothesis
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        if hyp is None or not hyp.hypstr:
            return Hypothesis("", None)
        return Hypothesis(hyp.hypstr, float(self.decoder.get_logmath().exp(hyp.prob)))


def recognize_wav(samples: np.ndarray, rate: int, phrases: list[str]) -> str:
    """Recognise a whole recording (any rate) against `phrases`; returns the text."""
    from skill.audio.capture import resample, to_int16
    pcm = samples if rate == 16000 else to_int16(resample(samples, rate, 16000))
    # a null sink's monitor gives exact digital zeros between sounds, which no microphone
    # does and which upsets PocketSphinx's energy normalisation: add the hiss of a real one
    hiss = np.random.default_rng(0).normal(0, 3, pcm.size)
    pcm = to_int16(pcm.astype(np.float64) + hiss)
    rec = SphinxGrammarRecognizer()
    rec.begin(phrases)
    rec.feed(pcm.astype("<i2").tobytes())
    return rec.finish().text


def project_recognizer():
    """The project's pocketsphinx engine if it exists yet, else the test one."""
    try:
        from skill.recognition.engines import open_recognizer
    except ImportError:
        return SphinxGrammarRecognizer()
    recognizer, _notice = open_recognizer("pocketsphinx", None)
    return recognizer
