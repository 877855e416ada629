"""Where the ears' audio comes from: the microphone, or a WAV file standing in for it.

A source delivers AudioBlocks: int16 mono samples at the recogniser's rate, stamped with
the time (on the runtime clock) at which the block began. Sources raise EndOfAudio when a
file is used up and DeviceLost (from capture) when a microphone goes away.
"""
from __future__ import annotations

import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..recognition.wavio import AudioFileError as WavDecodeError, decode_pcm
from .capture import (AudioError, DeviceLost, MicrophoneStream, StreamResampler, rescan_devices,
                      resample, to_int16)


@dataclass(frozen=True)
class AudioBlock:
    t: float             # start time of the block, in the runtime clock's time
    pcm: np.ndarray      # int16 mono at the source's sample_rate


class EndOfAudio(Exception):
    """The recording used as the microphone has been played to its end."""


class AudioFileError(AudioError):
    """An --audio-in file that cannot be read as a WAV recording."""


class AudioSource(Protocol):
    sample_rate: int
    description: str

    def read(self, timeout: float | None) -> AudioBlock | None:
        """Next block; None if none came within timeout (seconds of wall time)."""
        ...

    def reopen(self) -> None:
        """Try to get the device back after DeviceLost (raises AudioError if it cannot)."""
        ...

    def close(self) -> None: ...


class MicrophoneSource:
    """Live capture: native rate on the device, resampled here (not in the callback).

    Block times are time.monotonic(), i.e. skill.clock.SystemClock's time.
    """

    def __init__(self, device: str | int | None = None, sample_rate: int = 16000) -> None:
        self.device_spec = device
        self.sample_rate = int(sample_rate)
        self._stream: MicrophoneStream | None = None
        self._resampler: StreamResampler | None = None
        self._open()

    def _open(self) -> None:
        self._stream = MicrophoneStream(self.device_spec)
        self._resampler = StreamResampler(self._stream.rate, self.sample_rate)

    @property
    def description(self) -> str:
        if self._stream is None:
            return "microphone (closed)"
        return f"microphone '{self._stream.device.name}' at {self._stream.rate} Hz"

    @property
    def native_rate(self) -> int:
        return self._stream.rate if self._stream else 0

    def read(self, timeout: float | None) -> AudioBlock | None:
        if self._stream is None or self._resampler is None:
            raise DeviceLost("The microphone is not open.")
        item = self._stream.read(timeout)
        if item is None:
            return None
        t, pcm = item
        return AudioBlock(t=t, pcm=to_int16(self._resampler.process(pcm)))

    def reopen(self) -> None:
        self.close()
        rescan_devices()
        self._open()

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono int16 samples and rate of a PCM WAV (8/16/24/32-bit, any channels: averaged)."""
    try:
        with wave.open(str(path), "rb") as w:
            rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
            raw = w.readframes(w.getnframes())
    except FileNotFoundError as exc:
        raise AudioFileError(f"The audio file {path} does not exist.") from exc
    except (wave.Error, EOFError, OSError) as exc:
        raise AudioFileError(f"The audio file {path} is not a PCM WAV file I can read: {exc}") from exc
    try:
        x = decode_pcm(raw, width, channels)
    except WavDecodeError:
        raise AudioFileError(f"The audio file {path} has {width * 8}-bit samples, which I cannot read.") from None
    return to_int16(x), rate


class AudioClock:
    """The clock of `--audio-in FILE --fast`: time is the position in the recording.

    Reading audio moves it forward; sleeping skips the recording ahead (what a person
    would say meanwhile goes unheard, as it would in real time). Implements skill.clock.Clock.
    """

    def __init__(self, source: "WavFileSource") -> None:
        self._source = source

    def now(self) -> float:
        return self._source.position

    def sleep_until(self, deadline: float) -> None:
        self._source.skip_to(deadline)

    def advance_to(self, t: float) -> None:
        self._source.skip_to(t)


class WavFileSource:
    """A WAV recording played as the microphone: at real-time pace, or as fast as read (fast).

    Real-time: block times are time.monotonic() (SystemClock's time), a block is available
    once its end has "been played". Fast: block times are positions in the file and the
    runtime must use `self.clock` (an AudioClock).
    """

    def __init__(self, path: str | Path, sample_rate: int = 16000, fast: bool = False,
                 block_seconds: float = 0.02) -> None:
        pcm, rate = read_wav(path)
        self.path = Path(path)
        self.file_rate = rate
        self.sample_rate = int(sample_rate)
        self.samples = pcm if rate == self.sample_rate else to_int16(resample(pcm, rate, self.sample_rate))
        self.fast = fast
        self.block = max(1, int(round(block_seconds * self.sample_rate)))
        self._index = 0
        self._t0: float | None = None if not fast else 0.0
        self.clock = AudioClock(self) if fast else None
        self.description = f"recording {self.path.name} ({'fast' if fast else 'real time'})"

    @property
    def duration(self) -> float:
        return self.samples.size / self.sample_rate

    @property
    def position(self) -> float:
        """Seconds of the recording consumed so far."""
        return self._index / self.sample_rate

    def start(self, at: float | None = None) -> None:
        """Real-time mode: the recording starts playing now (or at monotonic time `at`)."""
        if not self.fast and self._t0 is None:
            self._t0 = time.monotonic() if at is None else at

    def skip_to(self, t: float) -> None:
        """Fast mode: discard the recording up to position t (seconds)."""
        target = int(round(t * self.sample_rate))
        if target > self._index:
            self._index = min(target, self.samples.size)

    def read(self, timeout: float | None) -> AudioBlock | None:
        if self._index >= self.samples.size:
            raise EndOfAudio(f"end of {self.path.name}")
        if self.fast:
            start = self._index
            self._index = min(self.samples.size, start + self.block)
            return AudioBlock(t=start / self.sample_rate, pcm=self.samples[start:self._index])
        self.start()
        assert self._t0 is not None
        # in real time, everything up to "now" has been played: hand out the next block
        # once its end has passed (catching up in one go if we were busy elsewhere)
        end = min(self.samples.size, self._index + self.block)
        ready_at = self._t0 + end / self.sample_rate
        now = time.monotonic()
        if ready_at > now:
            wait = ready_at - now
            if timeout is not None and wait > timeout:
                time.sleep(max(0.0, timeout))
                return None
            time.sleep(wait)
        start = self._index
        self._index = end
        return AudioBlock(t=self._t0 + start / self.sample_rate, pcm=self.samples[start:end])

    def reopen(self) -> None:
        raise AudioFileError("A recording cannot be reopened.")

    def close(self) -> None:
        self._index = self.samples.size
