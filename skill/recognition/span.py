"""The stretch of an utterance worth decoding: its loud frames plus a margin.

The endpointer hands over an utterance with its lead-in and 0.3 s of trailing silence. For a
one-word answer that silence is most of the utterance, and whole-utterance decoding takes
its cepstral mean over all of it: the word's own frames are then normalised by a mean that
is mostly room sound, and short words decode wrong ("next" as "ow"). Cutting the utterance
to its speech plus a margin keeps the mean on the speech (BENCHMARKS.md section 1, session 5).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

# Kept on each side of the loud frames: soft onsets and final stops and fricatives
# ("help", "yes") fall below the loudness cut, and the decoders need some silence to start
# and end the phrase in (tuned on development clips, not the benchmark's).
MARGIN_SECONDS = 0.15
# Only utterances with at most this much speech (first to last loud frame) are cut: a
# one-word answer (0.2-0.65 s on development clips) in 1-1.5 s of utterance. Longer phrases
# decode as well or better with the silence in (cutting them all lost 7, won 3 of 90
# development commands), and the confidence was fitted on them that way.
MAX_SPEECH_SECONDS = 0.6
FRAMES_PER_SECOND = 100


def loud_mask(energy: Sequence[float], above_floor_db: float) -> np.ndarray:
    """Frames (mean square per frame) at least `above_floor_db` over the utterance's noise
    floor (its 10th percentile frame energy)."""
    db = 10 * np.log10(np.asarray(energy, dtype=np.float64) + 1.0)
    return db >= float(np.percentile(db, 10)) + above_floor_db


def speech_span(energy: Sequence[float], above_floor_db: float,
                margin_seconds: float | None = MARGIN_SECONDS) -> tuple[int, int]:
    """[first, end) frames to decode: the loud frames plus the margin; all frames when
    there are none, they span more than MAX_SPEECH_SECONDS, or `margin_seconds` is None."""
    if margin_seconds is None or not len(energy):
        return 0, len(energy)
    loud = np.flatnonzero(loud_mask(energy, above_floor_db))
    if not len(loud) or loud[-1] - loud[0] + 1 > MAX_SPEECH_SECONDS * FRAMES_PER_SECOND:
        return 0, len(energy)
    margin = int(round(margin_seconds * FRAMES_PER_SECOND))
    return max(0, int(loud[0]) - margin), min(len(energy), int(loud[-1]) + 1 + margin)
