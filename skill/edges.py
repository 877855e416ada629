"""What the runtime needs from its input and output edges (text or voice).

Ears turn the person's words into text (the runtime then matches text to an intent with
the one shared matcher); a Mouth speaks. Both are swapped as a pair: --text uses the
keyboard and the terminal, voice mode the microphone + recogniser and TTS.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Union


@dataclass(frozen=True)
class Heard:
    """Words from the person: typed text, or a recogniser's (grammar-constrained) result."""

    text: str
    confidence: float | None = None  # recogniser's own score, 0..1, when it has one


@dataclass(frozen=True)
class NothingHeard:
    """The deadline passed with no speech (or the person sent an empty line)."""


@dataclass(frozen=True)
class EndOfInput:
    """No more input will ever come (stdin closed, audio file finished)."""

    reason: str = ""


HearResult = Union[Heard, NothingHeard, EndOfInput]


class Ears(Protocol):
    def hear(self, context: str, deadline: float | None) -> HearResult:
        """Block until speech valid in `context`, the clock reaches `deadline`, or input ends.

        `deadline` is in the runtime clock's time (None = wait indefinitely). With a
        virtual clock, returning NothingHeard lets the runtime jump the clock to the deadline.
        """
        ...

    def close(self) -> None: ...


class Mouth(Protocol):
    def say(self, text: str) -> None:
        """Speak `text`; return once it has been spoken (half-duplex relies on this)."""
        ...

    def set_rate(self, factor: float) -> None:
        """Speaking rate as a factor of the normal rate."""
        ...

    def close(self) -> None: ...
