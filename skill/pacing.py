"""Pure timing arithmetic for coaching: which blocks an exercise has, when a hold's cues fall."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    """One uninterrupted stretch of work: a set, on one side when the exercise has sides."""

    set: int            # 1-based
    sets: int
    side: str | None    # "left" / "right" for sides = "each", else None


def plan_blocks(sets: int, sides: str) -> list[Block]:
    sides_list: list[str | None] = ["left", "right"] if sides == "each" else [None]
    return [Block(s, sets, side) for s in range(1, sets + 1) for side in sides_list]


@dataclass(frozen=True)
class HoldCue:
    at: float      # seconds after the hold started
    prompt: str    # .dialog prompt id
    slots: tuple[tuple[str, object], ...] = ()


def hold_cues(seconds: float) -> list[HoldCue]:
    """Spoken countdown for a hold: halfway, "5 seconds left", 3-2-1, release.

    Short holds skip the cues that would crowd each other.
    """
    cues: list[HoldCue] = []
    if seconds >= 12:
        cues.append(HoldCue(seconds / 2, "hold_halfway"))
    if seconds >= 9:
        cues.append(HoldCue(seconds - 5, "hold_seconds_left", (("seconds", 5),)))
    for n in (3, 2, 1):
        if seconds > n:
            cues.append(HoldCue(seconds - n, "hold_count", (("count", _WORDS[n]),)))
    cues.append(HoldCue(seconds, "hold_release"))
    return sorted(cues, key=lambda c: c.at)


_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen", "twenty"]


def count_word(n: int) -> str:
    """Counting aloud: words up to twenty, digits beyond (TTS reads them fine)."""
    return _WORDS[n] if 0 <= n < len(_WORDS) else str(n)


def spoken_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    minutes, secs = divmod(seconds, 60)
    if minutes and secs:
        return f"{minutes} minute{'s' if minutes != 1 else ''} {secs} second{'s' if secs != 1 else ''}"
    if minutes:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{secs} second{'s' if secs != 1 else ''}"
