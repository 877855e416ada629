"""PocketSphinx engine: US-English model from the wheel, JSGF grammar per phrase set.

Confidence compares the grammar's best path with a free phone loop (an allphone decoder
fed the same audio): a known phrase fits the grammar nearly as well as the phone loop does,
while other speech fits much worse per frame, or gets part of its speech swallowed by the
grammar's silence, or makes the loop hear phones far from the phrase's pronunciation.
Word posteriors barely separate the two (measured), so they are not used. For one short
word that comparison says little; an uncertain one-word result gets a second look against
sound-alike decoys (skill/recognition/verify.py), and a short answer is decoded without most
of the silence around it (skill/recognition/span.py). An uncertain result of several words
gets a lexical second look: the phrase alone against a loop of everyday words (LEXICAL_BAND).
A phrase rejected in steady noise is decoded once more after noise suppression, and kept only if
the same phrase comes back confident (DENOISED_LOOK_BAND).

Both decoders see the utterance as a whole in finish() (cepstral mean from the utterance
itself: far better in noise, at the price of decoding after the endpoint; see BENCHMARKS.md).
Words the model's dictionary lacks come from dialogs/en-us/pronunciations.dict; each grammar
word also gets British alternates derived by accent rules (skill/recognition/accents.py,
dialogs/en-us/accents.toml), since the dictionary spells only the US pronunciation.

With a `vocabulary` the grammar decoder loads only those words' lines of the 134,000-word
cmudict-en-us.dict (and no n-gram language model, which a grammar never uses), and the phone
loop a one-word dictionary: ~110 MB and ~0.8 s less (BENCHMARKS.md section 4).
Words asked for later are looked up in the full dictionary on demand."""
from __future__ import annotations

import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np

from .accents import DEFAULT_RULES as DEFAULT_ACCENTS, AccentRules, british_variants, load_rules
from .base import Hypothesis
from .grammar import GrammarError, jsgf, phrase_words, word_loop
from .phones import relative_distance, speech_phones
from .denoise import suppress_noise
from .span import speech_span
from .verify import DecoyVerifier

log = logging.getLogger(__name__)

# Below this confidence, reject. The confidence (`combined_confidence`) is a logistic
# combination of three measures of how well the grammar path explains the speech compared
# with a free phone loop fed the same audio:
#   gap       grammar best score minus phone-loop best score, log(1.0001) units per speech
#             frame, clipped to GAP_CLIP (one outlier frame run must not dominate), / 10;
#   uncovered share of the phone loop's speech frames that the grammar path calls silence;
#   distance  phone edit distance (skill/recognition/phones.py) between what the phone loop
#             heard and the phrase's pronunciation as the grammar path aligned it, per phone
#             of that pronunciation (so one-word and five-word phrases compare).
# Before (sessions 1-2) the confidence used gap and uncovered alone, as min(sigmoid(gap),
# cover ramp); adding the distance took correct commands within the false-accept targets
# (<= 2 %, yes_no <= 0.5 %) from 55 % to 65 % on the development set (BENCHMARKS.md,
# "1. Command accuracy", session 3 tuning).
# Fitted by logistic regression (Newton, L2 1e-2; target: the command was decoded to its
# own intent; negatives: out-of-domain speech and wrongly decoded commands) on a development
# set: half of 60 everyday sentences and near-misses (4 espeak voices, clean and 10 dB, not
# the benchmark's out-of-domain list) and half of 160 evaluation-set command phrases (2
# renditions, clean and 10 dB); checked on the other halves. The intercept is shifted so that REJECT_BELOW = 0.5 is the point chosen
# on the development set (fitted probability CONFIDENCE_FITTED_CUT).
# Session 4 added British accent variants (more paths: the aligned pronunciation may now be
# a variant). Re-fitted the same way on a development set decoded with them (the 60
# sentences in all 4 contexts, 470 commands at other speaking rates than the benchmark's):
# (5.90, 0.84, -18.6, -7.17), the same operating point within one clip (held-out half 65.9
# vs 65.3 % correct, equal false accepts), so these constants stay (BENCHMARKS.md section 1).
REJECT_BELOW = 0.5
CONFIDENCE_FITTED_CUT = 0.8
CONFIDENCE_INTERCEPT = 5.427 - math.log(CONFIDENCE_FITTED_CUT / (1 - CONFIDENCE_FITTED_CUT))
CONFIDENCE_WEIGHTS = {"gap": 0.708, "uncovered": -15.923, "distance": -6.392}
GAP_CLIP = (-60.0, 40.0)
# A frame counts as speech only this far above the utterance's noise floor (its 10th
# percentile frame energy): in steady noise the phone loop labels the noise as fricatives.
SPEECH_ABOVE_FLOOR_DB = 10.0
# Silence kept around the speech when decoding (skill/recognition/span.py); None: decode
# the utterance as the endpointer gave it.
TRIM_MARGIN: float | None = 0.15
FRAME_SAMPLES = 160  # the decoders' 10 ms frame shift at 16 kHz
# Weight of the garbage alternative against 1 for the phrases (a float32 in the JSGF
# parser: values below ~1e-38 underflow to 0, i.e. no garbage path at all).
GARBAGE_WEIGHT = 1e-26
# Synthetic or digitally silent audio decodes badly (pure zeros wreck the cepstral
# normalisation); a faint, seeded noise floor (~-70 dBFS) fixes that and is far below any
# real microphone's own noise.
DITHER_SIGMA = 10.0
# ... and a floor of faint white noise at least this far below the utterance's own speech level
# (its 90th-percentile 10 ms frame) is laid under every utterance decoded as a whole, where the
# audio's own floor is lower. Near-silent pauses give frames of extreme log energy that no
# training recording had, and they skew the utterance's cepstral mean: the evaluation set's
# clean speech decoded WORSE than the same speech at 20 dB SNR (93 vs 98 % decoded right).
# Relative, not absolute, so a quiet voice far from the microphone is not buried (a fixed
# sigma 100, about -50 dBFS, did as well on espeak's loud speech). Development set (session 5:
# 320 clean and 160 10 dB commands at 150/190 wpm, 240 everyday sentences in yes_no and menu),
# at the same threshold: clean 233 -> 269 of 320 correct, 10 dB 109 -> 105 of 160 (history
# noise: the floor is not added there), wrong 6 -> 5; but every confidence rises a little, so
# yes_no false accepts 2 -> 4 of 240: hence yes_no's confidence_margin 0.1 (contexts.toml),
# with which yes_no false accepts are 1 of 240 and clean 265 of 320. 25 dB and 40 dB were worse;
# refitting the confidence constants with the floor gained nothing on held-out halves.
# None: no floor. (The wake detector sets its own floor per decode, with its own cuts where the
# floor was added: skill/wake.py, FLOOR_BELOW_SPEECH_DB.)
NOISE_FLOOR_BELOW_SPEECH_DB: float | None = 30.0

# Extra Decoder(...) settings for the grammar decoder and the phone loop (decoding cost:
# BENCHMARKS.md section 3). bestpath=False: the grammar's best path is read off the search
# itself; the default rescored a word lattice at hyp(), which cost ~50 ms for a short answer
# and up to 2.5 s (!) for speech far from a 500-phrase grammar, and found the right phrase
# less often (measured on 400 decodes: 123 -> 128 of 160 clean commands; RTF 0.21 -> 0.10).
# Tried and not kept (same 400 decodes): topn 2 (-8 % CPU, 5 fewer right phrases), narrower
# grammar beams (beam/pbeam 1e-30, wbeam 1e-20: -25 % CPU, wrong intents 3 -> 9 of 240),
# narrower phone-loop beams (no gain: the loop's cost is the acoustic scoring).
GRAMMAR_DECODER_OPTIONS: dict[str, object] = {"bestpath": False}
PHONE_LOOP_OPTIONS: dict[str, object] = {}
# True: the phone loop decodes while the audio arrives (live cepstral mean), so finish()
# only runs the grammar decoder; False: both decode the whole utterance in finish().
STREAM_PHONE_LOOP = False
# speculate() decodes an answer before the last 0.1 s of its trailing silence; that silence
# still moves the confidence a little, and near the threshold that flips accept/reject. A
# speculative result whose confidence falls in this band is therefore not kept: finish()
# decodes the whole utterance (development set: 15-20 % of answers; BENCHMARKS.md section 2,
# session 4).
SPECULATION_UNSURE = (0.3, 0.7)

# Lexical second look at an uncertain result of several words: how much better the phrase alone
# explains the utterance than a loop of everyday words (GARBAGE_WORDS minus the phrase's own
# words), in log(1.0001) units per 10 ms frame. Speech that is no command ("louder music please"
# forced onto "mobility please") is real words, which the loop fits nearly as well as the
# phrase; a command fits its phrase far better. The phone loop cannot tell these apart (it
# hears phones in both). Only a confidence in LEXICAL_BAND is looked at again (two more
# decodes of a tiny grammar and of the loop); it becomes the logistic of LEXICAL_INTERCEPT +
# LEXICAL_WEIGHTS . (gap / 10, uncovered, distance, lexical / 10). One-word results keep the
# decoy stage (verify.py). Fitted (Newton, L2 1e-2) on session 6 development data: 80
# non-benchmark command phrases (4 benchmark voices at 150/190 wpm) and 120 more (6 other
# espeak voices at 160/185 wpm), 60 everyday sentences in 6 voices in all 4 contexts, clean and
# 10 dB; intercept shifted to keep the development false accepts at the shipped level. Held-out
# halves: 569 -> 589 of 800 commands, false accepts 18 -> 17 of 1,920 (BENCHMARKS.md section
# 1, session 6). Per-word acoustic gaps and phone distances, speaking rate, phone count and
# quadratic terms added nothing there. None: off.
# Fitted and first measured with the band (0.15, 0.85); each look costs ~0.25 s of CPU (median,
# loaded machine), and that band took the benchmark's RTF from 0.090 to 0.119 (one sitting).
# Narrowed to (0.3, 0.7), the results that are decoded again at the endpoint anyway
# (SPECULATION_UNSURE): simulated from that sitting's records, 79.4 instead of 80.2 % correct
# at RTF 0.098 (BENCHMARKS.md section 1, session 7).
LEXICAL_BAND: tuple[float, float] | None = (0.3, 0.7)

# Second look after noise suppression (skill/recognition/denoise.py, the wake detector's
# Wiener gain): a whole phrase rejected with a confidence in DENOISED_LOOK_BAND, in audio with a
# noise floor of its own (not floored), is decoded once more from the suppressed audio, and the
# second result is kept only when it is the SAME phrase with a confidence of at least
# DENOISED_LOOK_MIN_CONFIDENCE: two looks at the speech, with and without the noise, agree.
# In steady noise the first look hears the phrase without its consonants and the phone loop
# hears noise as fricatives, so right answers come out uncertain; suppression gives both back.
# Development set (session 9: engineer R's 6 non-benchmark voices, phrases not the benchmark's,
# 240 commands and 120 everyday sentences in all 4 contexts at 20/10/5 dB):
# commands correct 378 -> 399 of 720, wrong 10 -> 12, false accepts 16 -> 16 of 1,440, a second
# look on 13 % of decodes. Without the agreement (any phrase at 0.8): 430 correct but false
# accepts 27 (yes_no 1 -> 4 of 360); any phrase at 0.5: yes_no 9 of 360. Looking at first
# results under 0.1 too: 415 correct, 20 false accepts, looks on 72 % of decodes. None: off.
DENOISED_LOOK_BAND: tuple[float, float] | None = (0.1, REJECT_BELOW)
DENOISED_LOOK_MIN_CONFIDENCE = 0.8
LEXICAL_INTERCEPT = 1.201
LEXICAL_WEIGHTS = {"gap": 0.799, "uncovered": -2.27, "distance": -8.816, "lexical": 2.806}

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


# Words the model's dictionary lacks, in CMUdict format (dialogs/<locale>/pronunciations.dict).
DEFAULT_PRONUNCIATIONS = Path(__file__).resolve().parents[2] / "dialogs" / "en-us" / "pronunciations.dict"


def read_pronunciations(path: str | Path) -> list[tuple[str, str]]:
    """(word, phones) pairs of a CMUdict-style file; '#' starts a comment."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 2:
            raise ValueError(f"{path}:{n}: expected a word and its phones, got {line!r}")
        out.append((parts[0].lower(), " ".join(p.upper() for p in parts[1:])))
    return out


def _base_word(token: str) -> str:
    """'read(2)' -> 'read': CMUdict numbers a word's alternate pronunciations."""
    return token.split("(", 1)[0]


def dictionary_lines(path: str | Path, words: set[str]) -> list[str]:
    """The lines of a CMUdict-format file for `words`, alternate pronunciations included,
    in file order (a word before its alternates, as add_word needs)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            head = line[:line.find(" ")]
            if head and _base_word(head) in words:
                out.append(line.rstrip("\n"))
    return out


# The phone loop never looks a word up, but a decoder needs some valid dictionary. And a
# decoder given no search loads the 27 MB n-gram model, so the grammar decoder starts
# with this empty grammar instead (begin() adds and activates the real ones).
_PLACEHOLDER_DICT = "a AH\n"
_EMPTY_JSGF = "#JSGF V1.0;\ngrammar empty;\npublic <s> = <NULL>;\n"


def default_model_dir() -> Path:
    import pocketsphinx
    return Path(pocketsphinx.get_model_path()) / "en-us"


class PocketSphinxRecognizer:
    name = "pocketsphinx"
    sample_rate = 16000

    def __init__(self, model_dir: str | Path | None = None,
                 garbage_weight: float = GARBAGE_WEIGHT,
                 garbage_words: tuple[str, ...] | list[str] = (),
                 dither_sigma: float = DITHER_SIGMA,
                 pronunciations: str | Path | None = DEFAULT_PRONUNCIATIONS,
                 whole_utterance: bool = True,
                 vocabulary: Iterable[str] | None = None,
                 accents: str | Path | None = DEFAULT_ACCENTS,
                 floor_below_db: float | None = NOISE_FLOOR_BELOW_SPEECH_DB) -> None:
        """`vocabulary`: the words the grammars will use (None: load the whole dictionary).
        Other words still work: they are fetched from the full dictionary when asked for.
        `accents`: the accent rules file whose variants every grammar word gets as alternate
        pronunciations (None: the dictionary's own pronunciations only)."""
        from pocketsphinx import Decoder

        base = Path(model_dir) if model_dir else default_model_dir()
        hmm, dic = base / "en-us", base / "cmudict-en-us.dict"
        if not hmm.is_dir() or not dic.is_file():
            raise FileNotFoundError(f"PocketSphinx model not found under {base}")
        phone_lm = base / "en-us-phone.lm.bin"
        if not phone_lm.is_file():
            raise FileNotFoundError(f"PocketSphinx phone model not found: {phone_lm}")
        self.full_dictionary = dic
        self.small_dictionary = vocabulary is not None
        self._not_in_full: set[str] = set()   # looked up on demand and not there
        if vocabulary is None:
            self._decoder = Decoder(hmm=str(hmm), dict=str(dic), loglevel="FATAL",
                                    **GRAMMAR_DECODER_OPTIONS)
            # the free phone loop: the yardstick the grammar path is measured against
            self._phones = Decoder(hmm=str(hmm), dict=str(dic), allphone=str(phone_lm),
                                   loglevel="FATAL", **PHONE_LOOP_OPTIONS)
        else:
            wanted = ({w.lower() for w in vocabulary} | {w.lower() for w in garbage_words}
                      | set(GARBAGE_WORDS))   # the lexical second look's word loop
            if pronunciations:
                # so that a word in both files gets CMUdict's spelling, as with the full one
                try:
                    wanted |= {_base_word(w) for w, _ in read_pronunciations(pronunciations)}
                except (OSError, ValueError):
                    pass  # reported by _add_pronunciations below
            # (an empty vocabulary: "a", a real word, since a decoder needs some dictionary)
            lines = dictionary_lines(dic, wanted) or dictionary_lines(dic, {"a"})
            # the decoders read their files while starting; nothing is kept on disk
            with tempfile.TemporaryDirectory(prefix="pocketsphinx-dict-") as tmp:
                small, tiny, empty = (Path(tmp) / n for n in ("small.dict", "tiny.dict", "empty.gram"))
                small.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
                tiny.write_text(_PLACEHOLDER_DICT, encoding="utf-8")
                empty.write_text(_EMPTY_JSGF, encoding="utf-8")
                self._decoder = Decoder(hmm=str(hmm), dict=str(small), jsgf=str(empty),
                                        loglevel="FATAL", **GRAMMAR_DECODER_OPTIONS)
                self._phones = Decoder(hmm=str(hmm), dict=str(tiny), allphone=str(phone_lm),
                                       loglevel="FATAL", **PHONE_LOOP_OPTIONS)
        self.added_words = self._add_pronunciations(pronunciations) if pronunciations else []
        self._accent_rules: AccentRules | None = None
        if accents:
            try:
                self._accent_rules = load_rules(accents)
            except ValueError as e:  # recognition still works, with US spellings only
                log.warning("accent variants not loaded: %s", e)
        self._accented: set[str] = set()   # words whose accent variants were added
        self.garbage_weight = garbage_weight
        self._fetch(garbage_words)
        self.garbage_words = [w for w in garbage_words if self._decoder.lookup_word(w)]
        self.dither_sigma = dither_sigma
        self.floor_below_db = floor_below_db
        self._decoded_energy: list[float] | None = None
        # True: decode in finish() with the utterance's own cepstral mean; False: decode
        # while audio arrives, with PocketSphinx's running (live) estimate
        self.whole_utterance = whole_utterance
        self.stream_phone_loop = STREAM_PHONE_LOOP and whole_utterance
        self._searches: dict[tuple[str, ...], str] = {}
        self._active: tuple[str, ...] | None = None
        self._rng = np.random.default_rng(0)
        self._in_utt = False
        self.missing: list[str] = []
        self.last_measures: dict[str, float] = {}
        self.phone_loop_decoded = False   # did the last finish() run the phone loop?
        # an uncertain one-word result is decoded again against its sound-alikes (verify.py),
        # and a short answer decoded without most of its silence (span.py); None: neither
        self.verifier: DecoyVerifier | None = DecoyVerifier(self._decoder, dic, base / "en-us.lm.bin")
        self.trim_margin: float | None = TRIM_MARGIN
        self._span_start = 0   # frames cut off the utterance's start before decoding
        # the lexical second look at uncertain results of several words (None: off)
        self.lexical_band: tuple[float, float] | None = LEXICAL_BAND
        # the phrase the two lexical searches ("lexical-phrase", "lexical-loop") were built for:
        # rebuilt (~2 ms each) when another phrase is looked at, never one pair per phrase,
        # which grew the process by 2-12 MB per phrase (BENCHMARKS.md section 4, session 7)
        self._lexical_phrase: str | None = None
        # the second look after noise suppression (None: off; the wake detector turns it off)
        self.denoised_look_band: tuple[float, float] | None = DENOISED_LOOK_BAND
        self.denoised_looked = False   # did the last decode take a second look after suppression?

    # vocabulary ------------------------------------------------------------------
    def _add_pronunciations(self, path: str | Path) -> list[str]:
        """Add the words of a CMUdict-style file that the model's dictionary lacks.
        A missing or malformed file is reported, never fatal: the phrases using those
        words are then left out of the grammar with a warning (see _search_for)."""
        try:
            entries = read_pronunciations(path)
        except (OSError, ValueError) as e:
            log.warning("pronunciations not loaded: %s", e)
            return []
        added = []
        for word, phones in entries:
            if self._decoder.lookup_word(word) is None:
                try:
                    self._decoder.add_word(word, phones, True)
                except (RuntimeError, ValueError) as e:  # a phone the model does not have
                    log.warning("%s: cannot add %r (%s): %s", path, word, phones, e)
                    continue
                added.append(word)
        return added

    def _fetch(self, words: Iterable[str]) -> list[str]:
        """Add words the small dictionary lacks from the full one (all their pronunciations).
        Returns the words added. A no-op with the full dictionary loaded."""
        if not self.small_dictionary:
            return []
        wanted = {w for w in words
                  if w not in self._not_in_full and self._decoder.lookup_word(w) is None}
        if not wanted:
            return []
        added = []
        for line in dictionary_lines(self.full_dictionary, wanted):
            word, phones = line.split(None, 1)
            try:
                self._decoder.add_word(word, phones.strip(), True)
            except RuntimeError as e:  # a duplicate or a phone the model lacks
                log.warning("cannot add %r (%s) from the dictionary: %s", word, phones, e)
                continue
            added.append(word)
        self._not_in_full |= {w for w in wanted if self._decoder.lookup_word(w) is None}
        return added

    def pronunciations(self, word: str) -> list[str]:
        """Every pronunciation the decoder has for `word`: word, word(2), word(3)..."""
        out = []
        spelled = self._decoder.lookup_word(word)
        while spelled is not None:
            out.append(spelled)
            spelled = self._decoder.lookup_word(f"{word}({len(out) + 1})")
        return out

    def _add_accent_variants(self, words: Iterable[str]) -> None:
        """Add each word's accent variants as its next alternates (before a grammar using it
        is built: a search expands alternates when it is created)."""
        if self._accent_rules is None:
            return
        for word in words:
            if word in self._accented:
                continue
            self._accented.add(word)
            known = self.pronunciations(word)
            if not known:
                continue
            for phones in british_variants(known[0], word, self._accent_rules, known[1:]):
                try:
                    # update=False: the grammar that needs the word is built right after; True
                    # rebuilt the active search on every add (10 s CPU for the first yes_no
                    # grammar with ~40 variants, against 0.01 s: BENCHMARKS.md section 3)
                    self._decoder.add_word(f"{word}({len(known) + 1})", phones, False)
                except (RuntimeError, ValueError) as e:
                    log.warning("cannot add accent variant %r of %r: %s", phones, word, e)
                    continue
                known.append(phones)

    def missing_words(self, phrases: list[str]) -> list[str]:
        words = phrase_words(phrases)
        self._fetch(words)   # words outside the initial vocabulary: from the full dictionary
        return [w for w in words if self._decoder.lookup_word(w) is None]

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
            self._add_accent_variants(phrase_words(usable))
            name = f"g{len(self._searches)}"
            self._decoder.add_jsgf_string(
                name, jsgf(usable, self.garbage_words, self.garbage_weight))
            self._searches[key] = name
        self.missing = self.missing_words(phrases)
        return name

    # Recognizer ------------------------------------------------------------------
    def begin(self, phrases: list[str]) -> None:
        if self._in_utt and not self.whole_utterance:
            self._decoder.end_utt()
            self._phones.end_utt()
        elif self._in_utt and self.stream_phone_loop:
            self._phones.end_utt()
        name = self._search_for(list(phrases))
        self._decoder.activate_search(name)
        self._active = tuple(phrases)
        self._rng = np.random.default_rng(0)
        self._phrase_words = set(phrase_words(phrases))
        self._phrases = {" ".join(p.split()) for p in phrases}
        self._in_utt = True
        self._pcm: list[bytes] = []      # the utterance, decoded as a whole in finish()
        if not self.whole_utterance:
            self._decoder.start_utt()
            self._phones.start_utt()
        elif self.stream_phone_loop:
            self._phones.start_utt()
        self._carry = b""
        self._energy: list[float] = []   # mean square per 10 ms frame
        self._decoded_energy: list[float] | None = None   # the same, of the floored audio
        self._partial = np.zeros(0)      # samples of a frame not yet complete
        # (hypothesis, measures, phone loop decoded) of a speculate() not yet undone
        self._speculation: tuple[Hypothesis, dict[str, float], bool] | None = None

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
        if self.whole_utterance:
            self._pcm.append(pcm)
            if self.stream_phone_loop:
                self._phones.process_raw(pcm, False, False)
        else:
            self._decoder.process_raw(pcm, False, False)
            self._phones.process_raw(pcm, False, False)

    def _track_energy(self, pcm: bytes) -> None:
        x = np.concatenate([self._partial, np.frombuffer(pcm, dtype="<i2").astype(np.float64)])
        n = len(x) // FRAME_SAMPLES * FRAME_SAMPLES
        if n:
            self._energy.extend((x[:n].reshape(-1, FRAME_SAMPLES) ** 2).mean(axis=1).tolist())
        self._partial = x[n:]

    def _loud_frames(self) -> set[int]:
        # the floored audio's energies (noise floor) are already those of the decoded stretch
        if self._decoded_energy is not None:
            energy, offset = self._decoded_energy, 0
        else:
            energy, offset = self._energy, self._span_start
        if not energy:
            return set()
        db = 10 * np.log10(np.asarray(energy) + 1.0)
        floor = float(np.percentile(db, 10))
        loud = np.flatnonzero(db >= floor + SPEECH_ABOVE_FLOOR_DB) - offset
        return set(loud.tolist())   # (frame numbers of the decoded stretch)

    def speculate(self) -> bool:
        """Decode the utterance fed so far now, while the endpointer still waits out the
        trailing silence (the ears call this when speech has stopped for a moment): finish()
        then returns this result at once, unless resume() is called first. Audio fed after
        this call is not decoded: the caller feeds it only while deciding whether the
        utterance has ended. True when a result is now held; False when this engine cannot
        (not whole-utterance decoding, or the phone loop streamed) or the result was too
        near the rejection threshold (SPECULATION_UNSURE): finish() then decodes it all."""
        if not self._in_utt or not self.whole_utterance or self.stream_phone_loop:
            return False
        hyp = self._decode_whole(b"".join(self._pcm))
        # (an instance may carry its own band: skill/bench/decoder_ab.py compares settings)
        low, high = getattr(self, "speculation_unsure", SPECULATION_UNSURE)
        if hyp.confidence is not None and low <= hyp.confidence < high:
            return False    # near the threshold: the whole utterance decides, in finish()
        self._speculation = (hyp, self.last_measures, self.phone_loop_decoded)
        return True

    def resume(self) -> None:
        """The utterance went on after speculate(): forget that result; finish() decodes all
        of it, the pause included."""
        self._speculation = None

    def finish(self) -> Hypothesis:
        if not self._in_utt:
            raise RuntimeError("finish() before begin()")
        self._in_utt = False
        held, self._speculation = self._speculation, None
        if held is not None:
            self._pcm = []
            hyp, self.last_measures, self.phone_loop_decoded = held
            return hyp
        if self.whole_utterance:
            pcm = b"".join(self._pcm)
            self._pcm = []
            return self._decode_whole(pcm)
        self.last_measures = {}
        self.phone_loop_decoded = True
        self._decoder.end_utt()
        self._phones.end_utt()
        return self._result(None)

    def _decode_whole(self, pcm: bytes) -> Hypothesis:
        """Both decoders over `pcm` as one whole utterance (finish() or speculate()), and a
        second look after noise suppression where DENOISED_LOOK_BAND says."""
        self.denoised_looked = False
        first = self._decode_whole_once(pcm)
        band = self.denoised_look_band
        # (a streamed phone loop has heard the audio once and cannot hear the suppressed one)
        if (band is None or self.stream_phone_loop or self.floored or not first.text
                or first.confidence is None or not band[0] <= first.confidence < band[1]):
            return first
        # what describes the first decode, kept in case it stands
        state = (self.last_measures, self._span_start, self._decoded_energy, self.phone_loop_decoded)
        self.denoised_looked = True
        again = self._decode_whole_once(
            suppress_noise(np.frombuffer(pcm, dtype="<i2")).tobytes())
        if again.text == first.text and again.confidence is not None \
                and again.confidence >= DENOISED_LOOK_MIN_CONFIDENCE:
            self.last_measures = dict(self.last_measures, denoised=1.0)
            return again
        self.last_measures, self._span_start, self._decoded_energy, self.phone_loop_decoded = state
        return first

    def _decode_whole_once(self, pcm: bytes) -> Hypothesis:
        self.last_measures = {}
        self.phone_loop_decoded = False
        if self.stream_phone_loop:
            self._phones.end_utt()
            self.phone_loop_decoded = True
        if len(pcm) < 2 * FRAME_SAMPLES * 10:  # under 0.1 s: nothing to decode
            return Hypothesis("", None)
        # A short answer where one-word answers are expected: only the speech and a margin,
        # so the cepstral mean is the word's, not the silence's (span.py). _loud_frames()
        # counts from the cut's start. (Not for grammars without one-word phrases: wake.)
        # If the cut leaves the result under the threshold (and no sound-alike beat it), the
        # uncut utterance decides, as without the cut and with no second look (a British
        # "faster", cut, came out "softer").
        frames = len(pcm) // (2 * FRAME_SAMPLES)
        self._span_start, end = 0, frames
        if self.verifier is not None and self.verifier.short_words(self._active or ()):
            self._span_start, end = speech_span(self._energy[:frames], SPEECH_ABOVE_FLOOR_DB,
                                                self.trim_margin)
        if (self._span_start, end) != (0, frames):
            self.verifier.last = {}
            cut = self._decode_pcm(pcm[self._span_start * 2 * FRAME_SAMPLES:end * 2 * FRAME_SAMPLES])
            won = self.verifier.last.get("winner", cut.text)
            if (cut.confidence is not None and cut.confidence >= REJECT_BELOW) or won not in self._phrases | {cut.text}:
                return cut   # accepted, or a decoy (not a phrase) won the second look: rejected
            self._span_start, verifier, self.verifier = 0, self.verifier, None
            try:
                return self._decode_pcm(pcm)
            finally:
                self.verifier = verifier
        return self._decode_pcm(pcm)

    def _decode_pcm(self, pcm: bytes) -> Hypothesis:
        # Decoded as one whole utterance: cepstral mean normalisation then uses the
        # utterance's own mean instead of a running estimate that is still settling
        # during a one-second command (measured: correct at 10 dB SNR 64 % -> 82 %).
        self._decoded_energy = None
        pcm = self._with_noise_floor(pcm)
        self._decoder.start_utt()
        self._decoder.process_raw(pcm, False, True)
        self._decoder.end_utt()
        return self._result(pcm)

    @property
    def floored(self) -> bool:
        """Whether the noise floor was laid under the last utterance decoded."""
        return self._decoded_energy is not None

    def _with_noise_floor(self, pcm: bytes) -> bytes:
        """`pcm` with faint white noise added where its own floor is more than
        `floor_below_db` under its speech level (see NOISE_FLOOR_BELOW_SPEECH_DB); the
        frame energies the confidence uses are then those of what is decoded."""
        if self.floor_below_db is None:
            return pcm
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        n = len(x) // FRAME_SAMPLES * FRAME_SAMPLES
        db = 10 * np.log10((x[:n].reshape(-1, FRAME_SAMPLES) ** 2).mean(axis=1) + 1.0)
        floor, speech = float(np.percentile(db, 10)), float(np.percentile(db, 90))
        target = speech - self.floor_below_db
        if floor >= target:
            return pcm
        power = 10 ** (target / 10) - 10 ** (floor / 10)
        x += np.random.default_rng(1).normal(0.0, math.sqrt(power), len(x))  # seeded: repeatable
        x = np.clip(np.round(x), -32768, 32767)
        self._decoded_energy = (x[:n].reshape(-1, FRAME_SAMPLES) ** 2).mean(axis=1).tolist()
        return x.astype("<i2").tobytes()

    def _result(self, pcm: bytes | None) -> Hypothesis:
        """The hypothesis of the decoded utterance; `pcm` (whole-utterance decoding) is
        given to the phone loop when the grammar path is a whole phrase."""
        hyp = self._decoder.hyp()
        words = hyp.hypstr.split() if hyp is not None else []
        whole = bool(words) and " ".join(words) in self._phrases
        # The phone loop only serves the confidence of a whole phrase: anything else is
        # rejected anyway, so there it is skipped (about half the decoding of such speech).
        # Skipped, its hyp()/seg() still describe the previous utterance (an empty utterance
        # would make seg() None): check phone_loop_decoded before reading them.
        self.phone_loop_decoded |= whole
        if pcm is not None and whole and not self.stream_phone_loop:
            self._phones.start_utt()
            self._phones.process_raw(pcm, False, True)
            self._phones.end_utt()
        if not words:
            return Hypothesis("", None)
        if not whole:
            return Hypothesis("", 0.0)  # no whole phrase: a partial path or the garbage loop
        confidence = self._confidence(hyp.score)
        band = self.lexical_band
        if pcm is not None and band and len(words) > 1 and band[0] <= confidence < band[1]:
            confidence = self._lexical_look(" ".join(words), pcm, confidence)
        if pcm is not None and self.verifier is not None:
            confidence = self.verifier.check(" ".join(words), confidence, pcm, sorted(self._phrases),
                                             REJECT_BELOW, self._searches[self._active],
                                             self.last_measures)
        return Hypothesis(" ".join(words), confidence)

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
        heard = speech_phones(s.word for s in self._phones.seg())
        aligned: list[str] = []
        for s in self._decoder.seg():
            if s.word.split("(")[0] in self._phrase_words:
                aligned += (self._decoder.lookup_word(s.word) or "").split()
        distance = relative_distance(heard, [aligned])
        self.last_measures = {"gap": gap, "uncovered": uncovered,  # for benchmarks
                              "distance": distance}
        return combined_confidence(gap, uncovered, distance)

    def _lexical_look(self, phrase: str, pcm: bytes, confidence: float) -> float:
        """The confidence of an uncertain several-word result after decoding `pcm` again with
        the phrase alone and with a loop of everyday words and of words that begin like the
        phrase's own (see LEXICAL_BAND, verify.MAX_EXTENSIONS); unchanged when either decode
        finds nothing."""
        if self._lexical_phrase != phrase:
            own = set(phrase.split())
            loop = [w for w in GARBAGE_WORDS if w not in own and self._decoder.lookup_word(w)]
            # words that begin like the phrase's own (verify.MAX_EXTENSIONS): "nobody" must
            # not be left only "no nothing" to match
            for w, phones in (self.verifier.extensions(phrase) if self.verifier is not None else ()):
                if w in loop:
                    continue
                if self._decoder.lookup_word(w) is None:
                    self._decoder.add_word(w, phones, False)   # the loop search is built next
                loop.append(w)
            # re-adding a search under the same name replaces (and frees) the old one
            self._decoder.add_jsgf_string("lexical-phrase", jsgf([phrase], name="lexical"))
            self._decoder.add_jsgf_string("lexical-loop",
                                          f"#JSGF V1.0;\ngrammar lexical;\npublic <loop> = {word_loop(loop)};\n")
            self._lexical_phrase = phrase
        scores = []
        for name in ("lexical-phrase", "lexical-loop"):
            self._decoder.activate_search(name)
            self._decoder.start_utt()
            self._decoder.process_raw(pcm, False, True)
            self._decoder.end_utt()
            hyp = self._decoder.hyp()
            scores.append(hyp.score if hyp is not None else 0.0)
        self._decoder.activate_search(self._searches[self._active])
        if not all(0 < x < math.inf for x in scores):
            return confidence
        frames = max(len(pcm) // (2 * FRAME_SAMPLES), 1)
        lexical = (math.log(scores[0]) - math.log(scores[1])) / math.log(1.0001) / frames
        self.last_measures["lexical"] = lexical
        m = self.last_measures
        return lexical_confidence(m["gap"], m["uncovered"], m["distance"], lexical)

    # for the wake detector (skill/wake.py) -------------------------------------------
    def accent_pronunciations(self, words: Iterable[str]) -> dict[str, list[str]]:
        """word -> every pronunciation a grammar built now gives it: the dictionary's own,
        its numbered alternates and the accent variants (added here, as a grammar using the
        word would add them). [] for a word the recogniser does not know."""
        words = list(dict.fromkeys(words))
        self._fetch(words)
        self._add_accent_variants(words)
        return {w: self.pronunciations(w) for w in words}

    def add_spelling(self, token: str, phones: str) -> None:
        """Add `token` to the dictionary as `phones` (for grammars built after this call).
        Raises ValueError or RuntimeError for a phone the model lacks."""
        # update=False: rebuilding the active search on every add cost seconds with a large
        # grammar active (BENCHMARKS.md section 3); the grammar that uses it is built later
        self._decoder.add_word(token, phones, False)


def combined_confidence(gap: float, uncovered: float, distance: float) -> float:
    """0..1 from the three measures (see CONFIDENCE_WEIGHTS); 0 without a pronunciation."""
    if not math.isfinite(distance):
        return 0.0
    z = (CONFIDENCE_INTERCEPT
         + CONFIDENCE_WEIGHTS["gap"] * min(max(gap, GAP_CLIP[0]), GAP_CLIP[1]) / 10.0
         + CONFIDENCE_WEIGHTS["uncovered"] * uncovered
         + CONFIDENCE_WEIGHTS["distance"] * distance)
    return float(1.0 / (1.0 + math.exp(-z)))


def lexical_confidence(gap: float, uncovered: float, distance: float, lexical: float) -> float:
    """0..1 after the lexical second look (see LEXICAL_WEIGHTS); 0 without a pronunciation."""
    if not math.isfinite(distance):
        return 0.0
    z = (LEXICAL_INTERCEPT
         + LEXICAL_WEIGHTS["gap"] * min(max(gap, GAP_CLIP[0]), GAP_CLIP[1]) / 10.0
         + LEXICAL_WEIGHTS["uncovered"] * uncovered
         + LEXICAL_WEIGHTS["distance"] * distance
         + LEXICAL_WEIGHTS["lexical"] * lexical / 10.0)
    return float(1.0 / (1.0 + math.exp(-min(max(z, -500.0), 500.0))))
