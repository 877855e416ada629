"""Typed input and printed output: the same dialog as voice, through the keyboard."""
from __future__ import annotations

import queue
import sys
import threading
from typing import IO

from .clock import Clock, VirtualClock
from .edges import EndOfInput, HearResult, Heard, NothingHeard


class TextEars:
    """Each input line is one utterance; an empty line is silence until the next deadline.

    With a virtual clock the line is read at once and time jumps to the deadline; with the
    real clock a reader thread lets the deadline (a timer step, a silence timeout) pass while
    nobody types.
    """

    def __init__(self, clock: Clock, stream: IO[str] | None = None, prompt: bool = False) -> None:
        self.clock = clock
        self.stream = stream or sys.stdin
        self.prompt = prompt
        self._virtual = isinstance(clock, VirtualClock)
        self._lines: "queue.Queue[str | None]" = queue.Queue()
        self._reader: threading.Thread | None = None

    def _read_line(self) -> str | None:
        try:
            line = self.stream.readline()
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        return None if line == "" else line.rstrip("\r\n")

    def _reader_loop(self) -> None:
        while True:
            line = self._read_line()
            self._lines.put(line)
            if line is None:
                return

    def hear(self, context: str, deadline: float | None) -> HearResult:
        if self.prompt:
            print(f"you ({context})> ", end="", flush=True)
        if self._virtual:
            line = self._read_line()
        else:
            if self._reader is None:
                self._reader = threading.Thread(target=self._reader_loop, daemon=True)
                self._reader.start()
            timeout = None if deadline is None else max(0.0, deadline - self.clock.now())
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                if self.prompt:
                    print(flush=True)
                return NothingHeard()
        if line is None:
            return EndOfInput("end of input")
        if not line.strip():
            return NothingHeard()
        return Heard(line.strip())

    def close(self) -> None:
        pass


class PrintMouth:
    """Prints each line as it is 'spoken' (to stderr when stdout carries JSON)."""

    def __init__(self, stream: IO[str] | None = None, prefix: str = "coach: ") -> None:
        self.stream = stream or sys.stdout
        self.prefix = prefix

    def say(self, text: str) -> None:
        try:
            print(f"{self.prefix}{text}", file=self.stream, flush=True)
        except (OSError, ValueError):
            pass

    def set_rate(self, factor: float) -> None:
        pass

    def set_volume(self, level: int) -> None:
        pass    # printed text has no volume; the JSON "volume" action carries the level

    def cue(self, name: str) -> None:
        pass    # nothing audible in text mode; the JSON "cue" object marks the turn

    def close(self) -> None:
        pass


class SilentMouth(PrintMouth):
    def say(self, text: str) -> None:
        pass
