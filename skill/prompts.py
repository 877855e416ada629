"""Spoken prompts from `.dialog` files: alternative phrasings, never the same one twice in a row."""
from __future__ import annotations

import random
import string
from dataclasses import dataclass
from pathlib import Path

from .protocol import Say


class PromptError(ValueError):
    """A .dialog file is missing, empty or inconsistent; names the file."""


@dataclass(frozen=True)
class PromptFile:
    path: Path
    lines: tuple[str, ...]
    slots: frozenset[str]


def _slots_of(line: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(line) if name)


def read_dialog_file(path: Path) -> PromptFile:
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptError(f"{path}: cannot read ({exc})") from None
    lines = tuple(
        ln.strip() for ln in raw.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    )
    if not lines:
        raise PromptError(f"{path}: has no phrasing (every line is blank or a comment)")
    try:
        slot_sets = {_slots_of(ln) for ln in lines}
    except ValueError as exc:
        raise PromptError(f"{path}: bad placeholder ({exc})") from None
    if len(slot_sets) != 1:
        raise PromptError(f"{path}: every line must use the same placeholders, found {sorted(map(sorted, slot_sets))}")
    return PromptFile(path, lines, slot_sets.pop())


class Prompts:
    """All `.dialog` files of one locale, keyed by file name without the extension."""

    def __init__(self, files: dict[str, PromptFile], rng: random.Random | None = None) -> None:
        self._files = files
        self._rng = rng or random.Random()
        self._last: dict[str, int] = {}

    @classmethod
    def load(cls, prompt_dir: Path, rng: random.Random | None = None) -> "Prompts":
        if not prompt_dir.is_dir():
            raise PromptError(f"{prompt_dir}: prompt folder not found")
        files = {p.stem: read_dialog_file(p) for p in sorted(prompt_dir.glob("*.dialog"))}
        return cls(files, rng)

    def __contains__(self, prompt_id: str) -> bool:
        return prompt_id in self._files

    def ids(self) -> list[str]:
        return sorted(self._files)

    def require(self, prompt_ids: list[str] | set[str]) -> None:
        """Fail at start-up, not mid-session, when a prompt the code uses has no file."""
        missing = sorted(set(prompt_ids) - set(self._files))
        if missing:
            raise PromptError(f"missing .dialog files: {', '.join(m + '.dialog' for m in missing)}")

    def text(self, prompt_id: str, **slots: object) -> str:
        pf = self._files.get(prompt_id)
        if pf is None:
            raise PromptError(f"no prompt {prompt_id}.dialog")
        choices = list(range(len(pf.lines)))
        if len(choices) > 1 and prompt_id in self._last:
            choices.remove(self._last[prompt_id])
        index = self._rng.choice(choices)
        self._last[prompt_id] = index
        try:
            return pf.lines[index].format(**slots)
        except (KeyError, IndexError) as exc:
            raise PromptError(f"{pf.path}: placeholder {exc} not given") from None

    def say(self, prompt_id: str, **slots: object) -> Say:
        return Say(self.text(prompt_id, **slots), prompt=prompt_id)
