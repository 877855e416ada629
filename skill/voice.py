"""Voice mode: assemble microphone (or --audio-in), recogniser and speech (or --audio-out).

Everything that can fail at start-up fails here, with a message printed and, when the
speaker works, spoken — never a traceback.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from .clock import Clock, SystemClock

log = logging.getLogger(__name__)


def _tell(mouth: Any, message: str) -> None:
    print(message, file=sys.stderr, flush=True)
    if mouth is not None:
        try:
            mouth.say(message)
        except Exception:  # noqa: BLE001 - the message is already printed
            pass


def check_vocabulary(recognizer: Any, matcher: Any) -> list[str]:
    """Words of any context's phrases the engine cannot recognise (Vosk drops them silently)."""
    phrases = sorted({p for ctx in matcher.contexts() for p in matcher.phrases(ctx)})
    missing = recognizer.missing_words(phrases) if hasattr(recognizer, "missing_words") else []
    if missing:
        log.warning("the %s model lacks these words: %s", recognizer.name, ", ".join(missing))
    return missing


def make_voice_edges(args: argparse.Namespace, assets: Any) -> tuple[Any, Any, Clock, float]:
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
            mouth = PyttsxMouth(voice=args.voice, wpm=wpm, clock=clock, gate=gate)
    except AudioError as exc:
        raise StartupError(f"The coach cannot speak: {exc}") from None

    try:
        recognizer, notice = open_recognizer(args.engine, args.model)
    except EngineError as exc:
        _tell(mouth, f"I can't listen: {exc}")
        raise StartupError(f"No speech recogniser could start: {exc}") from None
    if notice:
        _tell(mouth, notice)   # once: which engine, and how to get the better one
    missing = check_vocabulary(recognizer, assets.matcher)
    if missing:
        print(f"Note: the {recognizer.name} model does not know these words, so phrases using them "
              f"cannot be recognised: {', '.join(missing)}", file=sys.stderr)

    if source is None:
        try:
            source = MicrophoneSource(args.input_device, recognizer.sample_rate)
        except AudioError as exc:
            _tell(mouth, f"I can't hear you: {exc}")
            err = StartupError(f"No microphone: {exc} Try `run_assistant.py devices`, or --text to type.")
            err.exit_code = EXIT_NO_AUDIO
            raise err from None

    def notice_to_person(kind: str, message: str) -> None:
        _tell(mouth, message)

    ears = VoiceEars(source, recognizer, assets.matcher.phrases, clock, gate=gate,
                     on_notice=notice_to_person)
    return ears, mouth, clock, rejection_threshold(recognizer)
