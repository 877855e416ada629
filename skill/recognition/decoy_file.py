"""The second looks' word lists, computed offline (dialogs/en-us/decoys.json): the decoys of
the one-word second look, and the extensions the lexical second look adds to its word loop
(skill/recognition/verify.py, MAX_EXTENSIONS).

Choosing a word's decoys (skill/recognition/verify.py) reads the n-gram model's unigrams and
makes a pass over the 134,000-word dictionary: about 40 MB resident, kept, and 0.2-0.3 s of CPU
(seconds of wall time on a loaded Pi) that a person waited for on a context's first uncertain
one-word answer. They depend only on the model and the phrase lists, so they are computed here
once, for every one-word phrase of every listen context (decoys) and every word of every
phrase of several words (extensions), and read at start-up.

    python -m skill.recognition.decoy_file            # rebuild after editing a .voc file
    python -m skill.recognition.decoy_file --check    # exit 1 if the file is out of date

Each word's entry keeps the pronunciations its decoys were computed from (the dictionary's,
pronunciations.dict's and the accent variants a grammar gives it): a word whose pronunciations
have changed since, or that is not in the file, gets its decoys computed at first use, as
before, with a warning naming this command.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "dialogs" / "en-us" / "decoys.json"
BUILD_COMMAND = "python -m skill.recognition.decoy_file"
FORMAT = 2   # 2: entries may carry "extensions"


class DecoyFileError(ValueError):
    """The decoy file cannot be used: missing, unreadable, malformed, or made for another model
    or rule. The message names the file and what is wrong."""


@dataclass(frozen=True)
class Entry:
    """One word's decoys and extensions and what they were computed from."""
    pronunciations: tuple[tuple[str, ...], ...]   # without stress marks, the decoder's order
    homophones: frozenset[str]                    # itself included
    decoys: tuple[tuple[str, str], ...]           # (word, phones), most frequent first
    extensions: tuple[tuple[str, str], ...] = ()  # (word, phones), most frequent first


def fingerprint(dictionary: Path, language_model: Path, rule: Mapping[str, Any]) -> dict[str, Any]:
    """What the decoys depend on besides the words' pronunciations: the model's dictionary and
    n-gram model (by name and size: a different model version differs in both) and the rule's
    settings. A file that does not match is not used."""
    out: dict[str, Any] = {"format": FORMAT}
    for key, path in (("dictionary", Path(dictionary)), ("language_model", Path(language_model))):
        try:
            size: int | None = path.stat().st_size
        except OSError:
            size = None   # never matches a file's: the decoys are then computed (and fail) as before
        out[key] = {"name": path.name, "bytes": size}
    out["rule"] = dict(rule)
    return out


def render(entries: Mapping[str, Entry], about: Mapping[str, Any]) -> str:
    """The file's text: the fingerprint, then one line per word, sorted (diffs stay readable)."""
    lines = ["{", f' "generated_by": {json.dumps(BUILD_COMMAND)},',
             ' "note": "do not edit: rebuild it after changing a .voc file, accents.toml or pronunciations.dict",',
             f' "fingerprint": {json.dumps(dict(about), sort_keys=True)},', ' "words": {']
    words = sorted(entries)
    for i, word in enumerate(words):
        e = entries[word]
        item = {"pronunciations": [" ".join(p) for p in e.pronunciations],
                "homophones": sorted(e.homophones),
                "decoys": [f"{w} {p}" for w, p in e.decoys]}
        if e.extensions:
            item["extensions"] = [f"{w} {p}" for w, p in e.extensions]
        lines.append(f"  {json.dumps(word)}: {json.dumps(item)}" + ("," if i < len(words) - 1 else ""))
    lines += [" }", "}"]
    return "\n".join(lines) + "\n"


def read(path: Path, expected: Mapping[str, Any]) -> dict[str, Entry]:
    """The entries of the decoy file at `path`. Raises DecoyFileError when it is missing,
    unreadable or malformed, or its fingerprint is not `expected`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise DecoyFileError(f"{path}: cannot read it ({e.strerror or e})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DecoyFileError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("words"), dict):
        raise DecoyFileError(f"{path}: no \"words\" table")
    if data.get("fingerprint") != dict(expected):
        raise DecoyFileError(f"{path}: made for another model or decoy rule "
                             f"({data.get('fingerprint')!r}, this one is {dict(expected)!r})")
    out = {}
    for word, item in data["words"].items():
        try:
            out[word] = Entry(tuple(tuple(p.split()) for p in _strings(item["pronunciations"])),
                              frozenset(_strings(item["homophones"])), _pairs(item["decoys"]),
                              _pairs(item.get("extensions", [])))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise DecoyFileError(f"{path}: the entry for {word!r} is malformed ({type(e).__name__}: {e})"
                                 ) from None
    return out


def _pairs(value: object) -> tuple[tuple[str, str], ...]:
    """["word PH ON ES", ...] -> ((word, "PH ON ES"), ...)"""
    out = []
    for d in _strings(value):
        w, phones = d.split(" ", 1)
        out.append((w, phones))
    return tuple(out)


def _strings(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("expected a list of strings")
    return value


def one_word_phrases(phrase_sets: Iterable[Sequence[str]]) -> list[str]:
    """Every one-word phrase of the given phrase lists, sorted."""
    return sorted({p for phrases in phrase_sets for p in phrases if " " not in p.strip()})


def build(dialogs: Path | None = None) -> tuple[str, list[str]]:
    """The decoy file's text for the phrase lists under `dialogs` (default: dialogs/en-us), and
    the words it covers: every one-word phrase of every listen context that the second look
    applies to (decoys), and every word of every phrase of several words (extensions), with the
    pronunciations a session's grammars give them."""
    from ..cli import DEFAULT_LOCALE_DIR, load_assets
    from . import verify
    from .pocketsphinx_engine import PocketSphinxRecognizer
    matcher = load_assets(Path(dialogs) if dialogs else DEFAULT_LOCALE_DIR).matcher
    words = one_word_phrases(matcher.phrases(c) for c in matcher.contexts())
    in_longer = sorted({w for c in matcher.contexts() for p in matcher.phrases(c) if " " in p.strip()
                        for w in p.split()})
    # the vocabulary a session loads; the accent variants as its grammars add them. (Its
    # verifier's complaint about the file being rebuilt is beside the point here.)
    quiet = logging.getLogger(verify.__name__)
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    vocabulary = sorted(set(words) | set(in_longer))
    try:
        rec = PocketSphinxRecognizer(vocabulary=vocabulary)
    finally:
        quiet.setLevel(level)
    rec.accent_pronunciations(vocabulary)
    verifier = rec.verifier
    wanted = [w for w in words if verifier.applies(w)]
    entries = verifier.computed(wanted, in_longer)
    return render(entries, verifier.fingerprint()), sorted(entries)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=BUILD_COMMAND, description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_PATH, help=f"default: {DEFAULT_PATH}")
    p.add_argument("--check", action="store_true",
                   help="do not write: exit 1 if the file differs from a fresh build")
    args = p.parse_args(argv)
    text, words = build()
    if args.check:
        try:
            same = args.out.read_text(encoding="utf-8") == text
        except OSError:
            same = False
        print(f"{args.out}: {'up to date' if same else 'OUT OF DATE: run ' + BUILD_COMMAND}")
        return 0 if same else 1
    tmp = args.out.with_suffix(args.out.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.out)
    print(f"{args.out}: decoys and extensions of {len(words)} words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
