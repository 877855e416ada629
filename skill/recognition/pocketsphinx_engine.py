"""PocketSphinx engine: US-English model from the wheel, JSGF grammar per phrase set.

Confidence compares the grammar's best path with a free phone loop (an allphone decoder
fed the same audio): a known phrase fits the grammar nearly as well as the phone loop does,
while other speech fits much worse per frame, or gets part of its speech swallowed by the
grammar's silence. Word posteriors barely separate the two (measured), so they are not used."""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np

from .base import Hypothesis
from .grammar import GrammarError, jsgf, phrase_words

log = logging.getLogger(__name__)

# Below this confidence, reject. The confidence is 0.5 exactly where the grammar path is
# GAP_AT_HALF per speech frame worse than the phone loop, or where COVER_AT_HALF of the phone
# loop's speech frames are labelled silence by the grammar path, whichever is worse.
# Tuned on espeak-ng (en-us, en-us+f2, en-gb at 140 and 175 wpm; 44 commands and 34
# out-of-domain sentences per context); on a held-out set with a -39 dBFS noise floor,
# out-of-domain false accepts fell 73 % -> 5 % (coach) and 68 % -> 4 % (yes_no) while
# correct commands fell 78 % -> 53 % (coach) and 60 % -> 59 % (yes_no). Raising
# GAP_AT_HALF rejects more of both.
REJECT_BELOW = 0.5
# Grammar best score minus phone-loop best score, in log(1.0001) units per speech frame.
GAP_AT_HALF = -6.0
GAP_SCALE = 4.0
# Share of the phone loop's speech frames that the grammar path calls silence.
COVER_AT_HALF = 0.10
# A frame counts as speech only this far above the utterance's noise floor (its 10th
# percentile frame energy): in steady noise the phone loop labels the noise as fricatives.
SPEECH_ABOVE_FLOOR_DB = 10.0
FRAME_SAMPLES = 160  # the decoders' 10 ms frame shift at 16 kHz
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
        phone_lm = base / "en-us-phone.lm.bin"
        if not phone_lm.is_file():
            raise FileNotFoundError(f"PocketSphinx phone model not found: {phone_lm}")
        # the free phone loop: the yardstick the grammar path is measured against
        self._phones = Decoder(hmm=str(hmm), dict=str(dic), allphone=str(phone_lm),
                               loglevel="FATAL")
        self.garbage_weight = garbage_weight
        self.garbage_words = [w for w in garbage_words if self._decoder.lookup_word(w)]
        self.dither_sigma = dither_sigma
        self._searches: dict[tuple[str, ...], str] = {}
        self._active: tuple[str, ...] | None = None
        self._rng = np.random.default_rng(0)
        self._in_utt = False
        self.missing: list[str] = []
        self.last_measures: dict[str, float] = {}

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
            self._phones.end_utt()
        name = self._search_for(list(phrases))
        self._decoder.activate_search(name)
        self._active = tuple(phrases)
        self._rng = np.random.default_rng(0)
        self._phrase_words = set(phrase_words(phrases))
        self._phrases = {" ".join(p.split()) for p in phrases}
        self._decoder.start_utt()
        self._phones.start_utt()
        self._in_utt = True
        self._carry = b""
        self._energy: list[float] = []   # mean square per 10 ms frame
        self._partial = np.zeros(0)      # samples of a frame not yet complete

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
        self._track_energy(pcm)
        self._decoder.process_raw(pcm, False, False)
        self._phones.process_raw(pcm, False, False)

    def _track_energy(self, pcm: bytes) -> None:
        x = np.concatenate([self._partial, np.frombuffer(pcm, dtype="<i2").astype(np.float64)])
        n = len(x) // FRAME_SAMPLES * FRAME_SAMPLES
        if n:
            self._energy.extend((x[:n].reshape(-1, FRAME_SAMPLES) ** 2).mean(axis=1).tolist())
        self._partial = x[n:]

    def _loud_frames(self) -> set[int]:
        if not self._energy:
            return set()
        db = 10 * np.log10(np.asarray(self._energy) + 1.0)
        floor = float(np.percentile(db, 10))
        return set(np.flatnonzero(db >= floor + SPEECH_ABOVE_FLOOR_DB).tolist())

    def finish(self) -> Hypothesis:
        if not self._in_utt:
            raise RuntimeError("finish() before begin()")
        self._decoder.end_utt()
        self._phones.end_utt()
        self._in_utt = False
        self.last_measures = {}
        hyp = self._decoder.hyp()
        if hyp is None or not hyp.hypstr.strip():
            return Hypothesis("", None)
        words = hyp.hypstr.split()
        if " ".join(words) not in self._phrases:
            return Hypothesis("", 0.0)  # no whole phrase: a partial path or the garbage loop
        return Hypothesis(" ".join(words), self._confidence(hyp.score))

    def _confidence(self, grammar_score: float) -> float:
        """0..1: how well the grammar path explains the speech compared with a free phone loop."""
        phone_hyp = self._phones.hyp()
        if phone_hyp is None or not (0 < grammar_score < math.inf and 0 < phone_hyp.score < math.inf):
            return 0.0
        speech: set[int] = set()
        for s in self._phones.seg():
            if s.word != "SIL" and not s.word.startswith("+"):
                speech.update(range(s.start_frame, s.end_frame + 1))
        speech &= self._loud_frames()
        if not speech:
            return 0.0
        silence: set[int] = set()
        first_word = None
        for s in self._decoder.seg():
            if s.word.split("(")[0] not in self._phrase_words:  # <sil>, <s>, fillers
                silence.update(range(s.start_frame, s.end_frame + 1))
            elif first_word is None:
                first_word = s.start_frame
        # Only speech from the phrase's start on counts as swallowed: in steady noise the
        # phone loop turns the first few hundred ms (live CMN still settling) into phones.
        silence = {f for f in silence if first_word is None or f >= first_word}
        uncovered = len(speech & silence) / len(speech)
        # hyp().score comes back as logmath.exp(score): recover the log(1.0001) units
        log_base = math.log(1.0001)
        gap = (math.log(grammar_score) - math.log(phone_hyp.score)) / log_base / len(speech)
        self.last_measures = {"gap": gap, "uncovered": uncovered}  # for benchmarks
        fit = 1.0 / (1.0 + math.exp(-(gap - GAP_AT_HALF) / GAP_SCALE))
        cover = max(0.0, 1.0 - uncovered / (2 * COVER_AT_HALF))
        return float(min(1.0, fit, cover))
