"""The coaching session: a pure `transitions` state machine from events to actions.

It never touches a clock, a file or a device: every event carries the time (`now`), and
everything it wants done comes back as actions (say, listen, start a timer...). The machine
is declared as data (STATES, TRANSITIONS) so the diagram is exported from the same table.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from transitions import EventData, Machine

from .content import Content, Exercise, Routine
from .memory import Recollection
from .pacing import Block, count_word, hold_cues, plan_blocks, spoken_duration
from .prompts import Prompts
from .preferences import DEFAULT_DETAIL, DEFAULT_VOLUME, VOLUME_RANGE
from .protocol import (Action, CancelTimer, End, Event, Listen, Record, Say, SetSpeechRate, SetVolume,
                       Silence, StartTimer, StateChanged, Tick, Utterance)

SILENCE_TIMEOUT = 10.0      # seconds before one gentle re-prompt; after that we wait quietly
SIDE_SWITCH_SECONDS = 8     # time to roll over / change legs when an exercise has no rest set
TEMPO_STEP = 1.25           # "slower" / "faster" scale the rep tempo by this
SPEECH_STEP = 0.85          # and the speaking rate by this (inverse for faster)
TEMPO_RANGE = (0.5, 2.0)
SPEECH_RANGE = (0.6, 1.6)
# A pain score before exercise is read back and must be confirmed (the recogniser can mishear
# "nine" as "two" with full confidence). After this many unconfirmed read-backs (no, unclear,
# silence, another number) the session goes on without a score: see _give_up_on_score.
CONFIRM_MISSES = 4

# Where a person can be mid-exercise: pausable, and "it hurts" starts the pain check here.
EXERCISING = ["intro", "counting", "holding", "resting"]
# Questions the session itself asks and waits on.
ASKING = ["offer_resume", "menu", "pain_before", "confirm_pain", "pain_after", "pain_rating"]
RESUMABLE = EXERCISING + ASKING + ["screening"]
# States whose Listen waits for the answer to something just asked (the "listen" earcon);
# the sub-dialogs (screener, pain check) mark their own questions.
PROMPTED = ASKING + ["confirm_stop", "intro"]
SUB_DIALOGS = ("screening", "pain_check")

STATES = ["idle", "screening", "offer_resume", "menu", "pain_before", "confirm_pain", "intro", "counting", "holding",
          "resting", "paused", "confirm_stop", "pain_check", "pain_rating", "pain_after", "finished"]

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "begin", "source": "idle", "dest": "screening", "conditions": "has_screener"},
    {"trigger": "begin", "source": "idle", "dest": "offer_resume", "conditions": "can_resume"},
    {"trigger": "begin", "source": "idle", "dest": "menu"},
    {"trigger": "screened", "source": "screening", "dest": "offer_resume", "conditions": ["may_exercise", "can_resume"]},
    {"trigger": "screened", "source": "screening", "dest": "menu", "conditions": "may_exercise"},
    {"trigger": "choose", "source": "offer_resume", "dest": "pain_before"},
    {"trigger": "decline_resume", "source": "offer_resume", "dest": "menu"},
    {"trigger": "screened", "source": "screening", "dest": "finished"},
    {"trigger": "choose", "source": "menu", "dest": "pain_before"},
    {"trigger": "heard_score", "source": ["pain_before", "confirm_pain"], "dest": "confirm_pain"},
    {"trigger": "rated", "source": "confirm_pain", "dest": "intro"},
    {"trigger": "reask_score", "source": "confirm_pain", "dest": "pain_before"},
    {"trigger": "unconfirmed", "source": "confirm_pain", "dest": "intro"},
    {"trigger": "start_block", "source": ["intro", "resting"], "dest": "counting", "conditions": "is_reps"},
    {"trigger": "start_block", "source": ["intro", "resting"], "dest": "holding"},
    {"trigger": "block_done", "source": ["counting", "holding"], "dest": "pain_rating", "conditions": "needs_pain_rating"},
    {"trigger": "block_done", "source": ["counting", "holding"], "dest": "resting", "conditions": "has_more_work"},
    {"trigger": "block_done", "source": ["counting", "holding"], "dest": "pain_after"},
    {"trigger": "next_exercise", "source": ["resting", "intro", "counting", "holding", "pain_rating", "pain_check", "paused"],
     "dest": "intro", "conditions": "has_more_exercises"},
    {"trigger": "next_exercise", "source": ["resting", "intro", "counting", "holding", "pain_rating", "pain_check", "paused"],
     "dest": "pain_after"},
    {"trigger": "pause", "source": EXERCISING + ASKING, "dest": "paused"},
    *[{"trigger": "resume", "source": ["paused", "confirm_stop", "pain_check", "pain_rating"], "dest": s,
       "conditions": "returns_here"} for s in RESUMABLE],
    {"trigger": "ask_stop", "source": RESUMABLE + ["paused"], "dest": "confirm_stop"},
    {"trigger": "confirm_stop", "source": "confirm_stop", "dest": "pain_after", "conditions": "has_pain_before"},
    {"trigger": "confirm_stop", "source": "confirm_stop", "dest": "finished"},
    {"trigger": "report_pain", "source": EXERCISING + ["paused"], "dest": "pain_check"},
    {"trigger": "check_rating", "source": "pain_check", "dest": "pain_rating"},
    {"trigger": "stop_for_pain", "source": ["pain_check", "pain_rating"], "dest": "finished"},
    {"trigger": "rated", "source": "pain_after", "dest": "finished"},
    {"trigger": "end_input", "source": [s for s in STATES if s != "finished"], "dest": "finished"},
]

# Which listen context each waiting state uses (screening and pain_check: their sub-dialog's).
LISTEN_CONTEXT = {"offer_resume": "yes_no", "menu": "menu", "pain_before": "number", "confirm_pain": "pain_confirm",
                  "pain_after": "number", "pain_rating": "number", "confirm_stop": "yes_no", "paused": "coach",
                  **{s: "coach" for s in EXERCISING}}
# States where silence gets one re-prompt (timed states are driven by their timers instead).
REPROMPT = {"offer_resume": "offer_resume_reprompt", "menu": "menu_reprompt", "pain_before": "pain_reprompt", "pain_after": "pain_reprompt",
            "pain_rating": "pain_reprompt", "confirm_stop": "confirm_stop_reprompt",
            "intro": "ready_reprompt"}
# Short cues that "repeat" should not replay: the last *instruction* is what people want again.
NOT_REPEATED = {"count", "hold_count", "sorry", "repeat_nothing", "still_going", "tempo_slower",
                "tempo_faster", "tempo_limit", "volume_louder", "volume_quieter", "volume_max", "volume_min",
                "detail_full", "detail_short", "detail_already_full", "detail_already_short",
                "preference_not_saved", "where_counting", "where_counting_side", "where_holding",
                "where_holding_side", "where_resting_set", "where_resting_side", "where_resting_exercise",
                "where_paused_intro", "where_paused_counting", "where_paused_holding", "where_paused_resting",
                "where_paused_question"}

PROMPTS_USED = sorted({
    "welcome", "menu", "menu_reprompt", "menu_choice", "menu_option", "pain_before", "pain_reprompt", "pain_noted",
    "pain_after", "pain_change_better", "pain_change_worse", "pain_change_same", "exercise_intro",
    "exercise_cautions", "ready", "ready_reprompt", "side_start", "set_start", "begin_reps",
    "count", "count_side", "keep_breathing", "set_done", "hold_start", "hold_halfway",
    "hold_seconds_left", "hold_count", "hold_release", "rest_next_set", "rest_next_side",
    "rest_next_exercise", "switch_side", "exercise_done", "skipping", "paused", "resumed",
    "resumed_hold", "still_going", "confirm_stop", "confirm_stop_reprompt", "stopping",
    "continuing", "sorry", "repeat_nothing", "tempo_slower", "tempo_faster", "tempo_limit",
    "help_coach", "help_menu", "help_number", "help_yes_no", "summary",
    "goodbye", "not_now", "pain_rating", "pain_rating_stop_exercise", "pain_rating_continue",
    "screening_skipped", "no_coaching", "routine_limited", "offer_resume", "offer_resume_next",
    "offer_resume_reprompt", "resuming_session", "progress_none", "progress_sessions",
    "progress_pain_better", "progress_pain_steady", "progress_pain_worse", "progress_exercise",
    "progression_aim", "history_unavailable",
    "hold_start_short", "volume_louder", "volume_quieter", "volume_max", "volume_min", "detail_full",
    "detail_short", "detail_already_full", "detail_already_short", "preference_not_saved",
    "where_menu", "where_offer_resume", "where_pain_before", "where_pain_after", "where_pain_rating",
    "where_confirm_stop", "where_intro", "where_counting", "where_counting_side", "where_holding",
    "where_holding_side", "where_resting_set", "where_resting_side", "where_resting_exercise",
    "where_paused_intro", "where_paused_counting", "where_paused_holding", "where_paused_resting",
    "where_paused_question", "where_pain_check", "pain_confirm", "pain_confirm_reprompt", "pain_confirm_no",
    "pain_unconfirmed", "help_pain_confirm", "where_confirm_pain",
})


class SubDialog(Protocol):
    """A dialog the session hands the floor to for a while (screener, pain check)."""

    finished: bool

    def start(self, now: float) -> list[Action]: ...

    def handle(self, event: Event) -> list[Action]: ...


@dataclass
class ExerciseTally:
    id: str
    name: str
    status: str = "not_started"   # done | skipped | stopped | stopped_for_pain
    reps: int = 0
    sets: int = 0
    hold_seconds: float = 0.0


@dataclass
class SessionOptions:
    routine: str | None = None                 # preselected routine id (skips the menu question)
    tempo_factor: float = 1.0                  # remembered "slower"/"faster"
    speech_factor: float = 1.0
    allowed_routines: tuple[str, ...] | None = None
    recollection: Recollection | None = None   # what history remembers (resume, progress, targets)
    detail: str = DEFAULT_DETAIL               # "full" | "short" instructions (a saved preference)
    volume: int = DEFAULT_VOLUME               # 1..10 (a saved preference)
    preferences_unsaved: str | None = None     # why a changed setting cannot be saved, if it cannot


@dataclass
class _Progress:
    """Where the person is inside the current exercise."""

    blocks: list[Block] = field(default_factory=list)
    block_index: int = 0
    rep: int = 0
    hold_elapsed: float = 0.0   # seconds of the current hold already done when last paused/resumed
    hold_started: float = 0.0   # clock time the (resumed) hold counts from
    cue_index: int = 0
    rest_until: float = 0.0
    rest_remaining: float = 0.0
    after_rest: str = "block"   # "block": next set/side of this exercise; "exercise": the next one
    pain_reported: bool = False


class CoachSession:
    """One coaching session. `start(now)` then `handle(event)`, each returning actions."""

    def __init__(self, content: Content, prompts: Prompts, hints: dict[str, tuple[str, ...]],
                 options: SessionOptions | None = None,
                 screener: Callable[[], SubDialog] | None = None,
                 pain_check: Callable[[], SubDialog] | None = None) -> None:
        prompts.require(PROMPTS_USED)
        self.content = content
        self.prompts = prompts
        self.hints = hints
        self.options = options or SessionOptions()
        self._make_screener = screener
        self._make_pain_check = pain_check
        self.memory = self.options.recollection or Recollection()
        self.tempo_factor = self.memory.tempo_factor or self.options.tempo_factor
        self.speech_factor = self.memory.speech_factor or self.options.speech_factor
        self.detail = self.options.detail
        self.volume = self.options.volume
        self._told_unsaved = False
        self._resume_block = 0
        self.routine: Routine | None = None
        self.exercises: list[Exercise] = []
        self.exercise_index = -1
        self.tally: list[ExerciseTally] = []
        self.pain_before: int | None = None    # only ever a confirmed score
        self._score_heard: int | None = None   # the score read back, waiting for a yes
        self._confirm_misses = 0
        self._pain_unconfirmed = False         # gave up confirming: the strictest pain-rise rule applies
        self.pain_after_score: int | None = None
        self.pain_checks: list[int] = []
        self.ended_how = ""
        self.screener_outcome: Any = None
        self.allowed_routines = self.options.allowed_routines
        self._sub: SubDialog | None = None
        self._progress = _Progress()
        self._return_to = ""        # state that resume / "no, don't stop" goes back to
        self._reprompted = False
        self._rating_ends_exercise = False
        self._pain_return = ""      # exercise state the pain rating resumes (pause/stop reuse _return_to)
        self._started_at = 0.0
        self._now = 0.0
        self._out: list[Action] = []
        self._last_said: list[Say] = []
        # on_enter_state is named per state: transitions only auto-binds on_enter_<state name>
        states = [{"name": s, "on_enter": "on_enter_state"} for s in STATES]
        self.machine = Machine(model=self, states=states, transitions=TRANSITIONS, initial="idle",
                               auto_transitions=False, send_event=True, ignore_invalid_triggers=False)

    # ------------------------------------------------------------------ public API
    def start(self, now: float) -> list[Action]:
        self._now = self._started_at = now
        self._out = []
        if self.speech_factor != 1.0:   # a rate chosen in an earlier session
            self._out.append(SetSpeechRate(self.speech_factor))
        if self.volume != DEFAULT_VOLUME:   # a volume chosen in an earlier session
            self._out.append(SetVolume(self.volume))
        self._say("welcome")
        if self.memory.unavailable:
            self._say("history_unavailable", reason=self.memory.unavailable)
        self.begin()
        return self._drain()

    def handle(self, event: Event) -> list[Action]:
        if self.state == "finished":
            return []
        self._now = event.now
        self._out = []
        if isinstance(event, Tick):
            self._on_tick(event.timer)
        elif isinstance(event, Silence):
            self._on_silence(event)
        else:
            self._on_utterance(event)
        return self._drain()

    def end_of_input(self, now: float) -> list[Action]:
        """Input is gone for good (stdin closed, audio ended): wrap up as a stop would."""
        if self.state == "finished":
            return []
        self._now = now
        self._out = []
        self._cancel_timers()
        self._close_current("stopped")
        self.ended_how = "end_of_input"
        self.end_input()
        return self._drain()

    @property
    def current_exercise(self) -> Exercise | None:
        if 0 <= self.exercise_index < len(self.exercises):
            return self.exercises[self.exercise_index]
        return None

    # ------------------------------------------------------------------ conditions
    def can_resume(self, _: EventData) -> bool:
        point = self.memory.resume
        if point is None or point.routine not in self.content.routines:
            return False
        return self.allowed_routines is None or point.routine in self.allowed_routines

    def has_screener(self, _: EventData) -> bool:
        return self._make_screener is not None

    def may_exercise(self, _: EventData) -> bool:
        outcome = self.screener_outcome
        return outcome is not None and bool(getattr(outcome, "proceed", False))

    def is_reps(self, _: EventData) -> bool:
        ex = self.current_exercise
        return ex is not None and ex.kind == "reps"

    def has_more_work(self, _: EventData) -> bool:
        return self._progress.block_index + 1 < len(self._progress.blocks) or self.has_more_exercises(_)

    def has_more_exercises(self, _: EventData) -> bool:
        return self.exercise_index + 1 < len(self.exercises)

    def needs_pain_rating(self, _: EventData) -> bool:
        # After the last block of an exercise that drew a pain report, check the 0-10 score.
        last_block = self._progress.block_index + 1 >= len(self._progress.blocks)
        return last_block and self._progress.pain_reported

    def returns_here(self, event: EventData) -> bool:
        return event.transition.dest == self._return_to

    def has_pain_before(self, _: EventData) -> bool:
        return self.pain_before is not None

    # ------------------------------------------------------------------ state entry
    def on_enter_screening(self, event: EventData) -> None:
        if event.event.name == "resume":
            self._out.extend(self._sub.handle(Utterance("repeat", now=self._now)))
            return
        self._sub = self._make_screener()
        self._out.extend(self._sub.start(self._now))

    def on_enter_menu(self, event: EventData) -> None:
        if event.event.name == "resume":
            self._ask_menu()
            return
        offered = {r.id for r in self._offered_routines()}
        if self.allowed_routines is not None:
            self._say("routine_limited")
        if self.options.routine in offered:
            self._choose(self.options.routine)
            return
        self._ask_menu()

    def on_enter_offer_resume(self, event: EventData) -> None:
        point = self.memory.resume
        name = self.content.exercises[point.exercise].name
        if point.exercise_finished:
            self._say("offer_resume_next", name=name, routine=self.content.routine(point.routine).name)
        else:
            self._say("offer_resume", name=name, set=count_word(point.set), sets=count_word(point.sets))

    def _in_offer_resume(self, u: Utterance) -> bool:
        if u.intent == "yes":
            point = self.memory.resume
            self.routine = self.content.routine(point.routine)
            self.exercises = self.content.exercises_of(point.routine)
            ids = [e.id for e in self.exercises]
            index = ids.index(point.exercise) if point.exercise in ids else 0
            if point.exercise_finished:
                index += 1
            else:
                blocks = plan_blocks(self.exercises[index].sets, self.exercises[index].sides)
                self._resume_block = next((i for i, b in enumerate(blocks)
                                           if b.set == point.set and b.side == point.side), 0)
            if index >= len(self.exercises):       # it had finished its last exercise
                self.exercises, self.routine = [], None
                self.decline_resume()
                return True
            self.exercise_index = index - 1          # intro moves on to it
            self._say("resuming_session")
            self._out.append(Record("session_start", {"routine": point.routine}))
            self.choose()
            return True
        if u.intent == "no":
            self.decline_resume()
            return True
        return False

    def on_enter_pain_before(self, event: EventData) -> None:
        if event.event.name == "reask_score":
            return      # pain_confirm_no has asked for the score again
        self._say("pain_reprompt" if event.event.name == "resume" else "pain_before")

    def on_enter_confirm_pain(self, event: EventData) -> None:
        # also on resume and on a corrected number: the question is always the current score
        self._say("pain_confirm", score=count_word(self._score_heard))

    def on_enter_intro(self, event: EventData) -> None:
        if event.event.name == "resume":
            self._say("ready")
            return
        self.exercise_index += 1
        ex = self.current_exercise
        self._progress = _Progress(blocks=plan_blocks(ex.sets, ex.sides), block_index=self._resume_block)
        self._resume_block = 0
        self.tally.append(ExerciseTally(ex.id, ex.name))
        amount = (f"{self._reps(ex)} {'steps' if ex.sides == 'alternating' else 'reps'}" if ex.kind == "reps"
                  else f"a {ex.hold_seconds}-second hold")
        sides = {"each": ", on each side", "alternating": ", alternating sides", "none": ""}[ex.sides]
        self._say("exercise_intro", number=count_word(self.exercise_index + 1),
                  total=count_word(len(self.exercises)), name=ex.name,
                  sets=count_word(ex.sets), set_word="set" if ex.sets == 1 else "sets",
                  amount=amount, sides=sides)
        if ex.id in self.memory.targets and ex.kind == "reps":
            last, target = self.memory.targets[ex.id]
            self._say("progression_aim", last=last, target=target)
        self._out.append(Say(ex.setup, prompt=f"setup:{ex.id}"))
        if ex.cautions:
            self._say("exercise_cautions", cautions=" ".join(ex.cautions))
        self._say("ready")

    def on_enter_counting(self, event: EventData) -> None:
        p = self._progress
        ex = self.current_exercise
        if event.event.name == "resume":
            self._say("resumed", where=f"rep {count_word(p.rep + 1)}")
            self._start_timer("beat", self._tempo(ex))
            return
        self._announce_block()
        p.rep = 0
        self._say("begin_reps")
        self._start_timer("beat", self._tempo(ex))

    def on_enter_holding(self, event: EventData) -> None:
        p = self._progress
        ex = self.current_exercise
        if event.event.name == "resume":
            p.hold_started = self._now
            left = ex.hold_seconds - p.hold_elapsed
            self._say("resumed_hold", seconds=int(round(left)))
        else:
            self._announce_block()
            p.hold_elapsed = 0.0
            p.hold_started = self._now
            p.cue_index = 0
            if self.detail == "full":
                self._say("hold_start", breathing=ex.breathing)
            else:
                self._say("hold_start_short")
        self._schedule_hold_cue()

    def on_enter_resting(self, event: EventData) -> None:
        p = self._progress
        if event.event.name == "resume":
            p.rest_until = self._now + p.rest_remaining
            self._say("resumed", where=f"the rest, {int(round(p.rest_remaining))} seconds to go")
            self._start_timer("rest", p.rest_remaining)
            return
        ex = self.current_exercise
        finished_block = p.blocks[p.block_index]
        if p.block_index + 1 < len(p.blocks):
            nxt = p.blocks[p.block_index + 1]
            p.after_rest = "block"
            if nxt.set == finished_block.set:           # same set, other side: time to roll over
                seconds = SIDE_SWITCH_SECONDS
                self._say("switch_side", side=nxt.side, seconds=seconds)
            else:
                seconds = max(ex.rest_seconds, 1)
                self._say("set_done")
                self._say("rest_next_set", rest=spoken_duration(seconds),
                          set=count_word(nxt.set), sets=count_word(nxt.sets))
        else:
            p.after_rest = "exercise"
            self._finish_exercise("done")
            nxt_ex = self.exercises[self.exercise_index + 1]
            seconds = max(ex.rest_seconds, 1)
            self._say("rest_next_exercise", rest=spoken_duration(seconds), name=nxt_ex.name)
        p.rest_until = self._now + seconds
        self._start_timer("rest", seconds)

    def on_enter_paused(self, event: EventData) -> None:
        self._say("paused")

    def on_enter_confirm_stop(self, event: EventData) -> None:
        self._say("confirm_stop")

    def on_enter_pain_check(self, event: EventData) -> None:
        self._progress.pain_reported = True
        self._sub = self._make_pain_check()
        self._out.extend(self._sub.start(self._now))

    def on_enter_pain_rating(self, event: EventData) -> None:
        if event.event.name == "resume":
            self._say("pain_reprompt")
            return
        # Reached from block_done: the exercise that drew a pain report has just ended.
        self._rating_ends_exercise = event.event.name == "block_done"
        self._say("pain_rating")

    def on_enter_pain_after(self, event: EventData) -> None:
        if event.event.name == "block_done":
            self._finish_exercise("done")
        if event.event.name != "resume":
            self._say("pain_after")
        else:
            self._say("pain_reprompt")

    def on_enter_finished(self, event: EventData) -> None:
        self._cancel_timers()
        if not self.ended_how:
            self.ended_how = {"screened": "screener", "stop_for_pain": "pain",
                              "confirm_stop": "stopped"}.get(event.event.name, "completed")
        if event.event.name == "screened":
            self._say("no_coaching")
        elif self.tally:
            self._speak_summary()
        self._say("goodbye")
        self._out.append(Record("session_end", {"how": self.ended_how}))
        self._out.append(End(self.summary()))

    def on_enter_state(self, event: EventData) -> None:  # every state: tell the edges
        self._reprompted = False
        self._out.append(StateChanged(self.state))

    # ------------------------------------------------------------------ events
    def _on_tick(self, timer: str) -> None:
        if timer == "beat" and self.state == "counting":
            self._beat()
        elif timer == "hold" and self.state == "holding":
            self._hold_cue()
        elif timer == "rest" and self.state == "resting":
            self._after_rest()
        # a tick for a state we have left is stale: timers are cancelled, but one may race

    def _on_silence(self, event: Silence) -> None:
        if self.state in ("screening", "pain_check"):
            self._delegate(event)
            return
        if self.state == "confirm_pain":     # silence never confirms a score
            self._in_confirm_pain(Utterance("none", now=self._now))
            return
        prompt = REPROMPT.get(self.state)
        if prompt and not self._reprompted:
            self._reprompted = True
            slots = {"default": self._offered_routines()[0].name} if self.state == "menu" else {}
            self._say(prompt, **slots)
        # otherwise: keep waiting calmly; the Listen that follows waits without a timeout

    def _on_utterance(self, u: Utterance) -> None:
        intent = u.intent
        # Session-wide settings and questions: never an answer to what was asked (the question
        # is asked again), and timers keep running, since nothing here pauses the exercise.
        if intent in ("slower", "faster"):
            self._change_tempo(intent)
            return self._reask_sub()
        if intent == "progress":
            self._speak_progress()
            return self._reask_sub()
        if intent in ("louder", "quieter"):
            self._change_volume(intent)
            return self._ask_again()
        if intent in ("more_detail", "less_detail"):
            self._change_detail(intent)
            return self._reask_sub()
        if intent == "where":
            return self._where()
        # A sub-dialog owns the floor: its questions are what "repeat", "help" and "stop" are about
        # (stopping the screener never lets exercise start; stopping the pain check stops the session).
        if self.state in SUB_DIALOGS:
            return self._delegate(u)
        if intent == "repeat":
            return self._repeat()
        if intent == "help":
            return self._say(f"help_{self._context()}")
        if intent == "stop" and self.state != "confirm_stop":
            self._hold_timers()
            self._return_to = self.state if self.state != "paused" else self._return_to
            return self.ask_stop()
        if intent == "pain" and self.state in EXERCISING + ["paused"]:
            self._hold_timers()
            if self.state != "paused":
                self._return_to = self.state
            self._pain_return = self._return_to
            return self.report_pain()
        if intent == "pause" and self.state in EXERCISING + ASKING:
            self._hold_timers()
            self._return_to = self.state
            return self.pause()
        handler = getattr(self, f"_in_{self.state}", None)
        if handler is None or not handler(u):
            self._not_understood(u)

    # Each _in_<state> returns True when it used the utterance.
    def _in_menu(self, u: Utterance) -> bool:
        if u.intent == "routine" or u.intent == "yes":
            choice = u.value if u.intent == "routine" else "default"
            if choice == "default":
                choice = self._offered_routines()[0].id
            if choice not in {r.id for r in self._offered_routines()}:
                self._say("not_now")
                self._ask_menu()
                return True
            self._choose(choice)
            return True
        return False

    def _in_pain_before(self, u: Utterance) -> bool:
        if u.intent != "number":
            return False
        # not taken yet: read back as a question, since a score can be misheard with full confidence
        self._score_heard = int(u.value)
        self.heard_score()
        return True

    def _in_confirm_pain(self, u: Utterance) -> bool:
        """Yes (or the same number again) confirms; no asks again; another number is read back."""
        heard = self._score_heard
        if u.intent == "yes" or (u.intent == "number" and int(u.value) == heard):
            self.pain_before = heard
            self._out.append(Record("pain", {"when": "before", "score": heard}))
            self._say("pain_noted", score=count_word(heard))
            self.rated()
            return True
        self._confirm_misses += 1
        if self._confirm_misses >= CONFIRM_MISSES:
            self._give_up_on_score()
        elif u.intent == "number":
            self._score_heard = int(u.value)
            self.heard_score()
        elif u.intent == "no":
            self._say("pain_confirm_no")
            self.reask_score()
        else:       # unclear, or a command that is no answer here: the question again
            self._say("pain_confirm_reprompt", score=count_word(heard))
        return True

    def _give_up_on_score(self) -> None:
        """No confirmed score after CONFIRM_MISSES tries. Asking forever leaves someone on the
        floor stuck in a loop, and ending the session punishes a recogniser fault, so we go on
        without a score (none is saved) and judge pain during exercise as if it started at zero:
        the strictest pain-rise rule (a rating above PAIN_RISE_LIMIT stops the exercise). Said aloud."""
        from .safety import PAIN_RISE_LIMIT
        self._pain_unconfirmed = True
        self._say("pain_unconfirmed", limit=count_word(PAIN_RISE_LIMIT))
        self.unconfirmed()

    def _pain_baseline(self) -> int | None:
        """The starting score the pain-rise rule compares with (0 when it could not be confirmed)."""
        return 0 if self._pain_unconfirmed else self.pain_before

    def _in_pain_after(self, u: Utterance) -> bool:
        # Not confirmed like the score before: the session is over and no safety decision uses
        # it (only the summary's change and the history's trend do).
        if u.intent != "number":
            return False
        self.pain_after_score = int(u.value)
        self._out.append(Record("pain", {"when": "after", "score": self.pain_after_score}))
        self.rated()
        return True

    def _in_pain_rating(self, u: Utterance) -> bool:
        if u.intent == "skip":
            self._finish_exercise("skipped")
            self.next_exercise()
            return True
        if u.intent != "number":
            return False
        from .safety import pain_rise_stops
        score = int(u.value)
        self.pain_checks.append(score)
        self._out.append(Record("pain", {"when": "check", "score": score}))
        if pain_rise_stops(self._pain_baseline(), score):
            self._say("pain_rating_stop_exercise", score=count_word(score))
            self._finish_exercise("stopped_for_pain")
            self.next_exercise()
        elif self._rating_ends_exercise:
            self._say("pain_rating_continue", score=count_word(score))
            self._finish_exercise("done")
            self.next_exercise()
        else:
            # the score is said back (not asked: mid-exercise and in pain, no extra question), so a
            # mishearing is heard and "it hurts" or "stop" is one phrase away
            self._say("pain_rating_continue", score=count_word(score))
            self._return_to = self._pain_return
            self.resume()
        return True

    def _in_intro(self, u: Utterance) -> bool:
        if u.intent in ("next", "resume", "yes"):
            self.start_block()
            return True
        if u.intent == "skip":
            self._skip()
            return True
        return False

    def _in_counting(self, u: Utterance) -> bool:
        if u.intent == "next":      # finish this set early
            self._hold_timers()     # cancels, and banks the seconds held so far
            self._complete_block()
            return True
        if u.intent == "skip":
            self._skip()
            return True
        if u.intent == "resume":
            self._say("still_going")
            return True
        return False

    _in_holding = _in_counting

    def _in_resting(self, u: Utterance) -> bool:
        if u.intent in ("next", "resume"):
            self._cancel_timers()
            self._after_rest()
            return True
        if u.intent == "skip":
            self._skip()
            return True
        return False

    def _in_paused(self, u: Utterance) -> bool:
        if u.intent in ("resume", "next", "yes"):
            self.resume()
            return True
        if u.intent == "skip" and self._return_to in EXERCISING:
            self._skip()
            return True
        return False

    def _in_confirm_stop(self, u: Utterance) -> bool:
        if u.intent in ("yes", "stop"):
            self._say("stopping")
            self._close_current("stopped")
            self.ended_how = "stopped"
            self.confirm_stop()
            return True
        if u.intent in ("no", "resume"):
            self._say("continuing")
            self.resume()
            return True
        return False

    # ------------------------------------------------------------------ sub-dialogs
    def _delegate(self, event: Event) -> None:
        self._out.extend(self._sub.handle(event))
        if not self._sub.finished:
            return
        if self.state == "screening":
            self._after_screening()
        else:
            self._after_pain_check()

    def _after_screening(self) -> None:
        outcome = self._sub.outcome
        self.screener_outcome = outcome
        self._sub = None
        if getattr(outcome, "pregnant", False):
            self.allowed_routines = tuple(r.id for r in self.content.routines.values() if r.pregnancy_safe)
        elif getattr(outcome, "level", "ok") == "clinician":
            gentle = tuple(r.id for r in self.content.routines.values() if r.gentle)
            self.allowed_routines = gentle or self.allowed_routines
        self.screened()

    def _after_pain_check(self) -> None:
        decision = self._sub.decision
        self._sub = None
        if decision == "stop_session":
            self._finish_exercise("stopped_for_pain")
            self.ended_how = "pain"
            self.stop_for_pain()
        elif decision == "gentler":
            self._finish_exercise("stopped_for_pain")
            self.next_exercise()
        else:
            self.check_rating()

    # ------------------------------------------------------------------ coaching steps
    def _choose(self, routine_id: str) -> None:
        self.routine = self.content.routine(routine_id)
        self.exercises = self.content.exercises_of(routine_id)
        self._say("menu_choice", name=self.routine.name, count=count_word(len(self.exercises)))
        self._out.append(Record("session_start", {"routine": routine_id}))
        self.choose()

    def _announce_block(self) -> None:
        p = self._progress
        ex = self.current_exercise
        block = p.blocks[p.block_index]
        self._out.append(Record("position", {"exercise": ex.id, "set": block.set, "sets": block.sets,
                                             "side": block.side}))
        if p.block_index == 0 and self.detail == "full":
            for step in ex.steps:
                self._out.append(Say(step, prompt=f"step:{ex.id}"))
        if block.sets > 1:
            self._say("set_start", set=count_word(block.set), sets=count_word(block.sets))
        if block.side:
            self._say("side_start", side=block.side)

    def _beat(self) -> None:
        p = self._progress
        ex = self.current_exercise
        p.rep += 1
        if ex.sides == "alternating":
            self._say("count_side", count=count_word(p.rep), side="left" if p.rep % 2 else "right")
        else:
            self._say("count", count=count_word(p.rep))
        reps = self._reps(ex)
        if self.detail != "full":
            pass    # short mode: just the counts
        elif ex.rep_cues and p.rep <= len(ex.rep_cues) and p.rep < reps:
            self._out.append(Say(ex.rep_cues[p.rep - 1], prompt=f"cue:{ex.id}"))
        elif p.rep == reps // 2 + 1 and p.rep < reps:
            self._say("keep_breathing", breathing=ex.breathing)
        if p.rep >= reps:
            self._complete_block()
        else:
            self._start_timer("beat", self._tempo(ex))

    def _schedule_hold_cue(self) -> None:
        p = self._progress
        cues = hold_cues(self.current_exercise.hold_seconds)
        wait = cues[p.cue_index].at - p.hold_elapsed
        self._start_timer("hold", max(wait, 0.0))

    def _hold_cue(self) -> None:
        p = self._progress
        ex = self.current_exercise
        cues = hold_cues(ex.hold_seconds)
        cue = cues[p.cue_index]
        p.hold_elapsed = cue.at
        p.hold_started = self._now
        self._say(cue.prompt, **dict(cue.slots))
        p.cue_index += 1
        if p.cue_index >= len(cues):
            self._complete_block()
        else:
            self._schedule_hold_cue()

    def _complete_block(self) -> None:
        p = self._progress
        ex = self.current_exercise
        t = self.tally[-1]
        t.sets = p.blocks[p.block_index].set
        if ex.kind == "reps":
            t.reps += p.rep
        else:
            t.hold_seconds += p.hold_elapsed
        self.block_done()

    def _after_rest(self) -> None:
        p = self._progress
        if p.after_rest == "block":
            p.block_index += 1
            self.start_block()
        else:
            self.next_exercise()

    def _skip(self) -> None:
        self._cancel_timers()
        self._say("skipping", name=self.current_exercise.name)
        self._finish_exercise("skipped")
        self.next_exercise()

    def _finish_exercise(self, status: str) -> None:
        """Close the current exercise's tally once; later calls keep the first status."""
        if not self.tally or self.tally[-1].status != "not_started":
            return
        t = self.tally[-1]
        t.status = status
        if status == "done":
            self._say("exercise_done", name=t.name)
        self._out.append(Record("exercise", {"exercise": t.id, "status": status, "reps": t.reps,
                                             "sets": t.sets, "hold_seconds": round(t.hold_seconds, 1)}))

    def _close_current(self, status: str) -> None:
        """Stopping mid-exercise: count the reps or hold seconds of the unfinished block."""
        if self.current_exercise is None or self.tally[-1].status != "not_started":
            return
        p = self._progress
        where = self._return_to if self.state in ("paused", "confirm_stop", "pain_check", "pain_rating") else self.state
        if where == "counting":
            self.tally[-1].reps += p.rep
        elif where == "holding":
            self.tally[-1].hold_seconds += p.hold_elapsed + (self._now - p.hold_started if self.state == "holding" else 0)
        self._finish_exercise(status)

    # ------------------------------------------------------------------ timers
    def _reps(self, ex: Exercise) -> int:
        """Reps per set: the progression target from history when there is one."""
        target = self.memory.targets.get(ex.id)
        return target[1] if target else ex.reps

    def _tempo(self, ex: Exercise) -> float:
        return round(ex.tempo_seconds * self.tempo_factor, 3)

    def _start_timer(self, name: str, seconds: float) -> None:
        self._out.append(StartTimer(name, round(seconds, 3)))

    def _cancel_timers(self) -> None:
        for name in ("beat", "hold", "rest"):
            self._out.append(CancelTimer(name))

    def _hold_timers(self) -> None:
        """Stop the clock on whatever is running, keeping what is left for resume."""
        p = self._progress
        if self.state == "holding":
            p.hold_elapsed += self._now - p.hold_started
        elif self.state == "resting":
            p.rest_remaining = max(p.rest_until - self._now, 1.0)
        if self.state in ("counting", "holding", "resting"):
            self._cancel_timers()

    # ------------------------------------------------------------------ talk
    def _say(self, prompt_id: str, **slots: object) -> None:
        self._out.append(self.prompts.say(prompt_id, **slots))

    def _context(self) -> str:
        if self.state in ("screening", "pain_check"):
            return "yes_no"
        return LISTEN_CONTEXT.get(self.state, "coach")

    def _ask_menu(self) -> None:
        routines = self._offered_routines()
        names = [r.name for r in routines]
        listing = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        self._say("menu", routines=listing, default=routines[0].name)

    def _offered_routines(self) -> list[Routine]:
        routines = list(self.content.routines.values())
        if self.allowed_routines is not None:
            routines = [r for r in routines if r.id in self.allowed_routines]
        routines.sort(key=lambda r: (not r.default, r.name))
        return routines

    def _repeat(self) -> None:
        if self.state in ("counting", "holding"):
            # mid-set, the count is not what people want again: the instructions are
            ex = self.current_exercise
            self._out.extend(Say(step, prompt=f"step:{ex.id}") for step in ex.steps)
            return
        if self._last_said:
            self._out.extend(self._last_said)
        else:
            self._say("repeat_nothing")

    def _not_understood(self, u: Utterance) -> None:
        hints = self.hints.get(self._context(), ())
        first, second = (list(hints) + ["help", "repeat"])[:2]
        if u.intent != "none" and u.intent not in ("pause",):
            self._say("not_now")
        self._say("sorry", first=first, second=second)

    def _change_tempo(self, intent: str) -> None:
        lo, hi = TEMPO_RANGE
        factor = self.tempo_factor * (TEMPO_STEP if intent == "slower" else 1 / TEMPO_STEP)
        if not lo <= factor <= hi:
            self._say("tempo_limit")
            return
        self.tempo_factor = round(factor, 4)
        s_lo, s_hi = SPEECH_RANGE
        speech = self.speech_factor * (SPEECH_STEP if intent == "slower" else 1 / SPEECH_STEP)
        self.speech_factor = round(min(max(speech, s_lo), s_hi), 4)
        self._out.append(SetSpeechRate(self.speech_factor))
        self._out.append(Record("setting", {"name": "tempo", "value": self.tempo_factor}))
        self._out.append(Record("setting", {"name": "speech_rate", "value": self.speech_factor}))
        self._say("tempo_slower" if intent == "slower" else "tempo_faster")

    def _speak_summary(self) -> None:
        s = self.summary()
        done = s["exercises_done"]
        self._say("summary", done=count_word(len(done)), done_word="exercise" if len(done) == 1 else "exercises",
                  skipped=count_word(len(s["exercises_skipped"]) + len(s["exercises_stopped"])), reps=s["total_reps"],
                  hold=spoken_duration(s["total_hold_seconds"]), time=spoken_duration(s["duration_seconds"]))
        if self.pain_before is not None and self.pain_after_score is not None:
            change = self.pain_after_score - self.pain_before
            prompt = "pain_change_same" if change == 0 else (
                "pain_change_better" if change < 0 else "pain_change_worse")
            self._say(prompt, before=count_word(self.pain_before), after=count_word(self.pain_after_score),
                      points=count_word(abs(change)), point_word="point" if abs(change) == 1 else "points")

    def _speak_progress(self) -> None:
        progress = self.memory.progress
        if progress is None:
            self._say("progress_none")
            return
        self._say("progress_sessions", sessions=count_word(progress.sessions_this_week),
                  session_word="session" if progress.sessions_this_week == 1 else "sessions",
                  streak=count_word(progress.streak_days),
                  day_word="day" if progress.streak_days == 1 else "days")
        trend = progress.pain
        if trend is not None and trend.direction:
            self._say(f"progress_pain_{trend.direction}")
        for ex_progress in progress.exercises:
            if ex_progress.exercise in self.content.exercises and ex_progress.next_target:
                self._say("progress_exercise", last=ex_progress.last_value,
                          name=self.content.exercises[ex_progress.exercise].name, target=ex_progress.next_target)
                break

    def summary(self) -> dict:
        by_status: dict[str, list[str]] = {}
        for t in self.tally:
            by_status.setdefault(t.status, []).append(t.id)
        outcome = self.screener_outcome
        return {
            "routine": self.routine.id if self.routine else None,
            "ended": self.ended_how,
            "exercises_done": by_status.get("done", []),
            "exercises_skipped": by_status.get("skipped", []),
            "exercises_stopped": by_status.get("stopped", []) + by_status.get("stopped_for_pain", []),
            "exercises": [t.__dict__.copy() for t in self.tally],
            "total_reps": sum(t.reps for t in self.tally),
            "total_hold_seconds": round(sum(t.hold_seconds for t in self.tally), 1),
            "duration_seconds": round(self._now - self._started_at, 1),
            "pain_before": self.pain_before,
            "pain_after": self.pain_after_score,
            "pain_checks": list(self.pain_checks),
            "triage": getattr(outcome, "level", None),
            "tempo_factor": self.tempo_factor,
            "speech_factor": self.speech_factor,
        }

    # ------------------------------------------------------------------ where, detail, volume
    def _reask_sub(self) -> None:
        """In a sub-dialog, its question again (and its Listen): the command was not an answer."""
        if self.state in SUB_DIALOGS and self._sub is not None:
            self._delegate(Utterance("repeat", now=self._now))

    def _ask_again(self) -> None:
        """The question waiting for an answer, again (after "louder": it may not have been heard)."""
        if self.state in SUB_DIALOGS:
            self._reask_sub()
        elif self.state == "offer_resume":
            self.on_enter_offer_resume(None)
        elif self.state == "menu":
            self._ask_menu()
        elif self.state in ("pain_before", "pain_after", "pain_rating"):
            self._say("pain_reprompt")
        elif self.state == "confirm_pain":
            self._say("pain_confirm", score=count_word(self._score_heard))
        elif self.state == "confirm_stop":
            self._say("confirm_stop")
        elif self.state == "intro":
            self._say("ready")

    def _change_volume(self, intent: str) -> None:
        lo, hi = VOLUME_RANGE
        level = self.volume + (1 if intent == "louder" else -1)
        if not lo <= level <= hi:
            self._say("volume_max" if intent == "louder" else "volume_min")
            return
        self.volume = level
        self._out.append(SetVolume(level))        # before the confirmation: it is heard at the new level
        self._say("volume_louder" if intent == "louder" else "volume_quieter")
        self._saved_preference({"volume": level})

    def _change_detail(self, intent: str) -> None:
        detail = "full" if intent == "more_detail" else "short"
        if detail == self.detail:
            self._say(f"detail_already_{detail}")
            return
        self.detail = detail
        self._say(f"detail_{detail}")
        self._saved_preference({"detail": detail})
        ex = self.current_exercise
        if detail == "full" and ex is not None and self.state in ("counting", "holding"):
            # mid-set the steps were left out: give them now rather than at the next exercise
            self._out.extend(Say(step, prompt=f"step:{ex.id}") for step in ex.steps)

    def _saved_preference(self, data: dict) -> None:
        self._out.append(Record("preference", data))
        if self.options.preferences_unsaved and not self._told_unsaved:
            self._told_unsaved = True
            self._say("preference_not_saved")

    def _where_slots(self) -> dict[str, object]:
        """Exercise N of M, its name, and the set/side of the current block."""
        ex = self.current_exercise
        p = self._progress
        block = p.blocks[min(p.block_index, len(p.blocks) - 1)] if p.blocks else None
        return {"number": count_word(self.exercise_index + 1), "total": count_word(len(self.exercises)),
                "name": ex.name, "set": count_word(block.set if block else 1),
                "sets": count_word(block.sets if block else ex.sets), "side": (block.side if block else "") or ""}

    def _hold_left(self, running: bool) -> int:
        p = self._progress
        held = p.hold_elapsed + (self._now - p.hold_started if running else 0.0)
        return max(int(round(self.current_exercise.hold_seconds - held)), 0)

    def _where(self) -> None:
        """ "Where am I?": answered from the dialog state; a question is asked again, timers
        keep running (a hold keeps counting, and the answer says so)."""
        state = self.state
        if state == "screening":
            return self._delegate(Utterance("where", now=self._now))
        if state == "pain_check":
            self._say("where_pain_check", name=self.current_exercise.name)
            return self._delegate(Utterance("where", now=self._now))
        p = self._progress
        if state in ("counting", "holding"):
            slots = self._where_slots()
            suffix = "_side" if slots["side"] else ""
            if state == "counting":
                self._say(f"where_counting{suffix}", rep=count_word(max(p.rep, 1)),
                          reps=count_word(self._reps(self.current_exercise)), **slots)
            else:
                self._say(f"where_holding{suffix}", seconds=self._hold_left(running=True), **slots)
        elif state == "resting":
            seconds = max(int(round(p.rest_until - self._now)), 1)
            if p.after_rest == "exercise":
                nxt = self.exercises[self.exercise_index + 1]
                self._say("where_resting_exercise", seconds=seconds, name=nxt.name,
                          number=count_word(self.exercise_index + 2), total=count_word(len(self.exercises)))
            else:
                nxt = p.blocks[p.block_index + 1]
                done = p.blocks[p.block_index]
                slots = {**self._where_slots(), "set": count_word(nxt.set), "side": nxt.side or ""}
                self._say("where_resting_side" if nxt.set == done.set and nxt.side else "where_resting_set",
                          seconds=seconds, **slots)
        elif state == "paused":
            self._where_paused()
        elif state == "intro":
            ex = self.current_exercise
            self._say("where_intro", number=count_word(self.exercise_index + 1),
                      total=count_word(len(self.exercises)), name=ex.name,
                      sets=count_word(ex.sets), set_word="set" if ex.sets == 1 else "sets")
            self._ask_again()
        elif state in PROMPTED:
            slots: dict[str, object] = {}
            if state in ("pain_before", "confirm_pain"):
                slots = {"routine": self.routine.name}
            elif state == "pain_rating":
                slots = {"name": self.current_exercise.name}
            self._say(f"where_{state}", **slots)
            self._ask_again()

    def _where_paused(self) -> None:
        where = self._return_to
        p = self._progress
        if where in EXERCISING and self.current_exercise is not None:
            slots = self._where_slots()
            if where == "counting":
                self._say("where_paused_counting", rep=count_word(p.rep),
                          reps=count_word(self._reps(self.current_exercise)), **slots)
            elif where == "holding":
                self._say("where_paused_holding", seconds=self._hold_left(running=False), **slots)
            elif where == "resting":
                self._say("where_paused_resting", seconds=int(round(p.rest_remaining)), **slots)
            else:
                self._say("where_paused_intro", **slots)
        else:
            self._say("where_paused_question")

    # ------------------------------------------------------------------ output
    def _drain(self) -> list[Action]:
        """The batch for this event, ending in exactly one Listen unless the session ended."""
        out = self._out
        self._out = []
        said = [a for a in out if isinstance(a, Say) and a.prompt not in NOT_REPEATED
                and not a.prompt.startswith("cue:")]
        if said:
            self._last_said = said
        sub_listen = next((a for a in reversed(out) if isinstance(a, Listen)), None)
        out = [a for a in out if not isinstance(a, Listen)]
        if self.state != "finished":
            if self.state in ("screening", "pain_check") and sub_listen is not None:
                out.append(sub_listen)
            else:
                # the read-back waits with a timeout every time: silence counts as a miss there
                timeout = SILENCE_TIMEOUT if (self.state == "confirm_pain" or (
                    self.state in REPROMPT and not self._reprompted)) else None
                out.append(Listen(self._context(), timeout, prompted=self.state in PROMPTED))
        return out
