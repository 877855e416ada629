"""Earcons and the volume scale: short tones that tell a person who cannot see a screen
when the coach starts listening for an answer ("listen": rising) and when it has heard one
("done": falling), and the smart-speaker volume levels 1..10 shared by speech and tones.

Tones are made here (two sine notes with a short fade, so they do not click), not loaded
from files: nothing to ship, and the gain is exact.
"""
from __future__ import annotations

import numpy as np

MIN_LEVEL, MAX_LEVEL = 1, 10
DEFAULT_LEVEL = 8          # -6 dB: room left for "louder"
DB_PER_LEVEL = 3.0

# (first note Hz, second note Hz): rising = "your turn", falling = "got it"
EARCONS: dict[str, tuple[float, float]] = {
    "listen": (660.0, 880.0),
    "done": (880.0, 660.0),
}
NOTE_SECONDS = 0.07
FADE_SECONDS = 0.008
# Full-scale tone peak at level 10: about as loud as espeak-ng's speech peaks (~ -6 dBFS),
# so a cue is neither lost under the voice nor startling.
TONE_PEAK = 0.45


def clamp_level(level: int) -> int:
    return int(min(MAX_LEVEL, max(MIN_LEVEL, round(level))))


def level_gain_db(level: int) -> float:
    """Gain of a volume level: 10 = full scale, 8 = -6 dB, 1 = -27 dB."""
    return DB_PER_LEVEL * (clamp_level(level) - MAX_LEVEL)


def level_gain(level: int) -> float:
    return float(10 ** (level_gain_db(level) / 20.0))


def apply_gain(pcm: np.ndarray, gain: float) -> np.ndarray:
    """int16 samples scaled by `gain` (clipped, never wrapped)."""
    if gain == 1.0:
        return pcm
    return np.clip(np.round(pcm.astype(np.float64) * gain), -32768, 32767).astype(np.int16)


def earcon(name: str, rate: int, gain: float = 1.0) -> np.ndarray:
    """int16 mono samples of the named earcon at `rate`, scaled by `gain`."""
    try:
        notes = EARCONS[name]
    except KeyError:
        raise ValueError(f"unknown earcon {name!r}; known: {', '.join(EARCONS)}") from None
    n = int(round(NOTE_SECONDS * rate))
    fade = max(1, int(round(FADE_SECONDS * rate)))
    t = np.arange(n) / rate
    envelope = np.ones(n)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, fade))   # raised cosine: no click
    envelope[:fade] = ramp
    envelope[-fade:] = ramp[::-1]
    parts = [np.sin(2 * np.pi * f * t) * envelope for f in notes]
    x = np.concatenate(parts) * TONE_PEAK * gain * 32767
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)
