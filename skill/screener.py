"""The spoken red-flag screener: yes/no questions, one at a time, before any coaching.

Pure dialog logic: `start(now)` and `handle(event)` return actions; nothing here does I/O.
The questions and their levels live in `dialogs/<locale>/screener.toml`; what is said
around them lives in `prompts/screener_*.dialog`; the outcome comes from `skill.triage`.

Safety rules this module keeps:
- An answer that is not clearly yes or no (a rejected phrase, silence, any other intent)
  is asked again in other words; after MAX_TRIES unclear tries the question counts as
  "unknown", and any unknown keeps the outcome at `clinician` or above. Silence is an
  unclear try, never an answer; so is "I don't know" (intent `unsure`), which is answered
  with the question's explanation instead of its rephrasing.
- A partial yes to a red-flag question ("a little", "sometimes"; intent `partial_yes`) is
  clinically a yes: the screener says that even a little counts as a yes and asks the same
  question again; if the tries run out after a partial yes, the answer is yes, never unknown.
  A doubtful no ("I don't think so", "not really"; `leaning_no`) gets the same words and is
  otherwise an unclear try: never a no.
- An answer that makes the outcome `emergency` ends the questions at once with the advice.
  Questions are also no longer asked once no answer to them could change the level.
- After MAX_UNKNOWN unknown answers the voice channel is not working well enough for a
  long questionnaire: only the questions that can still reveal an emergency are asked,
  then the screener ends without offering exercise.
- `ok` needs a clear no to every question asked, and a clear yes to the read-back.
- The outcome says what to do and that this is not a diagnosis. The screener never ends
  the session (no End action): the caller decides what follows.
- "Where am I?" says how far the questions have got and asks the same question again; it
  and the session-wide commands (louder, quieter, more/less detail) are never an answer and
  never an unclear try.
- "Stop" is confirmed before the questions end (stopping means no exercise today, and a
  misheard stop would cost the day's session): yes, or stop again, ends them; no or "keep
  going" asks the same question again with nothing changed; after MAX_TRIES unclear or silent
  replies they end, as asked.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, NamedTuple

from transitions import Machine

from .prompts import Prompts
from .protocol import Action, Ask, Event, Listen, Record, Say, Silence, Triage, Utterance, answer_kind
from .triage import COMBINATIONS, QUESTION_LEVELS, highest_possible, triage

YES_NO = "yes_no"                 # listen context of every yes/no question
PAIN_SITE = "pain_site"           # listen context (and question id) of the opening question
LISTEN_TIMEOUT = 10.0             # seconds of nothing before a Silence event
MAX_TRIES = 2                     # unclear tries before a question counts as unknown
MAX_UNKNOWN = 3                   # unknown answers before only emergency questions are asked
SITES = ("back", "hip", "both")
APPLIES = ("always", "back", "hip", "pregnant")
PREGNANT = "pregnant"             # the question whose yes (or unknown) asks the pregnancy ones
READBACK = "readback"             # Ask id of the closing "is that right?" before an ok
GO_AHEAD = "go_ahead"             # Ask id of "gentle exercise today?" after a clinician outcome
CONFIRM_STOP = "confirm_stop"     # Ask id of "do you want to stop the questions?"

_ID = re.compile(r"[a-z][a-z0-9_]*\Z")


# ------------------------------------------------------------------ the data file
class ScreenerDataError(ValueError):
    """screener.toml is missing or malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Opening:
    id: str
    text: str
    rephrase: str
    explain: str


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    rephrase: str
    explain: str
    finding: str
    level: str
    applies: str
    source: str


@dataclass(frozen=True)
class QuestionSet:
    path: Path
    opening: Opening
    questions: tuple[Question, ...]

    @property
    def levels(self) -> dict[str, str]:
        return {q.id: q.level for q in self.questions}

    def get(self, question_id: str) -> Question:
        for q in self.questions:
            if q.id == question_id:
                return q
        raise KeyError(question_id)

    def ids(self) -> list[str]:
        return [q.id for q in self.questions]


_OPENING_FIELDS = ("id", "text", "rephrase", "explain")
_QUESTION_FIELDS = ("id", "text", "rephrase", "explain", "finding", "level", "applies", "source")


def _strings(table: Any, fields: tuple[str, ...], where: str) -> dict[str, str]:
    if not isinstance(table, dict):
        raise ScreenerDataError(f"{where} must be a table")
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ScreenerDataError(f"{where}: unknown field {unknown[0]!r} (expected {', '.join(fields)})")
    out = {}
    for name in fields:
        value = table.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ScreenerDataError(f"{where}: field {name!r} must be a non-empty string")
        out[name] = " ".join(value.split())
    return out


def _must_ask(text: str, where: str, name: str) -> None:
    if "?" not in text:
        raise ScreenerDataError(f"{where}: field {name!r} must ask a question (no '?' in it)")


def load_questions(locale_dir: Path) -> QuestionSet:
    """Read and validate `<locale_dir>/screener.toml`."""
    path = Path(locale_dir) / "screener.toml"
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ScreenerDataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScreenerDataError(f"{path}: not valid TOML ({exc})") from None

    extra = sorted(set(data) - {"opening", "question"})
    if extra:
        raise ScreenerDataError(f"{path}: unknown top-level key {extra[0]!r} (expected [opening] and [[question]])")
    if "opening" not in data:
        raise ScreenerDataError(f"{path}: missing [opening] table (the pain_site question)")
    opening = Opening(**_strings(data["opening"], _OPENING_FIELDS, f"{path}: [opening]"))
    if opening.id != PAIN_SITE:
        raise ScreenerDataError(f"{path}: [opening] field 'id' must be {PAIN_SITE!r}")
    _must_ask(opening.text, f"{path}: [opening]", "text")
    _must_ask(opening.rephrase, f"{path}: [opening]", "rephrase")

    raw = data.get("question")
    if not isinstance(raw, list) or not raw:
        raise ScreenerDataError(f"{path}: needs at least one [[question]]")
    questions: list[Question] = []
    seen: set[str] = set()
    for n, table in enumerate(raw, 1):
        label = table.get("id") if isinstance(table, dict) and isinstance(table.get("id"), str) else f"#{n}"
        where = f"{path}: [[question]] {label}"
        q = Question(**_strings(table, _QUESTION_FIELDS, where))
        if not _ID.match(q.id):
            raise ScreenerDataError(f"{where}: field 'id' must match [a-z][a-z0-9_]*")
        if q.id in seen or q.id == PAIN_SITE:
            raise ScreenerDataError(f"{where}: field 'id' {q.id!r} is used twice")
        if q.level not in QUESTION_LEVELS:
            raise ScreenerDataError(f"{where}: field 'level' must be one of {', '.join(QUESTION_LEVELS)}")
        if q.applies not in APPLIES:
            raise ScreenerDataError(f"{where}: field 'applies' must be one of {', '.join(APPLIES)}")
        if q.applies == "pregnant" and PREGNANT not in seen:
            raise ScreenerDataError(f"{where}: field 'applies' is 'pregnant' but no {PREGNANT!r} question comes before it")
        if q.id == PREGNANT and (q.level != "none" or q.applies != "always"):
            raise ScreenerDataError(f"{where}: the {PREGNANT!r} question must have level 'none' and applies 'always'")
        _must_ask(q.text, where, "text")
        _must_ask(q.rephrase, where, "rephrase")
        seen.add(q.id)
        questions.append(q)
    for rule in COMBINATIONS:
        missing = sorted(rule.ids() - seen)
        if missing:
            raise ScreenerDataError(f"{path}: no [[question]] with id {missing[0]!r}, which a triage rule in skill/triage.py needs")
    return QuestionSet(path, opening, tuple(questions))


# ------------------------------------------------------------------ the dialog
@dataclass(frozen=True)
class ScreenerOutcome:
    level: str                          # ok | clinician | urgent | emergency
    reasons: tuple[str, ...]            # ids that brought the outcome to its level
    answers: dict[str, str]             # question id -> yes | no | unknown, in asking order
    pregnant: bool                      # offer only the pregnancy-safe routine
    proceed: bool                       # coaching may start (ok, or clinician + a clear yes)
    site: str | None = None             # back | hip | both
    ended: str = "complete"             # complete | stopped (person said stop) | unclear (too many unknowns)
    not_asked: tuple[str, ...] = ()     # applicable questions that were not asked

    @property
    def yes(self) -> list[str]:
        return [q for q, a in self.answers.items() if a == "yes"]

    @property
    def unknown(self) -> list[str]:
        return [q for q, a in self.answers.items() if a == "unknown"]


class _Progress(NamedTuple):
    """Everything the screener remembers besides the machine state; hashable, so a
    snapshot is (state, progress)."""

    site: str | None = None
    answers: tuple[tuple[str, str], ...] = ()
    current: str | None = None      # id of the question (or pain_site/readback/go_ahead) awaiting an answer
    tries: int = 0                  # unclear tries at the current question
    partial: bool = False           # a partial yes ("a little") was heard at the current question
    paused: bool = False
    stopped: bool = False           # the person said stop
    stop_from: str | None = None    # state to go back to when a stop is not confirmed
    stop_tries: int = 0             # unclear replies to "do you want to stop?"
    readback_unknown: bool = False  # no clear answer to the read-back
    proceed: bool = False
    concluded: bool = False         # Triage emitted and the outcome spoken


STATES = ["idle", "pain_site", "question", "readback", "go_ahead", "confirm_stop", "done"]

# Order matters: for each trigger, the first transition whose conditions hold is taken.
TRANSITIONS = [
    {"trigger": "begin", "source": "idle", "dest": "pain_site"},
    {"trigger": "site_known", "source": "pain_site", "dest": "question", "before": "_to_next_question"},
    # after each recorded answer:
    {"trigger": "answered", "source": "question", "dest": "question",
     "conditions": "has_next_question", "unless": "is_settled", "before": "_to_next_question"},
    {"trigger": "answered", "source": "question", "dest": "readback", "conditions": "is_all_clear"},
    {"trigger": "answered", "source": "question", "dest": "go_ahead", "conditions": "may_offer_exercise"},
    {"trigger": "answered", "source": "question", "dest": "done"},
    {"trigger": "confirmed", "source": "readback", "dest": "done"},
    {"trigger": "denied", "source": "readback", "dest": "pain_site", "before": "_reset"},
    {"trigger": "unconfirmed", "source": "readback", "dest": "go_ahead", "conditions": "may_offer_exercise"},
    {"trigger": "unconfirmed", "source": "readback", "dest": "done"},
    {"trigger": "decided", "source": "go_ahead", "dest": "done"},
    {"trigger": "ask_stop", "source": ["pain_site", "question", "readback"], "dest": "confirm_stop",
     "before": "_remember_stop_from"},
    # not confirmed: back where the stop was said, and that question is asked again
    *[{"trigger": "carry_on", "source": "confirm_stop", "dest": state, "conditions": f"stopped_at_{state}"}
      for state in ("pain_site", "question", "readback")],
    # a confirmed stop; also the end of input (no one left to ask), from any question
    {"trigger": "halt", "source": ["pain_site", "question", "readback", "confirm_stop"], "dest": "done",
     "before": "_mark_stopped"},
]

# Commands about the session, not answers: the caller acts on them, the question is asked again.
REASK = ("repeat", "resume", "louder", "quieter", "more_detail", "less_detail")
# Hedged answers to a red-flag question -> what is said before the question is asked again.
HEDGES = {"partial_yes": "screener_partial", "leaning_no": "screener_leaning_no"}


class Screener:
    """One run of the red-flag screener. See the module docstring for the rules."""

    def __init__(self, questions: QuestionSet, prompts: Prompts, *, offer_exercise: bool = True) -> None:
        self.questions = questions
        self.prompts = prompts
        self.offer_exercise = offer_exercise  # False for the standalone `screen` command
        self._levels = questions.levels
        self._position = {q.id: i for i, q in enumerate(questions.questions)}
        gates = {PREGNANT} if any(q.applies == "pregnant" for q in questions.questions) else set()
        # what is still asked once answers have been too unclear: whatever can reveal an emergency
        self._vital = {q.id for q in questions.questions if q.level == "emergency"} | gates
        self._p = _Progress()
        self._out: list[Action] = []
        self._cache: dict[tuple, Any] = {}  # pure results keyed by their inputs (tests explore many states)
        self.state: str = "idle"
        self.machine = Machine(model=self, states=STATES, transitions=TRANSITIONS, initial="idle",
                               auto_transitions=False, ignore_invalid_triggers=False)
        prompts.require(PROMPT_IDS)

    # -------------------------------------------------------------- public API
    def start(self, now: float = 0.0) -> list[Action]:
        if self.state != "idle":
            raise RuntimeError("the screener has already started")
        self._say("screener_intro")
        self.begin()
        return self._flush()

    def handle(self, event: Event) -> list[Action]:
        if self.state in ("idle", "done"):
            return []
        kind = answer_kind(event)
        if kind is None:
            return []  # timers are not the screener's
        if self.state == "confirm_stop":   # first: "where am I" here is not about a question
            self._on_confirm_stop(kind)
        elif kind == "where" and self._p.current is not None:
            self._where()
        elif self.state == "pain_site":
            self._on_site(kind, event)
        elif self.state == "question":
            self._on_question(kind)
        elif self.state == "readback":
            self._on_readback(kind)
        elif self.state == "go_ahead":
            self._on_go_ahead(kind)
        return self._flush()

    def end_of_input(self) -> list[Action]:
        """Input is gone for good: end the questions as a confirmed stop would (never an ok;
        at the go-ahead, a no)."""
        if self.state == "go_ahead":
            return self.handle(Utterance("stop"))
        if self.state not in ("idle", "done"):
            self.halt()
        return self._flush()

    @property
    def finished(self) -> bool:
        return self.state == "done"

    @property
    def outcome(self) -> ScreenerOutcome | None:
        """The result, once finished (None before)."""
        if not self.finished:
            return None
        o = self._outcome()
        return replace(o, answers=dict(o.answers))

    @property
    def answers(self) -> dict[str, str]:
        return dict(self._p.answers)

    @property
    def pending(self) -> str | None:
        """Id of what the screener is waiting for an answer to (a question id, pain_site,
        readback or go_ahead), or None."""
        if self.state == "confirm_stop":
            return CONFIRM_STOP
        return None if self.finished else self._p.current

    def snapshot(self) -> tuple[str, _Progress]:
        """The whole dialog state, hashable: restore() it to explore another answer."""
        return (self.state, self._p)

    def restore(self, snapshot: tuple[str, _Progress]) -> None:
        state, progress = snapshot
        self.machine.set_state(state)
        self._p = progress
        self._out = []

    # -------------------------------------------------------------- asking
    def _flush(self) -> list[Action]:
        out, self._out = self._out, []
        return out

    def _say(self, prompt_id: str, **slots: object) -> None:
        self._out.append(self.prompts.say(prompt_id, **slots))

    def _pose(self, ask_id: str, text: str, prompt: str) -> None:
        """Ask (again): Ask, then the words, then listen."""
        self._p = self._p._replace(current=ask_id, paused=False)
        self._out += [Ask(ask_id), Say(text, prompt=prompt),
                      Listen(self._context(), timeout=LISTEN_TIMEOUT, prompted=True)]

    def _context(self) -> str:
        return PAIN_SITE if self._p.current == PAIN_SITE else YES_NO

    def _pose_opening(self, rephrase: bool = False) -> None:
        op = self.questions.opening
        self._pose(op.id, op.rephrase if rephrase else op.text, f"screener/{op.id}" + ("/rephrase" if rephrase else ""))

    def _pose_question(self, rephrase: bool = False) -> None:
        q = self.questions.get(self._p.current)
        self._pose(q.id, q.rephrase if rephrase else q.text, f"screener/{q.id}" + ("/rephrase" if rephrase else ""))

    def _pose_prompt(self, ask_id: str, prompt_id: str, **slots: object) -> None:
        say = self.prompts.say(prompt_id, **slots)
        self._pose(ask_id, say.text, prompt_id)

    def _pose_readback(self, rephrase: bool = False) -> None:
        if rephrase:
            self._pose_prompt(READBACK, "screener_readback_rephrase")
            return
        site = self.prompts.text(f"screener_site_{self._p.site}")
        prompt = "screener_readback_pregnant" if self._is_pregnant() else "screener_readback"
        self._pose_prompt(READBACK, prompt, site=site)

    def _pose_go_ahead(self, rephrase: bool = False) -> None:
        self._pose_prompt(GO_AHEAD, "screener_go_ahead_rephrase" if rephrase else "screener_go_ahead")

    def _pause(self) -> None:
        self._say("screener_paused")
        self._p = self._p._replace(paused=True)
        self._out.append(Listen(self._context(), timeout=None))

    def _where(self) -> None:
        """How far the questions have got, then the same question again (never an answer)."""
        current = self._p.current
        if current == PAIN_SITE:
            self._say("screener_where_site")
            self._pose_opening()
        elif current == READBACK:
            self._say("screener_where_readback")
            self._pose_readback()
        elif current == GO_AHEAD:
            self._say("screener_where_go_ahead")
            self._pose_go_ahead()
        else:
            answered = len(self._p.answers)
            # the current question is still to ask; what follows depends on the answers: "about"
            total = answered + len(self._still_to_ask(assume_pregnant=False))
            self._say("screener_where", number=answered + 1, total=max(total, answered + 1))
            self._pose_question()

    def _unclear_try(self, kind: str, repose) -> bool:
        """Count an unclear try; re-ask and return False, or return True when out of tries."""
        if kind == "silence" and self._p.paused:
            self._out.append(Listen(self._context(), timeout=None))  # paused on purpose: keep waiting
            return False
        tries = self._p.tries + 1
        if tries >= MAX_TRIES:
            self._p = self._p._replace(tries=0)
            return True
        self._p = self._p._replace(tries=tries)
        return repose(kind)

    def _not_an_answer(self, kind: str, pose: Callable[..., None], explain: Callable[[], None],
                       out_of_tries: Callable[[], None], help_prompt: str = "screener_help",
                       silence_prompt: str = "screener_silence",
                       unclear_prompt: str = "screener_unclear", hedges: bool = False) -> None:
        """What every screener question does with what is not one of its answers: explain,
        repeat, help, pause, stop, and an unclear try (re-asked, until out of tries).
        `hedges`: a partial yes or a doubtful no is answered with "even a little counts as a
        yes" and the question in its own words (a red-flag question; elsewhere it is unclear)."""
        if kind == "explain":
            explain()
            pose()
        elif kind in REASK:
            pose()
        elif kind == "help":
            self._say(help_prompt)
            pose()
        elif kind == "pause":
            self._pause()
        elif kind == "stop":
            self.ask_stop()
        else:
            def repose(k: str) -> bool:
                if k == "unsure":
                    # "I don't know": say what the question means, then ask it again
                    explain()
                    pose()
                elif hedges and k in HEDGES:
                    self._say(HEDGES[k])
                    pose()
                else:
                    self._say(silence_prompt if k == "silence" else unclear_prompt)
                    pose(rephrase=True)
                return False
            if self._unclear_try(kind, repose):
                out_of_tries()

    # -------------------------------------------------------------- the opening question
    def on_enter_pain_site(self) -> None:
        self._pose_opening()

    def _on_site(self, kind: str, event: Utterance | Silence) -> None:
        value = getattr(event, "value", None)
        if kind == "site" and value in SITES:
            self._p = self._p._replace(site=value, tries=0)
            self.site_known()
        else:
            self._not_an_answer(
                kind, self._pose_opening,
                lambda: self._out.append(Say(self.questions.opening.explain,
                                             prompt=f"screener/{PAIN_SITE}/explain")),
                self._site_unknown, help_prompt="screener_site_help",
                silence_prompt="screener_site_silence", unclear_prompt="screener_site_unclear")

    def _site_unknown(self) -> None:
        # not knowing the site, ask everything: both back and hip questions
        self._say("screener_site_unknown")
        self._p = self._p._replace(site="both")
        self.site_known()

    # -------------------------------------------------------------- the red-flag questions
    def on_enter_question(self) -> None:
        self._pose_question()

    def _on_question(self, kind: str) -> None:
        q = self.questions.get(self._p.current)
        if kind in ("yes", "no"):
            self._record(q.id, kind)
        else:
            if kind == "partial_yes":
                self._p = self._p._replace(partial=True)

            def unknown() -> None:
                if self._p.partial:     # "a little" was said: any amount is a yes
                    self._say("screener_partial_as_yes")
                    self._record(q.id, "yes")
                else:
                    self._say("screener_unknown")
                    self._record(q.id, "unknown")
            self._not_an_answer(kind, self._pose_question,
                                lambda: self._out.append(Say(q.explain, prompt=f"screener/{q.id}/explain")),
                                unknown, hedges=True)

    def _record(self, question_id: str, answer: str) -> None:
        was_capped = self._capped()
        self._p = self._p._replace(answers=self._p.answers + ((question_id, answer),),
                                   current=None, tries=0, paused=False, partial=False)
        if self._capped() and not was_capped and self.has_next_question() and not self.is_settled():
            self._say("screener_capped")
        self.answered()

    def _capped(self) -> bool:
        return sum(a == "unknown" for _, a in self._p.answers) >= MAX_UNKNOWN

    def _applies(self, q: Question, answers: dict[str, str], assume_pregnant: bool = False) -> bool:
        if q.applies == "always":
            return True
        if q.applies == "back":  # site None: stopped before saying; both could apply
            return self._p.site in ("back", "both", None)
        if q.applies == "hip":
            return self._p.site in ("hip", "both", None)
        # "pregnant": after a yes, or an unclear answer, to the pregnant question
        answer = answers.get(PREGNANT)
        return answer in ("yes", "unknown") or (assume_pregnant and answer is None)

    def _still_to_ask(self, assume_pregnant: bool) -> tuple[str, ...]:
        """The questions after the last one answered that will be asked (in order)."""
        def compute() -> tuple[str, ...]:
            answers = dict(self._p.answers)
            last = max((self._position[q] for q in answers), default=-1)
            capped = self._capped()
            return tuple(q.id for q in self.questions.questions[last + 1:]
                         if self._applies(q, answers, assume_pregnant) and (not capped or q.id in self._vital))
        return self._memo(("still", self._p.site, self._p.answers, assume_pregnant), compute)

    def _to_next_question(self) -> None:
        self._p = self._p._replace(current=self._still_to_ask(assume_pregnant=False)[0])

    # conditions of the machine
    def has_next_question(self) -> bool:
        return bool(self._still_to_ask(assume_pregnant=False))

    def _memo(self, key: tuple, compute):
        if key not in self._cache:
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[key] = compute()
        return self._cache[key]

    def is_settled(self) -> bool:
        """True when no answer to the questions left could change the outcome level."""
        def compute() -> bool:
            level = self._triage_answers()[0]
            if level == "ok":
                return False
            still = self._still_to_ask(assume_pregnant=True)
            return highest_possible(dict(self._p.answers), still, self._levels) == level
        return self._memo(("settled", self._p.site, self._p.answers), compute)

    def _triage_answers(self) -> tuple[str, tuple[str, ...]]:
        return self._memo(("triage", self._p.answers), lambda: triage(dict(self._p.answers), self._levels))

    def is_all_clear(self) -> bool:
        return self._triage_answers()[0] == "ok"

    def may_offer_exercise(self) -> bool:
        o = self._outcome()
        return self.offer_exercise and o.level == "clinician" and o.ended == "complete"

    # -------------------------------------------------------------- read-back (before an ok)
    def on_enter_readback(self) -> None:
        self._pose_readback()

    def _on_readback(self, kind: str) -> None:
        if kind == "yes":
            self._p = self._p._replace(proceed=True)
            self.confirmed()
        elif kind == "no":
            self._say("screener_restart")
            self.denied()
        else:
            def unconfirmed() -> None:
                self._p = self._p._replace(readback_unknown=True)
                self.unconfirmed()
            self._not_an_answer(kind, self._pose_readback,
                                lambda: self._say("screener_readback_explain"), unconfirmed)

    def _reset(self) -> None:
        self._p = _Progress()

    # -------------------------------------------------------------- "stop": confirmed first
    def _remember_stop_from(self) -> None:
        self._p = self._p._replace(stop_from=self.state, stop_tries=0)

    def stopped_at_pain_site(self) -> bool:
        return self._p.stop_from == "pain_site"

    def stopped_at_question(self) -> bool:
        return self._p.stop_from == "question"

    def stopped_at_readback(self) -> bool:
        return self._p.stop_from == "readback"

    def on_enter_confirm_stop(self) -> None:
        self._ask_confirm_stop("screener_confirm_stop")

    def _ask_confirm_stop(self, prompt_id: str) -> None:
        # the question being stopped stays current: "no" asks it again
        say = self.prompts.say(prompt_id)
        self._out += [Ask(CONFIRM_STOP), say, Listen(YES_NO, timeout=LISTEN_TIMEOUT, prompted=True)]

    def _on_confirm_stop(self, kind: str) -> None:
        if kind in ("yes", "stop"):
            self.halt()
        elif kind in ("no", "resume"):
            self._say("screener_continue")
            self.carry_on()   # back where the stop was said: that question is asked again
            self._p = self._p._replace(stop_from=None, stop_tries=0)
        elif kind in REASK or kind in ("where", "help", "explain"):
            # not a reply ("louder", and the caller's "repeat" after "slower"): asked again, no try
            self._ask_confirm_stop("screener_confirm_stop")
        else:
            # unclear, silence, or anything else: asked once more, then stopped as asked
            tries = self._p.stop_tries + 1
            if tries >= MAX_TRIES:
                self.halt()
            else:
                self._p = self._p._replace(stop_tries=tries)
                self._ask_confirm_stop("screener_confirm_stop_reprompt")

    def _mark_stopped(self) -> None:
        self._p = self._p._replace(stopped=True, stop_from=None, stop_tries=0)

    # -------------------------------------------------------------- gentle exercise? (clinician)
    def on_enter_go_ahead(self) -> None:
        self._conclude()
        self._pose_go_ahead()

    def _on_go_ahead(self, kind: str) -> None:
        if kind == "yes":
            self._p = self._p._replace(proceed=True)
            self._say("screener_go_ahead_yes")
            self.decided()
        elif kind in ("no", "stop"):
            self._say("screener_go_ahead_no")
            self.decided()
        else:   # "stop" was taken as a no above
            def unclear() -> None:
                self._say("screener_go_ahead_unclear")  # never an unclear yes
                self.decided()
            self._not_an_answer(kind, self._pose_go_ahead,
                                lambda: self._say("screener_go_ahead_explain"), unclear)

    # -------------------------------------------------------------- the outcome
    def on_enter_done(self) -> None:
        self._conclude()
        o = self._outcome()
        self._p = self._p._replace(current=None)
        self._out.append(Record("screener", {
            "level": o.level, "yes": o.yes, "unknown": o.unknown, "site": o.site,
            "pregnant": o.pregnant, "proceed": o.proceed, "ended": o.ended, "not_asked": list(o.not_asked),
            "full": True,
        }))

    def _is_pregnant(self) -> bool:
        return dict(self._p.answers).get(PREGNANT) in ("yes", "unknown")

    def _not_asked(self) -> tuple[str, ...]:
        """Questions that applied (or might have: pregnancy ones before `pregnant` was
        answered) but were not asked."""
        answers = dict(self._p.answers)
        return tuple(q.id for q in self.questions.questions
                     if q.id not in answers and self._applies(q, answers, assume_pregnant=True))

    def _outcome(self) -> ScreenerOutcome:
        return self._memo(("outcome", self._p), self._compute_outcome)

    def _compute_outcome(self) -> ScreenerOutcome:
        answers = dict(self._p.answers)
        level, reasons = self._triage_answers()
        not_asked = self._not_asked()
        if self._p.stopped:
            ended = "stopped"
        elif self._capped() and highest_possible(answers, not_asked, self._levels) != level:
            ended = "unclear"  # questions skipped after too many unclear answers could have mattered
        else:
            ended = "complete"
        if ended != "complete":
            # what was never asked cannot count as no
            assumed = dict(answers)
            assumed.update({q: "unknown" for q in not_asked})
            level, reasons = triage(assumed, self._levels)
            if level == "ok":  # stopped at the read-back: every answer no, but not confirmed
                level, reasons = "clinician", (READBACK,)
        if self._p.readback_unknown and level == "ok":
            level, reasons = "clinician", (READBACK,)
        return ScreenerOutcome(
            level=level, reasons=tuple(reasons), answers=answers,
            pregnant=self._is_pregnant() or (ended != "complete" and PREGNANT not in answers),
            proceed=self._p.proceed and ended == "complete" and level in ("ok", "clinician"),
            site=self._p.site, ended=ended, not_asked=not_asked,
        )

    def _findings(self, ids: list[str]) -> str:
        parts = [self.questions.get(q).finding for q in ids]
        if len(parts) == 1:
            return parts[0]
        return f"{', '.join(parts[:-1])} {self.prompts.text('screener_list_and')} {parts[-1]}"

    def _conclude(self) -> None:
        if self._p.concluded:
            return
        o = self._outcome()
        self._p = self._p._replace(concluded=True)
        self._out.append(Triage(o.level, o.reasons))
        if o.ended == "stopped":
            self._say("screener_stopped")
        elif o.ended == "unclear":
            self._say("screener_too_unclear")
        said_yes = [q for q in o.reasons if o.answers.get(q) == "yes"]
        unclear = [q for q in o.reasons if o.answers.get(q) == "unknown"]
        if said_yes:
            self._say("screener_findings", findings=self._findings(said_yes))
        if unclear and o.ended == "complete":
            self._say("screener_unclear_findings", findings=self._findings(unclear))
        if o.reasons == (READBACK,):
            self._say("screener_readback_unknown")
        if o.level in ("emergency", "urgent") or o.ended == "complete":
            self._say(f"screener_outcome_{o.level}")
        else:
            self._say("screener_unfinished_advice")
        if o.pregnant and o.ended == "complete" and o.level in ("ok", "clinician"):
            self._say("screener_pregnancy_note")
        self._say("screener_not_diagnosis")


PROMPT_IDS = {
    "screener_intro", "screener_unclear", "screener_silence", "screener_unknown", "screener_help",
    "screener_paused", "screener_site_unclear", "screener_site_silence", "screener_site_unknown",
    "screener_site_help", "screener_site_back", "screener_site_hip", "screener_site_both",
    "screener_restart", "screener_readback", "screener_readback_pregnant", "screener_readback_rephrase",
    "screener_readback_explain", "screener_readback_unknown", "screener_list_and", "screener_findings",
    "screener_unclear_findings", "screener_outcome_emergency", "screener_outcome_urgent",
    "screener_outcome_clinician", "screener_outcome_ok", "screener_pregnancy_note",
    "screener_not_diagnosis", "screener_stopped", "screener_capped", "screener_too_unclear",
    "screener_unfinished_advice", "screener_go_ahead", "screener_go_ahead_rephrase",
    "screener_go_ahead_explain", "screener_go_ahead_yes", "screener_go_ahead_no",
    "screener_go_ahead_unclear", "screener_where", "screener_where_site", "screener_where_readback",
    "screener_where_go_ahead", "screener_confirm_stop", "screener_confirm_stop_reprompt", "screener_continue",
    "screener_partial", "screener_leaning_no", "screener_partial_as_yes",
}
