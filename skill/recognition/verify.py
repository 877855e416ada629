"""Second look at an uncertain one-word result: does the word still win against its
sound-alikes?

The confidence (pocketsphinx_engine.py) compares the grammar path with a free phone loop.
For one short word that comparison is unreliable: the loop hears a clearly spoken "no" as
`UW OW` and "next" as `UW D`, so correct one-word commands fall below the threshold. Here an
uncertain one-word result is decoded again against the word plus *decoys*: dictionary
words one phone edit away from its pronunciation ("no" -> "go", "snow", "note"...). If the
speech really was the word, it beats words that differ by one phone; if it was something
else forced onto the word by a small grammar, one of the sound-alikes usually fits better.

The decoys come from a general rule, not a hand-made list: every CMUdict word whose
pronunciation is at phone edit distance exactly 1 from one of the word's pronunciations,
that is an everyday word (unigram frequency in the model's own n-gram model), leaving out
homophones of the context's one-word phrases and those phrases themselves (they are
answers, not decoys). The second decode uses the context's phrases plus the decoys of all
its short one-word phrases, so speech that was another command can win there too.
Thresholds and choices were tuned on development clips (BENCHMARKS.md section 1, session 5).
The decoys of every one-word phrase are computed offline into dialogs/en-us/decoys.json
(skill/recognition/decoy_file.py) and read at start-up; a word missing there is computed at
its first use, as before, with a warning.
"""
from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from . import decoy_file
from .decoy_file import DecoyFileError, Entry
from .grammar import jsgf
from .phones import PHONE_CLASS

log = logging.getLogger(__name__)

# Only results this uncertain are looked at again: above REJECT_BELOW they are accepted
# anyway; below VERIFY_FROM, or with the grammar path this much worse per frame than the
# free phone loop (the engine's `gap`), the speech fits the word too badly for a second look
# to be trusted. For one short word the confidence's phone distance says little (the loop
# hears "no" as UW OW), its gap still does: on development clips (own sentences, words and
# rates, not the benchmark's) a gap floor of -25 with VERIFY_FROM 0.03 kept more commands
# than VERIFY_FROM 0.1 alone (97 against 92) with fewer sound-alikes taken (14 against 20).
VERIFY_FROM = 0.03
MIN_GAP = -25.0
# Off where these are all phrases: the screener's and the pain check's yes/no questions. There
# a wrongly accepted answer costs more than a question asked again, and on the benchmark the
# stage took `yes_no` false accepts over their limit (0.50 -> 0.75 %, "hello there" forced onto
# "louder"); the engine's cut of short answers alone made the screener's answers worse (35.5 %
# of "no" taken, was 37.9 %), so both are off there (BENCHMARKS.md section 1, session 5). An
# empty set turns them on there too.
OFF_WHERE_ANSWERS = frozenset({"yes", "no"})
# Phrases of at most this many phones get the second look (longer words carry enough
# phones for the phone loop's distance to be meaningful).
MAX_PHONES = 6
# A one-phone edit of a short word has up to ~150 dictionary neighbours, most of them rare
# names; decoys are the everyday ones: unigram frequency (log10, the model's n-gram model)
# at least this, at most MAX_DECOYS per word, most frequent first.
MIN_LOG10_FREQUENCY = -5.0
MAX_DECOYS = 30
# The engine's lexical second look (pocketsphinx_engine.py, LEXICAL_BAND) explains an uncertain
# result of several words with a loop of everyday words instead of the phrase. That loop leaves
# out the phrase's own words, so a word that merely BEGINS like one of them had nothing to
# match but the phrase: "nobody" was taken for "no nothing", "yesterday" for "yes it is" (a
# screener answer taken from a word that is none). The loop therefore also gets each phrase
# word's *extensions*: everyday words whose pronunciation starts with the whole word's and
# goes on ("no" -> nobody, notice, november, nowhere; "yes" -> yesterday), not its homophones,
# at most MAX_EXTENSIONS per word, most frequent first (BENCHMARKS.md section 1, session 10).
MAX_EXTENSIONS = 10
LOG10_PER_UNIT = math.log10(1.0001)   # the n-gram model's scores are in log(1.0001) units

_WORD = re.compile(r"^[a-z]+$")
PHONES = tuple(PHONE_CLASS)   # the model's 39 phones


def one_edit(phones: Sequence[str]) -> set[tuple[str, ...]]:
    """Every phone string one substitution, deletion or insertion away from `phones`."""
    out: set[tuple[str, ...]] = set()
    p = tuple(phones)
    for i in range(len(p) + 1):
        if i < len(p):
            out.add(p[:i] + p[i + 1:])
            out.update(p[:i] + (x,) + p[i + 1:] for x in PHONES if x != p[i])
        out.update(p[:i] + (x,) + p[i:] for x in PHONES)
    out.discard(())
    return out - {p}


def _strip_stress(phones: str) -> tuple[str, ...]:
    return tuple(x.rstrip("012") for x in phones.split())


def _dictionary_entries(dictionary: Path) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(word, phones without stress) of every plain-word line of a CMUdict-format file,
    alternate pronunciations ("read(2)") under the word's own name."""
    with open(dictionary, encoding="utf-8") as f:
        for line in f:
            head, _, phones = line.partition(" ")
            word = head.split("(", 1)[0]
            if _WORD.match(word):
                yield word, _strip_stress(phones)


def neighbours(dictionary: Path, words: dict[str, list[tuple[str, ...]]]
               ) -> tuple[dict[str, list[tuple[str, str]]], dict[str, set[str]]]:
    """For each word (with its pronunciations): the (word, phones) entries of the CMUdict-format
    `dictionary` at edit distance exactly 1 from one of them, none of whose pronunciations is
    a homophone of it; and each word's homophones (itself included). One pass over the
    dictionary for all the words."""
    same = {w: set(prons) for w, prons in words.items()}
    near_strings: dict[tuple[str, ...], list[str]] = {}
    for w, prons in words.items():
        for spelled in set().union(*(one_edit(p) for p in prons)) - same[w]:
            near_strings.setdefault(spelled, []).append(w)
    homophones: dict[str, set[str]] = {w: {w} for w in words}
    found: dict[str, dict[str, str]] = {w: {} for w in words}
    by_spelling = {p: w for w, prons in same.items() for p in prons}
    for word, spelled in _dictionary_entries(dictionary):
        if spelled in by_spelling:
            for w, prons in same.items():
                if spelled in prons:
                    homophones[w].add(word)
        for w in near_strings.get(spelled, ()):
            found[w].setdefault(word, " ".join(spelled))
    return {w: [(d, p) for d, p in found[w].items() if d not in homophones[w]] for w in words}, homophones


def extensions(dictionary: Path, words: dict[str, list[tuple[str, ...]]],
               homophones: dict[str, set[str]]) -> dict[str, list[tuple[str, str]]]:
    """For each word (with its pronunciations): the (word, phones) entries of the CMUdict-format
    `dictionary` whose phones begin with one of its pronunciations and go on, leaving out its
    `homophones` (neighbours()' second result: itself and every word spelled like it by any
    pronunciation). One pass over the dictionary for all the words."""
    starts: dict[tuple[str, ...], list[str]] = {}
    for w, prons in words.items():
        for p in prons:
            starts.setdefault(tuple(p), []).append(w)
    longest = max((len(p) for p in starts), default=0)
    found: dict[str, dict[str, str]] = {w: {} for w in words}
    for word, spelled in _dictionary_entries(dictionary):
        for k in range(1, min(longest, len(spelled) - 1) + 1):
            for w in starts.get(spelled[:k], ()):
                if word not in homophones[w]:
                    found[w].setdefault(word, " ".join(spelled))
    return {w: list(found[w].items()) for w in words}


class DecoyVerifier:
    """Decodes an utterance again with a one-word phrase's decoys as alternatives, using the
    engine's own grammar decoder (the engine re-activates its search on the next begin())."""

    def __init__(self, decoder, dictionary: Path, language_model: Path,
                 max_decoys: int = MAX_DECOYS,
                 decoys_file: Path | None = decoy_file.DEFAULT_PATH) -> None:
        """`dictionary`: CMUdict-format, where the decoys are found; `language_model`: the
        model's n-gram model, whose unigram frequencies tell everyday words from rare ones;
        `decoys_file`: the decoys computed offline from both (None: always compute them)."""
        self._decoder = decoder
        self._dictionary = Path(dictionary)
        self._language_model = Path(language_model)
        self._unigrams = None   # loaded only when a word's decoys are not in the decoys file
        self.max_decoys = max_decoys
        self._stored: dict[str, Entry] = {}
        self.decoys_file = decoys_file
        if decoys_file is not None:
            try:
                self._stored = decoy_file.read(decoys_file, self.fingerprint())
            except DecoyFileError as e:
                # said once; every word's decoys are then computed at its first use, as before
                # the file existed (slower, more memory), so nothing is lost
                log.warning("%s. The one-word second look computes its decoys when first needed "
                            "instead (a pause at each first use, about 40 MB more memory); "
                            "rebuild the file: %s", e, decoy_file.BUILD_COMMAND)
                self.decoys_file = None
        self._decoys: dict[str, list[tuple[str, str]]] = {}   # word -> its neighbours
        self._homophones: dict[str, set[str]] = {}
        self._searches: dict[tuple[str, ...], str] = {}
        self._no_extensions: set[str] = set()   # words already reported missing from the file
        self._short: dict[tuple[str, ...], bool] = {}
        self.disabled = ""   # why the second look is off (its files could not be read)
        self.decodes = 0   # second decodes run (benchmarks report their share)
        # the last whole-phrase result's second look: {"winner", "confidence_before"}, or {}
        self.last: dict[str, object] = {}

    def applies(self, phrase: str) -> bool:
        """Is `phrase` one short word (at most MAX_PHONES in its first pronunciation)?"""
        words = phrase.split()
        if len(words) != 1:
            return False
        spelled = self._decoder.lookup_word(words[0])
        return spelled is not None and len(spelled.split()) <= MAX_PHONES

    def short_words(self, phrases: Sequence[str]) -> bool:
        """Does this grammar have one-word phrases the second look is for (and is it not
        one where it is off: OFF_WHERE_ANSWERS)? The engine then also cuts short answers."""
        key = tuple(phrases)
        if key not in self._short:
            self._short[key] = any(" " not in p and self.applies(p) for p in phrases)
        return self._short[key] and not self._off(phrases)

    @staticmethod
    def _off(phrases: Sequence[str]) -> bool:
        return bool(OFF_WHERE_ANSWERS) and OFF_WHERE_ANSWERS <= set(phrases)

    def fingerprint(self) -> dict[str, object]:
        """What a decoys file must have been computed from to be used here."""
        return decoy_file.fingerprint(self._dictionary, self._language_model,
                                      {"min_log10_frequency": MIN_LOG10_FREQUENCY,
                                       "max_decoys": self.max_decoys,
                                       "max_extensions": MAX_EXTENSIONS})

    def _pronunciations(self, word: str) -> tuple[tuple[str, ...], ...]:
        prons, k = [], 1
        spelled = self._decoder.lookup_word(word)
        while spelled is not None:
            prons.append(_strip_stress(spelled))
            k += 1
            spelled = self._decoder.lookup_word(f"{word}({k})")
        return tuple(prons)

    def computed(self, words: Iterable[str], extended: Iterable[str] = ()) -> dict[str, Entry]:
        """Each word's decoys (of `words`) and extensions (of `extended`; see MAX_EXTENSIONS)
        computed now from the dictionary and the n-gram model, whatever the decoys file says."""
        with_decoys = set(words)
        with_extensions = set(extended)
        wanted = {w: self._pronunciations(w) for w in dict.fromkeys([*words, *extended])}
        if not wanted:
            return {}
        near, same = neighbours(self._dictionary, {w: list(p) for w, p in wanted.items()})
        longer = extensions(self._dictionary, {w: list(p) for w, p in wanted.items()
                                               if w in with_extensions}, same)
        return {w: Entry(wanted[w], frozenset(same[w]),
                         tuple(self._common(near[w])) if w in with_decoys else (),
                         tuple(self._common(longer[w], MAX_EXTENSIONS)) if w in with_extensions else ())
                for w in wanted}

    def extensions(self, phrase: str) -> list[tuple[str, str]]:
        """(word, phones) of the extensions of the phrase's words (see MAX_EXTENSIONS), from the
        decoys file, without the phrase's own words and their homophones; a word the file
        lacks has none (said once in the log)."""
        words = phrase.split()
        entries = [self._stored.get(w) for w in words]
        own = set(words).union(*(e.homophones for e in entries if e is not None))
        missing = [w for w, e in zip(words, entries) if e is None and w not in self._no_extensions]
        if missing and self.decoys_file is not None:
            self._no_extensions.update(missing)
            log.warning("%s has no extensions for %s: the lexical second look goes without them; "
                        "rebuild the file: %s", self.decoys_file, ", ".join(map(repr, missing)),
                        decoy_file.BUILD_COMMAND)
        out: dict[str, str] = {}
        for e in entries:
            for w, p in (e.extensions if e is not None else ()):
                if w not in own:
                    out.setdefault(w, p)
        return list(out.items())

    def _prepare(self, words: Iterable[str]) -> None:
        missing = []
        for w in dict.fromkeys(words):
            if w in self._decoys:
                continue
            stored = self._stored.get(w)
            if stored is not None and stored.pronunciations == self._pronunciations(w):
                self._decoys[w], self._homophones[w] = list(stored.decoys), set(stored.homophones)
            else:
                missing.append(w)
        if not missing:
            return
        if self.decoys_file is not None:   # (an unusable file was reported at start-up)
            log.warning("%s has no decoys for %s (or their pronunciations changed since it was "
                        "built): computing them now; rebuild the file: %s", self.decoys_file,
                        ", ".join(repr(w) for w in missing), decoy_file.BUILD_COMMAND)
        for w, entry in self.computed(missing).items():
            self._decoys[w], self._homophones[w] = list(entry.decoys), set(entry.homophones)

    def _common(self, near: list[tuple[str, str]], most: int | None = None) -> list[tuple[str, str]]:
        """Everyday words only, most frequent first, by the model's own n-gram unigrams:
        among ~100 neighbours of a short word most are rare names ("knepp" for "next")
        that fit a short command's odd renditions better than the command itself, while
        the sound-alikes people actually say are common words."""
        if self._unigrams is None:
            from pocketsphinx import NGramModel
            self._unigrams = NGramModel.readfile(str(self._language_model))
        scored = [(self._unigrams.prob([w]) * LOG10_PER_UNIT, w, p) for w, p in near]
        kept = sorted((-lp, w, p) for lp, w, p in scored if lp >= MIN_LOG10_FREQUENCY)
        return [(w, p) for _, w, p in kept[:self.max_decoys if most is None else most]]

    def decoys(self, word: str, phrases: Iterable[str]) -> list[str]:
        """The decoy words for `word` in a context with these phrases."""
        short = [p for p in phrases if " " not in p and self.applies(p)]
        self._prepare(short + [word])
        # a homophone of any answer ("know" for "no", a neighbour of "nope") is that answer
        answers = {p for p in phrases if " " not in p}.union(*(self._homophones[p] for p in short))
        return [w for w, _ in self._decoys[word] if w not in answers]

    def _search(self, phrases: Sequence[str]) -> str:
        """The context's phrases plus the decoys of all its short one-word phrases, as equal
        alternatives: speech that was another command, or a sound-alike, can win there.
        (Only the decoded word's own decoys: 3 more of 87 development commands kept, 2 more
        of 46 sound-alikes taken.) Built once per grammar."""
        key = tuple(phrases)
        name = self._searches.get(key)
        if name is None:
            short = [p for p in phrases if " " not in p and self.applies(p)]
            self._prepare(short)
            decoys: dict[str, None] = {}
            for answer in short:
                decoys.update(dict.fromkeys(self.decoys(answer, phrases)))
            pron = {w: p for answer in short for w, p in self._decoys[answer]}
            for w in decoys:
                if self._decoder.lookup_word(w) is None:
                    # update=False: the search using it is built right after (True rebuilds
                    # the active search per word: BENCHMARKS.md section 3)
                    self._decoder.add_word(w, pron[w], False)
            name = f"decoys{len(self._searches)}"
            self._decoder.add_jsgf_string(name, jsgf(list(phrases) + list(decoys), name="decoys"))
            self._searches[key] = name
        return name

    def winner(self, phrases: Sequence[str], pcm: bytes) -> str:
        """What the utterance decodes to among the phrases and the decoys ("": nothing)."""
        name = self._search(phrases)
        self.decodes += 1
        self._decoder.activate_search(name)
        self._decoder.start_utt()
        self._decoder.process_raw(pcm, False, True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return " ".join(w.split("(")[0] for w in hyp.hypstr.split()) if hyp is not None else ""

    def check(self, phrase: str, confidence: float, pcm: bytes, phrases: Sequence[str],
              accept_at: float, restore: str, measures: dict[str, float]) -> float:
        """The confidence of `phrase` after a second look: raised to `accept_at` when it is
        uncertain (VERIFY_FROM <= confidence < accept_at, gap in `measures` >= MIN_GAP), a
        short word, and still wins with the decoys as alternatives; otherwise unchanged.
        `restore`: the engine's search, re-activated after the second decode; `measures`: the
        confidence's (its gap is read). What the second look found goes into `last` (empty
        when it did not run)."""
        self.last = {}
        if (not VERIFY_FROM <= confidence < accept_at or measures.get("gap", -math.inf) < MIN_GAP
                or not self.applies(phrase) or self.disabled
                or self._off(phrases)):
            return confidence
        try:
            won = self.winner(phrases, pcm)
        except (OSError, RuntimeError, ValueError) as e:
            # the dictionary or n-gram model unreadable: results stay as the confidence has
            # them (one-word answers then get asked again more often), said once in the log
            self.disabled = str(e) or type(e).__name__
            log.warning("second look at one-word answers turned off: %s", self.disabled)
            return confidence
        finally:
            self._decoder.activate_search(restore)
        self.last = {"winner": won, "confidence_before": confidence}
        return accept_at if won == phrase else confidence
