"""Sentence templates (`.voc` lines) expanded to the closed set of phrases they stand for.

Syntax: `(a|b)` one of, `[a]` optional, `{n}` a number word zero..ten, `template => value`.
The closed set is both what the matcher accepts and what the recogniser's grammar allows,
except lines that start with `typed:`: their phrases are accepted when typed but left out of
the recogniser's grammar, because every phrase in a grammar competes with every other one
(`python -m skill.bench.breadth` measures what a phrasing costs the recogniser).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
MAX_EXPANSIONS_PER_LINE = 5000  # a typo like nested optionals can explode; fail loudly instead
TYPED_ONLY = "typed:"   # line prefix: accepted from the keyboard, not listened for


class VocabError(ValueError):
    """A .voc template that cannot be parsed; names the file and line."""


@dataclass(frozen=True)
class Phrase:
    text: str       # normalised, single-spaced
    intent: str
    value: Any = None
    spoken: bool = True   # False: typed input only, not in the recogniser's grammar


_TOKEN = re.compile(r"\(|\)|\[|\]|\||\{n\}|[^\s()\[\]|{}]+|\s+|[{}]")


def _tokenize(template: str) -> list[str]:
    return [t for t in _TOKEN.findall(template) if not t.isspace()]


def _parse_sequence(tokens: list[str], i: int, stop: set[str]) -> tuple[list, int]:
    """Sequence of items until a token in `stop`. Items: ('word', w) | ('num',) | ('alt', [seq...], optional)."""
    seq: list = []
    while i < len(tokens) and tokens[i] not in stop:
        tok = tokens[i]
        if tok in ("(", "["):
            closer = ")" if tok == "(" else "]"
            alts, i = _parse_alts(tokens, i + 1, closer)
            seq.append(("alt", alts, tok == "["))
        elif tok in (")", "]", "|"):
            raise VocabError(f"unexpected '{tok}'")
        elif tok == "{n}":
            seq.append(("num",))
            i += 1
        elif tok in ("{", "}"):
            raise VocabError("only the {n} slot is known")
        else:
            seq.append(("word", tok))
            i += 1
    return seq, i


def _parse_alts(tokens: list[str], i: int, closer: str) -> tuple[list, int]:
    alts = []
    while True:
        seq, i = _parse_sequence(tokens, i, {"|", closer, ")" if closer == "]" else "]"})
        alts.append(seq)
        if i >= len(tokens):
            raise VocabError(f"missing '{closer}'")
        if tokens[i] == "|":
            i += 1
            continue
        if tokens[i] != closer:
            raise VocabError(f"'{tokens[i]}' where '{closer}' was expected")
        return alts, i + 1


def _expand(seq: list) -> list[tuple[tuple[str, ...], int | None]]:
    """All (words, number-slot value) expansions of a parsed sequence."""
    parts: list[list[tuple[tuple[str, ...], int | None]]] = []
    for item in seq:
        if item[0] == "word":
            parts.append([((item[1],), None)])
        elif item[0] == "num":
            parts.append([((w,), n) for n, w in enumerate(NUMBER_WORDS)])
        else:
            options = [e for alt in item[1] for e in _expand(alt)]
            if item[2]:
                options.append(((), None))
            parts.append(options)
    results = []
    for combo in product(*parts):
        words: tuple[str, ...] = ()
        number = None
        for w, n in combo:
            words += w
            if n is not None:
                if number is not None:
                    raise VocabError("at most one {n} slot per template")
                number = n
        results.append((words, number))
        if len(results) > MAX_EXPANSIONS_PER_LINE:
            raise VocabError(f"expands to more than {MAX_EXPANSIONS_PER_LINE} phrases")
    return results


def _coerce(value: str) -> Any:
    value = value.strip()
    return int(value) if re.fullmatch(r"-?\d+", value) else value


def expand_template(template: str, intent: str) -> list[Phrase]:
    """Expand one template line (without comments) to its phrases."""
    value: Any = None
    spoken = True
    if template.strip().lower().startswith(TYPED_ONLY):
        template = template.strip()[len(TYPED_ONLY):]
        spoken = False
    if "=>" in template:
        template, raw_value = template.split("=>", 1)
        if not raw_value.strip():
            raise VocabError("'=>' with no value")
        value = _coerce(raw_value)
    template = template.strip().lower()
    if not template:
        raise VocabError("empty template")
    seq, i = _parse_sequence(_tokenize(template), 0, set())
    phrases = []
    for words, number in _expand(seq):
        if not words:
            continue
        phrase_value = value if value is not None else number
        phrases.append(Phrase(" ".join(words), intent, phrase_value, spoken))
    return phrases


def read_voc_file(path: Path, intent: str | None = None) -> list[Phrase]:
    """All phrases of one `.voc` file; the intent is the file name unless given."""
    intent = intent or path.stem
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise VocabError(f"{path}: cannot read ({exc})") from None
    phrases: list[Phrase] = []
    for lineno, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            phrases.extend(expand_template(line, intent))
        except VocabError as exc:
            raise VocabError(f"{path}:{lineno}: {exc}") from None
    if not phrases:
        raise VocabError(f"{path}: has no phrases")
    return phrases
