"""Microphone check for `devices --test`: record a few seconds, measure the level, play it back.

The verdict is about speech peaks: a person a metre or two away should peak well above
-20 dBFS and stay below -1 dBFS (beyond that the peaks are being cut off).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .capture import (AudioError, InputDevice, MicrophoneStream, find_input_device, load_sounddevice,
                      play_blocking)

FULL_SCALE = 32768.0
SILENT_BELOW_DBFS = -50.0     # peaks under this: nothing is coming in at all
QUIET_BELOW_DBFS = -20.0      # speech peaking under this is hard to recognise
CLIPPING_FROM_DBFS = -1.0     # peaks this close to full scale are being cut off
FLOOR_WINDOW_SECONDS = 0.1


class NoOutputDevice(AudioError):
    """There is no speaker, or the one asked for does not exist or will not play."""


@dataclass(frozen=True)
class Level:
    peak_dbfs: float
    rms_dbfs: float
    floor_dbfs: float     # the quietest 0.1 s: the room and the microphone's own noise
    verdict: str          # silent | too quiet | good | clipping

    def advice(self) -> str:
        return {
            "silent": "Nothing came in: check that the microphone is plugged in and not muted "
                      "(alsamixer or wpctl), or choose another with --input-device.",
            "too quiet": f"Speech should peak above {QUIET_BELOW_DBFS:.0f} dBFS: raise the microphone's "
                         "gain (alsamixer, F4 for capture; or wpctl set-volume), or move closer.",
            "good": "Good: the coach should hear you from there.",
            "clipping": "Too loud, the peaks are cut off: lower the microphone's gain "
                        "(alsamixer, F4 for capture; or wpctl set-volume).",
        }[self.verdict]


def dbfs(value: float) -> float:
    return -120.0 if value <= 0 else round(20 * float(np.log10(value / FULL_SCALE)), 1)


def measure(pcm: np.ndarray, rate: int) -> Level:
    """Peak, RMS and noise floor of int16 samples, and what they mean for speech."""
    x = np.asarray(pcm, dtype=np.float64).reshape(-1)
    if x.size == 0:
        return Level(-120.0, -120.0, -120.0, "silent")
    peak = dbfs(float(np.max(np.abs(x))))
    rms = dbfs(float(np.sqrt(np.mean(x * x))))
    win = max(1, int(rate * FLOOR_WINDOW_SECONDS))
    n = x.size // win
    floor = rms if n == 0 else dbfs(float(np.sqrt(np.min(np.mean((x[: n * win] ** 2).reshape(n, win), axis=1)))))
    if peak < SILENT_BELOW_DBFS:
        verdict = "silent"
    elif peak < QUIET_BELOW_DBFS:
        verdict = "too quiet"
    elif peak >= CLIPPING_FROM_DBFS:
        verdict = "clipping"
    else:
        verdict = "good"
    return Level(peak, rms, floor, verdict)


def record(device: str | int | None, seconds: float) -> tuple[np.ndarray, int, InputDevice]:
    """`seconds` of int16 mono at the microphone's own rate (raises AudioError subclasses)."""
    mic = MicrophoneStream(device)
    try:
        want = int(round(seconds * mic.rate))
        blocks, have = [], 0
        deadline = time.monotonic() + seconds + mic.stall_seconds + 2.0
        while have < want:
            item = mic.read(timeout=max(0.0, deadline - time.monotonic()))
            if item is None:
                break                      # read() raises DeviceLost first when it stalls
            blocks.append(item[1])
            have += item[1].size
    finally:
        mic.close()
    pcm = np.concatenate(blocks)[:want] if blocks else np.zeros(0, dtype=np.int16)
    return pcm, mic.rate, mic.device


def output_device(spec: str | int | None) -> tuple[int | None, str, int]:
    """(index, name, default rate) of the speaker; NoOutputDevice with the choices if absent."""
    sd = load_sounddevice()
    try:
        info = sd.query_devices(spec, kind="output")
    except Exception as exc:  # noqa: BLE001 - ValueError (no match), PortAudioError
        names = []
        try:
            names = [f"{i}: {d['name']}" for i, d in enumerate(sd.query_devices()) if d["max_output_channels"] > 0]
        except Exception:  # noqa: BLE001
            pass
        what = "any speaker" if spec is None else f"a speaker called '{spec}'"
        available = f" Available: {'; '.join(names)}." if names else ""
        raise NoOutputDevice(f"I cannot find {what} ({exc}).{available}") from exc
    return info.get("index"), str(info["name"]), int(info["default_samplerate"]) or 48000


def play(pcm: np.ndarray, rate: int, device: str | int | None) -> None:
    """Play int16 mono to the end; resample when the device will not open at `rate`."""
    _index, _name, native = output_device(device)
    play_blocking(load_sounddevice(), pcm, rate, device, (native, 48000, 44100),
                  failed=NoOutputDevice, unopenable=NoOutputDevice, what="the recording")


def describe_input(dev: InputDevice, rate: int) -> str:
    return f"{dev.index}: {dev.name} ({dev.hostapi}, recording at {rate} Hz)"


def check(input_device: str | int | None, output: str | int | None, seconds: float,
          say: Any = print) -> Level:
    """The whole check, printing as it goes (`say`): record, measure, play back."""
    find_input_device(input_device)                      # both checked before asking anyone to speak
    out_index, out_name, _rate = output_device(output)
    say(f"Recording {seconds:g} s: speak now, from where you will exercise (e.g. count to five).")
    pcm, rate, dev = record(input_device, seconds)
    level = measure(pcm, rate)
    say(f"microphone {describe_input(dev, rate)}")
    say(f"input level: peak {level.peak_dbfs:.1f} dBFS, RMS {level.rms_dbfs:.1f} dBFS, "
        f"background {level.floor_dbfs:.1f} dBFS: {level.verdict}")
    say(level.advice())
    say(f"Playing it back on speaker {out_index}: {out_name} ...")
    play(pcm, rate, output)
    say("Done. If you heard yourself clearly, these devices work.")
    return level
