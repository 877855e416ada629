"""Voice mode: assemble microphone (or --audio-in), recogniser and speech (or --audio-out).

Everything that can fail at start-up fails here, with a message printed and, when the
speaker works, spoken — never a traceback. What is printed (or logged) has the technical
detail (the device's error, a path); what is spoken is a short plain sentence from
dialogs/<locale>/prompts/ saying what happens next: a person who cannot see a screen
cannot act on "PortAudioError -9996" read aloud.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from .clock import Clock, SystemClock

log = logging.getLogger(__name__)

# the ears' notices (VoiceEars.on_notice kinds) and the prompt each is said with
NOTICE_PROMPTS = {"noise": "too_noisy", "device_back": "microphone_back",
                  "grammar": "cannot_understand_here"}


def _tell(mouth: Any, message: str, service: bool = False, spoken: str | None = None) -> bool:
    """Print (or log) `message`; say `spoken`, or the message itself when not given.
    True when it was said."""
    if service:
        log.warning("%s", message)   # serve: the log (journal) is the record, not stdout/stderr prints
    else:
        print(message, file=sys.stderr, flush=True)
    if mouth is not None:
        try:
            mouth.say(spoken or message)
            return True
        except Exception:  # noqa: BLE001 - the message is already printed
            pass
    return False


def _close(mouth: Any) -> None:
    """Giving up at start: the mouth is done (its last words written out, espeak released)."""
    try:
        mouth.close()
    except Exception:  # noqa: BLE001 - the reason for giving up is already printed
        pass


def prompt_text(prompts: Any, prompt_id: str, **slots: object) -> str | None:
    """The prompt's text, or None when the locale has no such .dialog file (a custom
    --dialogs folder): the caller then says its printed message, as before."""
    if prompts is None or prompt_id not in prompts:
        return None
    return prompts.text(prompt_id, **slots)


def spoken_notice(prompts: Any, kind: str, message: str,
                  reconnect_seconds: float | None = None) -> str:
    """What to say for an ears' notice (`kind`, printed `message`): the plain sentence from
    dialogs/, never the device's error text. `reconnect_seconds`: how long the ears keep
    trying for a lost microphone (None: as long as it takes)."""
    if kind == "device_lost":
        if reconnect_seconds is None:
            text = prompt_text(prompts, "microphone_lost_wait")
        else:
            text = prompt_text(prompts, "microphone_lost_retry", seconds=f"{reconnect_seconds:.0f}")
    else:
        prompt = NOTICE_PROMPTS.get(kind)
        text = prompt_text(prompts, prompt) if prompt else None
    return text or message


def notice_data_dir(args: argparse.Namespace) -> Path | None:
    """Where what was said about the engine is kept: the data dir, as for the preferences;
    None with --no-history (nothing read or saved: the notice is said at every start)."""
    if getattr(args, "no_history", False):
        return None
    from .history.store import default_data_dir
    return Path(getattr(args, "data_dir", None) or default_data_dir())


def tell_engine_notice(mouth: Any, notice: Any, prompts: Any, data_dir: Path | None,
                       service: bool = False) -> bool:
    """Print (or log) the engine notice in full, every time; say its short form only when
    it is news: never said before, or the notice (engine, model, reason for a fallback) has
    changed since it was last said (skill/engine_memory.py). A damaged or unwritable memory
    file is reported in print/log and the notice said; nothing extra is spoken. True when said."""
    from .engine_memory import last_said, remember_said
    news = True
    if data_dir is not None:
        before, problem = last_said(data_dir)
        if problem:
            _tell(None, f"Note: {problem}; the recogniser notice is said again.", service)
        news = before != str(notice)
    if not news:
        # heard before: only the record (a person hearing it every morning learns nothing);
        # in the journal at info, since nothing new is wrong
        if service:
            log.info("%s", notice)
        else:
            _tell(None, notice, service)
        return False
    prompt = getattr(notice, "prompt", None)
    said = _tell(mouth, notice, service, spoken=prompt_text(prompts, prompt) if prompt else None)
    if said and data_dir is not None:
        problem = remember_said(data_dir, str(notice), prompt)
        if problem:
            _tell(None, f"Note: {problem}; the recogniser notice will be said again next time.", service)
    return said


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
    from .audio.ears import HalfDuplexGate
    from .audio.sources import WavFileSource
    from .audio.tts import DEFAULT_WPM, PyttsxMouth, WavOutMouth
    from .cli import StartupError

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
        return _open_ears(args, assets, service, extra_words, wait_for_microphone,
                          source, clock, gate, mouth)
    except BaseException:
        # every way out closes the mouth (its espeak folder, its --audio-out file), a signal
        # too: SIGTERM while serve waits for its microphone raises in there
        _close(mouth)
        raise


def _open_ears(args: argparse.Namespace, assets: Any, service: bool, extra_words: Iterable[str],
               wait_for_microphone: Callable[[Exception, int], bool] | None, source: Any,
               clock: Clock, gate: Any, mouth: Any) -> tuple[Any, Any, Clock, float]:
    """make_voice_edges after the mouth: the recogniser, then the microphone (`source`, unless
    a recording is given). The caller closes the mouth when this raises."""
    from .audio.capture import AudioError
    from .audio.ears import VoiceEars
    from .audio.sources import MicrophoneSource
    from .cli import EXIT_NO_AUDIO, StartupError
    from .recognition.engines import EngineError, open_recognizer, rejection_threshold

    try:
        # the contexts' phrases: PocketSphinx loads only their words; a Vosk model that
        # cannot recognise a whole context (another language) is replaced by PocketSphinx
        phrase_sets = {ctx: assets.matcher.phrases(ctx) for ctx in assets.matcher.contexts()}
        vocabulary = {w for ps in phrase_sets.values() for p in ps for w in p.split()} | set(extra_words)
        recognizer, notice = open_recognizer(args.engine, args.model, vocabulary=vocabulary,
                                             phrase_sets=phrase_sets)
    except EngineError as exc:
        _tell(mouth, f"I can't listen: {exc}", service,
              spoken=prompt_text(assets.prompts, "recogniser_failed"))
        raise StartupError(f"No speech recogniser could start: {exc}") from None
    if notice:
        # which engine, and how to get the better one. Printed in full at every start; said
        # in its short form (the full text read aloud kept the first question ~20 s away),
        # and only when it is news. serve: decided once per process start, here
        tell_engine_notice(mouth, notice, assets.prompts, notice_data_dir(args), service)
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
                what_next = "microphone_missing_wait" if wait_for_microphone else "microphone_missing_stop"
                _tell(mouth, f"I can't hear you: {exc}", service,
                      spoken=prompt_text(assets.prompts, what_next))
            if wait_for_microphone is None or not wait_for_microphone(exc, attempt):
                err = StartupError(f"No microphone: {exc} Try `run_assistant.py devices`, or --text to type.")
                err.exit_code = EXIT_NO_AUDIO
                raise err from None
            attempt += 1
            continue
        if attempt:
            _tell(mouth, "The microphone is working now.", service,
                  spoken=prompt_text(assets.prompts, "microphone_back"))

    def notice_to_person(kind: str, message: str) -> None:
        # printed in full (the device's name and error); said plainly, with what happens next
        _tell(mouth, message, service,
              spoken=spoken_notice(assets.prompts, kind, message, ears.reconnect_seconds))

    ears = VoiceEars(source, recognizer, assets.matcher.phrases, clock, gate=gate,
                     on_notice=notice_to_person)
    return ears, mouth, clock, rejection_threshold(recognizer)
