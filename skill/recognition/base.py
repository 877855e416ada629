"""The one interface every recognition engine implements."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Hypothesis:
    """An engine's final answer for one utterance.

    text is "" when the engine heard nothing it could place in the grammar (e.g. only
    [unk]); confidence is the engine's own 0..1 score, or None when it has none.
    """

    text: str
    confidence: float | None = None


class Recognizer(Protocol):
    name: str          # "vosk" or "pocketsphinx"
    sample_rate: int   # rate of the int16 mono PCM that feed() expects

    def begin(self, phrases: list[str]) -> None:
        """Start a new utterance, constrained to these phrases (already normalised)."""
        ...

    def feed(self, pcm: bytes) -> None:
        """Stream int16 little-endian mono PCM at sample_rate, in chunks of any size."""
        ...

    def finish(self) -> Hypothesis:
        """End of the utterance: return the final hypothesis."""
        ...


class SpeculativeRecognizer(Recognizer, Protocol):
    """A Recognizer that can decode an utterance before its end is certain (PocketSphinx).

    The ears call speculate() when the person has stopped speaking for a moment and
    resume() if they go on; an engine without these methods simply decodes in finish()."""

    def speculate(self) -> bool:
        """Decode what was fed so far now; finish() returns that result unless resume() is
        called first (audio fed in between is not decoded). False: not possible here."""
        ...

    def resume(self) -> None:
        """Speech went on after speculate(): drop its result and keep the utterance."""
        ...
