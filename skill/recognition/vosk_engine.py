"""Vosk engine: the model is loaded once; each phrase set gets its own grammar
recogniser (cached); "[unk]" (or the model's unknown symbol) catches off-list speech."""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from .base import Hypothesis
from .grammar import GrammarError, missing_words, phrase_words, unknown_symbol, vosk_grammar, vosk_vocabulary
from .pocketsphinx_engine import GARBAGE_WORDS

log = logging.getLogger(__name__)

# Below this (minimum word confidence), reject. Tuned with the Korean model on espeak-ng
# speech; see the recognition report.
REJECT_BELOW = 0.6

_models: dict[str, object] = {}
_models_lock = threading.Lock()


class ModelError(Exception):
    """The Vosk model is missing or unusable; the message says why."""


def load_model(path: str | Path):
    """Load (once per process) the Vosk model at path."""
    path = Path(path).resolve()
    key = str(path)
    with _models_lock:
        if key in _models:
            return _models[key]
        if not path.is_dir():
            raise ModelError(f"Vosk model not found: {path}")
        if not (path / "am" / "final.mdl").is_file() or not (path / "conf" / "mfcc.conf").is_file():
            raise ModelError(f"{path} is not a Vosk model (no am/final.mdl or conf/mfcc.conf)")
        import vosk
        vosk.SetLogLevel(-1)
        try:
            model = vosk.Model(str(path))
        except Exception as e:  # vosk raises a bare Exception when Kaldi fails
            raise ModelError(f"Vosk model at {path} could not be loaded (corrupt?): {e}") from None
        _models[key] = model
        return model


class VoskRecognizer:
    name = "vosk"

    def __init__(self, model_path: str | Path, sample_rate: int = 16000,
                 filler_words: list[str] | tuple[str, ...] | None = None) -> None:
        self.model_path = Path(model_path)
        self.sample_rate = int(sample_rate)
        self._model = load_model(model_path)
        self.vocabulary = vosk_vocabulary(model_path)
        self.unk = unknown_symbol(self.vocabulary)
        fillers = GARBAGE_WORDS if filler_words is None else filler_words
        # fillers give off-list speech somewhere to go besides [unk]; keep only known words
        self.filler_words = [w for w in fillers
                             if self.vocabulary is None or w in self.vocabulary]
        self._recognizers: dict[tuple[str, ...], object] = {}
        self._rec = None
        self._segments: list[dict] = []
        self._phrase_words: set[str] = set()
        self.missing: list[str] = []

    def missing_words(self, phrases: list[str]) -> list[str]:
        if self.vocabulary is None:
            return []
        return missing_words(phrases, self.vocabulary)

    def begin(self, phrases: list[str]) -> None:
        from vosk import KaldiRecognizer

        key = tuple(phrases)
        self.missing = self.missing_words(list(phrases))
        rec = self._recognizers.get(key)
        if rec is None:
            missing = set(self.missing)
            usable = [p for p in phrases if not set(p.split()) & missing]
            if missing:
                log.warning("Vosk model lacks %s; phrases using them are not recognised",
                            ", ".join(sorted(missing)))
            if not usable:
                raise GrammarError("none of the phrases can be recognised: the model lacks "
                                   + ", ".join(sorted(missing)))
            words = set(phrase_words(usable))
            grammar = vosk_grammar(usable, self.unk,
                                   [w for w in self.filler_words if w not in words])
            rec = KaldiRecognizer(self._model, self.sample_rate, grammar)
            rec.SetWords(True)
            self._recognizers[key] = rec
        else:
            rec.Reset()
        self._rec = rec
        self._segments: list[dict] = []
        self._carry = b""
        self._phrase_words = set(phrase_words(phrases)) - set(self.missing)
        self._phrases = {" ".join(p.split()) for p in phrases}

    def feed(self, pcm: bytes) -> None:
        if self._rec is None:
            raise RuntimeError("feed() before begin()")
        if self._carry:
            pcm = self._carry + pcm
        # chunks may split a sample: keep the odd byte for the next chunk
        self._carry = pcm[-1:] if len(pcm) % 2 else b""
        if self._carry:
            pcm = pcm[:-1]
        if pcm and self._rec.AcceptWaveform(pcm):
            # an endpoint inside the utterance finalises a segment: keep its words,
            # FinalResult() only returns what came after it
            self._segments.extend(json.loads(self._rec.Result()).get("result", []))

    def finish(self) -> Hypothesis:
        if self._rec is None:
            raise RuntimeError("finish() before begin()")
        result = json.loads(self._rec.FinalResult())
        self._rec = None
        words = self._segments + result.get("result", [])
        self._segments = []
        if not words:
            return Hypothesis("", None)
        text = " ".join(w["word"] for w in words)
        confidence = min(float(w.get("conf", 0.0)) for w in words)
        if any(w["word"] not in self._phrase_words for w in words):
            return Hypothesis("", 0.0)  # [unk] or a filler word: off-list speech
        if text not in self._phrases:
            # Vosk grammars are word-pair models: a word sequence that is no phrase is
            # off-list speech, never the nearest command
            return Hypothesis("", 0.0)
        return Hypothesis(text, confidence)
