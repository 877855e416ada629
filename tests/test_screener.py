"""The red-flag screener dialog, through the real Screener class with the real data file
and the real prompts.

The main tests enumerate every answer sequence: at each question reached the person says
yes, no, something unclear (a rejected phrase) or nothing (silence), for each pain_site
value. The test keeps its own account of what it said and what it was asked, and checks
every step and every ending against it. Paths that reach the same dialog state with the
same account are explored once (their futures are identical) but counted separately.
"""
from __future__ import annotations

import random
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from skill.prompts import Prompts
from skill.protocol import Ask, End, Listen, Record, Say, Silence, Tick, Triage, Utterance
from skill.screener import (GO_AHEAD, LISTEN_TIMEOUT, MAX_UNKNOWN, PAIN_SITE, READBACK, STATES,
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
ANSWER_TURNS = (("yes", YES), ("no", NO), ("unclear", UNCLEAR), ("silence", SILENCE))
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
        self.on_path: set = set()
        self.paths = 0
        self.outcomes: set = set()        # distinct (record, level) endings
        self.levels: dict[str, int] = {}
        self.restarts = 0
        self.steps = 0

    # ------------------------------------------------------------ driving
    def run(self) -> int:
        assert self.start_actions[-1] == Listen(PAIN_SITE, timeout=LISTEN_TIMEOUT)
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
        if symbol in ("unclear", "silence"):
            unclear += 1
            done_with_p = unclear >= 2
        if p == PAIN_SITE:
            site = symbol if symbol in SITE_TURNS else ("both" if done_with_p else None)
        elif p in LEVEL:
            if symbol in ("yes", "no"):
                record[p] = symbol
            elif done_with_p:
                record[p] = "unknown"
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
            # asked again, in other words, and not counted as an answer
            assert not s.finished and asks[0].question_id == p, "an unclear answer is asked again"
            assert any(isinstance(a, Say) and a.prompt.endswith("rephrase") for a in actions), actions
            return replace(said, unclear=unclear)

        level_now = triage(record, LEVEL)[0] if record else "ok"
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
        assert q not in dict(said.record) or q in record and said.pending == q
        assert q not in [k for k in record if k != q], f"{q} asked twice"
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
        assert severity(o.level) >= severity(triage(record, LEVEL)[0])
        # questions left unasked are justified
        unasked = [q for q in ORDER if q not in record and applicable(q, said.site, record | (
            {"pregnant": "yes"} if "pregnant" not in record else {}))]
        if unasked and o.level != "emergency":
            settled = o.level != "ok" and highest_possible(record, unasked, LEVEL) == triage(record, LEVEL)[0]
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
        for intent in ("explain", "repeat", "help"):
            s.restore(snap)
            actions = s.handle(Utterance(intent))
            assert s.snapshot() == snap, f"{intent} changes nothing but repeats the question"
            assert actions[-1].__class__ is Listen and Ask(p) in actions
            if intent == "explain":
                first = actions[0]
                assert isinstance(first, Say) and "explain" in first.prompt
        # pause waits without a timeout; silence while paused does not count; resume asks again
        s.restore(snap)
        paused = s.handle(Utterance("pause"))
        assert paused[-1].timeout is None and not any(isinstance(a, Ask) for a in paused)
        assert s.handle(SILENCE)[-1] == Listen(paused[-1].context, timeout=None)
        resumed = s.handle(Utterance("resume"))
        assert Ask(p) in resumed and s.snapshot() == snap
        # anything else is unclear, exactly like a rejected phrase
        s.restore(snap)
        s.handle(UNCLEAR)
        after_unclear = s.snapshot()
        s.restore(snap)
        s.handle(Utterance("number", 3) if p != PAIN_SITE else Utterance("yes"))
        assert s.snapshot() == after_unclear
        # a timer tick is not for the screener
        s.restore(snap)
        assert s.handle(Tick("hold")) == [] and s.snapshot() == snap
        # stop ends the questions, never with ok, never with coaching
        s.restore(snap)
        actions = s.handle(Utterance("stop"))
        o = s.outcome
        assert s.finished and not o.proceed and not any(isinstance(a, (Listen, End)) for a in actions)
        if p != GO_AHEAD:
            assert o.level != "ok" and o.ended == "stopped"
            assert Triage(o.level, o.reasons) in actions


EXPECTED_PATHS = {}   # filled by the runs below, printed at the end


@pytest.mark.parametrize("site", ["back", "hip", "both", "unclear"])
def test_every_answer_sequence(site, capsys):
    if site == "unclear":   # two unclear answers to the opening: asks about both
        turns = [("unclear", UNCLEAR), ("silence", SILENCE)]
    else:
        turns = [(site, SITE_TURNS[site])]
    ex = Explorer(turns)
    paths = ex.run()
    EXPECTED_PATHS[site] = paths
    with capsys.disabled():
        print(f"\n  pain_site={site}: {paths} answer sequences, {len(ex.outcomes)} distinct answer sets "
              f"at the end, {len(ex.memo)} states, {ex.steps} steps, endings by level {ex.levels}, "
              f"{ex.restarts} read-back restarts", file=sys.stderr)
    assert set(ex.levels) == {"ok", "clinician", "urgent", "emergency"}
    assert ex.restarts > 0
    assert paths == PATH_COUNTS[site], f"path count changed: {paths} (update PATH_COUNTS if intended)"


# Number of answer sequences (yes / no / unclear / silence at each turn, until the screener
# ends or the read-back restarts it). A regression guard: it changes with the data file.
PATH_COUNTS = {"back": 0, "hip": 0, "both": 0, "unclear": 0}


def test_machine_is_declared_as_data():
    assert STATES[0] == "idle" and "done" in STATES
    for t in TRANSITIONS:
        assert t["dest"] in STATES
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        assert set(sources) <= set(STATES)
