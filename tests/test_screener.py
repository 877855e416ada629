"""The red-flag screener dialog, through the real Screener class with the real data file
and the real prompts.

The main tests enumerate every answer sequence: at each question reached the person says
yes, no, something unclear (a rejected phrase), a partial yes ("a little"), a doubtful no ("not
really") or nothing (silence), for each pain_site value. The test keeps its own account of what it said and what it was asked, and checks
every step and every ending against it. Paths that reach the same dialog state with the
same account are explored once (their futures are identical) but counted separately.
"""
from __future__ import annotations

import functools
import random
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from skill.prompts import Prompts
from skill.protocol import Ask, End, Listen, Record, Say, Silence, Tick, Triage, Utterance
from skill.screener import (GO_AHEAD, YES_NO, LISTEN_TIMEOUT, MAX_UNKNOWN, PAIN_SITE, READBACK, STATES,
                            TRANSITIONS, Screener, ScreenerDataError, load_questions)
from skill.triage import highest_possible, severity, triage

LOCALE = Path(__file__).resolve().parents[1] / "dialogs" / "en-us"
QS = load_questions(LOCALE)
LEVEL = QS.levels
ORDER = QS.ids()
POS = {q: i for i, q in enumerate(ORDER)}
APPLIES = {q.id: q.applies for q in QS.questions}
VITAL = {q for q in ORDER if LEVEL[q] == "emergency"} | {"pregnant"}

YES, NO, UNCLEAR, SILENCE = Utterance("yes"), Utterance("no"), Utterance("none", text="mumble"), Silence()
PARTLY, DOUBTFUL = Utterance("partial_yes", text="a little"), Utterance("leaning_no", text="not really")
ANSWER_TURNS = (("yes", YES), ("no", NO), ("unclear", UNCLEAR), ("silence", SILENCE),
                ("partly", PARTLY), ("doubtful", DOUBTFUL))
HEDGE_PROMPTS = {"partly": "screener_partial", "doubtful": "screener_leaning_no"}
SITE_TURNS = {"back": Utterance("site", "back"), "hip": Utterance("site", "hip"),
              "both": Utterance("site", "both")}


def prompts() -> Prompts:
    return Prompts.load(LOCALE / "prompts", rng=random.Random(0))


def new_screener(**kw) -> Screener:
    return Screener(QS, prompts(), **kw)


# ---------------------------------------------------------------- the test's own account
@dataclass(frozen=True)
class Said:
    site: str | None = None
    record: tuple[tuple[str, str], ...] = ()   # red-flag question -> yes | no | unknown
    pending: str | None = PAIN_SITE            # what the last Ask asked
    unclear: int = 0                           # unclear tries at `pending`
    partly: bool = False                       # "a little" said to the red-flag question `pending`
    triaged: tuple | None = None               # (level, reasons) of the Triage action seen
    readback: str | None = None                # yes | unknown
    go_ahead: str | None = None                # yes | no | unknown


def applicable(q: str, site: str, record: dict) -> bool:
    a = APPLIES[q]
    if a == "always":
        return True
    if a == "back":
        return site in ("back", "both")
    if a == "hip":
        return site in ("hip", "both")
    assert a == "pregnant"
    return record.get("pregnant") in ("yes", "unknown")


@functools.lru_cache(maxsize=None)
def triaged(record: tuple[tuple[str, str], ...]) -> tuple[str, tuple[str, ...]]:
    return triage(dict(record), LEVEL)


def capped(record: dict) -> bool:
    return sum(a == "unknown" for a in record.values()) >= MAX_UNKNOWN


class Explorer:
    """Depth-first over every answer sequence, checking each step and each ending."""

    def __init__(self, site_turns: list[tuple[str, Utterance | Silence]], side_edges: bool = True) -> None:
        self.s = new_screener()
        self.start_actions = self.s.start(0.0)
        self.initial = self.s.snapshot()
        self.site_turns = site_turns
        self.side_edges = side_edges
        self.memo: dict = {}
        self.commands_checked: set = set()
        self.on_path: set = set()
        self.paths = 0
        self.outcomes: set = set()        # distinct (record, level) endings
        self.levels: dict[str, int] = {}
        self.restarts = 0
        self.steps = 0

    # ------------------------------------------------------------ driving
    def run(self) -> int:
        assert self.start_actions[-1] == Listen(PAIN_SITE, timeout=LISTEN_TIMEOUT, prompted=True)
        assert Ask(PAIN_SITE) in self.start_actions
        self.paths = self.visit(Said(), self.initial)
        return self.paths

    def visit(self, said: Said, snap) -> int:
        key = (snap, said)
        if key in self.memo:
            return self.memo[key]
        assert key not in self.on_path, f"the dialog loops without progress: {said}"
        self.on_path.add(key)
        turns = self.site_turns if said.pending == PAIN_SITE else ANSWER_TURNS
        total = 0
        for symbol, event in turns:
            self.s.restore(snap)
            actions = self.s.handle(event)
            self.steps += 1
            nxt = self.step(said, symbol, actions)
            if nxt is None:          # restarted from the read-back
                total += 1
            elif self.s.finished:
                self.ending(nxt, actions)
                total += 1
            else:
                total += self.visit(nxt, self.s.snapshot())
        if self.side_edges:
            self.check_side_edges(said, snap)
        self.on_path.discard(key)
        self.memo[key] = total
        return total

    # ------------------------------------------------------------ one step
    def step(self, said: Said, symbol: str, actions: list) -> Said | None:
        s = self.s
        assert not any(isinstance(a, End) for a in actions), "the screener must never end the session"
        triages = [a for a in actions if isinstance(a, Triage)]
        records = [a for a in actions if isinstance(a, Record)]
        asks = [a for a in actions if isinstance(a, Ask)]
        listens = [a for a in actions if isinstance(a, Listen)]
        assert len(triages) <= 1 and not (triages and said.triaged), "one Triage per run"
        assert len(records) == (1 if s.finished else 0)
        if s.finished:
            assert not listens and not asks, "nothing asked after the end"
            assert said.triaged or triages, "the outcome must be triaged"
        else:
            # ask precedes listen: exactly one of each, the Listen last, the Ask before it
            assert len(listens) == 1 and actions[-1] is listens[0], actions
            assert len(asks) == 1 and actions.index(asks[0]) < len(actions) - 1
            asked = asks[0].question_id
            assert isinstance(actions[actions.index(asks[0]) + 1], Say), "the question is spoken after Ask"
            assert listens[0].context == (PAIN_SITE if asked == PAIN_SITE else "yes_no")
            assert listens[0].timeout == LISTEN_TIMEOUT
            assert s.pending == asked
        if triages:
            self.check_spoken_outcome(actions, triages[0])

        record = dict(said.record)
        p = said.pending
        done_with_p = True
        site, readback, go_ahead = said.site, said.readback, said.go_ahead
        unclear = said.unclear
        partly = said.partly or (symbol == "partly" and p in LEVEL)
        if symbol in ("unclear", "silence", "partly", "doubtful"):
            unclear += 1
            done_with_p = unclear >= 2
        if p == PAIN_SITE:
            site = symbol if symbol in SITE_TURNS else ("both" if done_with_p else None)
        elif p in LEVEL:
            if symbol in ("yes", "no"):
                record[p] = symbol
            elif done_with_p:
                # out of tries: a partial yes at any try makes it a yes (any amount is a yes)
                record[p] = "yes" if partly else "unknown"
                said_now = [a.prompt for a in actions if isinstance(a, Say)]
                assert ("screener_partial_as_yes" in said_now) == partly, said_now
        elif p == READBACK:
            if symbol == "no":
                # a "no" to the read-back restarts the questions from the start
                assert not s.finished and asks[0].question_id == PAIN_SITE
                assert any(isinstance(a, Say) and a.prompt == "screener_restart" for a in actions)
                assert s.snapshot() == self.initial, "restart must forget every answer"
                self.restarts += 1
                return None
            readback = "yes" if symbol == "yes" else ("unknown" if done_with_p else None)
        elif p == GO_AHEAD:
            go_ahead = symbol if symbol in ("yes", "no") else ("unknown" if done_with_p else None)
        else:
            raise AssertionError(f"answer given while nothing was pending: {p}")

        if not done_with_p:
            assert not s.finished and asks[0].question_id == p, "an unclear answer is asked again"
            said_now = [a.prompt for a in actions if isinstance(a, Say)]
            if p in LEVEL and symbol in HEDGE_PROMPTS:
                # a hedge to a red-flag question: "even a little counts as a yes", then the
                # question in its own words
                assert said_now == [HEDGE_PROMPTS[symbol], f"screener/{p}"], said_now
            else:
                # asked again, in other words, and not counted as an answer
                assert any(x.endswith("rephrase") for x in said_now), actions
            return replace(said, unclear=unclear, partly=partly)

        level_now = triaged(tuple(record.items()))[0]
        if p in LEVEL and level_now == "emergency":
            # an emergency answer ends the screener at once
            assert s.finished and triages and triages[0].level == "emergency", actions
        new_pending = None if s.finished else asks[0].question_id
        if new_pending is not None:
            assert new_pending != p, "an answered question is not asked again"
        if new_pending in LEVEL:
            self.check_order(said, record, site, new_pending)
        return Said(site=site, record=tuple(record.items()), pending=new_pending, unclear=0,
                    triaged=(triages[0].level, triages[0].reasons) if triages else said.triaged,
                    readback=readback, go_ahead=go_ahead)

    def check_order(self, said: Said, record: dict, site: str, q: str) -> None:
        assert q not in record, f"{q} asked again after it was answered"
        assert applicable(q, site, record), f"{q} does not apply (site {site})"
        last = max((POS[k] for k in record), default=-1)
        assert POS[q] > last, f"{q} asked out of order"
        for skipped in ORDER[last + 1:POS[q]]:
            ok = not applicable(skipped, site, record) or (capped(record) and skipped not in VITAL)
            assert ok, f"{skipped} skipped before {q} with answers {record}"
        if capped(record):
            assert q in VITAL, f"after {MAX_UNKNOWN} unknowns only emergency questions: {q}"

    def check_spoken_outcome(self, actions: list, t: Triage) -> None:
        after = actions[actions.index(t) + 1:]
        said = [a.prompt for a in after if isinstance(a, Say)]
        assert "screener_not_diagnosis" in said, "the outcome says it is not a diagnosis"
        advice = {"emergency": "screener_outcome_emergency", "urgent": "screener_outcome_urgent"}
        if t.level in advice:
            assert advice[t.level] in said
        else:
            assert {"screener_outcome_clinician", "screener_outcome_ok", "screener_unfinished_advice"} & set(said)
        if t.level == "ok":
            assert "screener_outcome_ok" in said

    # ------------------------------------------------------------ one ending
    def ending(self, said: Said, actions: list) -> None:
        o = self.s.outcome
        record = dict(said.record)
        assert o is not None
        assert o.answers == record, "the screener recorded exactly what was said"
        assert (o.level, o.reasons) == said.triaged, "Triage action and outcome agree"
        rec = [a for a in actions if isinstance(a, Record)][0]
        assert rec.kind == "screener" and rec.data["level"] == o.level
        assert rec.data["yes"] == [q for q, a in record.items() if a == "yes"]
        assert rec.data["unknown"] == [q for q, a in record.items() if a == "unknown"]

        # invariant 1: an emergency-level yes never ends below emergency
        if any(LEVEL[q] == "emergency" and a == "yes" for q, a in record.items()):
            assert o.level == "emergency", (record, o)
        # invariant 2: an unknown never ends ok
        if "unknown" in record.values() or said.readback == "unknown":
            assert o.level != "ok", (record, o)
        # invariant 3: ok only when every question that applied was a clear no, confirmed
        if o.level == "ok":
            for q in ORDER:
                if applicable(q, said.site, record) and LEVEL[q] != "none":
                    assert record.get(q) == "no", (q, record)
            assert said.readback == "yes"
        # never milder than the pure triage of what was said
        assert severity(o.level) >= severity(triaged(said.record)[0])
        # questions left unasked are justified
        unasked = [q for q in ORDER if q not in record and applicable(q, said.site, record | (
            {"pregnant": "yes"} if "pregnant" not in record else {}))]
        if unasked and o.level != "emergency":
            settled = o.level != "ok" and highest_possible(record, unasked, LEVEL) == triaged(said.record)[0]
            skipped_for_unclear = capped(record) and all(q not in VITAL for q in unasked)
            assert settled or skipped_for_unclear, (record, unasked, o)
            if not settled:
                assert o.ended == "unclear" and not o.proceed
        # coaching only after ok + read-back yes, or clinician + a clear yes to gentle exercise
        assert o.proceed == ((o.level == "ok" and said.readback == "yes")
                             or (o.level == "clinician" and said.go_ahead == "yes"))
        if said.go_ahead is not None:
            assert o.level == "clinician" and o.ended == "complete"
        if record.get("pregnant") in ("yes", "unknown"):
            assert o.pregnant
        self.outcomes.add((said.record, o.level))
        self.levels[o.level] = self.levels.get(o.level, 0) + 1

    # ------------------------------------------------------------ commands that are not answers
    def check_side_edges(self, said: Said, snap) -> None:
        s = self.s
        p = said.pending
        kind = (snap[0], p, said.unclear, capped(dict(said.record)))
        if said.unclear == 0 or kind not in self.commands_checked:
            # stop ends the questions, never with ok, never with coaching: checked after every
            # set of answers (the outcome depends on them), and once after an unclear try.
            # Except at the go-ahead (where it is a no), a stop is confirmed first: "no" asks
            # the same question again with nothing changed, "yes" ends the questions
            s.restore(snap)
            actions = s.handle(Utterance("stop"))
            if p != GO_AHEAD:
                assert not s.finished and prompts_of(actions) == ["screener_confirm_stop"]
                assert actions[-1] == Listen(YES_NO, timeout=LISTEN_TIMEOUT, prompted=True)
                asking = s.snapshot()
                actions = s.handle(Utterance("no"))
                assert s.snapshot() == snap and Ask(p) in actions and actions[-1].__class__ is Listen
                s.restore(asking)
                actions = s.handle(Utterance("yes"))
            o = s.outcome
            assert s.finished and not o.proceed and not any(isinstance(a, (Listen, End)) for a in actions)
            if p != GO_AHEAD:
                assert o.level != "ok" and o.ended == "stopped"
                assert Triage(o.level, o.reasons) in actions
                assert severity(o.level) >= severity(triaged(said.record)[0])
        # the other commands do not depend on the answers so far: once per question and try
        if kind in self.commands_checked:
            return
        self.commands_checked.add(kind)
        # "where am I" and the session-wide settings are never an answer and never an unclear try
        for intent in ("explain", "repeat", "help", "where", "louder", "quieter", "more_detail", "less_detail"):
            s.restore(snap)
            actions = s.handle(Utterance(intent))
            assert s.snapshot() == snap, f"{intent} changes nothing but repeats the question"
            assert actions[-1].__class__ is Listen and Ask(p) in actions
            assert actions[-1].prompted and actions[-1].timeout == LISTEN_TIMEOUT
            if intent == "explain":
                first = actions[0]
                assert isinstance(first, Say) and "explain" in first.prompt
            if intent == "where":
                first = actions[0]
                assert isinstance(first, Say) and first.prompt.startswith("screener_where")
        # pause waits without a timeout; silence while paused does not count; resume asks again
        s.restore(snap)
        paused = s.handle(Utterance("pause"))
        assert paused[-1].timeout is None and not any(isinstance(a, Ask) for a in paused)
        assert s.handle(SILENCE)[-1] == Listen(paused[-1].context, timeout=None)
        resumed = s.handle(Utterance("resume"))
        assert Ask(p) in resumed and s.snapshot() == snap
        # anything else is unclear, exactly like a rejected phrase
        s.restore(snap)
        unclear = s.handle(UNCLEAR)
        after_unclear = s.snapshot()
        s.restore(snap)
        s.handle(Utterance("number", 3) if p != PAIN_SITE else Utterance("yes"))
        assert s.snapshot() == after_unclear
        # "I don't know" is an unclear try too, never an answer; re-asked, it is the question's
        # explanation that is said before it instead of its rephrasing
        s.restore(snap)
        unsure = s.handle(Utterance("unsure"))
        assert s.snapshot() == after_unclear
        assert [a for a in unsure if not isinstance(a, Say)] == [a for a in unclear if not isinstance(a, Say)]
        if Ask(p) in unclear:
            said = [a.prompt for a in unsure if isinstance(a, Say)]
            assert "explain" in said[0] and not any(x.endswith("unclear") for x in said), said
        # a timer tick is not for the screener
        s.restore(snap)
        assert s.handle(Tick("hold")) == [] and s.snapshot() == snap


@pytest.mark.parametrize("site", ["back", "hip", "both"])
def test_every_answer_sequence(site, capsys):
    ex = Explorer([(site, SITE_TURNS[site])])
    paths = ex.run()
    with capsys.disabled():
        print(f"\n  pain_site={site}: {paths} answer sequences, {len(ex.outcomes)} distinct answer sets "
              f"at the end, {len(ex.memo)} states, {ex.steps} steps, endings by level {ex.levels}, "
              f"{ex.restarts} read-back restarts", file=sys.stderr)
    assert set(ex.levels) == {"ok", "clinician", "urgent", "emergency"}
    assert ex.restarts > 0
    assert paths == PATH_COUNTS[site], f"path count changed: {paths} (update PATH_COUNTS if intended)"


# Number of answer sequences (yes / no / unclear / silence / partly / doubtful at each turn, until the screener
# ends or the read-back restarts it). A regression guard: it changes with the data file.
PATH_COUNTS = {"back": 134_148_582_970_250_301, "hip": 748_800_034_876_273_476,
               "both": 144_292_597_604_456_351_601}


def test_machine_is_declared_as_data():
    assert STATES[0] == "idle" and "done" in STATES
    for t in TRANSITIONS:
        assert t["dest"] in STATES
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        assert set(sources) <= set(STATES)


# ---------------------------------------------------------------- scripted conversations
def run(script, site="back", **kw):
    """Start a screener, say each turn in `script`; return (screener, all actions)."""
    s = new_screener(**kw)
    actions = s.start(0.0)
    actions += s.handle(SITE_TURNS[site] if site in SITE_TURNS else site)
    for turn in script:
        assert not s.finished, f"finished before {turn}"
        actions += s.handle(turn)
    return s, actions


def asked(actions) -> list[str]:
    return [a.question_id for a in actions if isinstance(a, Ask)]


def prompts_of(actions) -> list[str]:
    return [a.prompt for a in actions if isinstance(a, Say)]


def answer_questions(s: Screener, answers: dict | None = None, default=NO) -> list:
    """Answer each red-flag question as it comes (by id), until something else is asked."""
    answers = answers or {}
    actions = []
    while not s.finished and s.pending in LEVEL:
        actions += s.handle(answers.get(s.pending, default))
    return actions


def all_no(site: str) -> list:
    record: dict = {}
    return [NO for q in ORDER if applicable(q, site, record)]


def test_all_clear_reads_back_then_ok():
    s, actions = run(all_no("back") + [YES])
    o = s.outcome
    assert s.finished and o.level == "ok" and o.proceed and o.reasons == ()
    assert asked(actions) == [PAIN_SITE] + [q for q in ORDER if applicable(q, "back", {})] + [READBACK]
    assert "screener_readback" in prompts_of(actions)
    assert Triage("ok", ()) in actions
    assert {"screener_outcome_ok", "screener_not_diagnosis"} <= set(prompts_of(actions))
    assert actions[-1] == Record("screener", actions[-1].data) and actions[-1].data["level"] == "ok"
    assert not any(isinstance(a, End) for a in actions)


def test_read_back_no_restarts_the_questions():
    s, actions = run(all_no("hip") + [NO])
    assert not s.finished and s.state == "pain_site" and s.answers == {}
    assert asked(actions)[-1] == PAIN_SITE and "screener_restart" in prompts_of(actions)
    # the second time round a yes counts
    actions = s.handle(SITE_TURNS["back"]) + s.handle(YES)
    assert s.finished and s.outcome.level == "emergency"
    assert s.outcome.answers == {"saddle_numbness": "yes"}


@pytest.mark.parametrize("qid", [q for q in ORDER if LEVEL[q] == "emergency"])
def test_an_emergency_yes_ends_at_once_with_the_advice(qid):
    site = "both"
    script = []
    record = {}
    for q in ORDER:
        if q == qid:
            break
        if applicable(q, site, record):
            answer = "yes" if q == "pregnant" else "no"
            record[q] = answer
            script.append(YES if answer == "yes" else NO)
    s, actions = run(script, site=site)
    assert asked(actions)[-1] == qid
    last = s.handle(YES)
    assert s.finished and s.outcome.level == "emergency" and qid in s.outcome.reasons
    assert not any(isinstance(a, (Ask, Listen)) for a in last)
    texts = " ".join(a.text for a in last if isinstance(a, Say))
    assert "emergency" in texts and ("diagnosis" in texts)
    assert not s.outcome.proceed


def test_unclear_is_asked_again_in_other_words_then_counts_as_unknown():
    s, actions = run([UNCLEAR])
    q = QS.get("saddle_numbness")
    assert [a.text for a in actions if isinstance(a, Say)][-1] == q.rephrase
    assert "screener_unclear" in prompts_of(actions)
    actions = s.handle(SILENCE)
    assert s.answers == {"saddle_numbness": "unknown"} and "screener_unknown" in prompts_of(actions)
    assert asked(actions) == ["bladder"]
    # the rest all clear: still not ok, and the person hears why
    actions += answer_questions(s)
    assert s.state == "go_ahead" and Triage("clinician", ("saddle_numbness",)) in actions
    spoken = " ".join(a.text for a in actions if isinstance(a, Say))
    assert "couldn't get a clear answer" in spoken and q.finding in spoken
    s.handle(SILENCE)
    s.handle(SILENCE)   # silence is never a yes to exercising
    assert s.finished and not s.outcome.proceed and s.outcome.level == "clinician"


def test_silence_is_re_asked_calmly_and_never_an_answer():
    s, actions = run([SILENCE])
    assert "screener_silence" in prompts_of(actions) and s.answers == {}
    assert actions[-1] == Listen("yes_no", timeout=LISTEN_TIMEOUT, prompted=True)
    s.handle(NO)
    assert s.answers == {"saddle_numbness": "no"}


def test_pregnancy_questions_follow_only_a_yes_or_unclear_to_pregnant():
    def upto_pregnant(site="back"):
        return [NO for q in ORDER[:POS["pregnant"]] if applicable(q, site, {})]
    s, actions = run(upto_pregnant() + [NO])
    assert asked(actions)[-1] == "cancer_history"
    s, actions = run(upto_pregnant() + [YES])
    assert asked(actions)[-1] == "pregnancy_warning"
    actions = answer_questions(s)
    assert "screener_readback_pregnant" in prompts_of(actions)
    s.handle(YES)  # read-back
    assert s.finished and s.outcome.level == "ok" and s.outcome.pregnant and s.outcome.proceed
    s, actions = run(upto_pregnant() + [UNCLEAR, UNCLEAR])
    assert asked(actions)[-1] == "pregnancy_warning"


def test_too_many_unclear_answers_keeps_to_the_emergency_questions():
    s, actions = run([UNCLEAR, UNCLEAR] * MAX_UNKNOWN)
    assert "screener_capped" in prompts_of(actions)
    acts = answer_questions(s)
    later = asked(acts)
    assert later and all(q in VITAL for q in later)
    o = s.outcome
    assert s.finished and o.ended == "unclear" and o.level == "clinician" and not o.proceed
    assert "screener_too_unclear" in prompts_of(acts) and GO_AHEAD not in later
    assert set(o.not_asked) and all(q not in VITAL for q in o.not_asked)
    assert set(o.not_asked) <= set(o.reasons)


def test_clinician_offers_gentle_exercise_unless_standalone():
    s, actions = run([])
    actions += answer_questions(s, {"weight_loss": YES})
    assert s.state == "go_ahead", s.state
    assert asked(actions)[-1] == GO_AHEAD
    s.handle(YES)
    assert s.finished and s.outcome.level == "clinician" and s.outcome.proceed
    assert s.outcome.reasons == ("weight_loss",)
    s2, actions2 = run([], offer_exercise=False)
    actions2 += answer_questions(s2, {"weight_loss": YES})
    assert s2.finished and GO_AHEAD not in asked(actions2) and not s2.outcome.proceed


def test_two_unclear_site_answers_ask_about_both():
    s = new_screener()
    s.start(0.0)
    acts = s.handle(UNCLEAR) + s.handle(SILENCE)
    assert "screener_site_unknown" in prompts_of(acts)
    t = new_screener()
    t.start(0.0)
    t.handle(SITE_TURNS["both"])
    assert s.snapshot() == t.snapshot()


def test_explain_gives_the_questions_explanation():
    s, actions = run([Utterance("explain")])
    q = QS.get("saddle_numbness")
    assert q.explain in [a.text for a in actions if isinstance(a, Say)]
    assert actions[-3:] == [Ask(q.id), Say(q.text, prompt=f"screener/{q.id}"), Listen("yes_no", timeout=LISTEN_TIMEOUT, prompted=True)]


def test_stop_during_the_questions_never_allows_exercise():
    s, actions = run([NO, Utterance("stop"), YES])
    o = s.outcome
    assert o.ended == "stopped" and o.level == "clinician" and not o.proceed
    assert "bladder" in o.not_asked and "screener_stopped" in prompts_of(actions)


def test_commands_that_are_no_reply_ask_the_stop_confirmation_again_without_counting():
    s, _ = run([NO, Utterance("stop")])
    for intent in ("louder", "repeat", "where", "help", "more_detail", "louder", "explain"):
        actions = s.handle(Utterance(intent))
        assert prompts_of(actions) == ["screener_confirm_stop"] and not s.finished, intent
    s.handle(NO)
    assert s.state == "question" and not s.finished


@pytest.mark.parametrize("confirm", [[YES], [Utterance("stop")], [SILENCE, SILENCE], [UNCLEAR, Utterance("pause")]])
def test_a_stop_is_confirmed_and_then_ends_the_questions(confirm):
    # a misheard "stop" would cost the day's exercise: asked first; yes, stop again, or no clear
    # reply in MAX_TRIES tries ends the questions as asked
    s, actions = run([NO, Utterance("stop")])
    assert not s.finished and prompts_of(actions)[-1] == "screener_confirm_stop"
    assert actions[-1] == Listen(YES_NO, timeout=LISTEN_TIMEOUT, prompted=True)
    replies = []
    for turn in confirm:
        replies.append(s.handle(turn))
    assert all(prompts_of(r) == ["screener_confirm_stop_reprompt"] for r in replies[:-1])
    o = s.outcome
    assert s.finished and o.ended == "stopped" and not o.proceed and o.answers == {"saddle_numbness": "no"}


@pytest.mark.parametrize("reply", [NO, Utterance("resume", text="keep going")])
@pytest.mark.parametrize("where", ["pain_site", "question", "readback"])
def test_a_stop_not_confirmed_asks_the_same_question_again_with_nothing_changed(where, reply):
    s = new_screener()
    s.start(0.0)
    if where != "pain_site":
        s.handle(SITE_TURNS["back"])
    if where == "readback":
        while s.state != "readback":
            s.handle(NO)
    before = s.snapshot()
    s.handle(Utterance("stop"))
    actions = s.handle(reply)
    assert prompts_of(actions)[0] == "screener_continue"
    assert s.snapshot() == before and Ask(s.pending) in actions and actions[-1].__class__ is Listen


def test_start_and_handle_order():
    s = new_screener()
    assert s.handle(YES) == [] and not s.finished and s.outcome is None
    s.start(0.0)
    with pytest.raises(RuntimeError):
        s.start(0.0)


# ---------------------------------------------------------------- content
ISSUE_IDS = {
    "saddle_numbness", "bladder", "bowel", "both_legs", "leg_weakness", "major_trauma",
    "sudden_severe_pain", "fever", "infection_risk", "cancer_history", "steroids_osteoporosis",
    "age_50_new_pain", "weight_loss", "no_improvement", "night_pain", "hip_cannot_bear_weight",
    "hip_hot_swollen", "hip_replacement_problem", "groin_pain_risk", "pregnant", "pregnancy_warning",
}


def test_data_file_has_the_issues_questions_each_with_its_own_words():
    assert set(ORDER) == ISSUE_IDS
    for q in QS.questions:
        assert len({q.text, q.rephrase, q.explain}) == 3, q.id
        assert q.source and q.finding
    # the emergency-level back questions are asked whatever the pain site
    for q in ("saddle_numbness", "bladder", "bowel", "both_legs", "major_trauma", "sudden_severe_pain"):
        assert APPLIES[q] == "always"
    assert {q for q in ORDER if APPLIES[q] == "hip"} == {
        "hip_cannot_bear_weight", "hip_hot_swollen", "hip_replacement_problem", "groin_pain_risk"}
    assert APPLIES["pregnancy_warning"] == "pregnant"


def test_every_screener_prompt_exists_with_several_phrasings():
    from skill.screener import PROMPT_IDS
    p = prompts()
    p.require(PROMPT_IDS)
    single = {"screener_site_back", "screener_site_hip", "screener_site_both", "screener_list_and"}
    for pid in PROMPT_IDS - single:
        lines = (LOCALE / "prompts" / f"{pid}.dialog").read_text().splitlines()
        assert len([ln for ln in lines if ln.strip() and not ln.startswith("#")]) >= 2, pid


def test_site_and_explain_vocab():
    from skill.vocab import read_voc_file
    site = read_voc_file(LOCALE / "vocab" / "site.voc")
    assert {p.value for p in site} == {"back", "hip", "both"}
    by_text = {p.text: p.value for p in site}
    assert by_text["my back"] == "back" and by_text["my hip"] == "hip" and by_text["both"] == "both"
    explain = {p.text for p in read_voc_file(LOCALE / "vocab" / "explain.voc")}
    assert {"what do you mean", "explain"} <= explain
    for other in ("yes", "no", "repeat", "help", "stop", "pause", "resume"):
        path = LOCALE / "vocab" / f"{other}.voc"
        if path.exists():
            clash = explain & {p.text for p in read_voc_file(path)}
            assert not clash, f"explain.voc overlaps {other}.voc: {clash}"
            assert not {p.text for p in site} & {p.text for p in read_voc_file(path)}


# ---------------------------------------------------------------- the data file's validation
GOOD = (LOCALE / "screener.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("mutate, field", [
    (lambda t: t.replace('level = "urgent"', 'level = "soon"', 1), "'level'"),
    (lambda t: t.replace('applies = "hip"', 'applies = "knee"', 1), "'applies'"),
    (lambda t: t.replace('id = "bladder"', 'id = "saddle_numbness"', 1), "'id'"),
    (lambda t: t.replace('finding = "new problems with your bowels"\n', "", 1), "'finding'"),
    (lambda t: t.replace('id = "leg_weakness"', 'id = "leg_weak"', 1), "leg_weakness"),
    (lambda t: t.replace('[opening]', '[openin]', 1), "openin"),
    (lambda t: t.replace('text = "Have you ever had cancer?"', 'text = "You had cancer."', 1), "'text'"),
    (lambda t: t + "\n[[question]]\nid = 7\n", "'id'"),
    (lambda t: t.replace('level = "emergency"', 'level = "emergency"\nlevle = "x"', 1), "'levle'"),
    (lambda t: t.replace('[[question]]', '[[question]', 1), "TOML"),
])
def test_malformed_data_file_is_named_with_its_field(tmp_path, mutate, field):
    bad = mutate(GOOD)
    assert bad != GOOD
    (tmp_path / "screener.toml").write_text(bad, encoding="utf-8")
    with pytest.raises(ScreenerDataError) as err:
        load_questions(tmp_path)
    assert "screener.toml" in str(err.value) and field in str(err.value)


def test_missing_data_file(tmp_path):
    with pytest.raises(ScreenerDataError, match="screener.toml: cannot read"):
        load_questions(tmp_path)


# ---------------------------------------------------------------- `run_assistant.py screen`
def screen_cli(lines_in: list[str], tmp_path: Path) -> list[dict]:
    import json
    import subprocess
    repo = LOCALE.parents[1]
    proc = subprocess.run([sys.executable, "run_assistant.py", "screen", "--text", "--json", "--fast", "--seed", "1"],
                          cwd=repo, input="".join(t + "\n" for t in lines_in), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.strip()]
    # every listen follows an ask of what is being listened for
    last_ask = None
    for obj in out:
        if obj["type"] == "ask":
            last_ask = obj["question_id"]
        if obj["type"] == "listen":
            assert last_ask is not None
            last_ask = None
    return out


def test_screen_command_all_clear(tmp_path):
    n = len(all_no("back"))
    out = screen_cli(["my back"] + ["no"] * n + ["yes"], tmp_path)
    assert [o["question_id"] for o in out if o["type"] == "ask"][-1] == READBACK
    assert [o for o in out if o["type"] == "triage"] == [{"type": "triage", "level": "ok", "reasons": []}]
    assert out[-1]["type"] == "end" and out[-1]["summary"]["triage"] == "ok"


def test_screen_command_emergency_ends_at_once(tmp_path):
    out = screen_cli(["my hip", "no", "yes", "no", "no"], tmp_path)
    types = [o["type"] for o in out]
    t = types.index("triage")
    assert out[t] == {"type": "triage", "level": "emergency", "reasons": ["bladder"]}
    assert "ask" not in types[t:] and "listen" not in types[t:]
    assert out[-1]["summary"]["triage"] == "emergency"
    spoken = " ".join(o["text"] for o in out if o["type"] == "say")
    assert "emergency number" in spoken and "diagnosis" in spoken


def test_screen_command_input_ending_early_is_never_ok(tmp_path):
    out = screen_cli(["both", "no", "not sure"], tmp_path)
    assert out[-1]["type"] == "end"
    s = out[-1]["summary"]
    assert s["triage"] == "clinician" and s["ended"] == "stopped"


def test_screen_command_a_little_is_explained_then_taken_as_yes(tmp_path):
    # "a little" to the bladder question: even a little is a yes, said so, and asked again;
    # a second "sometimes" is a yes, and the bladder question's yes is an emergency
    out = screen_cli(["my hip", "no", "a little", "sometimes"], tmp_path)
    says = [o["text"] for o in out if o["type"] == "say"]
    asks = [o["question_id"] for o in out if o["type"] == "ask"]
    assert asks[-2:] == ["bladder", "bladder"]
    assert any("a little" in s.lower() and "yes" in s.lower() for s in says)
    assert [o for o in out if o["type"] == "triage"] == [{"type": "triage", "level": "emergency",
                                                           "reasons": ["bladder"]}]


def test_screen_command_not_really_then_a_clear_no_is_a_no(tmp_path):
    # "not really" is no clear no: asked again with what counts as a yes; "no, I haven't" is the no
    n = len(all_no("hip"))
    out = screen_cli(["my hip", "no", "not really", "no i haven't"] + ["no"] * (n - 2) + ["yes"], tmp_path)
    asks = [o["question_id"] for o in out if o["type"] == "ask"]
    assert asks[2:4] == ["bladder", "bladder"] and asks[4] != "bladder"
    assert out[-1]["summary"]["triage"] == "ok"
