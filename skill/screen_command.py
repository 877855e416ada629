"""`run_assistant.py screen`: the red-flag screener on its own, then stop.

Wraps the Screener (which never ends a session itself) in a dialog that ends with
End(summary={"triage": level, "reasons": [...], ...}) once the screener has finished.
No exercise is offered: the outcome is spoken, and that is all.
"""
from __future__ import annotations

import argparse

from .protocol import Action, End, Event
from .screener import Screener


class ScreenDialog:
    """start/handle/end_of_input around one Screener run, for the runtime."""

    def __init__(self, screener: Screener) -> None:
        self.screener = screener
        self._ended = False

    def start(self, now: float) -> list[Action]:
        return self._maybe_end(self.screener.start(now))

    def handle(self, event: Event) -> list[Action]:
        if self._ended:
            return []
        return self._maybe_end(self.screener.handle(event))

    def end_of_input(self, now: float) -> list[Action]:
        """Input is gone: stop the questions (never an ok) and end with what we have."""
        if self._ended:
            return []
        actions = self.screener.end_of_input()
        return self._maybe_end(actions)

    def _maybe_end(self, actions: list[Action]) -> list[Action]:
        if not self.screener.finished or self._ended:
            return actions
        self._ended = True
        o = self.screener.outcome
        summary = {"triage": o.level, "reasons": list(o.reasons), "yes": o.yes, "unknown": o.unknown,
                   "site": o.site, "pregnant": o.pregnant, "ended": o.ended}
        return actions + [End(summary=summary)]


def register(subparsers: argparse._SubParsersAction) -> None:
    from .cli import add_session_options
    p = subparsers.add_parser(
        "screen", help="ask only the red-flag safety questions and say what to do (no exercises)",
        description="The spoken red-flag screener on its own: yes/no questions, then the outcome "
                    "(emergency, urgent, clinician or ok). With --text --json every question emits "
                    '{"type":"ask"} before its listen and the outcome {"type":"triage"}.')
    add_session_options(p)
    p.set_defaults(func=cmd_screen)


def cmd_screen(args: argparse.Namespace) -> int:
    from .cli import StartupError, load_assets, run_dialog
    from .prompts import PromptError
    from .screener import ScreenerDataError, load_questions
    assets = load_assets(args.dialogs, args.seed)
    try:
        questions = load_questions(assets.locale_dir)
    except ScreenerDataError as exc:
        raise StartupError(f"The coach cannot start because a dialog file is broken: {exc}") from None

    def make(a) -> ScreenDialog:
        try:
            return ScreenDialog(Screener(questions, a.prompts, offer_exercise=False))
        except PromptError as exc:
            raise StartupError(f"The coach cannot start because a dialog file is broken: {exc}") from None
    run_dialog(args, assets, make)
    return 0
