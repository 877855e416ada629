"""Turn latency through the real audio stack: end of the person's speech -> first audible reply.

Plan (runs when the voice runtime, skill/voice.py, is installed): a private PulseAudio daemon
with the virtual devices (scripts/pulse-virtual-devices.sh with COACH_PULSE_DIR of our own, so
other users of the shared daemon are not disturbed); the assistant in voice mode on coach_mic /
coach_speaker; the person's answers played with paplay; coach_speaker.monitor recorded with
parecord. End of speech and reply onset are both read off recordings; the breakdown
(endpointing wait, recognition, dialog, synthesis start) comes from timestamps taken inside
the assistant process by a wrapper (no product file is changed for the benchmark).

Until the voice runtime exists this suite reports itself as skipped, saying why.
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np

from .evalset import PAD_SECONDS, RATE, speak, read_pcm, write_pcm


def missing_prerequisites() -> list[str]:
    missing = []
    if importlib.util.find_spec("skill.voice") is None:
        missing.append("the voice runtime skill/voice.py (make_voice_edges) is not in the tree yet")
    try:
        importlib.util.find_spec("skill.recognition.engines") or missing.append(
            "skill/recognition/engines.py (open_recognizer) is not in the tree yet")
    except ImportError:
        missing.append("skill/recognition/engines.py is not importable")
    for tool in ("pulseaudio", "pactl", "paplay", "parecord"):
        if shutil.which(tool) is None:
            missing.append(f"{tool} is not installed")
    return missing


def make_script_wav(path: Path, answers: tuple[str, ...] = ("back pain relief", "three", "next", "stop", "yes"),
                    gap: float = 6.0) -> Path:
    """A recording standing in for the microphone: spoken answers separated by silence."""
    if path.exists():
        return path
    parts = [np.zeros(int(gap * RATE), dtype=np.int16)]
    for i, text in enumerate(answers):
        tmp = path.with_name(f"{path.stem}_{i}.wav")
        speak(text, "en-us", 175, tmp)
        parts += [read_pcm(tmp), np.zeros(int(gap * RATE), dtype=np.int16)]
        tmp.unlink()
    write_pcm(path, np.concatenate(parts))
    return path


def run(specs, evalset, turns: int = 36, out_dir: Path | None = None) -> dict:
    missing = missing_prerequisites()
    if missing:
        return {"skipped": "; ".join(missing), "turns_wanted": turns}
    return {"skipped": "the PulseAudio turn driver is not written yet (waiting on the voice runtime's "
                       "interface)", "turns_wanted": turns}
