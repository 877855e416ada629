"""End to end by voice: the real assistant, real speech in, real speech out (issue 3).

`run_assistant.py` runs as a separate process in voice mode (PocketSphinx, PortAudio ->
ALSA -> PulseAudio). Nothing inside it is replaced: it opens the default microphone, which
is the virtual `coach_mic`, and speaks on the default speaker, the null sink `coach_speaker`.

- "The user" is espeak-ng, played into the `user_mouth` sink (whose monitor is `coach_mic`)
  through one long-lived `pacat` stream (skill/bench/stage.py's UserVoice) that carries a faint room hiss between phrases: a
  null sink starts each new stream 1-2 s late, so one stream per phrase would land at
  unpredictable moments (e.g. on top of the next count, when the half-duplex coach is deaf).
- The user answers when the assistant's event log (`--events`) shows it listening, in the
  state the script expects, like a person who waits for the question. A phrase that is not
  understood ("Sorry, I didn't catch that") is said again, as a person would, with a
  different wording from the same intent if one is given; every command must still be
  understood in the end, in order.
- The assistant's speech is recorded from `coach_speaker.monitor`. Its speech and silence must
  follow the say events in the log (aligned in time), and each say's stretch of the
  recording is recognised back with PocketSphinx against a grammar of every prompt of the
  session: the key prompts (paused, resumed, both stop questions, the pain question) must
  come back word for word, and most of the rest too.
- All of it runs on a private PulseAudio daemon with the same devices: on the shared one,
  other audio tests running at the same time leak into the microphone and the recording.

The session (routine given, no menu): pain "about a five" -> "Five out of ten, is that right?"
"yes please" -> "I'm ready" -> (counting) "take a
break" (pause) -> "keep going" (resume) -> "ok i'm ready" (next: ends the set early) -> (resting)
"stop the session" -> "Do you want to stop?" "no I don't" -> "stop the session" -> "yes please" ->
pain "about a three" -> summary. Bare one-word "yes", "no", "stop", "next", "pause", "two"
are not the first wording: the PocketSphinx engine decodes them right from espeak-ng's voice
but rejects most of them on confidence (measured through this same path; see the
recognition benchmarks), while multi-word phrases of the same intents pass reliably.
"""
from __future__ import annotations

import json
import os
import re
import signal
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pulse_harness import PulseDevices, PulseUnavailable, missing_tools, rms_dbfs  # noqa: E402

from skill.bench.stage import EventTail, UserVoice, end_process  # noqa: E402

pytestmark = [pytest.mark.audio, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
ANSWER_DELAY = 0.45           # after the coach starts listening (its half-duplex tail is 0.3 s)
SCRIPT_SECONDS = 200.0        # the whole dialog; it takes about 100 s
END_SECONDS = 60.0            # from the last answer to the process exiting
MAX_TRIES = 4                 # per command, like a patient person
# Don't start a phrase when one of the coach's timers (the next count, the end of a rest) is
# due sooner than this: the coach would talk over it and, half-duplex, not hear it.
TIMER_MARGIN = 2.5


@dataclass(frozen=True)
class Step:
    state: tuple[str, ...]     # the coach's state when this is said (one of)
    context: str               # ... and the listen context
    phrases: tuple[str, ...]   # what the user says (a retry uses the next wording)
    intent: str                # what it must be understood as
    value: Any = None


SCRIPT = [
    Step(("pain_before",), "number", ("about a five", "five out of ten"), "number", 5),
    # the score is read back as a question and only taken when confirmed
    Step(("confirm_pain",), "pain_confirm", ("yes please", "of course"), "yes"),
    Step(("intro",), "coach", ("ok i'm ready", "i'm ready"), "next"),
    Step(("counting",), "coach", ("take a break", "pause"), "pause"),
    Step(("paused",), "coach", ("keep going", "resume"), "resume"),
    # "ok i'm ready" first: with the 0.3 s endpoint, PocketSphinx's confidence in espeak's
    # "i'm ready" is ~0.3-0.45 (0.37-0.63 with 0.5 s; "go ahead" ~0.1 either way), below the
    # 0.5 rejection threshold; "ok i'm ready" scores 0.99 with both (tests/test_endpoint.py setup)
    Step(("counting",), "coach", ("ok i'm ready", "go ahead", "i'm ready"), "next"),
    # a stop that takes a retry or two may land in the next set: as good a place to stop
    Step(("resting", "counting"), "coach", ("stop the session", "stop now"), "stop"),
    Step(("confirm_stop",), "yes_no", ("no i don't", "no thank you"), "no"),
    Step(("resting", "counting"), "coach", ("stop the session", "stop now"), "stop"),
    Step(("confirm_stop",), "yes_no", ("yes please", "of course"), "yes"),
    Step(("pain_after",), "number", ("about a three", "three out of ten"), "number", 3),
]
STATES_IN_ORDER = ["pain_before", "confirm_pain", "intro", "counting", "paused", "counting", "resting",
                   "confirm_stop", "confirm_stop", "pain_after", "finished"]
# prompts whose speech must be recognised back from the speaker, in this order
# (each is said after the person has spoken, so its start is clear of other speech)
KEY_PROMPTS = ["paused", "resumed", "confirm_stop", "confirm_stop", "pain_after"]


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):  # noqa: ANN001, ANN201
    """A private PulseAudio daemon with the same virtual devices: on the shared one, any other
    audio test running at the same time (another engineer's, a benchmark) plays into our
    microphone and onto our speaker recording. Clients reach it through PULSE_SERVER
    (`pulse.env`), which libpulse, and so ALSA's pulse plugin and PortAudio, honour."""
    if missing_tools():
        pytest.skip("PulseAudio test stack not installed: " + ", ".join(missing_tools()))
    try:
        private = PulseDevices.ensure(str(tmp_path_factory.mktemp("pulse")), client_config=False)
    except PulseUnavailable as exc:
        pytest.skip(str(exc))
    # stage.UserVoice speaks into "user_left": here a remap of user_mouth (a filter in the sink's
    # own thread: no extra buffer or delay), so its speech reaches coach_mic
    if "user_left" not in private.pactl("list", "short", "sinks"):
        private.pactl("load-module", "module-remap-sink", "sink_name=user_left", "master=user_mouth",
                      "channels=1", "channel_map=mono", "master_channel_map=mono", "remix=no")
    yield private
    pid = private.daemon_pid()
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


# ----------------------------------------------------------------------------- the user
# The user's voice is skill/bench/stage.py's UserVoice (one paced pacat stream with room hiss),
# the same streamer the benchmarks use. It plays into a sink named user_left: here that is a
# remap of user_mouth (added by the `pulse` fixture), whose monitor is the coach's microphone.


# ----------------------------------------------------------------------------- the log
# The --events file is followed by skill/bench/stage.py's EventTail, as in the benchmarks.


def _brief(ev: dict) -> str:
    keep = {k: v for k, v in ev.items() if k in ("type", "state", "context", "text", "intent", "value",
                                                 "confidence", "prompt", "kind", "when", "score")}
    return json.dumps(keep, ensure_ascii=False)


@dataclass
class Conversation:
    """What happened, for assertions and for a readable failure."""

    said: list[tuple[int, str, float]] = field(default_factory=list)   # (step, phrase, at)
    understood: list[int] = field(default_factory=list)                # steps understood
    log: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.log.append(text)
        print(text, flush=True)


def run_conversation(tail: EventTail, voice: UserVoice, proc: subprocess.Popen,
                     conv: Conversation) -> None:
    """Answer each listen that the script expects; stops when the script is done."""
    state = None
    step_i = 0
    tries = 0
    waiting: tuple[float, threading.Event] | None = None   # an answer on its way: (said at, done)
    timers: dict[str, float] = {}                          # the coach's timers: name -> due
    t0 = time.monotonic()
    deadline = t0 + SCRIPT_SECONDS
    while step_i < len(SCRIPT):
        if time.monotonic() > deadline:
            raise AssertionError(f"the dialog did not get through the script in {SCRIPT_SECONDS:.0f} s "
                                 f"(stuck at step {step_i}: {SCRIPT[step_i]})")
        if proc.poll() is not None:
            raise AssertionError(f"the assistant exited ({proc.returncode}) at step {step_i}: "
                                 f"{SCRIPT[step_i]}")
        if voice.error:
            raise AssertionError(voice.error)
        new = tail.poll()
        if not new:
            time.sleep(0.02)
            continue
        for ev in new:
            kind = ev.get("type")
            if kind in ("state", "heard", "listen", "end") or (kind == "say" and ev.get("prompt") == "sorry"):
                conv.note(f"{ev['_seen'] - t0:7.2f}  coach {_brief(ev)}")
            if kind == "state":
                state = ev["state"]
            elif kind == "timer":
                timers[ev["timer"]] = ev["_seen"] + float(ev["seconds"])
            elif kind == "cancel_timer":
                timers.pop(ev["timer"], None)
            elif kind == "heard":
                step = SCRIPT[step_i]
                if waiting is not None and ev.get("intent") == step.intent and ev.get("value") == step.value \
                        and ev.get("context") == step.context:
                    conv.understood.append(step_i)
                    step_i += 1
                    tries = 0
                    waiting = None
                    if step_i == len(SCRIPT):
                        return
                else:
                    waiting = None      # misheard: say it again at the next listen
            elif kind == "listen":
                step = SCRIPT[step_i]
                if waiting is not None:
                    said_at, done = waiting
                    # no "heard" yet: still on its way, or lost (e.g. under the coach's own speech)
                    if done.is_set() and time.monotonic() - said_at > 4.0:
                        conv.note(f"          (no answer heard for {step.phrases!r}: saying it again)")
                        waiting = None
                now = time.monotonic()
                soon = min((due for due in timers.values() if due > now), default=float("inf")) - now
                if soon < TIMER_MARGIN:
                    continue            # the coach will speak before we are done: next listen
                if waiting is None and state in step.state and ev.get("context") == step.context:
                    if tries >= MAX_TRIES:
                        raise AssertionError(f"step {step_i} {step} not understood after {tries} tries")
                    phrase = step.phrases[tries % len(step.phrases)]
                    tries += 1
                    time.sleep(ANSWER_DELAY)
                    conv.note(f"{time.monotonic() - t0:7.2f}  user  {phrase!r}")
                    conv.said.append((step_i, phrase, time.monotonic()))
                    waiting = (time.monotonic(), voice.say(phrase))
            elif kind == "end":
                raise AssertionError(f"the session ended at step {step_i}: {_brief(ev)}")


# ----------------------------------------------------------------------------- hearing the coach
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _number_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    return _number_words(n // 100) + " hundred" + ("" if n % 100 == 0 else " " + _number_words(n % 100))


def sentences_of(text: str) -> list[str]:
    """Spoken sentences as lower-case words, numbers written out, as espeak-ng says them."""
    out = []
    for part in re.split(r"[.?!:;]+", text):
        part = re.sub(r"\d+", lambda m: " " + _number_words(int(m.group())) + " ", part.lower())
        part = part.replace("’", "'").replace("-", " ")
        words = [w.strip("'") for w in re.sub(r"[^a-z' ]+", " ", part).split()]
        words = [w for w in words if w]
        if words:
            out.append(" ".join(words))
    return out


def say_windows(events: list[dict]) -> list[tuple[dict, float, float]]:
    """(say event, when it appeared, when the next event appeared): the coach emits a say,
    then plays it to the end before it emits anything else."""
    return [(ev, ev["_seen"], events[i + 1]["_seen"]) for i, ev in enumerate(events[:-1])
            if ev["type"] == "say"]


FRAME_SECONDS = 0.02


def activity(samples: np.ndarray, rate: int) -> np.ndarray:
    frame = int(rate * FRAME_SECONDS)
    n = samples.size // frame
    x = samples[: n * frame].astype(np.float64).reshape(n, frame)
    return np.sqrt(np.mean(np.square(x), axis=1)) > 10 ** (-50 / 20) * 32768


def align(samples: np.ndarray, rate: int, rec_t0: float,
          windows: list[tuple[dict, float, float]]) -> tuple[float, float]:
    """The lag of the recording behind the event times, and how well speech on the speaker
    matches the say windows at that lag (share of frames that agree, 0.5 = chance)."""
    heard = activity(samples, rate)
    expected = np.zeros(heard.size, dtype=bool)
    for _ev, t_start, t_end in windows:
        expected[max(0, int((t_start - rec_t0) / FRAME_SECONDS)):max(0, int((t_end - rec_t0) / FRAME_SECONDS))] = True
    best = (-1.0, 0.0)
    for shift in range(-25, 200):          # -0.5 .. 4 s
        if shift >= 0:
            a, e = heard[shift:], expected[: heard.size - shift]
        else:
            a, e = heard[: heard.size + shift], expected[-shift:]
        agree = float(np.mean(a == e)) if a.size else 0.0
        best = max(best, (agree, shift * FRAME_SECONDS))
    return best[1], best[0]


def hear_back(samples: np.ndarray, rate: int, rec_t0: float, lag: float,
              windows: list[tuple[dict, float, float]]) -> list[tuple[dict, str, str]]:
    """Recognise each say's stretch of the speaker recording against a grammar of every
    prompt said in the session: (say event, what it said, what was heard back)."""
    import pocketsphinx

    from skill.audio.capture import resample, to_int16
    pcm = samples if rate == 16000 else to_int16(resample(samples, rate, 16000))
    # a null sink's monitor gives exact digital zeros between sounds, which no microphone
    # does and which upsets PocketSphinx: a room's hiss (~-60 dBFS) instead (measured: with
    # the harness's sigma 3, 19 of 31 prompts come back; with 30, 28 of 31)
    pcm = to_int16(pcm.astype(np.float64) + np.random.default_rng(0).normal(0, 30, pcm.size))
    decoder = pocketsphinx.Decoder(samprate=16000, lm=None, loglevel="FATAL")
    said = [(ev, " ".join(sentences_of(ev["text"])), t0, t1) for ev, t0, t1 in windows]
    known = sorted({text for _ev, text, _t0, _t1 in said
                    if text and all(decoder.lookup_word(w) for w in text.split())})
    decoder.add_jsgf_string("coach", "#JSGF V1.0;\ngrammar coach;\npublic <s> = "
                            + " | ".join(f"( {k} )" for k in known) + " ;\n")
    decoder.activate_search("coach")
    out = []
    for ev, text, t_start, t_end in said:
        if text not in known:
            continue
        lo = max(0, int((t_start - rec_t0 + lag - 0.1) * 16000))
        hi = min(pcm.size, int((t_end - rec_t0 + lag + 0.1) * 16000))
        decoder.start_utt()
        decoder.process_raw(pcm[lo:hi].astype("<i2").tobytes(), False, True)
        decoder.end_utt()
        hyp = decoder.hyp()
        out.append((ev, text, hyp.hypstr if hyp is not None else ""))
    return out


def in_order(needles: list[str], haystack: str) -> tuple[bool, int]:
    """Are the needles in the haystack in this order? Returns (all found, how many found)."""
    pos = 0
    for i, needle in enumerate(needles):
        at = haystack.find(needle, pos)
        if at < 0:
            return False, i
        pos = at + len(needle)
    return True, len(needles)


# ----------------------------------------------------------------------------- the test
def test_a_spoken_session_drives_the_real_assistant(pulse, tmp_path):
    events_path = tmp_path / "events.jsonl"
    data_dir = tmp_path / "history"
    out, err = open(tmp_path / "stdout.txt", "w"), open(tmp_path / "stderr.txt", "w")
    conv = Conversation()
    started = rec_t0 = time.monotonic()
    recording = pulse.record_speaker()
    voice = UserVoice(pulse.env)
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run_assistant.py"), "--engine", "pocketsphinx", "--skip-screener",
         "--routine", "back_relief", "--seed", "1", "--events", str(events_path), "--data-dir", str(data_dir)],
        cwd=ROOT, env=pulse.env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    tail = EventTail(events_path)
    speaker: tuple[np.ndarray, int] | None = None
    try:
        try:
            run_conversation(tail, voice, proc, conv)
        except AssertionError:
            time.sleep(0.1)
            heard = [_brief(e) for e in tail.events if e.get("type") == "heard"]
            print("heard events:\n  " + "\n  ".join(heard), file=sys.stderr)
            raise
        proc.wait(timeout=END_SECONDS)
    finally:
        voice.close()
        end_process(proc)
        out.close()
        err.close()
        speaker = recording.stop()
        shutil.move(str(recording.path), tmp_path / "speaker.wav")    # kept for a post-mortem
        tail.close()
        with open(tmp_path / "events_seen.jsonl", "w") as f:     # for a failure's post-mortem
            f.write(json.dumps({"rec_t0": rec_t0}) + "\n")
            f.writelines(json.dumps(e) + "\n" for e in tail.events)
    elapsed = time.monotonic() - started
    stderr = (tmp_path / "stderr.txt").read_text()
    events = tail.events
    print(f"session took {elapsed:.0f} s; {len(conv.said)} phrases said for {len(SCRIPT)} commands")

    # --- the process ran the session to its end, cleanly
    assert proc.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert not tail.bad_lines, tail.bad_lines[:3]          # every event line is JSON
    assert events and events[-1]["type"] == "end", events[-3:]

    # --- every spoken command was understood, in order, as the right intent and value
    heard = [e for e in events if e["type"] == "heard"]
    understood = [(e["context"], e["intent"], e["value"]) for e in heard if e["intent"] != "none"]
    expected = [(s.context, s.intent, s.value) for s in SCRIPT]
    pos = 0
    for item in understood:
        if pos < len(expected) and item == expected[pos]:
            pos += 1
    assert pos == len(expected), (f"understood only {expected[:pos]}; heard:\n"
                                  + "\n".join(_brief(e) for e in heard))
    # and it was the voice that did it: recognised text with a confidence, not typed input
    for e in heard:
        if e["intent"] != "none":
            assert e["confidence"] is not None and e["text"], _brief(e)

    # --- the commands drove the dialog: the states they lead to, in order
    states = [e["state"] for e in events if e["type"] == "state"]
    ok, n = in_order([f"|{s}|" for s in STATES_IN_ORDER], "|" + "||".join(states) + "|")
    assert ok, f"states {states} lack {STATES_IN_ORDER[n:]} after {STATES_IN_ORDER[:n]}"
    # pause then resume happened inside the set, "go ahead" ended it early, the first stop was
    # taken back ("no": back to resting) and the second confirmed ("yes": pain check)
    first = states.index("confirm_stop")
    assert states[first + 1] == states[first - 1] in ("resting", "counting"), states
    records = [e for e in events if e["type"] == "record"]
    pains = [(r["when"], r["score"]) for r in records if r.get("kind") == "pain"]
    assert pains == [("before", 5), ("after", 3)], records
    summary = events[-1]["summary"]
    assert summary["routine"] == "back_relief"
    assert summary["ended"] == "stopped"
    assert summary["pain_before"] == 5 and summary["pain_after"] == 3, summary
    assert summary["exercises_stopped"] + summary["exercises_done"] == ["hands_knees_pelvic_tilt"], summary
    # the history kept it
    hist = subprocess.run([sys.executable, str(ROOT / "run_assistant.py"), "history",
                           "--data-dir", str(data_dir)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert "pain before: 5" in hist.stdout and "pain after: 3" in hist.stdout, hist.stdout + hist.stderr

    # --- the coach's speech reached the speaker, when the log says, and says what it says
    assert speaker is not None
    samples, rate = speaker
    assert samples.size / rate > 0.8 * elapsed - 10, "the speaker recording is too short"
    assert rms_dbfs(samples) > -45, "the speaker was (nearly) silent"
    windows = say_windows(events)
    lag, agree = align(samples, rate, rec_t0, windows)
    print(f"speaker recording lags the event log by {lag:.2f} s; speech/silence agree on "
          f"{agree:.0%} of it")
    assert agree > 0.75, f"the speaker's speech and silence do not follow the say events ({agree:.0%})"
    t_rec = time.monotonic()
    results = hear_back(samples, rate, rec_t0, lag, windows)
    right = [ev.get("prompt") for ev, text, heard_back in results if heard_back == text]
    wrong = [(ev.get("prompt"), text, heard_back) for ev, text, heard_back in results if heard_back != text]
    print(f"heard back {len(right)} of {len(results)} prompts from the speaker "
          f"({time.monotonic() - t_rec:.1f} s); not: {wrong}")
    i = 0
    for prompt in KEY_PROMPTS:
        while i < len(results) and results[i][0].get("prompt") != prompt:
            i += 1
        assert i < len(results), f"the coach never said a {prompt!r} prompt (in this order)"
        ev, text, heard_back = results[i]
        assert heard_back == text, f"{prompt}: the speaker said {heard_back!r}, the log {text!r}"
        i += 1
    # not just the key prompts: nearly everything said is there (one-word counts are hard)
    assert len(right) >= 0.75 * len(results), wrong
