"""Voice mode: assemble microphone (or --audio-in), recogniser and speech (or --audio-out).

Everything that can fail at start-up fails here, with a message printed and, when the
speaker works, spoken — never a traceback.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Callable, Iterable

from .clock import Clock, SystemClock

log = logging.getLogger(__name__)


def _tell(mouth: Any, message: str, service: bool = False, spoken: str | None = None) -> None:
    """Print (or log) `message`; say `spoken`, or the message itself when not given."""
    if service:
        log.warning("%s", message)   # serve: the log (journal) is the record, not stdout/stderr prints
    else:
        print(message, file=sys.stderr, flush=True)
    if mouth is not None:
        try:
            mouth.say(spoken or message)
        except Exception:  # noqa: BLE001 - the message is already printed
            pass


def check_vocabulary(recognizer: Any, matcher: Any) -> list[str]:
    """Words of any context's phrases the engine cannot recognise (Vosk drops them silently)."""
    phrases = sorted({p for ctx in matcher.contexts() for p in matcher.phrases(ctx)})
    missing = recognizer.missing_words(phrases) if hasattr(recognizer, "missing_words") else []
    if missing:
        log.warning("the %s model lacks these words: %s", recognizer.name, ", ".join(missing))
    return missing


def make_voice_edges(args: argparse.Namespace, assets: Any,
                     service: bool = False, extra_words: Iterable[str] = (),
                     wait_for_microphone: Callable[[Exception, int], bool] | None = None,
                     ) -> tuple[Any, Any, Clock, float]:
    """Ears, mouth, clock and rejection threshold. `service` (serve): messages are logged
    instead of printed. `extra_words`: words recognised besides the contexts' (wake phrases).
    `wait_for_microphone(error, attempt)`: called when no microphone opens; returning True
    tries again (a speaker that boots before its USB microphone), False gives up."""
    from .audio.capture import AudioError
    from .audio.ears import HalfDuplexGate, VoiceEars
    from .audio.sources import MicrophoneSource, WavFileSource
    from .audio.tts import DEFAULT_WPM, PyttsxMouth, WavOutMouth
    from .cli import EXIT_NO_AUDIO, StartupError
    from .recognition.engines import EngineError, open_recognizer, rejection_threshold

    gate = HalfDuplexGate()
    wpm = args.rate or DEFAULT_WPM
    source = None
    clock: Clock = SystemClock()
    if args.audio_in:
        try:
            source = WavFileSource(args.audio_in, 16000, fast=args.fast)
        except AudioError as exc:
            raise StartupError(f"Cannot use {args.audio_in} as the microphone: {exc}") from None
        if args.fast and source.clock is not None:
            clock = source.clock
    mouth = None
    try:
        if args.audio_out:
            mouth = WavOutMouth(args.audio_out, clock, voice=args.voice, wpm=wpm, gate=gate)
        else:
            mouth = PyttsxMouth(voice=args.voice, wpm=wpm, clock=clock, gate=gate,
                                output_device=getattr(args, "output_device", None))
    except AudioError as exc:
        raise StartupError(f"The coach cannot speak: {exc}") from None

    try:
        # the contexts' phrases: PocketSphinx loads only their words; a Vosk model that
        # cannot recognise a whole context (another language) is replaced by PocketSphinx
        phrase_sets = {ctx: assets.matcher.phrases(ctx) for ctx in assets.matcher.contexts()}
        vocabulary = {w for ps in phrase_sets.values() for p in ps for w in p.split()} | set(extra_words)
        recognizer, notice = open_recognizer(args.engine, args.model, vocabulary=vocabulary,
                                             phrase_sets=phrase_sets)
    except EngineError as exc:
        _tell(mouth, f"I can't listen: {exc}", service)
        raise StartupError(f"No speech recogniser could start: {exc}") from None
    if notice:
        # once: which engine, and how to get the better one. Printed in full; said in its
        # short form (the full text read aloud kept the first question ~20 s away)
        prompt = getattr(notice, "prompt", None)
        spoken = assets.prompts.text(prompt) if prompt and prompt in assets.prompts else None
        _tell(mouth, notice, service, spoken=spoken)
    missing = check_vocabulary(recognizer, assets.matcher)
    if missing and not service:   # (serve: check_vocabulary has logged it)
        print(f"Note: the {recognizer.name} model does not know these words, so phrases using them "
              f"cannot be recognised: {', '.join(missing)}", file=sys.stderr)

    attempt = 0
    while source is None:
        try:
            source = MicrophoneSource(args.input_device, recognizer.sample_rate)
        except AudioError as exc:
            if attempt == 0:      # said once, not at every retry
                _tell(mouth, f"I can't hear you: {exc}", service)
            if wait_for_microphone is None or not wait_for_microphone(exc, attempt):
                err = StartupError(f"No microphone: {exc} Try `run_assistant.py devices`, or --text to type.")
                err.exit_code = EXIT_NO_AUDIO
                raise err from None
            attempt += 1
            continue
        if attempt:
            _tell(mouth, "The microphone is working now.", service)

    def notice_to_person(kind: str, message: str) -> None:
        _tell(mouth, message, service)

    ears = VoiceEars(source, recognizer, assets.matcher.phrases, clock, gate=gate,
                     on_notice=notice_to_person)
    return ears, mouth, clock, rejection_threshold(recognizer)
