"""Wake-phrase detection for `serve`: a Recognizer (begin/feed/finish) that answers only
with a wake phrase, and only when it is sure.

An always-on detector hears hours of talk and television, so it must reject nearly
everything. Three checks, all cheap (PocketSphinx, run only on endpointed speech):
1. the JSGF grammar of the wake phrases finds one of them (whole phrase);
2. the engine's phone-loop confidence (skill/recognition/pocketsphinx_engine.py) is at
   least WAKE_MIN_CONFIDENCE;
3. the free phone loop's phones are close to the phrase's own phones (a weighted edit
   distance, similar phones cost half): a grammar forced onto "where did I leave my keys"
   can score well, but the phone loop hears a dozen phones that are not "HH EY K OW CH".
Measured (BENCHMARKS.md section 5): check 3 removed every out-of-domain sentence that
passed checks 1-2 on the evaluation voices. PocketSphinx's keyword spotter (kws search)
was tried first: at any threshold that found espeak's "hey coach" it also fired on
"the coach", "hey poach" and out-of-domain talk, so it is not used.
"""
from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Any

from .recognition.base import Hypothesis
from .vocab import VocabError, read_voc_file

log = logging.getLogger(__name__)

DEFAULT_WAKE_FILE = "wake.voc"
ACCENTS_FILE = "wake_accents.dict"
WAKE_MIN_CONFIDENCE = 0.5
# Largest phone edit distance, as a share of the phrase's phone count, still taken as the phrase.
MAX_PHONE_DISTANCE = 0.6
# Wake phrases are short: a longer utterance is a sentence that merely contains similar sounds.
MAX_WAKE_SECONDS = 4.0
# ... and not a blip: the utterance as the ears pass it (0.3 s pre-roll, 0.3 s trailing
# silence) around a two-word phrase. The one false wake of the first hour-long run was 0.6 s.
MIN_WAKE_SECONDS = 0.8

_CLASSES = {
    "vowel": "AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW",
    "stop": "P B T D K G",
    "fricative": "F V TH DH S Z SH ZH HH CH JH",
    "nasal": "M N NG",
    "liquid": "L R W Y",
}
PHONE_CLASS = {p: c for c, ps in _CLASSES.items() for p in ps.split()}


class WakeError(ValueError):
    """A wake phrase that cannot be used (file missing, words the recogniser does not know)."""


def load_wake_phrases(locale_dir: Path, override: str | None = None) -> list[str]:
    """The wake phrases: `override` (from --wake-phrase / config) or the locale's wake.voc."""
    if override:
        phrase = " ".join(override.lower().replace(",", " ").split())
        if not phrase:
            raise WakeError("The wake phrase is empty.")
        return [phrase]
    try:
        phrases = [p.text for p in read_voc_file(Path(locale_dir) / DEFAULT_WAKE_FILE, intent="wake")]
    except VocabError as exc:
        raise WakeError(f"The wake phrases cannot be read: {exc}") from None
    if not phrases:
        raise WakeError(f"{Path(locale_dir) / DEFAULT_WAKE_FILE} has no wake phrase.")
    return phrases


def read_accents(path: Path) -> dict[str, list[str]]:
    """word -> extra phone spellings (a missing file means none)."""
    out: dict[str, list[str]] = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 2:
            out.setdefault(parts[0].lower(), []).append(" ".join(p.upper() for p in parts[1:]))
    return out


def phone_distance(heard: list[str], expected: list[str]) -> float:
    """Edit distance; a substitution within a phone class (vowel, stop...) costs 0.5."""
    prev = list(range(len(expected) + 1))
    for i, a in enumerate(heard, 1):
        cur = [float(i)] + [0.0] * len(expected)
        for j, b in enumerate(expected, 1):
            sub = 0.0 if a == b else (0.5 if PHONE_CLASS.get(a) == PHONE_CLASS.get(b) else 1.0)
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + sub)
        prev = cur
    return float(prev[-1])


class WakeRecognizer:
    """Recognizer over the project's PocketSphinx engine, restricted to wake phrases."""

    name = "pocketsphinx-wake"
    sample_rate = 16000

    def __init__(self, phrases: list[str], locale_dir: Path | None = None,
                 min_confidence: float = WAKE_MIN_CONFIDENCE,
                 max_distance: float = MAX_PHONE_DISTANCE, engine: Any = None) -> None:
        if engine is None:
            from .recognition.pocketsphinx_engine import PocketSphinxRecognizer
            engine = PocketSphinxRecognizer()
        self.engine = engine
        missing = engine.missing_words(phrases)
        if missing:
            raise WakeError(f"The wake phrase cannot be recognised: the recogniser does not know "
                            f"the word(s) {', '.join(missing)}. Choose words of everyday English.")
        self.phrases = [" ".join(p.split()) for p in phrases]
        self.min_confidence = min_confidence
        self.max_distance = max_distance
        accents = read_accents(Path(locale_dir) / ACCENTS_FILE) if locale_dir else {}
        self.targets = {p: self._spellings(p, accents) for p in self.phrases}
        self.last_measures: dict[str, Any] = {}
        self._samples = 0

    def _spellings(self, phrase: str, accents: dict[str, list[str]]) -> list[list[str]]:
        per_word = []
        for word in phrase.split():
            own = self.engine._decoder.lookup_word(word)
            options = ([own] if own else []) + accents.get(word, [])
            per_word.append(options)
        # a handful of words with a couple of spellings each: the product stays tiny
        return [" ".join(combo).split() for combo in itertools.product(*per_word)]

    def missing_words(self, phrases: list[str]) -> list[str]:
        return self.engine.missing_words(phrases)

    # Recognizer ------------------------------------------------------------------
    def begin(self, phrases: list[str]) -> None:
        # the ears pass the phrases of their context; the wake grammar is always ours
        self.engine.begin(self.phrases)
        self._samples = 0

    def feed(self, pcm: bytes) -> None:
        self._samples += len(pcm) // 2
        self.engine.feed(pcm)

    def finish(self) -> Hypothesis:
        hyp = self.engine.finish()
        seconds = self._samples / self.sample_rate
        heard = self._phone_loop()
        m: dict[str, Any] = {"text": hyp.text, "confidence": hyp.confidence, "seconds": round(seconds, 2),
                             "phones": " ".join(heard)}
        self.last_measures = m
        if not hyp.text or hyp.text not in self.targets:
            return Hypothesis("", hyp.confidence)
        distance = min(phone_distance(heard, t) / len(t) for t in self.targets[hyp.text])
        m["distance"] = round(distance, 3)
        if seconds > MAX_WAKE_SECONDS or seconds < MIN_WAKE_SECONDS:
            m["rejected"] = "too long" if seconds > MAX_WAKE_SECONDS else "too short"
            return Hypothesis("", 0.0)
        if (hyp.confidence or 0.0) < self.min_confidence:
            m["rejected"] = "confidence"
            return Hypothesis("", 0.0)
        if distance > self.max_distance:
            m["rejected"] = "phones"
            return Hypothesis("", 0.0)
        return Hypothesis(hyp.text, hyp.confidence)

    def _phone_loop(self) -> list[str]:
        """The phones the engine's free phone loop heard (silence and fillers left out)."""
        phones = getattr(self.engine, "_phones", None)
        if phones is None:
            return []
        return [s.word for s in phones.seg() if s.word != "SIL" and not s.word.startswith("+")]
