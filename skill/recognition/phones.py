"""Phone strings: how far what the free phone loop heard is from a phrase's pronunciation.

Used by the wake detector (skill/wake.py) and by the command rejection
(skill/recognition/pocketsphinx_engine.py). A grammar forced onto unrelated speech can
score well per frame, but the phone loop then hears phones that are not the phrase's own.
The model confuses phones within a class (espeak's "no" comes out as `UW OW`), so a
substitution within a class costs half."""
from __future__ import annotations

import itertools
from typing import Iterable, Sequence

_CLASSES = {
    "vowel": "AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW",
    "stop": "P B T D K G",
    "fricative": "F V TH DH S Z SH ZH HH CH JH",
    "nasal": "M N NG",
    "liquid": "L R W Y",
}
PHONE_CLASS = {p: c for c, ps in _CLASSES.items() for p in ps.split()}


def phone_distance(heard: Sequence[str], expected: Sequence[str]) -> float:
    """Edit distance; a substitution within a phone class (vowel, stop...) costs 0.5."""
    prev = [float(j) for j in range(len(expected) + 1)]
    for i, a in enumerate(heard, 1):
        cur = [float(i)] + [0.0] * len(expected)
        for j, b in enumerate(expected, 1):
            sub = 0.0 if a == b else (0.5 if PHONE_CLASS.get(a) == PHONE_CLASS.get(b) else 1.0)
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + sub)
        prev = cur
    return float(prev[-1])


def speech_phones(segment_words: Iterable[str]) -> list[str]:
    """The phone loop's phones without silence and fillers (`SIL`, `+NSN+`...)."""
    return [w for w in segment_words if w != "SIL" and not w.startswith("+")]


def spellings(per_word: Sequence[Sequence[str]], limit: int = 16) -> list[list[str]]:
    """Every phone spelling of a phrase from each word's spellings (at most `limit`:
    a phrase of many words with alternates would otherwise multiply out)."""
    combos = itertools.islice(itertools.product(*per_word), limit)
    return [" ".join(combo).split() for combo in combos]


def relative_distance(heard: Sequence[str], targets: Sequence[Sequence[str]]) -> float:
    """The smallest phone distance to any of the phrase's spellings, per phone of that
    spelling (so one- and five-word phrases are comparable). inf without a spelling."""
    best = float("inf")
    for t in targets:
        if t:
            best = min(best, phone_distance(heard, t) / len(t))
    return best
