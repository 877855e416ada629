"""Microphone capture with sounddevice: open at the device's own rate, resample to the recogniser's.

The PortAudio callback only puts a copy of the block on a queue; resampling and everything
else happens in the reader's thread. Every failure becomes an AudioError subclass whose
message can be printed and spoken as it is.
"""
from __future__ import annotations

import queue
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Iterable

import numpy as np

# Rates tried, after the device's own default, when opening an input.
FALLBACK_RATES = (48000, 44100, 32000, 22050, 16000, 11025, 8000)
BLOCK_SECONDS = 0.02
# No block at all for this long from a running stream means the device is gone.
# (PulseAudio can take ~2 s to deliver the first block of a new stream: stay above that.)
STALL_SECONDS = 4.0


class AudioError(Exception):
    """An audio problem with a message fit for the person: printed and spoken as is."""


class AudioUnavailable(AudioError):
    """PortAudio (Debian's libportaudio2) or sounddevice is missing."""


class NoInputDevice(AudioError):
    """There is no microphone, or the one asked for does not exist."""


class DeviceOpenError(AudioError):
    """The microphone exists but would not open at any sample rate."""


class DeviceLost(AudioError):
    """The microphone stopped delivering audio mid-session (unplugged, audio server gone)."""


def load_sounddevice() -> ModuleType:
    try:
        import sounddevice
    except OSError as exc:  # raised at import when libportaudio2 is missing
        raise AudioUnavailable(
            "The audio library PortAudio is not installed, so I cannot use the microphone "
            "(on Debian: apt-get install libportaudio2).") from exc
    except ImportError as exc:
        raise AudioUnavailable(
            "The Python package sounddevice is not installed, so I cannot use the microphone.") from exc
    return sounddevice


def rescan_devices() -> None:
    """Make PortAudio look for devices again (its list is fixed when it initialises)."""
    sd = load_sounddevice()
    try:
        sd._terminate()
        sd._initialize()
    except Exception:  # noqa: BLE001 - a failed rescan just leaves the old list
        pass



def play_blocking(sd: Any, pcm: np.ndarray, rate: int, device: str | int | None,
                  fallback_rates: Iterable[int], failed: type[Exception], unopenable: type[Exception],
                  what: str = "speech", on_start: Callable[[], None] | None = None) -> None:
    """Play int16 mono on `device` until PortAudio has drained it. When the device will not open
    at `rate`, resample to the next of `fallback_rates`; raise `unopenable` if none opens,
    `failed` if playback breaks. `on_start` is called once the stream runs."""
    errors = []
    for play_rate in dict.fromkeys((rate, *fallback_rates)):
        data = pcm if play_rate == rate else to_int16(resample(pcm, rate, play_rate))
        try:
            stream = sd.OutputStream(samplerate=play_rate, channels=1, dtype="int16", device=device)
        except Exception as exc:  # noqa: BLE001 - try the next rate
            errors.append(f"{play_rate} Hz: {exc}")
            continue
        try:
            stream.start()
            if on_start is not None:
                on_start()
            stream.write(np.ascontiguousarray(data, dtype=np.int16).reshape(-1, 1))
            stream.stop()            # returns once everything written has been played
        except Exception as exc:  # noqa: BLE001
            raise failed(f"Playing {what} failed: {exc}") from exc
        finally:
            try:
                stream.close()
            except Exception:  # noqa: BLE001
                pass
        return
    raise unopenable("The speaker would not open at any sample rate: " + "; ".join(errors))

# ------------------------------------------------------------------ devices
@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    channels: int
    default_rate: int
    hostapi: str
    is_default: bool

    def describe(self) -> str:
        mark = "*" if self.is_default else " "
        return (f"{mark} {self.index:3d}  {self.name}  ({self.hostapi}, {self.channels} ch, "
                f"{self.default_rate} Hz)")


def _default_input_index(sd: ModuleType) -> int:
    try:
        dev = sd.default.device
        idx = dev[0] if isinstance(dev, (list, tuple)) or hasattr(dev, "__getitem__") else dev
        idx = int(idx) if idx is not None else -1
    except Exception:  # noqa: BLE001
        idx = -1
    if idx < 0:
        try:
            idx = int(sd.query_hostapis(0)["default_input_device"])
        except Exception:  # noqa: BLE001
            idx = -1
    return idx


def list_input_devices() -> list[InputDevice]:
    sd = load_sounddevice()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
    except Exception as exc:  # noqa: BLE001
        raise NoInputDevice(f"I could not list the audio devices: {exc}") from exc
    default = _default_input_index(sd)
    found = []
    for index, dev in enumerate(devices):
        if int(dev["max_input_channels"]) < 1:
            continue
        found.append(InputDevice(
            index=index, name=str(dev["name"]), channels=int(dev["max_input_channels"]),
            default_rate=int(round(float(dev["default_samplerate"]) or 0)),
            hostapi=str(hostapis[dev["hostapi"]]["name"]), is_default=index == default))
    return found


def find_input_device(spec: str | int | None = None) -> InputDevice:
    """The default input (spec None), or the one with this index or name (or name part)."""
    devices = list_input_devices()
    if not devices:
        raise NoInputDevice("I cannot find any microphone. Plug one in, or use --audio-in "
                            "with a recording, or --text to type instead.")
    if spec is None or str(spec).strip() == "":
        for dev in devices:
            if dev.is_default:
                return dev
        return devices[0]
    text = str(spec).strip()
    if text.lstrip("-").isdigit():
        for dev in devices:
            if dev.index == int(text):
                return dev
    else:
        for dev in devices:
            if dev.name == text:
                return dev
        matches = [d for d in devices if text.lower() in d.name.lower()]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = ", ".join(f"{d.index}: {d.name}" for d in matches)
            raise NoInputDevice(f"More than one microphone matches '{text}': {names}. "
                                "Give its number instead.")
    names = "; ".join(f"{d.index}: {d.name}" for d in devices)
    raise NoInputDevice(f"There is no microphone called '{text}'. Available: {names}.")


# ------------------------------------------------------------------ resampling
class StreamResampler:
    """Any rate to any rate, block by block with state carried over: band-limited
    interpolation. Each output sample is a windowed-sinc (Blackman) weighted sum of the
    input around its exact time, with the cutoff at 0.45 of the lower rate, so it is
    anti-aliasing filter and interpolator in one (polyphase with a continuous phase).
    Weights are normalised per output sample, so DC gain is exactly 1.

    Measured in tests/test_audio_units.py: passband error < 2 % up to 3 kHz, tones above the
    new Nyquist attenuated by > 60 dB, blocks of any size give the same output as one call.
    Cost: 2 * `zeros` / (2 * 0.45 * min_rate / in_rate) multiply-adds per output sample
    (~54 for 48 kHz -> 16 kHz) from a 512-phase table, vectorised with numpy.
    """

    PHASES = 512

    def __init__(self, in_rate: int, out_rate: int, zeros: int = 8) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError("sample rates must be positive")
        self.in_rate = int(in_rate)
        self.out_rate = int(out_rate)
        self.passthrough = self.in_rate == self.out_rate
        self._fc = 0.45 * min(self.in_rate, self.out_rate) / self.in_rate   # cycles per input sample
        self.half_width = int(np.ceil(zeros / (2 * self._fc)))              # input samples each side
        self._buf = np.zeros(self.half_width)
        self._t = float(self.half_width)     # next output instant, in _buf index units
        self._step = self.in_rate / self.out_rate
        self._taps = np.arange(2 * self.half_width)
        # kernel tabulated at PHASES fractional offsets (polyphase table): no sinc per sample
        frac = np.arange(self.PHASES) / self.PHASES
        d = frac[:, None] + (self.half_width - 1) - self._taps[None, :]
        u = np.clip(d / (self.half_width + 1), -1.0, 1.0)
        table = np.sinc(2 * self._fc * d) * (0.42 + 0.5 * np.cos(np.pi * u) + 0.08 * np.cos(2 * np.pi * u))
        self._table = table / table.sum(axis=1, keepdims=True)

    def process(self, x: np.ndarray) -> np.ndarray:
        """Float or int16 mono samples in; float64 samples (same scale) out."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        if self.passthrough or x.size == 0:
            return x
        out = []
        # bound the weight matrix: at most ~4096 outputs per step
        chunk = max(1, int(4096 * self._step))
        for i in range(0, x.size, chunk):
            out.append(self._process(x[i:i + chunk]))
        return np.concatenate(out) if len(out) > 1 else out[0]

    def _process(self, x: np.ndarray) -> np.ndarray:
        w = self.half_width
        buf = np.concatenate([self._buf, x])
        last = buf.size - 1 - w             # latest instant with a full window of input
        if last < self._t:
            self._buf = buf
            return np.zeros(0)
        n = int(np.floor((last - self._t) / self._step)) + 1
        ts = self._t + self._step * np.arange(n)
        whole = np.floor(ts)
        phase = np.minimum(np.round((ts - whole) * self.PHASES).astype(np.int64), self.PHASES)
        carry = phase == self.PHASES          # rounded up to the next whole sample
        whole = whole.astype(np.int64) + carry
        phase[carry] = 0
        idx = (whole - w + 1)[:, None] + self._taps[None, :]
        y = np.einsum("ij,ij->i", buf[idx], self._table[phase])
        t_next = self._t + self._step * n
        drop = max(0, int(np.floor(t_next)) - w)
        self._buf = buf[drop:]
        self._t = t_next - drop
        return y


def resample(x: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """One-shot resampling of a whole signal (same algorithm as StreamResampler)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if in_rate == out_rate:
        return x
    rs = StreamResampler(in_rate, out_rate)
    # flush with zeros so the end of the signal comes out too
    out = np.concatenate([rs.process(x), rs.process(np.zeros(rs.half_width + 2))])
    return out[: int(round(x.size * out_rate / in_rate))]


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


# ------------------------------------------------------------------ the stream
class MicrophoneStream:
    """One open input stream at the device's native rate; read() returns (time, int16 mono)."""

    def __init__(self, device: str | int | None = None, rates: tuple[int, ...] | None = None,
                 stall_seconds: float = STALL_SECONDS, max_queue_seconds: float = 60.0) -> None:
        self._sd = load_sounddevice()
        self.device = find_input_device(device)
        self.stall_seconds = stall_seconds
        self._queue: queue.Queue[tuple[float, np.ndarray]] = queue.Queue(
            maxsize=max(1, int(max_queue_seconds / BLOCK_SECONDS)))
        self.overflows = 0
        self._stream: Any = None
        self.rate = 0
        tried = []
        candidates = list(rates or ())
        if not candidates:
            candidates = [self.device.default_rate] + [r for r in FALLBACK_RATES
                                                       if r != self.device.default_rate]
        errors = []
        for rate in candidates:
            if rate <= 0:
                continue
            tried.append(rate)
            try:
                stream = self._sd.InputStream(
                    device=self.device.index, samplerate=rate, channels=1, dtype="int16",
                    blocksize=max(1, int(rate * BLOCK_SECONDS)), callback=self._callback)
                stream.start()
            except Exception as exc:  # noqa: BLE001 - PortAudioError and friends
                errors.append(f"{rate} Hz: {exc}")
                continue
            self._stream, self.rate = stream, rate
            break
        if self._stream is None:
            raise DeviceOpenError(
                f"The microphone '{self.device.name}' would not open at any sample rate "
                f"(tried {', '.join(str(r) for r in tried)} Hz). Check that no other program "
                f"holds it, or choose another with --input-device. "
                f"Last error: {errors[-1] if errors else 'none'}")
        self._opened_at = time.monotonic()
        self._last_block_at = self._opened_at

    def _callback(self, indata, frames, time_info, status) -> None:  # noqa: ANN001
        # Only a queue put: the block's start time, and a copy of the samples.
        try:
            self._queue.put_nowait((time.monotonic() - frames / self.rate, indata[:, 0].copy()))
        except queue.Full:
            self.overflows += 1

    def read(self, timeout: float | None) -> tuple[float, np.ndarray] | None:
        """Next block (start time on time.monotonic(), int16 samples), or None on timeout.

        Raises DeviceLost when the stream has died or delivered nothing for stall_seconds.
        """
        wait = 0.25 if timeout is None else max(0.0, min(timeout, 0.25))
        end = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while True:
            try:
                item = self._queue.get(timeout=wait)
                self._last_block_at = time.monotonic()
                return item
            except queue.Empty:
                pass
            self._check_alive()
            if end is not None and time.monotonic() >= end:
                return None

    def _check_alive(self) -> None:
        if self._stream is None:
            raise DeviceLost("The microphone is closed.")
        stalled = time.monotonic() - self._last_block_at > self.stall_seconds
        if not self._stream.active or stalled:
            why = "stopped" if not self._stream.active else f"sent nothing for {self.stall_seconds:.0f} s"
            raise DeviceLost(f"The microphone '{self.device.name}' {why}: it may have been "
                             "unplugged.")

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
            except Exception:  # noqa: BLE001 - a dead device cannot be stopped cleanly
                pass
            try:
                stream.close()
            except Exception:  # noqa: BLE001
                pass
