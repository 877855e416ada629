"""Energy-based speech endpointing for short spoken answers ("yes", "next", "twelve").

Pure: int16 (or float, int16 scale) samples in, events out; no clocks, no devices.

Frames of 20 ms are speech when their level (above SPEECH_HIGHPASS_HZ) is `start_db` above
an adaptive noise floor
(`continue_db` once an utterance has started, so quiet word endings are kept). The floor
follows the quietest recent level: it drops at once and rises slowly, so it tracks a fan
or traffic but not the speech itself. An utterance starts after `min_speech` of speech
(with `pre_roll` of audio before it, so the first consonant is not cut) and ends after
`trailing_silence` without speech.

Why trailing_silence = 0.3 s: the reply cannot start before the endpointer decides, so this
wait is most of the turn latency (target: median 400 ms from the end of speech to the first
word of the reply; BENCHMARKS.md section 2). The answers are one to three words; fluent gaps
inside them are stop closures and word gaps under 0.15 s. Measured with sox-spliced pauses
inside "about a five", "take a break", "seven out of ten", "no thank you", "keep going",
"i'm ready", "yes please" (tests/test_endpoint.py): with 0.3 s every answer with a pause of
up to 0.3 s stays one utterance, 0.35 s splits it (0.25 s would split at 0.3 s; the old 0.5 s
cost 200 ms on every turn). A split answer is not lost: its first part is recognised alone
("no", "seven") or rejected, and the person is asked again.

While the silence after speech runs, `SpeechPause` is emitted once it has lasted
`speculate_after` (the answer has probably ended: the ears let the recogniser decode it
already, so the rest of the trailing-silence wait is not dead time), and `SpeechResume` if
speech comes back before the utterance ends (that decoding is then thrown away).

Continuous noise cannot make an endless utterance: after `max_utterance` the utterance is
cut (reason "max_length") and the floor jumps to the level just heard, so steady noise stops
counting as speech.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

SILENCE_DB = -100.0
# The level that decides speech is taken above this frequency only (a high-pass). Rumble
# (traffic, a fridge, a fan: brown-like noise, most of its energy under 200 Hz) swings its 20 ms
# level by more than start_db at any SNR, so with the full-band level steady brown noise at
# 20 dB SNR turned nearly every utterance into a 6 s max_length cut: 10 of 206 development wake
# phrases and sound-alikes endpointed; 206 of 206 with the high-pass (10 dB: 9 -> 205; pink
# 5 dB: 155 -> 182; clean and pink 10 dB unchanged; BENCHMARKS.md section 2, session 8). A
# per-frame FFT band level was tried first: its window dulls a word's edge at a frame's edge,
# and "take a break" with a 0.3 s pause split in two (tests/test_endpoint.py).
SPEECH_HIGHPASS_HZ = 200.0


@dataclass(frozen=True)
class EndpointConfig:
    frame_seconds: float = 0.02
    trailing_silence: float = 0.3   # see the module doc: the turn-latency trade-off
    min_speech: float = 0.1
    pre_roll: float = 0.3
    max_utterance: float = 6.0
    # SpeechPause after this much of the trailing silence (None: never). 0.2 s: the decoder
    # needs most of the silence after the words (development set, clean: 141 of 200 commands
    # right decoding at the endpoint, 140 speculating at 0.2 s, 133 at 0.1 s; BENCHMARKS.md
    # section 2, session 4); the ~140 ms of decoding then ends ~40 ms after the endpoint.
    speculate_after: float | None = 0.2
    start_db: float = 10.0       # above the noise floor to start an utterance
    continue_db: float = 6.0     # above the noise floor to keep it going
    min_floor_dbfs: float = -62.0  # floor never taken below this (digital silence is not a floor)
    floor_rise_db_per_s: float = 2.0


@dataclass(frozen=True)
class SpeechStart:
    """An utterance began; `audio` is the pre-roll plus the speech so far."""

    audio: np.ndarray
    offset: int  # sample index (in everything fed so far) where `audio` begins


@dataclass(frozen=True)
class SpeechAudio:
    """More audio of the current utterance."""

    audio: np.ndarray


@dataclass(frozen=True)
class SpeechPause:
    """The trailing silence has lasted `speculate_after`: the utterance may be over."""

    offset: int        # sample index of the end of the audio emitted so far (this frame's end)


@dataclass(frozen=True)
class SpeechResume:
    """Speech again after a SpeechPause: the utterance goes on."""

    offset: int        # sample index where the resuming frame begins


@dataclass(frozen=True)
class SpeechEnd:
    """The utterance ended: reason "silence" (trailing silence) or "max_length" (cut off)."""

    reason: str
    offset: int        # sample index of the end of the last speech frame
    duration: float    # seconds of utterance, start to last speech frame


EndpointEvent = SpeechStart | SpeechAudio | SpeechPause | SpeechResume | SpeechEnd


def level_db(frame: np.ndarray) -> float:
    """RMS level in dB relative to int16 full scale."""
    if frame.size == 0:
        return SILENCE_DB
    rms = float(np.sqrt(np.mean(np.square(frame.astype(np.float64)))))
    if rms <= 0.0:
        return SILENCE_DB
    return max(SILENCE_DB, 20.0 * np.log10(rms / 32768.0))


class HighPassLevel:
    """Level in dB re int16 full scale of a frame after a linear-phase FIR high-pass (windowed
    sinc, `cutoff` Hz), filtered as one continuous stream: no per-frame window, so a word's
    edge at a frame's edge reads as loud as the full-band level would read it."""

    def __init__(self, sample_rate: int, cutoff: float = SPEECH_HIGHPASS_HZ, taps: int = 257) -> None:
        n = np.arange(taps) - (taps - 1) / 2
        lowpass = np.sinc(2.0 * cutoff / sample_rate * n) * np.hamming(taps)
        lowpass /= lowpass.sum()
        self.kernel = -lowpass
        self.kernel[(taps - 1) // 2] += 1.0
        self._tail = np.zeros(taps - 1)
        # linear phase: the level of a frame is that of the input `lag` samples earlier, so a
        # sound that stops at a frame's edge is still heard in the next frame
        self.lag = (taps - 1) // 2

    def __call__(self, frame: np.ndarray) -> float:
        x = np.concatenate([self._tail, frame])
        self._tail = x[-self._tail.size:]
        return level_db(np.convolve(x, self.kernel, mode="valid"))


class Endpointer:
    def __init__(self, sample_rate: int, config: EndpointConfig | None = None) -> None:
        self.rate = int(sample_rate)
        self.config = config or EndpointConfig()
        c = self.config
        self.frame = max(1, int(round(c.frame_seconds * self.rate)))
        self._level = HighPassLevel(self.rate, SPEECH_HIGHPASS_HZ)
        self._pending = np.zeros(0, dtype=np.float64)
        self._fed = 0                      # samples consumed into whole frames so far
        self.floor_db: float | None = None
        self._pre: deque[np.ndarray] = deque(maxlen=max(1, int(round(c.pre_roll / c.frame_seconds))))
        self._run = 0                      # consecutive speech frames while idle
        self.in_speech = False
        self._silence_frames = 0
        self._utt_frames = 0
        self._utt_levels: list[float] = []
        self._last_speech_end = 0
        self._paused = False               # SpeechPause emitted in this silence run

    # -------------------------------------------------------------- state
    def reset(self) -> None:
        """Forget any utterance in progress (keep the noise floor)."""
        self._pending = np.zeros(0, dtype=np.float64)
        self._pre.clear()
        self._run = 0
        self.in_speech = False
        self._silence_frames = 0
        self._utt_frames = 0
        self._utt_levels = []
        self._paused = False

    def _threshold(self, delta: float) -> float:
        floor = self.config.min_floor_dbfs if self.floor_db is None else self.floor_db
        return max(floor, self.config.min_floor_dbfs) + delta

    def _track_floor(self, level: float) -> None:
        c = self.config
        if self.floor_db is None or level < self.floor_db:
            self.floor_db = level
        else:
            self.floor_db = min(level, self.floor_db + c.floor_rise_db_per_s * c.frame_seconds)

    # -------------------------------------------------------------- feeding
    def process(self, samples: np.ndarray) -> list[EndpointEvent]:
        x = np.asarray(samples, dtype=np.float64).reshape(-1)
        buf = np.concatenate([self._pending, x]) if self._pending.size else x
        n_frames = buf.size // self.frame
        self._pending = buf[n_frames * self.frame:]
        events: list[EndpointEvent] = []
        for i in range(n_frames):
            frame = buf[i * self.frame:(i + 1) * self.frame]
            self._fed += self.frame
            ev = self._frame(frame)
            if ev:
                events.extend(ev)
        return _merge_audio(events)

    def _frame(self, frame: np.ndarray) -> list[EndpointEvent]:
        c = self.config
        level = self._level(frame)
        if not self.in_speech:
            speech = level > self._threshold(c.start_db)
            self._pre.append(frame)
            if speech:
                self._run += 1
            else:
                self._run = 0
                self._track_floor(level)
            if self._run * c.frame_seconds >= c.min_speech - 1e-9:
                self.in_speech = True
                self._silence_frames = 0
                self._utt_frames = self._run
                self._utt_levels = [level]
                audio = np.concatenate(list(self._pre))
                self._pre.clear()
                self._run = 0
                self._last_speech_end = self._fed
                return [SpeechStart(audio=audio, offset=self._fed - audio.size)]
            return []
        # in an utterance
        self._utt_frames += 1
        self._utt_levels.append(level)
        out: list[EndpointEvent] = []
        if level > self._threshold(c.continue_db):
            if self._paused:
                out.append(SpeechResume(offset=self._fed - frame.size))
                self._paused = False
            self._silence_frames = 0
            self._last_speech_end = self._fed
        else:
            self._silence_frames += 1
        out.append(SpeechAudio(frame))
        silent = self._silence_frames * c.frame_seconds
        if (c.speculate_after is not None and not self._paused and self._silence_frames
                and silent >= c.speculate_after - 1e-9 and silent < c.trailing_silence - 1e-9):
            out.append(SpeechPause(offset=self._fed))
            self._paused = True
        if silent >= c.trailing_silence - 1e-9:
            out.append(self._end("silence"))
        elif self._utt_frames * c.frame_seconds >= c.max_utterance - 1e-9:
            # steady noise, or someone who will not stop: cut, and call this level the floor
            self.floor_db = float(np.median(self._utt_levels))
            out.append(self._end("max_length"))
        return out

    def _end(self, reason: str) -> SpeechEnd:
        duration = (self._utt_frames - self._silence_frames) * self.config.frame_seconds
        self.in_speech = False
        self._silence_frames = 0
        self._utt_frames = 0
        self._utt_levels = []
        self._paused = False
        return SpeechEnd(reason=reason, offset=self._last_speech_end, duration=duration)


def _merge_audio(events: list[EndpointEvent]) -> list[EndpointEvent]:
    """Join consecutive SpeechAudio frames into one event (fewer, bigger recogniser feeds)."""
    out: list[EndpointEvent] = []
    run: list[np.ndarray] = []
    for ev in events:
        if isinstance(ev, SpeechAudio):
            run.append(ev.audio)
            continue
        if run:
            out.append(SpeechAudio(np.concatenate(run)))
            run = []
        out.append(ev)
    if run:
        out.append(SpeechAudio(np.concatenate(run)))
    return out


@dataclass(frozen=True)
class Segment:
    start: float   # seconds
    end: float     # seconds, end of the last speech frame
    reason: str


def find_utterances(samples: np.ndarray, sample_rate: int,
                    config: EndpointConfig | None = None) -> list[Segment]:
    """Every utterance in a whole recording (for tests and benchmarks)."""
    ep = Endpointer(sample_rate, config)
    segments: list[Segment] = []
    start = None
    for ev in ep.process(samples):
        if isinstance(ev, SpeechStart):
            start = ev.offset
        elif isinstance(ev, SpeechEnd):
            segments.append(Segment(start / sample_rate, ev.offset / sample_rate, ev.reason))
            start = None
    if start is not None:
        segments.append(Segment(start / sample_rate, samples.size / sample_rate, "end_of_input"))
    return segments
