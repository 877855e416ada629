"""Choose and open a recognition engine, falling back to the embedded one with a notice."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from . import models as model_store
from .base import Recognizer

ENGINES = ("auto", "vosk", "pocketsphinx")


class EngineError(Exception):
    """No usable engine; the message says why."""


def _vosk_available() -> str | None:
    try:
        import vosk  # noqa: F401
    except Exception as e:  # ImportError, or a broken native library
        return f"the vosk package is not usable ({e})"
    return None


def open_recognizer(engine: str = "auto", model: str | Path | None = None,
                    sample_rate: int = 16000, env: Mapping[str, str] | None = None,
                    models_dir: Path = model_store.MODELS_DIR) -> tuple[Recognizer, str | None]:
    """Open the engine to use. Returns (recogniser, notice): notice is a sentence to say
    and print once (which engine, why, how to get the better one), or None.

    auto: Vosk when an English model is found (--model, VOSK_MODEL_PATH, models/),
    else PocketSphinx. vosk: Vosk, falling back to PocketSphinx with the reason when the
    model is missing or broken. pocketsphinx: PocketSphinx.
    """
    if engine not in ENGINES:
        raise EngineError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    env = os.environ if env is None else env
    how_to_get = ("For better recognition run: run_assistant.py models download "
                  f"(fetches {model_store.DEFAULT_MODEL}).")
    reason = None
    if engine in ("auto", "vosk"):
        path, source = model_store.find_model(model, env, models_dir)
        problem = _vosk_available()
        if path is None:
            reason = "no Vosk model is installed"
        elif problem:
            reason = problem
        else:
            from .vosk_engine import ModelError, VoskRecognizer
            try:
                rec = VoskRecognizer(path, sample_rate=sample_rate)
                return rec, None if engine == "vosk" else f"Using the Vosk engine with {path.name}."
            except ModelError as e:
                reason = str(e)
        if engine == "vosk" or path is not None:
            fallback = f"Cannot use Vosk: {reason}. Falling back to PocketSphinx. {how_to_get}"
        else:
            fallback = f"Using PocketSphinx, the built-in engine. {how_to_get}"
    else:
        fallback = None
    from .pocketsphinx_engine import PocketSphinxRecognizer
    try:
        rec = PocketSphinxRecognizer()
    except Exception as e:  # model missing from the wheel, native library error
        raise EngineError(f"PocketSphinx cannot start: {e}"
                          + (f" (and Vosk: {reason})" if reason else "")) from None
    return rec, fallback


def rejection_threshold(recognizer: Recognizer) -> float:
    """The engine's tuned confidence below which a result is rejected."""
    if recognizer.name == "vosk":
        from .vosk_engine import REJECT_BELOW
    else:
        from .pocketsphinx_engine import REJECT_BELOW
    return REJECT_BELOW
