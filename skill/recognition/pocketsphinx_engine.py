"""PocketSphinx engine: US-English model from the wheel, JSGF grammar per phrase set,
with a garbage-word loop for out-of-grammar speech and word posteriors as confidence."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .base import Hypothesis
from .grammar import GrammarError, jsgf, phrase_words

log = logging.getLogger(__name__)

# Tuned on espeak-ng phrases (in- and out-of-grammar); see tests/test_recognition_pocketsphinx.py
# and the measurement in the recognition report. Below this confidence, reject.
REJECT_BELOW = 0.5
# Weight of the garbage alternative against 1 for the phrases (a float32 in the JSGF
# parser: values below ~1e-38 underflow to 0, i.e. no garbage path at all).
GARBAGE_WEIGHT = 1e-26
# Synthetic or digitally silent audio decodes badly (pure zeros wreck the cepstral
# normalisation); a faint, seeded noise floor (~-70 dBFS) fixes that and is far below any
# real microphone's own noise.
DITHER_SIGMA = 10.0

# Common English words that are not commands: out-of-grammar speech can decode into these.
# OFF by default: measured on the 172-phrase coach grammar it cut false accepts only from
# 61 % to 43 % while making decoding ~3x slower (RTF ~1 on a shared 2-core box) and
# swallowing short commands and human digits (FSDD 75 % -> 30 %).
GARBAGE_WORDS = (
    "the a to and of in it is you that what i hello okay well so like this was for on are "
    "with he they be at have from or had by word but not all were we when your can said "
    "there an each which she do how their if will up other about out many then them these "
    "some her would make him into time has look more write see way could people my than "
    "water been call who its now find long down day did get come made may part"
).split()


def default_model_dir() -> Path:
    import pocketsphinx
    return Path(pocketsphinx.get_model_path()) / "en-us"


class PocketSphinxRecognizer:
    name = "pocketsphinx"
    sample_rate = 16000

    def __init__(self, model_dir: str | Path | None = None,
                 garbage_weight: float = GARBAGE_WEIGHT,
                 garbage_words: tuple[str, ...] | list[str] = (),
                 dither_sigma: float = DITHER_SIGMA) -> None:
        from pocketsphinx import Decoder

        base = Path(model_dir) if model_dir else default_model_dir()
        hmm, dic = base / "en-us", base / "cmudict-en-us.dict"
        if not hmm.is_dir() or not dic.is_file():
            raise FileNotFoundError(f"PocketSphinx model not found under {base}")
        self._decoder = Decoder(hmm=str(hmm), dict=str(dic), loglevel="FATAL")
        self.garbage_weight = garbage_weight
        self.garbage_words = [w for w in garbage_words if self._decoder.lookup_word(w)]
        self.dither_sigma = dither_sigma
        self._searches: dict[tuple[str, ...], str] = {}
        self._active: tuple[str, ...] | None = None
        self._rng = np.random.default_rng(0)
        self._in_utt = False
        self.missing: list[str] = []

    # vocabulary ------------------------------------------------------------------
    def missing_words(self, phrases: list[str]) -> list[str]:
        return [w for w in phrase_words(phrases) if self._decoder.lookup_word(w) is None]

    def _search_for(self, phrases: list[str]) -> str:
        key = tuple(phrases)
        name = self._searches.get(key)
        if name is None:
            missing = set(self.missing_words(phrases))
            usable = [p for p in phrases if not set(p.split()) & missing]
            if missing:
                log.warning("PocketSphinx dictionary lacks %s; phrases using them are not "
                            "recognised", ", ".join(sorted(missing)))
            if not usable:
                raise GrammarError("none of the phrases can be recognised: the dictionary "
                                   f"lacks {', '.join(sorted(missing))}")
            name = f"g{len(self._searches)}"
            self._decoder.add_jsgf_string(
                name, jsgf(usable, self.garbage_words, self.garbage_weight))
            self._searches[key] = name
        self.missing = self.missing_words(phrases)
        return name

    # Recognizer ------------------------------------------------------------------
    def begin(self, phrases: list[str]) -> None:
        if self._in_utt:
            self._decoder.end_utt()
        name = self._search_for(list(phrases))
        self._decoder.activate_search(name)
        self._active = tuple(phrases)
        self._rng = np.random.default_rng(0)
        self._phrase_words = set(phrase_words(phrases))
        self._phrases = {" ".join(p.split()) for p in phrases}
        self._decoder.start_utt()
        self._in_utt = True
        self._carry = b""

    def feed(self, pcm: bytes) -> None:
        if not self._in_utt:
            raise RuntimeError("feed() before begin()")
        if self._carry:
            pcm = self._carry + pcm
        # chunks may split a sample: keep the odd byte for the next chunk
        self._carry = pcm[-1:] if len(pcm) % 2 else b""
        if self._carry:
            pcm = pcm[:-1]
        if not pcm:
            return
        if self.dither_sigma:
            x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
            x += self._rng.normal(0.0, self.dither_sigma, len(x))
            pcm = np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()
        self._decoder.process_raw(pcm, False, False)

    def finish(self) -> Hypothesis:
        if not self._in_utt:
            raise RuntimeError("finish() before begin()")
        self._decoder.end_utt()
        self._in_utt = False
        hyp = self._decoder.hyp()
        if hyp is None or not hyp.hypstr.strip():
            return Hypothesis("", None)
        words = hyp.hypstr.split()
        if " ".join(words) not in self._phrases:
            return Hypothesis("", 0.0)  # went through the garbage loop
        probs = [s.prob for s in self._decoder.seg()
                 if s.word.split("(")[0] in self._phrase_words]
        confidence = min(probs) if probs else None
        if confidence is not None:
            confidence = float(min(1.0, max(0.0, confidence)))
        return Hypothesis(" ".join(words), confidence)
