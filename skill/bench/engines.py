"""Which engines the benchmark runs, and how it opens them (the product's own engine factory)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class EngineUnavailable(RuntimeError):
    """The engine cannot be benchmarked here; the message says why."""


@dataclass(frozen=True)
class EngineSpec:
    name: str                 # "pocketsphinx" | "vosk"
    model: str | None = None  # Vosk model folder


def english_vosk_model(explicit: str | Path | None = None) -> Path | None:
    """An English Vosk model if one is installed (the Korean test model cannot score English)."""
    candidates = []
    if explicit:
        candidates.append(Path(explicit))
    if os.environ.get("VOSK_MODEL_PATH"):
        candidates.append(Path(os.environ["VOSK_MODEL_PATH"]))
    candidates += sorted((ROOT / "models").glob("vosk-model*en*"))
    for c in candidates:
        if (c / "am").is_dir() or (c / "conf").is_dir():
            return c
    return None


def select(engine: str, model: str | None = None) -> tuple[list[EngineSpec], list[str]]:
    """Engines to run and notes on the ones left out. engine: all | pocketsphinx | vosk."""
    notes: list[str] = []
    specs: list[EngineSpec] = []
    if engine in ("all", "auto", "pocketsphinx"):
        specs.append(EngineSpec("pocketsphinx"))
    if engine in ("all", "auto", "vosk"):
        path = english_vosk_model(model)
        if path is None:
            notes.append("vosk: skipped, no English Vosk model installed (models/vosk-model-*en*, "
                         "--model or VOSK_MODEL_PATH); the Korean test model cannot score English speech")
        else:
            specs.append(EngineSpec("vosk", str(path)))
    return specs, notes


def check_available() -> None:
    """Raise EngineUnavailable when the product's engine factory is not installed."""
    try:
        from ..recognition import engines  # noqa: F401
    except ImportError as exc:
        raise EngineUnavailable(f"skill.recognition.engines is not available yet: {exc}") from exc


def open_grammar_recognizer(spec: EngineSpec):
    """The product's recogniser, exactly as the assistant opens it."""
    try:
        from ..recognition.engines import open_recognizer
    except ImportError as exc:
        raise EngineUnavailable(f"skill.recognition.engines is not available yet: {exc}") from exc
    rec, _notice = open_recognizer(engine=spec.name, model=spec.model)
    return rec


def product_threshold(spec: EngineSpec, recognizer=None) -> float:
    """The rejection threshold the assistant uses for this engine."""
    from ..recognition.engines import rejection_threshold
    rec = recognizer if recognizer is not None else open_grammar_recognizer(spec)
    return float(rejection_threshold(rec))
