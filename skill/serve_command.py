"""`run_assistant.py serve`: smart-speaker mode. Idle, listening only for a wake phrase
("hey coach", "start my exercises", or --wake-phrase); on it, run one coaching session on
the same microphone and speaker; then idle again. Runs until Ctrl-C or SIGTERM (systemd).

The microphone and recogniser are opened once (make_voice_edges) and shared: the idle
ears put a WakeRecognizer (skill/wake.py) on the session's audio source and half-duplex
gate. A microphone that disappears while idle is waited for as long as it takes; during a
session the session's own rule holds (15 s, then the session ends and is saved), and the
idle ears then wait for the device. Everything goes to the log, nothing is print()ed.
"""
from __future__ import annotations

import argparse
import logging
import signal
import time
from typing import Any, Callable

from .edges import EndOfInput, Heard

log = logging.getLogger(__name__)
WAKE_CONTEXT = "wake"


class ServeStopped(BaseException):
    """SIGTERM (or SIGINT) asked serve to stop. A BaseException, like KeyboardInterrupt: the
    signal can land inside any `except Exception` guard (a notice, a tone, a device rescan),
    which must not swallow it."""


def register(subparsers) -> None:  # noqa: ANN001 - argparse's private subparsers type
    from .cli import add_session_options
    p = subparsers.add_parser(
        "serve", help="smart-speaker mode: wait for \"hey coach\", coach a session, wait again",
        description="Listen all day for the wake phrase; each time it is heard, run a coaching "
                    "session. Stops on Ctrl-C or SIGTERM.")
    add_session_options(p)
    p.add_argument("--wake-phrase", default=None,
                   help="the phrase that starts a session (default: \"hey coach\" or \"start my "
                        "exercises\", from dialogs/<locale>/wake.voc)")
    p.add_argument("--routine", help="start this routine without asking (id from `exercises`)")
    p.add_argument("--skip-screener", action="store_true",
                   help="do not ask the safety questions first (only for demos and tests)")
    p.add_argument("--verbose", action="store_true", help="debug logging (each wake candidate)")
    p.set_defaults(func=cmd_serve)


def _configure_logging(verbose: bool) -> None:
    try:
        from .logs import configure_logging
        configure_logging(service=True, verbose=verbose)
    except ImportError:   # a partial install: plain logging on stderr
        logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the state machine library logs every callback at info: that would drown the journal
    logging.getLogger("transitions").setLevel(logging.DEBUG if verbose else logging.WARNING)


def _stop_on_sigterm() -> Callable[[], None]:
    """SIGTERM raises ServeStopped in the main loop (wherever it is blocked); returns an undo."""
    def handler(signum: int, frame: Any) -> None:  # noqa: ARG001
        raise ServeStopped(signal.Signals(signum).name)
    old = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, old)


def cmd_serve(args: argparse.Namespace) -> int:
    from .cli import EXIT_BAD_DATA, StartupError, load_assets, open_sink
    from .wake import WakeError, WakeRecognizer, load_wake_phrases
    _configure_logging(getattr(args, "verbose", False))
    if args.text:
        raise StartupError("serve listens for a spoken wake phrase: it has no --text mode. "
                           "Run the session with --text instead.")
    assets = load_assets(args.dialogs, args.seed)
    try:
        phrases = load_wake_phrases(args.dialogs, args.wake_phrase)
    except WakeError as exc:
        raise StartupError(str(exc)) from None
    from .voice import make_voice_edges
    undo_early = _stop_on_sigterm()
    try:
        # a service may start before its USB microphone is there (boot, unplugged): wait for it
        ears, mouth, clock, threshold = make_voice_edges(
            args, assets, service=True, extra_words=" ".join(phrases).split(),
            wait_for_microphone=None if args.audio_in else _wait_for_microphone)
    except (ServeStopped, KeyboardInterrupt) as exc:
        log.info("stopping while waiting for a microphone (%s)", exc)
        return 0
    finally:
        undo_early()
    try:
        try:
            # one PocketSphinx for both: idle and session never decode at the same time, and
            # each decoder pair costs ~100 MB (BENCHMARKS.md section 5)
            shared = ears.recognizer if getattr(ears.recognizer, "name", "") == "pocketsphinx" else None
            wake = WakeRecognizer(phrases, args.dialogs, engine=shared)
        except WakeError as exc:
            # said plainly; the word the recogniser lacks is in the error, logged below
            from .voice import prompt_text
            mouth.say(prompt_text(assets.prompts, "wake_phrase_unusable") or str(exc))
            err = StartupError(str(exc))
            err.exit_code = EXIT_BAD_DATA
            raise err from None
        server = Server(args, assets, ears, mouth, clock, threshold, wake, phrases, open_sink(args))
        undo = _stop_on_sigterm()
        try:
            server.run()
        except (ServeStopped, KeyboardInterrupt) as exc:
            log.info("stopping (%s)", exc.__class__.__name__ if not str(exc) else exc)
        finally:
            undo()
    finally:
        ears.close()
        mouth.close()
    return 0


MICROPHONE_RETRY_SECONDS = 5.0


def _wait_for_microphone(error: Exception, attempt: int) -> bool:
    """No microphone at start: log it once, then look again every few seconds, for good."""
    from .audio.capture import rescan_devices
    if attempt == 0:
        log.warning("no microphone (%s); waiting for one, looking every %.0f s", error,
                    MICROPHONE_RETRY_SECONDS)
    time.sleep(MICROPHONE_RETRY_SECONDS)
    rescan_devices()          # PortAudio's device list is fixed until it re-initialises
    return True


class Server:
    """The idle -> session -> idle loop over caller-owned edges."""

    def __init__(self, args: argparse.Namespace, assets: Any, ears: Any, mouth: Any, clock: Any,
                 threshold: float, wake: Any, phrases: list[str], sink: Any,
                 run_session: Callable[[], Any] | None = None) -> None:
        from .audio.ears import VoiceEars
        self.args, self.assets, self.ears, self.mouth = args, assets, ears, mouth
        self.clock, self.threshold, self.phrases, self.sink = clock, threshold, phrases, sink
        self.wake = wake
        self.idle_ears = VoiceEars(ears.source, wake, lambda _ctx: phrases, clock, gate=ears.gate,
                                   on_notice=self._idle_notice, reconnect_seconds=None,
                                   report_unrecognised=False)
        self.run_session = run_session or self._coaching_session
        self.sessions = 0

    def _idle_notice(self, kind: str, message: str) -> None:
        if kind == "noise":
            # a television or a vacuum cleaner while idle: not worth a spoken complaint
            log.debug("idle: long noise ignored")
            return
        log.warning("%s", message)
        from .voice import spoken_notice
        try:
            # "I've lost the microphone... I'll wait": plain words; the device's error is logged
            self.mouth.say(spoken_notice(self.assets.prompts, kind, message, None))
        except Exception as exc:  # noqa: BLE001 - the speaker may be on the same USB hub
            log.warning("could not say it: %s", exc)

    def _say(self, prompt: str) -> None:
        text = self.assets.prompts.text(prompt, wake=self.phrases[0])
        self.sink.emit({"type": "say", "text": text, "prompt": prompt})
        self.mouth.say(text)

    def run(self) -> None:
        log.info("serving: say %s", " or ".join(repr(p) for p in self.phrases))
        self._say("serve_ready")
        while True:
            heard = self.idle_ears.hear(WAKE_CONTEXT, None)
            if isinstance(heard, EndOfInput):
                log.info("input ended: %s", heard.reason)
                return
            if not isinstance(heard, Heard) or not heard.text:
                log.debug("not a wake phrase: %s", self.wake.last_measures)
                continue
            log.info("wake phrase %r heard (confidence %.2f) at %.2f", heard.text,
                     heard.confidence or 0.0, self.clock.now())
            self.sink.emit({"type": "wake", "phrase": heard.text, "confidence": heard.confidence})
            self.sink.emit({"type": "cue", "cue": "done"})
            cue = getattr(self.mouth, "cue", None)
            if cue is not None:
                cue("done")           # "heard you": the same tone as after an answer
            self._say("serve_wake")
            started = time.monotonic()
            self.run_session()
            self.sessions += 1
            log.info("session %d over after %.0f s", self.sessions, time.monotonic() - started)
            ended = getattr(self.ears, "ended", None)
            if ended:
                if getattr(self.ears.source, "reopen", None) is None or _is_recording(self.ears.source):
                    log.info("input ended during the session: %s", ended)
                    return
                # the microphone went away mid-session: the idle ears wait for it to return
                log.warning("the microphone was lost during the session: %s", ended)
                self.ears.forget_end()
                continue
            self._say("serve_again")

    def _coaching_session(self) -> Any:
        from .cli import prepare_session, run_dialog
        # a service has no one reading stderr: its notices go to the journal, with a priority
        plan = prepare_session(self.args, self.assets, report=log.warning)
        try:
            return run_dialog(self.args, self.assets, plan.make_dialog, plan.listeners,
                              edges=(self.ears, self.mouth, self.clock, self.threshold))
        finally:
            plan.close()


def _is_recording(source: Any) -> bool:
    from .audio.sources import WavFileSource
    return isinstance(source, WavFileSource)
