"""Noise suppression for one utterance: a Wiener gain with the decision-directed a priori SNR
(Ephraim and Malah, 1984), the noise spectrum taken from the utterance's own quietest frames.

Why from the utterance: the ears pass each utterance with its pre-roll and trailing silence
(0.3 s each), so a steady room noise (fan, hum, traffic) is there on its own in its quietest
fifth. Why decision-directed: plain spectral subtraction leaves "musical noise" (isolated
spectral peaks) that the phone loop hears as phones and that made every wake candidate, sound-alikes
included, look confident; smoothing the a priori SNR over frames leaves a steadier residue.
Used by the wake detector's second look (skill/wake.py) and the commands' second look
(pocketsphinx_engine.py, DENOISED_LOOK_BAND), each with a stricter cut of its own: what the
suppression leaves is not what the acoustic model was trained on.
"""
from __future__ import annotations

import numpy as np

FRAME = 512          # 32 ms at 16 kHz
HOP = FRAME // 2     # sqrt-Hann analysis and synthesis: overlap-add at half a frame is exact
NOISE_QUANTILE = 0.2  # the quietest fifth of the frames estimates the noise


def suppress_noise(x: np.ndarray, smoothing: float = 0.9, min_gain: float = 0.1,
                   noise_quantile: float = NOISE_QUANTILE) -> np.ndarray:
    """int16 samples with steady noise suppressed (same length). `smoothing`: the weight of
    the previous frame's clean-speech estimate in the a priori SNR; `min_gain`: the deepest
    cut per frequency (0.1: -20 dB), so that the noise left is still noise-like."""
    x = np.asarray(x, dtype=np.float64)
    if x.size < FRAME:
        return np.clip(np.round(x), -32768, 32767).astype(np.int16)
    pad = -(x.size - FRAME) % HOP
    xp = np.concatenate([np.zeros(HOP), x, np.zeros(pad + HOP)])
    window = np.sqrt(np.hanning(FRAME + 1)[:FRAME])
    starts = np.arange(0, xp.size - FRAME + 1, HOP)
    spectra = np.fft.rfft(np.stack([xp[i:i + FRAME] for i in starts]) * window, axis=1)
    power = np.abs(spectra) ** 2
    energy = power.sum(axis=1)
    noise = power[energy <= np.quantile(energy, noise_quantile)].mean(axis=0) + 1e-9
    gains = np.empty_like(power)
    previous = np.zeros(power.shape[1])      # the previous frame's clean-speech power
    for t in range(power.shape[0]):
        prior = smoothing * previous / noise + \
            (1.0 - smoothing) * np.maximum(power[t] / noise - 1.0, 0.0)
        gains[t] = np.maximum(prior / (1.0 + prior), min_gain)
        previous = gains[t] ** 2 * power[t]
    frames = np.fft.irfft(spectra * gains, n=FRAME, axis=1) * window
    out = np.zeros(xp.size)
    for frame, i in zip(frames, starts):
        out[i:i + FRAME] += frame
    return np.clip(np.round(out[HOP:HOP + x.size]), -32768, 32767).astype(np.int16)
