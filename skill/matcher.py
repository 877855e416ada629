"""Phrase → intent, shared by typed and spoken input.

Like Home Assistant's speech-to-phrase: each listen context accepts a closed set of phrases
(expanded from `.voc` templates); input is normalised and looked up, and anything that is
not close enough to a known phrase is rejected as intent "none" rather than guessed.
"""
from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from .vocab import NUMBER_WORDS, Phrase, VocabError, expand_template, read_voc_file

REJECTED = "none"
# Hesitations people put around commands; dropped before matching, never part of a phrase.
FILLERS = frozenset({"um", "umm", "uh", "uhm", "er", "erm", "hmm", "mm", "ah", "oh", "well"})
EDGE_FILLERS = frozenset({"please", "coach", "okay so", "so"})
_DIGITS = {str(n): w for n, w in enumerate(NUMBER_WORDS)}


class MatcherError(ValueError):
    """contexts.toml or a vocab file is malformed; names the file."""


@dataclass(frozen=True)
class Match:
    intent: str
    value: Any = None
    score: float = 0.0
    phrase: str | None = None
    text: str = ""

    @property
    def understood(self) -> bool:
        return self.intent != REJECTED


@dataclass
class Context:
    name: str
    intents: tuple[str, ...]
    hints: tuple[str, ...]
    fuzzy: float  # minimum similarity for a near (typo-level) match; 0 = exact phrases only
    table: dict[str, Phrase] = field(default_factory=dict)
    # added to the engine's rejection threshold here (a stricter context, e.g. the screener)
    confidence_margin: float = 0.0
    # and per intent, on top (a negative margin: an intent whose miss costs more than a
    # false accept, e.g. a pain report mid-exercise)
    intent_margins: dict[str, float] = field(default_factory=dict)


def normalize(text: str, edges: bool = True) -> str:
    """Lower case, digits as words, no punctuation but apostrophes, no hesitation words;
    (`edges`) no politeness at either end."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"\b10\b", " ten ", text)
    text = re.sub(r"\b(\d)\b", lambda m: f" {_DIGITS[m.group(1)]} ", text)
    text = re.sub(r"[^a-z' ]+", " ", text)
    words = [w.strip("'") for w in text.split()]
    words = [w for w in words if w and w not in FILLERS]
    # "please" or "coach" at either end is politeness, not content
    while edges and words and words[0] in EDGE_FILLERS:
        words.pop(0)
    while edges and words and words[-1] in EDGE_FILLERS:
        words.pop()
    return " ".join(words)


class Matcher:
    def __init__(self, contexts: dict[str, Context]) -> None:
        self._contexts = contexts

    def contexts(self) -> list[str]:
        return sorted(self._contexts)

    def _context(self, name: str) -> Context:
        try:
            return self._contexts[name]
        except KeyError:
            raise MatcherError(f"unknown listen context {name!r}") from None

    def phrases(self, context: str) -> list[str]:
        """Every phrase listened for in `context`, normalised: the recogniser's grammar
        (phrases from `typed:` lines of the .voc files are left out)."""
        return sorted(p for p, ph in self._context(context).table.items() if ph.spoken)

    def typed_phrases(self, context: str) -> list[str]:
        """Every phrase accepted in `context` as typed text: the grammar plus `typed:` lines."""
        return sorted(self._context(context).table)

    def intents(self, context: str) -> tuple[str, ...]:
        return self._context(context).intents

    def hints(self, context: str) -> tuple[str, ...]:
        return self._context(context).hints

    def intent_of(self, phrase: str, context: str) -> Phrase | None:
        return self._context(context).table.get(phrase)

    def match(self, text: str, context: str, confidence: float | None = None,
              min_confidence: float = 0.0) -> Match:
        """The intent `text` expresses in `context`, or intent "none".

        `confidence` is the recogniser's own score; below `min_confidence` (plus the
        context's `confidence_margin` and the phrase's intent's margin, when a threshold is
        given) the words are not trusted whatever they are.
        """
        ctx = self._context(context)
        norm = normalize(text)
        if not norm:
            return Match(REJECTED, text=text)
        # a phrase may end in what is elsewhere an edge filler ("i think so")
        exact = ctx.table.get(norm) or ctx.table.get(normalize(text, edges=False))
        if min_confidence > 0:
            min_confidence += ctx.confidence_margin
            if exact is not None:
                min_confidence += ctx.intent_margins.get(exact.intent, 0.0)
        if confidence is not None and confidence < min_confidence:
            return Match(REJECTED, score=confidence, text=text)
        if exact is not None:
            return Match(exact.intent, exact.value, 1.0, exact.text, text)
        if ctx.fuzzy <= 0:
            return Match(REJECTED, text=text)
        return self._near_match(ctx, norm, text)

    @staticmethod
    def _near_match(ctx: Context, norm: str, text: str) -> Match:
        # Typo-level closeness only; the runner-up of another intent must be clearly worse,
        # otherwise the input is ambiguous and we ask again rather than guess.
        best: dict[tuple[str, Any], tuple[float, str]] = {}
        sm = difflib.SequenceMatcher(autojunk=False)
        sm.set_seq2(norm)
        for phrase_text, phrase in ctx.table.items():
            sm.set_seq1(phrase_text)
            if sm.real_quick_ratio() < ctx.fuzzy or sm.quick_ratio() < ctx.fuzzy:
                continue
            score = sm.ratio()
            key = (phrase.intent, phrase.value)
            if score > best.get(key, (0.0, ""))[0]:
                best[key] = (score, phrase_text)
        if not best:
            return Match(REJECTED, text=text)
        ranked = sorted(best.items(), key=lambda kv: kv[1][0], reverse=True)
        (intent, value), (score, phrase_text) = ranked[0]
        runner_up = ranked[1][1][0] if len(ranked) > 1 else 0.0
        if score < ctx.fuzzy or score - runner_up < 0.08:
            return Match(REJECTED, score=score, text=text)
        return Match(intent, value, round(score, 3), phrase_text, text)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _read_contexts(path: Path) -> dict[str, dict]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MatcherError(f"{path}: {exc}") from None
    for name, spec in data.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("intents"), list) or not spec["intents"]:
            raise MatcherError(f"{path}: context [{name}] needs a non-empty 'intents' list")
        hints = spec.get("hints", [])
        if not isinstance(hints, list) or not all(isinstance(h, str) for h in hints):
            raise MatcherError(f"{path}: context [{name}] 'hints' must be a list of phrases")
        typed_only = spec.get("typed_only", [])
        if not isinstance(typed_only, list) or not all(isinstance(t, str) for t in typed_only):
            raise MatcherError(f"{path}: context [{name}] 'typed_only' must be a list of phrase templates")
        fuzzy = spec.get("fuzzy", 0.86)
        if not _is_number(fuzzy) or not 0 <= fuzzy <= 1:
            raise MatcherError(f"{path}: context [{name}] 'fuzzy' must be a number from 0 to 1")
        margin = spec.get("confidence_margin", 0.0)
        if not _is_number(margin) or not 0 <= margin < 1:
            raise MatcherError(f"{path}: context [{name}] 'confidence_margin' must be a number from 0 to 1")
        margins = spec.get("intent_margins", {})
        if not isinstance(margins, dict):
            raise MatcherError(f"{path}: context [{name}] 'intent_margins' must be a table of intent = number")
        for intent, value in margins.items():
            if intent not in spec["intents"]:
                raise MatcherError(f"{path}: context [{name}] 'intent_margins' names {intent!r}, "
                                   "which is not one of its intents")
            if not _is_number(value) or not -0.5 <= value <= 0.5:
                raise MatcherError(f"{path}: context [{name}] 'intent_margins' {intent!r} must be a number "
                                   "from -0.5 to 0.5")
    return data


def load_matcher(locale_dir: Path, extra: dict[str, Iterable[tuple[str, Any]]] | None = None) -> Matcher:
    """Build the matcher from `contexts.toml` and `vocab/*.voc` of one locale.

    `extra` adds templates that live in other data files, e.g. routine names for the
    `routine` intent: {"routine": [("hip mobility", "hip_mobility"), ...]}.
    """
    spec = _read_contexts(locale_dir / "contexts.toml")
    vocab_dir = locale_dir / "vocab"
    by_intent: dict[str, list[Phrase]] = {}
    for path in sorted(vocab_dir.glob("*.voc")):
        by_intent[path.stem] = read_voc_file(path)
    for intent, templates in (extra or {}).items():
        for template, value in templates:
            try:
                expanded = expand_template(f"{template} => {value}", intent)
            except VocabError as exc:
                raise MatcherError(f"{intent} phrase {template!r}: {exc}") from None
            by_intent.setdefault(intent, []).extend(expanded)
    contexts: dict[str, Context] = {}
    for name, ctx_spec in spec.items():
        ctx = Context(name, tuple(ctx_spec["intents"]), tuple(ctx_spec.get("hints", [])),
                      float(ctx_spec.get("fuzzy", 0.86)),
                      confidence_margin=float(ctx_spec.get("confidence_margin", 0.0)),
                      intent_margins={k: float(v) for k, v in ctx_spec.get("intent_margins", {}).items()})
        for intent in ctx.intents:
            if intent not in by_intent:
                raise MatcherError(f"{locale_dir / 'contexts.toml'}: context [{name}] lists intent "
                                   f"{intent!r} but there is no vocab/{intent}.voc")
            for phrase in by_intent[intent]:
                other = ctx.table.get(phrase.text)
                if other is not None and (other.intent, other.value) != (phrase.intent, phrase.value):
                    raise MatcherError(
                        f"context [{name}]: phrase {phrase.text!r} means both {other.intent}"
                        f"={other.value!r} and {phrase.intent}={phrase.value!r}")
                if other is not None and other.spoken:
                    continue   # listened for by one template, typed-only by another: listened for
                ctx.table[phrase.text] = phrase
        # phrasings accepted when typed but not listened for in this context (e.g. "too fast"
        # where "two" is an answer): the recogniser would take one for the other
        for template in ctx_spec.get("typed_only", []):
            try:
                texts = [p.text for p in expand_template(template, "typed_only")]
            except VocabError as exc:
                raise MatcherError(f"{locale_dir / 'contexts.toml'}: [{name}] typed_only {template!r}: {exc}") from None
            for text in texts:
                if text not in ctx.table:
                    raise MatcherError(f"{locale_dir / 'contexts.toml'}: [{name}] typed_only phrase "
                                       f"{text!r} is not a phrase of that context")
                ctx.table[text] = replace(ctx.table[text], spoken=False)
        for hint in ctx.hints:
            hint_phrase = ctx.table.get(normalize(hint))
            if hint_phrase is None or not hint_phrase.spoken:   # a hint is said to be said
                raise MatcherError(f"{locale_dir / 'contexts.toml'}: hint {hint!r} of [{name}] is not a phrase of that context "
                                   "that is listened for (typed: lines are not)")
        contexts[name] = ctx
    return Matcher(contexts)
