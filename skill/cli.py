"""Command line: `run_assistant.py [--text] [--json] ...` and its subcommands.

Subcommand modules of other concerns register themselves through `register(subparsers)`;
this module only assembles the session (content, prompts, matcher, dialog, edges) and runs it.
"""
from __future__ import annotations

import argparse
import importlib
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .clock import Clock, SystemClock, VirtualClock
from .config import ConfigError, apply_config, device_spec, rate_option
from .content import Content, ContentError, load_content
from .matcher import Matcher, MatcherError, load_matcher
from .prompts import PromptError, Prompts
from .runtime import EventSink, Runtime
from .vocab import VocabError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOCALE_DIR = ROOT / "dialogs" / "en-us"
EXIT_BAD_DATA = 2
EXIT_NO_AUDIO = 3

# Modules that add subcommands with a `register(subparsers)` function; missing ones are skipped
# so that a partial install (e.g. no audio libraries) still offers the rest.
SUBCOMMAND_MODULES = [
    "skill.screen_command",
    "skill.recognition.commands",
    "skill.audio.commands",
    "skill.history.commands",
    "skill.bench_command",
    "skill.config_command",
    "skill.service",
    "skill.serve_command",
]


class StartupError(Exception):
    """The assistant cannot start; the message says why in plain words."""


@dataclass
class Assets:
    content: Content
    prompts: Prompts
    matcher: Matcher
    locale_dir: Path
    questions: Any  # screener QuestionSet


def routine_phrases(content: Content) -> list[tuple[str, str]]:
    phrases = []
    for routine in content.routines.values():
        for name in (routine.name, *routine.aliases):
            spoken = name.replace("-", " ")
            phrases.append((f"[the] {spoken} [routine|one|please]", routine.id))
    return phrases


def load_assets(locale_dir: Path, seed: int | None = None) -> Assets:
    """Everything spoken and understood, validated: refuse to start on broken data."""
    from .screener import ScreenerDataError, load_questions
    try:
        content = load_content(locale_dir)
        prompts = Prompts.load(locale_dir / "prompts", rng=random.Random(seed))
        matcher = load_matcher(locale_dir, {"routine": routine_phrases(content)})
        questions = load_questions(locale_dir)
    except (ContentError, PromptError, MatcherError, VocabError, ScreenerDataError) as exc:
        raise StartupError(f"The coach cannot start because a dialog file is broken: {exc}") from None
    return Assets(content, prompts, matcher, locale_dir, questions)


def hints_of(matcher: Matcher) -> dict[str, tuple[str, ...]]:
    return {ctx: matcher.hints(ctx) for ctx in matcher.contexts()}


def add_session_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("session")
    g.add_argument("--config", metavar="FILE", type=Path, default=None,
                   help="settings file (default: $VOICE_COACH_CONFIG, else $XDG_CONFIG_HOME/voice-coach/"
                        "config.toml); the command line overrides it, see `run_assistant.py config`")
    g.add_argument("--text", action="store_true", help="type what you would say; the coach's lines are printed")
    g.add_argument("--json", action="store_true",
                   help="with --text: print one JSON object per action on stdout (say, listen, state, end...)")
    g.add_argument("--fast", action="store_true",
                   help="virtual clock: timers complete at once (scripts and tests); with --audio-in, "
                        "stream the file faster than real time")
    g.add_argument("--events", metavar="FILE", type=Path, help="append every action as a JSON line to FILE")
    g.add_argument("--seed", type=int, default=None, help="seed for choosing among phrasings (repeatable runs)")
    g.add_argument("--dialogs", metavar="DIR", type=Path, default=DEFAULT_LOCALE_DIR,
                   help="locale folder with prompts, vocab, exercises (default: dialogs/en-us)")
    g.add_argument("--data-dir", metavar="DIR", type=Path, default=None,
                   help="where the session history is kept (default: $XDG_DATA_HOME/voice-coach)")
    g.add_argument("--no-history", action="store_true", help="neither read nor save the session history")
    v = parser.add_argument_group("voice (when --text is not given)")
    v.add_argument("--engine", choices=["auto", "vosk", "pocketsphinx"], default="auto",
                   help="speech recogniser (auto: Vosk when a model is present, else PocketSphinx)")
    v.add_argument("--model", metavar="PATH", type=Path, help="Vosk model folder (or VOSK_MODEL_PATH)")
    v.add_argument("--input-device", metavar="DEV", type=device_spec,
                   help="microphone: index or name (see `devices`)")
    v.add_argument("--output-device", metavar="DEV", type=device_spec,
                   help="speaker: index or name (see `devices`)")
    v.add_argument("--audio-in", metavar="FILE.wav", type=Path, help="use a recording as the microphone")
    v.add_argument("--audio-out", metavar="FILE.wav", type=Path, help="write everything said to a WAV instead of playing it")
    v.add_argument("--rate", type=rate_option, default=None,
                   help="speaking rate in words per minute, 80 to 400 (default: the voice's)")
    v.add_argument("--voice", default=None, help="TTS voice id or name (e.g. en-us, en-gb)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_assistant.py",
        description="Offline voice exercise coach for low back and hip pain. With no subcommand, runs a "
                    "coaching session: by voice (microphone and speaker), or typed with --text.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n"
               "  run_assistant.py                      talk to the coach (microphone + speaker)\n"
               "  run_assistant.py --text               type instead of speaking\n"
               "  run_assistant.py --text --json --fast scripted: JSON actions out, virtual clock\n"
               "  run_assistant.py exercises            list routines and exercises\n"
               "  run_assistant.py diagram --format mermaid\n")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_session_options(parser)
    s = parser.add_argument_group("coaching")
    s.add_argument("--routine", help="start this routine without asking (id from `exercises`)")
    s.add_argument("--skip-screener", action="store_true",
                   help="do not ask the safety questions first (only for demos and tests: the coach says so)")
    parser.set_defaults(func=cmd_session)

    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("exercises", help="list routines and their exercises")
    p.add_argument("--dialogs", metavar="DIR", type=Path, default=DEFAULT_LOCALE_DIR)
    p.set_defaults(func=cmd_exercises)
    p = sub.add_parser("diagram", help="export the session state machine (Mermaid, Graphviz DOT, or a picture)")
    p.add_argument("--format", choices=["mermaid", "dot", "svg", "png"], default="mermaid")
    p.add_argument("--out", type=Path, help="write to FILE (svg/png need Graphviz's `dot`)")
    p.add_argument("--machine", choices=["session", "screener"], default="session")
    p.set_defaults(func=cmd_diagram)
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (exc.name == name or name.startswith(exc.name + ".") or exc.name.startswith(name)):
                continue  # that concern is not part of this install
            raise
        module.register(sub)
    _keep_options_given_before_the_command(parser)
    return parser


def _keep_options_given_before_the_command(parser: argparse.ArgumentParser) -> None:
    """`run_assistant.py --rate 150 serve`: a subcommand that repeats a top-level option would
    overwrite its value with the subcommand's default (argparse copies every subparser default
    over the namespace). Without a default there, the top-level value (given or default) stays,
    and one typed after the subcommand still wins. `config` is left alone: it resolves the
    settings itself and reads its own options' None defaults as "not typed"."""
    top = {a.dest for a in parser._actions if a.option_strings and a.default is not argparse.SUPPRESS}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if sub.get_default("reads_config_itself"):
                    continue
                for option in sub._actions:
                    if option.option_strings and option.dest in top:
                        option.default = argparse.SUPPRESS


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        apply_config(parser, args, argv)   # config file and environment, under the command line
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    except StartupError as exc:
        print(str(exc), file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_BAD_DATA)
    except KeyboardInterrupt:
        print("\nStopped.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`... | head`): stop quietly, as other command-line tools do
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


# ---------------------------------------------------------------------- session
def make_edges(args: argparse.Namespace, assets: Assets) -> tuple[Any, Any, Clock, float]:
    """Ears, mouth, clock and rejection threshold for the chosen mode."""
    if args.text:
        from .text_io import PrintMouth, TextEars
        clock: Clock = VirtualClock() if args.fast else SystemClock()
        mouth = PrintMouth(sys.stderr if args.json else sys.stdout)
        ears = TextEars(clock, prompt=sys.stdin.isatty() and not args.json)
        return ears, mouth, clock, 0.0
    from .voice import make_voice_edges  # imported only for voice: needs audio libraries
    return make_voice_edges(args, assets)


def open_sink(args: argparse.Namespace) -> EventSink:
    streams = []
    if getattr(args, "json", False):
        streams.append(sys.stdout)
    if getattr(args, "events", None):
        try:
            streams.append(open(args.events, "a", encoding="utf-8"))
        except OSError as exc:
            raise StartupError(f"Cannot write the events file {args.events}: {exc.strerror}") from None
    return EventSink(streams)


def run_dialog(args: argparse.Namespace, assets: Assets, make_dialog: Callable[[Assets], Any],
               listeners: list[Callable[[dict], None]] | None = None,
               edges: tuple[Any, Any, Clock, float] | None = None) -> dict | None:
    """One dialog from start to end. With `edges` given (ears, mouth, clock, threshold) they
    belong to the caller (e.g. `serve`, which keeps the microphone open between sessions)."""
    sink = open_sink(args)
    sink.listeners.extend(listeners or [])
    own_edges = edges is None
    ears, mouth, clock, min_conf = make_edges(args, assets) if own_edges else edges
    try:
        try:
            dialog = make_dialog(assets)
        except PromptError as exc:
            raise StartupError(f"The coach cannot start because a dialog file is broken: {exc}") from None
        return Runtime(dialog, ears, mouth, assets.matcher, clock, sink, min_conf).run()
    finally:
        if own_edges:
            ears.close()
            mouth.close()


Report = Callable[[str], None]


def print_report(message: str) -> None:
    """Interactive runs: a problem that does not stop the session is printed for the person."""
    print(message, file=sys.stderr)


@dataclass
class SessionPlan:
    """What a coaching session needs besides its edges: the dialog factory, the listeners
    that keep its records, and what to close afterwards."""
    make_dialog: Callable[[Assets], Any]
    listeners: list[Callable[[dict], None]]
    close: Callable[[], None]


def prepare_session(args: argparse.Namespace, assets: Assets, report: Report = print_report) -> SessionPlan:
    """Recall the history and build the coach's dialog factory (shared by the plain session
    and `serve`, which runs one of these after each wake phrase). Problems that do not stop
    the session (history or settings unavailable) go to `report`: printed by default, logged
    by `serve` (journal priorities)."""
    from .coach import CoachSession, SessionOptions
    from .memory import HistoryRecorder, Recollection, recall
    routine = getattr(args, "routine", None)
    if routine and routine not in assets.content.routines:
        raise StartupError(f"Unknown routine {routine!r}. Known: {', '.join(sorted(assets.content.routines))}")
    store = None
    recollection = Recollection()
    prefs_recorder = None
    options = _initial_preferences(args)
    if not getattr(args, "no_history", False):
        from .history.store import default_data_dir
        data_dir = getattr(args, "data_dir", None) or default_data_dir()
        recollection, store = recall(data_dir, assets.content)
        if recollection.unavailable:
            report(f"History unavailable: {recollection.unavailable}")
        options, prefs_recorder = _load_preferences(data_dir, options, report)

    def current_preferences() -> dict[str, Any]:
        # the latest saved values, should one plan run several sessions (serve)
        if prefs_recorder is None:
            return options
        return {**options, "detail": prefs_recorder.prefs.detail, "volume": prefs_recorder.prefs.volume}

    def make(a: Assets) -> CoachSession:
        screener = None
        if not getattr(args, "skip_screener", False):
            screener = _screener_factory(a)
            if recollection.screener_due == "daily":
                from .daily_check import DailyCheck
                full = screener
                screener = lambda: DailyCheck(a.prompts, full, pregnant=recollection.pregnant)  # noqa: E731
        return CoachSession(a.content, a.prompts, hints_of(a.matcher),
                            SessionOptions(routine=routine, recollection=recollection, **current_preferences()),
                            screener=screener, pain_check=_pain_check_factory(a))

    listeners: list[Callable[[dict], None]] = [HistoryRecorder(store)] if store is not None else []
    if prefs_recorder is not None:
        listeners.append(prefs_recorder)
    return SessionPlan(make, listeners, store.close if store is not None else (lambda: None))


def _initial_preferences(args: argparse.Namespace) -> dict[str, Any]:
    """Detail and volume before any saved preference: the config's (or built-in) defaults."""
    from .preferences import Preferences
    prefs = Preferences().updated({"detail": getattr(args, "detail", None), "volume": getattr(args, "volume", None)})
    return {"detail": prefs.detail, "volume": prefs.volume}


def _load_preferences(data_dir: Path, options: dict[str, Any], report: Report) -> tuple[dict[str, Any], Any]:
    """Saved detail/volume over `options`, and the listener that saves changes. A damaged or
    unwritable file is reported and the session goes on with what it has."""
    from .preferences import PreferenceRecorder, Preferences, check_writable, load_preferences
    prefs, problem = load_preferences(data_dir, Preferences(**options))
    if problem:
        report(f"Settings: {problem}")
    unsaved = check_writable(data_dir)
    if unsaved:
        report(f"Settings cannot be saved: {unsaved}")
    return ({"detail": prefs.detail, "volume": prefs.volume, "preferences_unsaved": unsaved},
            PreferenceRecorder(data_dir, prefs))


def cmd_session(args: argparse.Namespace) -> int:
    assets = load_assets(args.dialogs, args.seed)
    plan = prepare_session(args, assets)
    try:
        run_dialog(args, assets, plan.make_dialog, listeners=plan.listeners)
    finally:
        plan.close()
    return 0


def _screener_factory(assets: Assets) -> Callable[[], Any]:
    from .screener import Screener
    return lambda: Screener(assets.questions, assets.prompts)


def _pain_check_factory(assets: Assets) -> Callable[[], Any]:
    from .safety import PainCheck
    # numbness/weakness answers re-ask the screener's nerve questions
    return lambda: PainCheck(assets.prompts, assets.questions)


# ---------------------------------------------------------------------- listings
def cmd_exercises(args: argparse.Namespace) -> int:
    assets = load_assets(args.dialogs)
    content = assets.content
    for routine in sorted(content.routines.values(), key=lambda r: (not r.default, r.id)):
        flags = [f for f, on in (("default", routine.default), ("pregnancy-safe", routine.pregnancy_safe),
                                 ("gentle", routine.gentle)) if on]
        print(f"{routine.name} [{routine.id}]{' (' + ', '.join(flags) + ')' if flags else ''}: {routine.description}")
        print(f"  say: {', '.join(routine.aliases)}")
        for ex in content.exercises_of(routine.id):
            dose = f"{ex.reps} reps" if ex.kind == "reps" else f"{ex.hold_seconds} s hold"
            sides = {"each": ", each side", "alternating": ", alternating", "none": ""}[ex.sides]
            print(f"  - {ex.name} [{ex.id}]: {ex.sets} x {dose}{sides}, rest {ex.rest_seconds} s")
    unused = sorted(set(content.exercises) - {e for r in content.routines.values() for e in r.exercise_ids})
    if unused:
        print("not in any routine: " + ", ".join(unused))
    return 0


def cmd_diagram(args: argparse.Namespace) -> int:
    from .diagram import render
    return render(args.machine, args.format, args.out)
