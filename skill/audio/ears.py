"""Voice ears: audio source -> endpointer -> grammar-constrained recogniser -> Heard.

Speculative decoding: when the answer's speech has stopped for a moment (the endpointer's
SpeechPause, 0.2 s into the 0.3 s of trailing silence) a recogniser that can (`speculate()`)
decodes it at once, so the result is ready about when the endpoint is confirmed instead of
~140 ms after it; if the person goes on (SpeechResume) that result is dropped (`resume()`). The gate's
`answer_ready` tells the mouth, for the "done" tone, that the reply can follow at once.

Half-duplex: a HalfDuplexGate shared with the mouth. While the mouth speaks, and for a
short tail after (room echo, output latency), every captured block is dropped, so the
coach never answers its own voice.
"""
from __future__ import annotations

import math
import time
from typing import Callable

from ..clock import Clock
from ..edges import EndOfInput, Heard, HearResult, NothingHeard
from ..recognition.base import Recognizer
from ..recognition.grammar import GrammarError
from .capture import AudioError, DeviceLost
from .endpoint import (EndpointConfig, Endpointer, SpeechAudio, SpeechEnd, SpeechPause, SpeechResume,
                       SpeechStart)
from .sources import AudioSource, EndOfAudio

# How long after the mouth stops the microphone stays deaf.
SPEECH_TAIL_SECONDS = 0.3

Notice = Callable[[str, str], None]   # (kind, message for the person)

NOISE_MESSAGE = ("It is too noisy for me to hear you. Please move somewhere quieter, "
                 "or come closer to the microphone.")


class HalfDuplexGate:
    """Shared by mouth and ears: audio stamped before `muted_until` is thrown away."""

    def __init__(self, tail: float = SPEECH_TAIL_SECONDS) -> None:
        self.tail = tail
        self.muted_until = -math.inf
        # True while the ears report the end of an answer that is already recognised (set
        # around VoiceEars.on_speech_end): the "done" tone then need not fill a wait
        self.answer_ready = False

    def speaking(self) -> None:
        self.muted_until = math.inf

    def done_speaking(self, now: float) -> None:
        self.muted_until = now + self.tail

    def mute_until(self, t: float) -> None:
        self.muted_until = t

    def is_muted(self, t: float) -> bool:
        return t < self.muted_until


class VoiceEars:
    """edges.Ears over an AudioSource and a Recognizer.

    `clock` must tell the same time as the source's block stamps: SystemClock for a
    microphone or a real-time recording, the source's AudioClock with --fast.
    `on_notice(kind, message)` is called for things the person should be told while
    listening goes on: "noise", "device_lost", "device_back".
    `reconnect_seconds`: how long to wait for a lost microphone before ending (a session);
    None waits as long as it takes (`serve`, a service with nobody to restart it).
    """

    def __init__(self, source: AudioSource, recognizer: Recognizer,
                 phrases_for_context: Callable[[str], list[str]], clock: Clock,
                 gate: HalfDuplexGate | None = None, endpoint: EndpointConfig | None = None,
                 on_notice: Notice | None = None, reconnect_seconds: float | None = 15.0,
                 report_unrecognised: bool = True, speculative: bool = True) -> None:
        if recognizer.sample_rate != source.sample_rate:
            raise ValueError(f"source gives {source.sample_rate} Hz, recogniser wants "
                             f"{recognizer.sample_rate} Hz")
        self.source = source
        self.recognizer = recognizer
        self.phrases_for_context = phrases_for_context
        self.clock = clock
        self.gate = gate or HalfDuplexGate()
        self.endpointer = Endpointer(source.sample_rate, endpoint)
        self.on_notice = on_notice
        self.reconnect_seconds = reconnect_seconds
        self.report_unrecognised = report_unrecognised
        # decode during the trailing silence when the recogniser can (see the module doc)
        self.speculative = speculative
        self.last_timing: dict[str, float] = {}   # for benchmarks: endpoint and recognition times
        # called the moment an answer's speech ends, before it is recognised (the runtime
        # starts the "done" earcon here, so the tone overlaps decoding)
        self.on_speech_end: Callable[[], None] | None = None
        self._ended: str | None = None

    # ------------------------------------------------------------------ Ears
    def mute_until(self, t: float) -> None:
        self.gate.mute_until(t)

    def hear(self, context: str, deadline: float | None) -> HearResult:
        if self._ended is not None:
            return EndOfInput(self._ended)
        phrases = self.phrases_for_context(context)
        ep = self.endpointer
        ep.reset()
        in_utterance = False
        speculated = False          # the recogniser holds a result for the audio so far
        spec_seconds: list[float] = []
        while True:
            if not in_utterance and deadline is not None and self.clock.now() >= deadline:
                return NothingHeard()
            wait = None if deadline is None else max(0.0, deadline - self.clock.now())
            if in_utterance:
                wait = 0.5  # the endpointer (or max_utterance) will close it
            try:
                block = self.source.read(min(wait, 0.5) if wait is not None else 0.5)
            except EndOfAudio as end:
                if in_utterance:
                    self._ended = f"the recording ended ({end})"
                    return self._finish("end_of_input", time.perf_counter())
                self._ended = f"the recording ended ({end})"
                return EndOfInput(self._ended)
            except DeviceLost as lost:
                result = self._recover(lost, deadline)
                if result is not None:
                    return result
                ep.reset()
                in_utterance = False
                continue
            if block is None:
                continue
            if self.gate.is_muted(block.t):
                if in_utterance or ep.in_speech:
                    ep.reset()
                    in_utterance = False
                continue
            for ev in ep.process(block.pcm):
                if isinstance(ev, SpeechStart):
                    try:
                        self.recognizer.begin(phrases)
                    except GrammarError as exc:
                        # the engine cannot listen for any phrase of this context (a model
                        # of another language): tell, and end hearing instead of a traceback
                        self._ended = f"I cannot understand any answer here: {exc}."
                        self._notice("grammar", self._ended)
                        return EndOfInput(self._ended)
                    self.recognizer.feed(ev.audio.astype("<i2").tobytes())
                    in_utterance = True
                    speculated = False
                    spec_seconds = []
                elif isinstance(ev, SpeechAudio) and in_utterance:
                    self.recognizer.feed(ev.audio.astype("<i2").tobytes())
                elif isinstance(ev, SpeechPause) and in_utterance:
                    speculate = getattr(self.recognizer, "speculate", None)
                    if self.speculative and speculate is not None:
                        # decoded here, on this thread: PocketSphinx holds the GIL while it
                        # decodes, so another thread would gain nothing; the audio arriving
                        # meanwhile waits in the source's queue
                        t0 = time.perf_counter()
                        speculated = bool(speculate())
                        spec_seconds.append(time.perf_counter() - t0)
                elif isinstance(ev, SpeechResume) and in_utterance:
                    if speculated:
                        self.recognizer.resume()
                        speculated = False
                elif isinstance(ev, SpeechEnd) and in_utterance:
                    in_utterance = False
                    if self.on_speech_end is not None and ev.reason != "max_length":
                        self.gate.answer_ready = speculated
                        try:
                            self.on_speech_end()
                        except Exception:  # noqa: BLE001 - a tone must never cost the answer
                            pass
                        finally:
                            self.gate.answer_ready = False
                    result = self._finish(ev.reason, time.perf_counter(), ev.duration,
                                          speculated, spec_seconds)
                    if result is not None:
                        return result

    def _finish(self, reason: str, t_end: float, duration: float = 0.0, speculated: bool = False,
                spec_seconds: list[float] | None = None) -> Heard | None:
        hyp = self.recognizer.finish()
        self.last_timing = {"recognise_seconds": time.perf_counter() - t_end,
                            "utterance_seconds": duration, "speculated": float(speculated),
                            "speculate_seconds": sum(spec_seconds or []),
                            "speculations": float(len(spec_seconds or []))}
        if reason == "max_length":
            # nobody gives a short answer for max_utterance seconds: it is noise (a grammar
            # recogniser always finds *some* phrase in noise, so its text is not trusted)
            self._notice("noise", NOISE_MESSAGE)
            return None
        if hyp.text:
            return Heard(hyp.text, hyp.confidence)
        if self.report_unrecognised or reason == "end_of_input":
            return Heard("", hyp.confidence)
        return None

    def _recover(self, lost: DeviceLost, deadline: float | None) -> HearResult | None:
        """Tell the person, then try to get the microphone back for a while (or for good)."""
        if self.reconnect_seconds is None:
            self._notice("device_lost", f"{lost} I will wait for it to come back.")
            give_up = math.inf
        else:
            self._notice("device_lost", f"{lost} I will keep trying to reconnect for "
                                        f"{self.reconnect_seconds:.0f} seconds.")
            give_up = time.monotonic() + self.reconnect_seconds
        last_error: AudioError = lost
        while time.monotonic() < give_up:
            try:
                self.source.reopen()
            except AudioError as exc:
                last_error = exc
                time.sleep(1.0)
                continue
            self._notice("device_back", "The microphone is working again.")
            return None
        self._ended = f"The microphone is gone and did not come back. {last_error}"
        return EndOfInput(self._ended)

    @property
    def ended(self) -> str | None:
        """Why hearing has ended for good (recording over, microphone gone), else None."""
        return self._ended

    def forget_end(self) -> None:
        """Listen again after an end caused by a lost microphone (serve: the next session
        starts once the device is back; the idle ears wait for it)."""
        self._ended = None

    def _notice(self, kind: str, message: str) -> None:
        if self.on_notice is not None:
            try:
                self.on_notice(kind, message)
            except Exception:  # noqa: BLE001 - telling must never break listening
                pass

    def close(self) -> None:
        self.source.close()
