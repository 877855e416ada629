"""Phrase lists → recogniser grammars, and vocabulary checks against a model.

PocketSphinx takes a JSGF grammar (whole phrases, plus an optional garbage loop so
out-of-grammar speech has somewhere to go). Vosk takes a JSON list of phrases, which it
treats as a loose word-pair model; its unknown-word symbol ("[unk]" in the English
models, "<UNK>" in some others) must be in the list, and words missing from the model's
vocabulary are silently dropped, so check them first.
"""
from __future__ import annotations

import json
import mmap
import re
import struct
from pathlib import Path
from typing import Iterable

# Characters JSGF uses as syntax; a phrase word containing one cannot be a token.
_JSGF_SPECIAL = re.compile(r"[\s;=|*+<>()\[\]{}/\"\\#!]")
_FST_MAGIC = 2125659606
_SYMTAB_MAGIC = 2125658996
FST_HAS_ISYMBOLS = 1


class GrammarError(ValueError):
    """A phrase cannot be turned into a grammar (the message says which and why)."""


def phrase_words(phrases: Iterable[str]) -> list[str]:
    """Every distinct word of the phrases, in first-seen order."""
    seen: dict[str, None] = {}
    for phrase in phrases:
        for word in phrase.split():
            seen.setdefault(word, None)
    return list(seen)


def _clean(phrases: Iterable[str]) -> list[str]:
    out: dict[str, None] = {}
    for p in phrases:
        p = " ".join(p.split())
        if p:
            out.setdefault(p, None)
    if not out:
        raise GrammarError("no phrases to recognise")
    return list(out)


def word_loop(words: Iterable[str]) -> str:
    """A JSGF rule body: one or more of `words`, in any order."""
    return f"({' | '.join(words)})+"


def jsgf(phrases: Iterable[str], garbage_words: Iterable[str] = (),
         garbage_weight: float = 1e-30, name: str = "phrases") -> str:
    """A JSGF grammar accepting exactly the phrases, or (when garbage_words is given)
    alternatively a loop of garbage words entered with probability weight
    `garbage_weight` relative to 1 for the phrases."""
    phrases = _clean(phrases)
    for word in phrase_words(phrases):
        if _JSGF_SPECIAL.search(word):
            raise GrammarError(f"word {word!r} contains a character JSGF cannot hold")
    garbage = [w for w in dict.fromkeys(garbage_words) if w not in set(phrase_words(phrases))]
    lines = ["#JSGF V1.0;", f"grammar {name};"]
    alts = " | ".join(phrases)
    if garbage:
        lines.append(f"public <utterance> = /1/ <phrase> | /{garbage_weight:g}/ <garbage>;")
        lines.append(f"<phrase> = {alts};")
        lines.append(f"<garbage> = {word_loop(garbage)};")
    else:
        lines.append(f"public <utterance> = {alts};")
    return "\n".join(lines) + "\n"


def vosk_grammar(phrases: Iterable[str], unk: str | None = "[unk]",
                 extra_words: Iterable[str] = ()) -> str:
    """The JSON list Vosk's KaldiRecognizer takes: the phrases, any extra (filler) words
    and the model's unknown-word symbol."""
    items = _clean(phrases)
    items += [w for w in extra_words if w not in items]
    if unk and unk not in items:
        items.append(unk)
    return json.dumps(items, ensure_ascii=False)


def missing_words(phrases: Iterable[str], vocabulary: set[str] | frozenset[str]) -> list[str]:
    """Words of the phrases the model cannot recognise."""
    return [w for w in phrase_words(phrases) if w not in vocabulary]


def read_fst_symbols(path: str | Path, only: Iterable[str] | None = None) -> set[str]:
    """The input symbol table embedded in an OpenFst binary file (Vosk's graph/Gr.fst
    carries the model's words.txt this way). Raises ValueError if the file has none.
    `only`: return just those of these words the table holds (a 500k-word table then costs
    ~0.2 s and no memory instead of ~1 s and ~80 MB of strings)."""
    wanted = None if only is None else {w.encode("utf-8") for w in only}
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        pos = 0

        def i32() -> int:
            nonlocal pos
            (v,) = struct.unpack_from("<i", data, pos)
            pos += 4
            return v

        def i64() -> int:
            nonlocal pos
            (v,) = struct.unpack_from("<q", data, pos)
            pos += 8
            return v

        def string() -> bytes:
            nonlocal pos
            n = i32()
            if n < 0 or pos + n > len(data):
                raise ValueError(f"{path}: corrupt FST header")
            v = data[pos:pos + n]
            pos += n
            return v

        try:
            if i32() != _FST_MAGIC:
                raise ValueError(f"{path}: not an OpenFst file")
            string()  # fst type
            string()  # arc type
            i32()     # version
            flags = i32()
            i64(); i64(); i64(); i64()  # properties, start, num states, num arcs
            if not flags & FST_HAS_ISYMBOLS:
                raise ValueError(f"{path}: no symbol table in the FST")
            if i32() != _SYMTAB_MAGIC:
                raise ValueError(f"{path}: corrupt symbol table")
            string()  # table name
            i64()     # available key
            size = i64()
            words = set()
            # inlined (no helper calls): a large model has 500k symbols, read at every start
            length_at, end = struct.Struct("<i").unpack_from, len(data)
            for _ in range(size):
                (n,) = length_at(data, pos)
                pos += 4
                if n < 0 or pos + n + 8 > end:
                    raise ValueError(f"{path}: corrupt symbol table")
                symbol = data[pos:pos + n]
                pos += n + 8          # the symbol, then its 64-bit key
                if wanted is None or symbol in wanted:
                    words.add(symbol.decode("utf-8", "replace"))
            return words
        except struct.error:
            raise ValueError(f"{path}: truncated FST file") from None


def vosk_vocabulary(model_dir: str | Path, only: Iterable[str] | None = None) -> set[str] | None:
    """The words a Vosk model knows: graph/words.txt, else the symbol table inside
    graph/Gr.fst; None when neither is there (then rely on Vosk's own warnings).
    `only`: just those of these words the model knows (a check, not the whole word list)."""
    graph = Path(model_dir) / "graph"
    words_txt = graph / "words.txt"
    keep = None if only is None else set(only)
    if words_txt.is_file():
        with open(words_txt, encoding="utf-8", errors="replace") as f:
            found = (line.split()[0] for line in f if line.strip())
            return {w for w in found if keep is None or w in keep}
    gr = graph / "Gr.fst"
    if gr.is_file():
        try:
            return read_fst_symbols(gr, keep)
        except (ValueError, OSError):
            return None
    return None


def unknown_symbol(vocabulary: set[str] | None) -> str | None:
    """The model's unknown-word symbol, which a Vosk grammar must include."""
    if vocabulary is None:
        return "[unk]"
    for sym in ("[unk]", "<unk>", "<UNK>"):
        if sym in vocabulary:
            return sym
    return None
