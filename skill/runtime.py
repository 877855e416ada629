"""The loop between a pure dialog and its edges: carry out actions, turn the world into events.

It owns the timers the dialog starts and the silence deadline of each Listen, reads the
injected clock, and asks the ears for the next utterance until that deadline. Matching text
to an intent happens here, with the one matcher text and voice share.

Earcons, so a person who cannot see knows when to speak: after a batch that says something
and ends in a prompted Listen, `mouth.cue("listen")`; when speech is heard during a prompted
Listen, `mouth.cue("done")` before it is dispatched. Re-listening to the same Listen after a
timer tick (nothing said) gives no second cue. Voice ears (which have `on_speech_end`) get the
"done" cue at the end of speech instead, started without waiting (`mouth.cue_async`), so the
tone overlaps recognition; it then plays for a rejected answer too (the coach did stop
listening). A speaker mouth leaves that tone out when the answer was already recognised and the
reply follows at once (skill/audio/tts.py, REPLY_GRACE_SECONDS): the `cue` event still marks
where listening stopped. Both go to the event sink as `cue` objects, and to the mouth only when it has a
`cue` method. The `listen` object itself is emitted
after the "listen" cue, so a script answering on it never talks over the tone.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Protocol

from .clock import Clock
from .edges import EndOfInput, Ears, Heard, Mouth, NothingHeard
from .matcher import Matcher
from .protocol import (Action, CancelTimer, End, Event, Listen, Say, SetSpeechRate, SetVolume, Silence,
                       StartTimer, Tick, Utterance, heard_json)

SILENCE = "__silence__"


class Dialog(Protocol):
    def start(self, now: float) -> list[Action]: ...

    def handle(self, event: Event) -> list[Action]: ...

    def end_of_input(self, now: float) -> list[Action]: ...


class EventSink:
    """Writes every action (and what was heard) as one JSON object per line, flushed."""

    def __init__(self, streams: list[IO[str]] | None = None) -> None:
        self.streams = streams or []
        self.listeners: list[Callable[[dict], None]] = []

    def emit(self, obj: dict) -> None:
        line = json.dumps(obj, ensure_ascii=False)
        for stream in self.streams:
            try:
                stream.write(line + "\n")
                stream.flush()
            except (OSError, ValueError):
                pass  # a closed pipe must not stop the session
        for listener in self.listeners:
            listener(obj)


@dataclass
class Timers:
    deadlines: dict[str, float] = field(default_factory=dict)

    def start(self, name: str, at: float) -> None:
        self.deadlines[name] = at

    def cancel(self, name: str) -> None:
        self.deadlines.pop(name, None)

    def next_due(self) -> tuple[str, float] | None:
        if not self.deadlines:
            return None
        name = min(self.deadlines, key=lambda n: (self.deadlines[n], n))
        return name, self.deadlines[name]


class Runtime:
    def __init__(self, dialog: Dialog, ears: Ears, mouth: Mouth, matcher: Matcher, clock: Clock,
                 sink: EventSink, min_confidence: float = 0.0) -> None:
        self.dialog = dialog
        self.ears = ears
        self.mouth = mouth
        self.matcher = matcher
        self.clock = clock
        self.sink = sink
        self.min_confidence = min_confidence
        self.timers = Timers()
        self.summary: dict[str, Any] | None = None

    def run(self) -> dict[str, Any] | None:
        listen = self._perform(self.dialog.start(self.clock.now()))
        while self.summary is None:
            if listen is None:
                raise RuntimeError("the dialog stopped without listening or ending")
            listen = self._perform(self._next_events(listen))
        return self.summary

    # ------------------------------------------------------------------
    def _perform(self, actions: list[Action]) -> Listen | None:
        listen: Listen | None = None
        spoke = False
        for action in actions:
            if isinstance(action, Listen):
                listen = action     # announced below, once the earcon has played
                continue
            self.sink.emit(action.to_json())
            if isinstance(action, Say):
                self.mouth.say(action.text)
                spoke = True
            elif isinstance(action, SetSpeechRate):
                self.mouth.set_rate(action.factor)
            elif isinstance(action, SetVolume):
                set_volume = getattr(self.mouth, "set_volume", None)
                if set_volume is not None:
                    set_volume(action.level)
            elif isinstance(action, StartTimer):
                self.timers.start(action.timer, self.clock.now() + action.seconds)
            elif isinstance(action, CancelTimer):
                self.timers.cancel(action.timer)
            elif isinstance(action, End):
                self.summary = action.summary
                return None
        self.timers.cancel(SILENCE)
        if listen is not None:
            if listen.prompted and spoke:
                self._cue("listen")     # a question was just asked: your turn
            # after the cue: a `listen` in the event log means the microphone is really open
            self.sink.emit(listen.to_json())
        if listen is not None and listen.timeout is not None:
            # the silence clock starts once everything above has been said (and the cue played)
            self.timers.start(SILENCE, self.clock.now() + listen.timeout)
        return listen

    def _cue(self, name: str, wait: bool = True) -> None:
        self.sink.emit({"type": "cue", "cue": name})
        cue = None if wait else getattr(self.mouth, "cue_async", None)
        cue = cue or getattr(self.mouth, "cue", None)
        if cue is not None:
            cue(name)

    def _fire(self, name: str, due: float) -> list[Action]:
        self.timers.cancel(name)
        self.clock.sleep_until(due)
        now = self.clock.now()
        event: Event = Silence(now) if name == SILENCE else Tick(name, now)
        return self.dialog.handle(event)

    def _next_events(self, listen: Listen) -> list[Action]:
        nxt = self.timers.next_due()
        if nxt is not None and nxt[1] <= self.clock.now():
            return self._fire(*nxt)
        early_cue = listen.prompted and hasattr(self.ears, "on_speech_end")
        cued: list[bool] = []
        if early_cue:
            # voice ears call this the moment the endpointer closes the answer, so the "done"
            # tone plays while the recogniser decodes instead of adding its length to the turn
            def speech_ended() -> None:
                if not cued:
                    cued.append(True)
                    self._cue("done", wait=False)
            self.ears.on_speech_end = speech_ended
        try:
            heard = self.ears.hear(listen.context, nxt[1] if nxt else None)
        finally:
            if early_cue:
                self.ears.on_speech_end = None
        if isinstance(heard, EndOfInput):
            return self.dialog.end_of_input(self.clock.now())
        if isinstance(heard, NothingHeard):
            if nxt is None:
                return [listen]          # nothing will happen on its own: keep waiting
            return self._fire(*nxt)
        if listen.prompted and heard.text.strip() and not cued:
            self._cue("done")            # heard: stopped listening for the answer
        match = self.matcher.match(heard.text, listen.context, heard.confidence, self.min_confidence)
        event = Utterance(match.intent, match.value, heard.text, self.clock.now())
        record = heard_json(event)
        record.update(context=listen.context, confidence=heard.confidence, score=match.score)
        self.sink.emit(record)
        return self.dialog.handle(event)
