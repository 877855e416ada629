"""The footprint bench tells a start notice apart from the dialog's first prompt (pure logic:
a synthetic two-channel room recording and its clock mapping)."""
from __future__ import annotations

import numpy as np

from skill.bench.footprint import speech_before_first_prompt
from skill.bench.stage import REC_RATE


class _Recorder:
    """stage.RoomRecorder's clock mapping only: sample 0 was at monotonic time `start_bound`."""

    def __init__(self, start_bound: float) -> None:
        self.start_bound = start_bound

    def time_of(self, seconds_into_recording: float) -> float:
        return self.start_bound + seconds_into_recording


def _room(coach_sounds: list[tuple[float, float]], seconds: float = 12.0) -> np.ndarray:
    x = np.zeros((int(seconds * REC_RATE), 2), dtype=np.int16)
    for a, b in coach_sounds:
        n = int((b - a) * REC_RATE)
        x[int(a * REC_RATE):int(a * REC_RATE) + n, 1] = (8000 * np.sin(np.arange(n) * 0.3)).astype(np.int16)
    return x


def test_a_notice_before_the_first_prompt_is_measured_apart_from_it() -> None:
    # recording started 0.5 s after the process; notice heard 1.0-4.0 s, prompt from 5.0 s
    t_start, rec = 100.0, _Recorder(100.5)
    audio = _room([(0.5, 3.5), (4.5, 8.0)])
    first_say_seen = 100.0 + 4.98        # the say event, seen just before its sound
    r = speech_before_first_prompt(audio, rec, t_start, first_say_seen)
    assert abs(r["speech_before_first_prompt_seconds"] - 3.0) <= 0.02
    assert abs(r["start_to_first_prompt_audible_seconds"] - 5.0) <= 0.02


def test_no_notice_means_nothing_before_the_prompt() -> None:
    t_start, rec = 100.0, _Recorder(100.2)
    audio = _room([(0.3, 6.0)])
    r = speech_before_first_prompt(audio, rec, t_start, 100.0 + 0.49)
    assert r["speech_before_first_prompt_seconds"] == 0.0
    assert abs(r["start_to_first_prompt_audible_seconds"] - 0.5) <= 0.02


def test_without_a_say_event_or_a_clock_nothing_is_claimed() -> None:
    audio = _room([(0.3, 6.0)])
    assert speech_before_first_prompt(audio, _Recorder(100.2), 100.0, None)[
        "start_to_first_prompt_audible_seconds"] is None
    assert speech_before_first_prompt(audio, _Recorder(float("inf")), 100.0, 101.0)[
        "speech_before_first_prompt_seconds"] is None
