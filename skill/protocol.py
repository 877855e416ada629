"""Events in, actions out: the only vocabulary between the dialog core and the edges.

The dialog core is pure: the runtime feeds it events (each stamped with the injected
clock's time) and carries out the actions it returns. Every action also has a JSON form,
which is what `--json` prints and `--events` appends.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Union


# ---------------------------------------------------------------- events (edges -> core)
@dataclass(frozen=True)
class Utterance:
    """Something the person said, already matched to an intent ("none" when rejected)."""

    intent: str
    value: Any = None
    text: str = ""
    now: float = 0.0


@dataclass(frozen=True)
class Silence:
    """The listen timeout passed with nothing heard."""

    now: float = 0.0


@dataclass(frozen=True)
class Tick:
    """A timer the core started has run out."""

    timer: str
    now: float = 0.0


Event = Union[Utterance, Silence, Tick]


def answer_kind(event: Event) -> str | None:
    """An answer-taking dialog's view of an event: the intent heard, "silence", or None for
    a timer tick (timers belong to the coach, not to the questions)."""
    if isinstance(event, Utterance):
        return event.intent
    if isinstance(event, Silence):
        return "silence"
    return None


# ---------------------------------------------------------------- actions (core -> edges)
@dataclass(frozen=True)
class Say:
    text: str
    prompt: str = ""  # id of the .dialog prompt it came from, for tests and logs

    def to_json(self) -> dict:
        return {"type": "say", "text": self.text, "prompt": self.prompt}


@dataclass(frozen=True)
class Listen:
    """Wait for speech valid in `context`; after `timeout` seconds of nothing, send Silence.

    `prompted`: the dialog has just asked something and waits for the answer (the runtime
    plays the "listen" earcon), as opposed to only listening for commands while it counts.
    """

    context: str
    timeout: float | None = None
    prompted: bool = False

    def to_json(self) -> dict:
        return {"type": "listen", "context": self.context, "prompted": self.prompted}


@dataclass(frozen=True)
class StartTimer:
    timer: str
    seconds: float

    def to_json(self) -> dict:
        return {"type": "timer", "timer": self.timer, "seconds": self.seconds}


@dataclass(frozen=True)
class CancelTimer:
    timer: str

    def to_json(self) -> dict:
        return {"type": "cancel_timer", "timer": self.timer}


@dataclass(frozen=True)
class StateChanged:
    state: str

    def to_json(self) -> dict:
        return {"type": "state", "state": self.state}


@dataclass(frozen=True)
class SetSpeechRate:
    """Speaking rate as a factor of the normal rate (1.0 = normal)."""

    factor: float

    def to_json(self) -> dict:
        return {"type": "speech_rate", "factor": round(self.factor, 3)}


@dataclass(frozen=True)
class SetVolume:
    """Output volume, smart-speaker style: 1 (quietest) .. 10 (full scale); the mouth maps it to gain."""

    level: int

    def to_json(self) -> dict:
        return {"type": "volume", "level": self.level}


@dataclass(frozen=True)
class Ask:
    """The screener is about to ask this question (precedes its Say and Listen)."""

    question_id: str

    def to_json(self) -> dict:
        return {"type": "ask", "question_id": self.question_id}


@dataclass(frozen=True)
class Triage:
    level: str
    reasons: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"type": "triage", "level": self.level, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class Record:
    """A fact worth keeping (exercise done, pain score, ...) for logs and history."""

    kind: str
    data: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"type": "record", "kind": self.kind, **self.data}


@dataclass(frozen=True)
class End:
    summary: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"type": "end", "summary": self.summary}


Action = Union[Say, Listen, StartTimer, CancelTimer, StateChanged, SetSpeechRate, SetVolume, Ask, Triage, Record,
               End]


def heard_json(event: Utterance) -> dict:
    """JSON form of what was heard, so logs show input next to output."""
    data = asdict(event)
    data["type"] = "heard"
    return data
