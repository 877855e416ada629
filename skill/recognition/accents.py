"""British pronunciations derived from US (CMUdict) ones by accent rules.

PocketSphinx's model and dictionary are US English: a British "no" [n@U], a non-rhotic
"four" [fO:] or a BATH-vowel "can't" [kA:nt] have no path in the grammar, so the decoder
forces them through the US vowels and the confidence rejects them. The rules here rewrite a
US spelling (CMUdict phones, no stress marks) into the spellings of British accents; the
recogniser adds those as alternate pronunciations. Which rules make up which accent, and the
lexical sets (BATH, PALM) that phones alone cannot tell, are data: dialogs/en-us/accents.toml.

Rules are general phonology, not word lists fitted to any test voice (DEVELOPERS.md); the
only word lists are the standard lexical sets.

    python -m skill.recognition.accents WORD...   # the variants of the grammar's words
"""
from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

VOWELS = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())
DEFAULT_RULES = Path(__file__).resolve().parents[2] / "dialogs" / "en-us" / "accents.toml"
# in the order they apply: lot needs the R that non_rhotic removes ("start" keeps AA),
# non_rhotic turns "OW R" into AO before goat could make it "AH UW"
RULE_NAMES = ("lot", "bath", "non_rhotic", "letter", "goat", "yod")
_SUFFIXES = ("", "s", "es", "ed", "ing", "er", "ers", "est", "ly")

# vowel + R before a consonant or at the end of the word -> the non-rhotic vowel
_R_COLOURED = {
    "AA": ["AA"],          # start, car
    "AO": ["AO"],          # four, more, your
    "EH": ["EH"],          # there, chair (SQUARE [E:])
    "EY": ["EH"],          # their, pair as CMUdict sometimes spells them
    "IH": ["IY", "AH"],    # here, near (NEAR [I@])
    "IY": ["IY", "AH"],
    "UH": ["AO"],          # sure, poor (CURE, now mostly [O:])
    "UW": ["UW", "AH"],
    "AY": ["AY", "AH"],    # fire spelt AY R
    "AW": ["AW", "AH"],    # our spelt AW R
    "OW": ["AO"],          # board, course as CMUdict sometimes spells them
    "AH": ["AH"],
}


@dataclass
class AccentRules:
    """The accents (name -> rule names), the variant cap and the lexical sets."""
    accents: dict[str, list[str]]
    max_variants: int = 2
    bath: frozenset[str] = field(default_factory=frozenset)
    palm: frozenset[str] = field(default_factory=frozenset)


def load_rules(path: str | Path = DEFAULT_RULES) -> AccentRules:
    """Read the rules file; a bad file raises ValueError naming the file and the field."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"{path}: {e}") from e
    accents: dict[str, list[str]] = {}
    for n, accent in enumerate(data.get("accent", []), 1):
        name, rules = accent.get("name"), accent.get("rules")
        if not isinstance(name, str) or not isinstance(rules, list):
            raise ValueError(f"{path}: accent {n} needs a name and a list of rules")
        unknown = [r for r in rules if r not in RULE_NAMES]
        if unknown:
            raise ValueError(f"{path}: accent {name!r}: unknown rule(s) "
                             f"{', '.join(map(str, unknown))} (known: {', '.join(RULE_NAMES)})")
        accents[name] = list(rules)
    cap = data.get("max_variants", 2)
    if not isinstance(cap, int) or cap < 0:
        raise ValueError(f"{path}: max_variants must be a whole number >= 0, got {cap!r}")
    words = data.get("words", {})
    return AccentRules(accents, cap, frozenset(w.lower() for w in words.get("bath", [])),
                       frozenset(w.lower() for w in words.get("palm", [])))


def _in_set(word: str, stems: frozenset[str]) -> bool:
    return any(word.endswith(sfx) and word[:len(word) - len(sfx)] in stems for sfx in _SUFFIXES)


def _followed_by_vowel(phones: list[str], i: int) -> bool:
    return i + 1 < len(phones) and phones[i + 1] in VOWELS


def non_rhotic(phones: list[str], word: str, rules: AccentRules) -> list[str]:
    """No R after a vowel unless a vowel follows ("F AO R" -> "F AO"); the vowel becomes
    its non-rhotic partner (NEAR "IY R" -> "IY AH"). ER is left to `letter`; a word-final R
    goes too (linking R before a vowel-initial word stays possible: the US spelling stays)."""
    out: list[str] = []
    for i, p in enumerate(phones):
        if p == "R" and out and out[-1] in _R_COLOURED and not _followed_by_vowel(phones, i):
            out[-1:] = _R_COLOURED[out[-1]]
            continue
        out.append(p)
    return out


def letter(phones: list[str], word: str, rules: AccentRules) -> list[str]:
    """ER not in the word's first syllable (the unstressed lettER / -er, -or endings:
    "B EH T ER" -> "B EH T AH") is a plain schwa; ER before a vowel ("hurry" HH ER IY)
    is STRUT plus R ("HH AH R IY"). A first-syllable ER (NURSE: hurts, first) stays ER,
    the model's closest phone to [3:]."""
    out: list[str] = []
    seen_vowel = False
    for i, p in enumerate(phones):
        if p == "ER" and _followed_by_vowel(phones, i):
            out += ["AH", "R"]
        elif p == "ER" and seen_vowel:
            out.append("AH")
        else:
            out.append(p)
        seen_vowel |= p in VOWELS
    return out


def goat(phones: list[str], word: str, rules: AccentRules) -> list[str]:
    """GOAT OW -> "AH UW" (RP/Southern [@U]), except before L (GOAL, "cold" [QU])."""
    out: list[str] = []
    for i, p in enumerate(phones):
        if p == "OW" and not (i + 1 < len(phones) and phones[i + 1] == "L"):
            out += ["AH", "UW"]
        else:
            out.append(p)
    return out


def lot(phones: list[str], word: str, rules: AccentRules) -> list[str]:
    """LOT AA -> AO (British rounded [Q]) unless R follows (START) or the word is PALM."""
    if _in_set(word, rules.palm):
        return list(phones)
    return ["AO" if p == "AA" and not (i + 1 < len(phones) and phones[i + 1] == "R") else p
            for i, p in enumerate(phones)]


def bath(phones: list[str], word: str, rules: AccentRules) -> list[str]:
    """AE -> AA in the BATH lexical set (the first AE: "after", "answer", "can't")."""
    if not _in_set(word, rules.bath) or "AE" not in phones:
        return list(phones)
    out = list(phones)
    out[out.index("AE")] = "AA"
    return out


_YOD_SPELLING = re.compile(r"[tdn](u|ew|eu)")


def yod(phones: list[str], word: str, rules: AccentRules) -> list[str]:
    """UW after T, D or N is "Y UW" where the spelling has u/ew/eu after t/d/n ("tune",
    "new", "during"); "do", "two", "noon" keep UW."""
    if not _YOD_SPELLING.search(word):
        return list(phones)
    out: list[str] = []
    for i, p in enumerate(phones):
        if p == "UW" and i and phones[i - 1] in ("T", "D", "N"):
            out.append("Y")
        out.append(p)
    return out


_RULES: dict[str, Callable[[list[str], str, AccentRules], list[str]]] = {
    "non_rhotic": non_rhotic, "letter": letter, "goat": goat, "lot": lot, "bath": bath, "yod": yod,
}


def british_variants(phones: str, word: str = "", rules: AccentRules | None = None,
                     known: Iterable[str] = ()) -> list[str]:
    """British spellings of a US pronunciation: `phones` is one CMUdict pronunciation
    ("N OW"), `word` its spelling (the BATH, PALM and yod rules need it; without it they do
    nothing). Returns each accent's spelling (in the rules file's order) that differs from
    `phones` and from `known` (the word's other pronunciations), at most `max_variants`.

    >>> british_variants("F AO R", "four")
    ['F AO']
    """
    rules = rules or _default_rules()
    us = phones.split()
    seen = {" ".join(us)} | {" ".join(k.split()) for k in known}
    out: list[str] = []
    for names in rules.accents.values():
        p = list(us)
        for name in RULE_NAMES:
            if name in names:
                p = _RULES[name](p, word.lower(), rules)
        spelled = " ".join(p)
        if spelled not in seen:
            seen.add(spelled)
            out.append(spelled)
    return out[:rules.max_variants]


_default: list[AccentRules] = []


def _default_rules() -> AccentRules:
    if not _default:
        _default.append(load_rules(DEFAULT_RULES))
    return _default[0]


def main(argv: list[str] | None = None) -> int:
    """Print the British variants of the given words, or of every word we listen for."""
    from .pocketsphinx_engine import default_model_dir, dictionary_lines
    words = [w.lower() for w in (argv if argv is not None else sys.argv[1:])]
    if not words:
        from ..cli import DEFAULT_LOCALE_DIR, load_assets
        from .grammar import phrase_words
        matcher = load_assets(DEFAULT_LOCALE_DIR).matcher
        words = sorted({w for c in matcher.contexts() for w in phrase_words(matcher.phrases(c))})
    by_word: dict[str, list[str]] = {}
    for line in dictionary_lines(default_model_dir() / "cmudict-en-us.dict", set(words)):
        head, phones = line.split(None, 1)
        by_word.setdefault(head.split("(", 1)[0], []).append(phones.strip())
    for w in words:
        prons = by_word.get(w, [])
        variants = british_variants(prons[0], w, known=prons[1:]) if prons else []
        us = " | ".join(prons) or "(not in the dictionary)"
        print(f"{w:<16} {us}  ->  {' | '.join(variants) or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
