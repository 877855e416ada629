"""A private PulseAudio "room" for benchmarks that drive the real assistant through real audio.

Devices (on a daemon of our own, started by scripts/pulse-virtual-devices.sh with a private
COACH_PULSE_DIR, so nobody else's audio leaks in or out):

    room         stereo null sink: LEFT = the person, RIGHT = the coach
    user_left    remap sink -> room's left channel   (the person speaks here: pacat)
    coach_right  remap sink -> room's right channel  (default sink: the assistant speaks here)
    room_mic     remap source of room.monitor's left channel (default source: the microphone)

Remap sinks are filters inside the master sink's own thread (no loopback, no extra buffer),
so recording `room.monitor` gives the person's speech and the coach's reply as two channels
of ONE stream, on one sample clock: no two recordings to align. The microphone hears only
the person (like a perfect echo canceller; the coach is half-duplex anyway).

`RoomRecorder` reads room.monitor in this process and maps sample indices to
time.monotonic(): each chunk's arrival time minus its position gives an upper bound of the
stream's start; the smallest bound over the run is the mapping (a delayed chunk only ever
makes the bound larger), accurate to the monitor's best-case delivery delay (~10-20 ms).
"""
from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "pulse-virtual-devices.sh"
TOOLS = ("pulseaudio", "pactl", "pacat", "espeak-ng")
REC_RATE = 16000


def missing_tools() -> list[str]:
    return [f"{t} is not installed" for t in TOOLS if shutil.which(t) is None]


class Stage:
    """Start the private daemon and the room devices; `env` reaches them (PULSE_SERVER)."""

    def __init__(self) -> None:
        # a short path: a unix socket path must stay under 108 bytes
        self.dir = tempfile.mkdtemp(prefix="coach-bench-pulse-")
        env = dict(os.environ, COACH_PULSE_DIR=self.dir, COACH_PULSE_CLIENT_CONFIG="0")
        env.pop("PULSE_SERVER", None)
        res = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise RuntimeError(f"{SCRIPT.name} failed: {res.stdout}\n{res.stderr}")
        self.env = dict(os.environ, PULSE_SERVER=f"unix:{self.dir}/native")
        self.pactl("load-module", "module-null-sink", "sink_name=room", "rate=48000", "channels=2",
                   "channel_map=front-left,front-right", "norewinds=1")
        for name, side in (("user_left", "front-left"), ("coach_right", "front-right")):
            self.pactl("load-module", "module-remap-sink", f"sink_name={name}", "master=room",
                       "channels=1", "channel_map=mono", f"master_channel_map={side}", "remix=no")
        self.pactl("load-module", "module-remap-source", "source_name=room_mic", "master=room.monitor",
                   "channels=1", "channel_map=mono", "master_channel_map=front-left", "remix=no")
        self.pactl("set-default-sink", "coach_right")
        self.pactl("set-default-source", "room_mic")

    def pactl(self, *args: str) -> str:
        res = subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True, timeout=20)
        if res.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)}: {res.stderr.strip()}")
        return res.stdout

    def close(self) -> None:
        # stops only the daemon this stage started (the script kills the pid it recorded)
        env = dict(os.environ, COACH_PULSE_DIR=self.dir)
        subprocess.run(["sh", str(SCRIPT), "--stop"], env=env, capture_output=True, timeout=20)
        shutil.rmtree(self.dir, ignore_errors=True)


def synth(text: str, wpm: int = 150, voice: str = "en-us") -> tuple[np.ndarray, int]:
    fd, path = tempfile.mkstemp(suffix=".wav", prefix="bench-user-")
    os.close(fd)
    try:
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", path, text], check=True,
                       capture_output=True, timeout=30)
        import wave
        with wave.open(path) as w:
            rate = w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    finally:
        os.unlink(path)
    return pcm, rate


class UserVoice:
    """One long-lived playback stream into user_left, paced in real time: a faint room hiss
    (a null sink's digital zeros are no microphone's), and speech mixed in when asked. One
    stream, because a null sink starts each new stream a variable time late."""

    RATE = 22050
    CHUNK = 0.02
    LEAD = 0.06
    HISS = 30.0   # about -61 dBFS

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(["pacat", "--playback", "--device=user_left", "--raw",
                                      f"--rate={self.RATE}", "--channels=1", "--format=s16le",
                                      "--latency-msec=30"], stdin=subprocess.PIPE, env=env)
        self._queue: collections.deque = collections.deque()
        self._rng = np.random.default_rng(7)
        self._stop = threading.Event()
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def say(self, text: str) -> threading.Event:
        pcm, rate = synth(text)
        if rate != self.RATE:
            from ..audio.capture import resample, to_int16
            pcm = to_int16(resample(pcm, rate, self.RATE))
        done = threading.Event()
        self._queue.append((pcm, done))
        return done

    def _run(self) -> None:
        n = int(self.RATE * self.CHUNK)
        t0 = time.monotonic()
        written = 0
        current, pos = None, 0
        while not self._stop.is_set():
            if written / self.RATE - (time.monotonic() - t0) > self.LEAD:
                time.sleep(0.004)
                continue
            block = self._rng.normal(0.0, self.HISS, n)
            if current is None and self._queue:
                current, pos = self._queue.popleft(), 0
            if current is not None:
                part = current[0][pos:pos + n].astype(np.float64)
                block[:part.size] += part
                pos += n
                if pos >= current[0].size:
                    current[1].set()
                    current = None
            try:
                self.proc.stdin.write(np.clip(np.round(block), -32768, 32767).astype("<i2").tobytes())
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError) as exc:
                self.error = f"pacat stopped: {exc}"
                return
            written += n

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        end_process(self.proc)


class RoomRecorder:
    """Records room.monitor (stereo, REC_RATE) into memory; see the module doc for the clock."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(["pacat", "--record", "--device=room.monitor", "--raw",
                                      f"--rate={REC_RATE}", "--channels=2", "--format=s16le",
                                      "--latency-msec=10"], stdout=subprocess.PIPE, env=env)
        self._chunks: list[bytes] = []
        self._frames = 0
        self.start_bound = float("inf")   # time.monotonic() of sample 0 (best upper bound)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            data = self.proc.stdout.read1(4096) if hasattr(self.proc.stdout, "read1") else self.proc.stdout.read(4096)
            if not data:
                return
            now = time.monotonic()
            self._chunks.append(data)
            self._frames += len(data) // 4
            self.start_bound = min(self.start_bound, now - self._frames / REC_RATE)

    def time_of(self, seconds_into_recording: float) -> float:
        return self.start_bound + seconds_into_recording

    def seconds_since_start(self) -> float:
        return self._frames / REC_RATE

    def stop(self) -> np.ndarray:
        """(n, 2) int16: column 0 the person, column 1 the coach."""
        end_process(self.proc)
        self._thread.join(timeout=5)
        raw = b"".join(self._chunks)
        x = np.frombuffer(raw[: len(raw) - len(raw) % 4], dtype="<i2")
        return x.reshape(-1, 2)


class EventTail:
    """Follows an --events file in a thread, stamping each event with time.monotonic() (`_seen`):
    a say event appears when the coach starts saying it. `events` keeps them all, `poll()` hands
    out the ones not seen yet; lines that are not JSON are kept in `bad_lines`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events: list[dict] = []
        self.bad_lines: list[str] = []
        self._new: collections.deque[dict] = collections.deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-tail", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pos, buf = 0, ""
        while True:
            stopping = self._stop.is_set()   # read once more after close(): nothing written is lost
            try:
                with open(self.path, encoding="utf-8") as f:
                    f.seek(pos)
                    data = f.read()
                    pos = f.tell()
            except FileNotFoundError:
                data = ""
            if data:
                buf += data
                *lines, buf = buf.split("\n")
                now = time.monotonic()
                for line in lines:
                    if line.strip():
                        try:
                            ev = json.loads(line)
                        except ValueError:
                            self.bad_lines.append(line)
                            continue
                        ev["_seen"] = now
                        self.events.append(ev)
                        self._new.append(ev)
            if stopping:
                return
            time.sleep(0.005)

    def poll(self) -> list[dict]:
        """The events that appeared since the last poll."""
        new = []
        while self._new:
            new.append(self._new.popleft())
        return new

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def end_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def frame_levels(x: np.ndarray, rate: int = REC_RATE, frame: float = 0.01) -> np.ndarray:
    """dBFS of each 10 ms frame."""
    n = int(rate * frame)
    m = x.size // n
    f = x[: m * n].astype(np.float64).reshape(m, n)
    rms = np.sqrt(np.mean(f * f, axis=1))
    return np.where(rms > 0, 20 * np.log10(np.maximum(rms, 1e-9) / 32768.0), -100.0)


def segments(active: np.ndarray, frame: float = 0.01, merge_gap: float = 0.6,
             min_len: float = 0.08) -> list[tuple[float, float]]:
    """(start, end) seconds of runs of active frames, joining gaps shorter than merge_gap."""
    out: list[list[float]] = []
    idx = np.flatnonzero(active)
    for i in idx:
        t = i * frame
        if out and t - out[-1][1] <= merge_gap:
            out[-1][1] = t + frame
        else:
            out.append([t, t + frame])
    return [(a, b) for a, b in out if b - a >= min_len]
