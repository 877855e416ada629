"""Turn latency through the real audio stack: end of the person's speech -> first audible reply.

Setup (skill/bench/stage.py): a private PulseAudio daemon whose stereo null sink `room`
carries the person on its left channel and the coach on its right; the microphone is the
left channel. The assistant runs in voice mode in a child process (`python -m
skill.bench.latency --child`): the product's own session, edges and Runtime
(cli.prepare_session, voice.make_voice_edges, cli.run_dialog), with wrappers installed on
the instances only to stamp time.monotonic() (no product file changed for measurement).

The person (espeak-ng, 150 wpm, with a faint room hiss) answers each time the event log shows
the coach listening, 0.6 s later, with short answers: the red-flag screener's questions
(no / no thank you / no I don't) interleaved with "say that again" / "come again" (which
repeat the question, so one session gives many turns), then the menu, a pain score, and
repeats of the coach's instruction.

Per turn, from the ONE stereo recording of room.monitor (so no clocks to align):
  total = first coach sample above -50 dBFS after the person's speech
          - end of the person's speech (last 10 ms frame above -45 dBFS; the hiss is -61)
  When the mouth has earcons, that first sound is the "done" tone (played from the end of
  speech); to_first_word is read off the same recording: the sound after the tone's end
  (the reply follows the tone in the same output stream), falling back to an estimate from
  the stamps (to_first_word_estimate: tone start + max(tone, reply synthesised)).
Breakdown, from the child's stamps (differences on one clock):
  endpointing = SpeechEnd emitted - capture time of the last speech sample (PortAudio block stamp)
  recognition = recogniser.finish() wall time (recognition_cpu: its thread CPU time, which
                the machine's load does not inflate);  cue = the "done" tone's playback
  speculation = the decoding done during the trailing silence (recogniser.speculate(), wall
                and CPU, summed over the turn): with it, finish() only hands the result over
                and the "done" tone is left out when the reply follows at once
                (skill/audio/tts.py REPLY_GRACE_SECONDS); to_first_word is then the total.
With BENCH_LATENCY_AB=1 the child turns speculative decoding on and off in turn (two answers
each, `VoiceEars.speculative`), so both variants meet the same machine load and the same
answers in one run; the summary then also has `by_variant` and the ratio of the medians.
  dialog      = finish -> first say() (less the cue);  synthesis = say() -> audio ready
  audio_io    = total - the parts before the first sound: capture buffering before the
                PortAudio callback, and output stream open + buffering until the sink.
Also `endpoint_sweep`: answers with real pauses inside (espeak-ng parts joined by sox) through
the endpointer and the real recogniser, for several trailing-silence settings.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
ANSWER_DELAY = 0.6          # after the coach starts listening (its half-duplex tail is 0.3 s)
USER_DB, COACH_DB = -45.0, -50.0
# short answers, by listen context, used in turn (repeats keep the dialog where it is)
ANSWERS = {
    "yes_no": ("no thank you", "say that again", "no", "come again", "no i don't", "say that again"),
    "pain_site": ("both of them", "say that again"),
    "menu": ("back pain relief", ),
    "number": ("about a three", "three out of ten"),
    "coach": ("say that again", "come again"),
}


def missing_prerequisites() -> list[str]:
    from .stage import missing_tools
    missing = missing_tools()
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError) as exc:
        missing.append(f"sounddevice/PortAudio unavailable: {exc}")
    return missing


def make_script_wav(path: Path, answers: tuple[str, ...] = ("back pain relief", "three", "next", "stop", "yes"),
                    gap: float = 6.0) -> Path:
    """Kept for callers of the old plan: spoken answers separated by silence."""
    from .evalset import RATE, read_pcm, speak, write_pcm
    if path.exists():
        return path
    parts = [np.zeros(int(gap * RATE), dtype=np.int16)]
    for i, text in enumerate(answers):
        tmp = path.with_name(f"{path.stem}_{i}.wav")
        speak(text, "en-us", 175, tmp)
        parts += [read_pcm(tmp), np.zeros(int(gap * RATE), dtype=np.int16)]
        tmp.unlink()
    write_pcm(path, np.concatenate(parts))
    return path


# ------------------------------------------------------------------ the assistant (child)
def install_stamps(ears, mouth, out, alternate: bool = False) -> None:  # noqa: ANN001
    """Wrap the edges' instances to write one JSON line per utterance with monotonic stamps.
    `alternate`: speculative decoding on for one answer, off for the next (A/B in one run)."""
    rec, ep, source = ears.recognizer, ears.endpointer, ears.source
    rate = source.sample_rate
    state: dict = {"block_t": None, "turn": None}

    read = source.read

    def stamped_read(timeout):  # noqa: ANN001, ANN202
        block = read(timeout)
        if block is not None:
            state["block_t"] = block.t
        return block

    process = ep.process

    def stamped_process(samples):  # noqa: ANN001, ANN202
        # offsets count samples consumed (ep._fed); this block's first sample comes after
        # the samples still pending from the last call
        before = ep._fed + ep._pending.size
        events = process(samples)
        for ev in events:
            if type(ev).__name__ == "SpeechEnd":
                pos = ev.offset - before          # negative: the speech ended in an earlier block
                t_last = state["block_t"] + pos / rate if state["block_t"] is not None else None
                state["turn"] = {"speech_end": t_last, "endpoint": time.monotonic(), "reason": ev.reason}
        return events

    finish = rec.finish
    state["spec"] = [0, 0.0, 0.0]          # speculations, wall, CPU in the current utterance

    speculate = getattr(rec, "speculate", None)
    if speculate is not None:
        def stamped_speculate():  # noqa: ANN202
            t0, cpu0 = time.monotonic(), time.thread_time()
            held = speculate()
            spec = state["spec"]
            spec[0] += 1
            spec[1] += time.monotonic() - t0
            spec[2] += time.thread_time() - cpu0
            return held
        rec.speculate = stamped_speculate

    def stamped_finish():  # noqa: ANN202
        t0, cpu0 = time.monotonic(), time.thread_time()
        hyp = finish()
        cpu = time.thread_time() - cpu0     # the engine decodes in this thread: its own work
        turn = state["turn"] or {"speech_end": None, "endpoint": t0, "reason": "?"}
        n, wall, spec_cpu = state["spec"]
        turn.update(finish_start=t0, finish_end=time.monotonic(), finish_cpu=cpu, text=hyp.text,
                    confidence=hyp.confidence, say=None, speculative=bool(ears.speculative),
                    speculations=n, speculation=wall, speculation_cpu=spec_cpu)
        state["spec"] = [0, 0.0, 0.0]
        state["turn"] = None
        state["open"] = turn
        if alternate:
            # the variant for the next answer: two on, two off (the answers themselves
            # alternate between two kinds, which must not line up with the variants)
            state["answers"] = state.get("answers", 0) + 1
            ears.speculative = state["answers"] % 4 < 2
        return hyp

    say = mouth.say

    def stamped_say(text):  # noqa: ANN001, ANN202
        turn = state.pop("open", None)
        if turn is not None:
            turn["say"] = time.monotonic()
            turn["say_text"] = text
            state["synth_for"] = turn
        try:
            return say(text)
        finally:
            if turn is not None:
                # written once the reply has played: only then is it known whether the early
                # tone sounded (it is left out when the reply was ready at once)
                cues = getattr(mouth, "cues", [])
                k = turn.pop("cue_index", None)
                if k is not None:
                    if len(cues) > k and cues[k][2] == "done":
                        turn["cue_start"], turn["cue_end"] = cues[k][0], cues[k][1]
                    else:
                        turn["tone_left_out"] = True
                        turn.pop("cue_start", None)
                out.write(json.dumps(turn) + "\n")
                out.flush()

    cue = getattr(mouth, "cue", None)
    if cue is not None:
        def stamped_cue(name):  # noqa: ANN001, ANN202
            # the "done" earcon plays after recognition, before the dialog: the first sound
            # early (at the end of speech, on the earcon thread): the turn being recognised;
            # late (after recognition): the turn just recognised
            turn = state.get("turn") or state.get("open")
            if turn is not None and name == "done":
                turn["cue_start"] = time.monotonic()
            result = cue(name)
            if turn is not None and name == "done":
                turn["cue_end"] = time.monotonic()
            return result
        mouth.cue = stamped_cue

    cue_async = getattr(mouth, "cue_async", None)
    if cue_async is not None:
        def stamped_cue_async(name):  # noqa: ANN001, ANN202
            # the early tone plays on the mouth's own thread (and the reply follows it in the
            # same stream): its start and end come from mouth.cues once the reply is ready
            turn = state.get("turn") or state.get("open")
            if turn is not None and name == "done":
                turn["cue_start"] = time.monotonic()
                turn["cue_index"] = len(getattr(mouth, "cues", []))
            return cue_async(name)
        mouth.cue_async = stamped_cue_async

    synth = getattr(mouth, "synth", None)
    if synth is not None and hasattr(synth, "synthesize"):
        synthesize = synth.synthesize

        def stamped_synthesize(text):  # noqa: ANN001, ANN202
            result = synthesize(text)
            turn = state.pop("synth_for", None)
            if turn is not None:
                turn["synth_end"] = time.monotonic()
            return result
        synth.synthesize = stamped_synthesize
    source.read = stamped_read
    ep.process = stamped_process
    rec.finish = stamped_finish
    mouth.say = stamped_say


def child_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--timings", required=True)
    p.add_argument("--ab", action="store_true", help="speculative decoding on and off in turn")
    a, session = p.parse_known_args(argv)
    from ..cli import build_parser, load_assets, prepare_session, run_dialog
    from ..voice import make_voice_edges
    args = build_parser().parse_args(session)
    assets = load_assets(args.dialogs, args.seed)
    plan = prepare_session(args, assets)
    ears, mouth, clock, threshold = make_voice_edges(args, assets)
    with open(a.timings, "a", encoding="utf-8") as out:
        install_stamps(ears, mouth, out, alternate=a.ab)
        try:
            run_dialog(args, assets, plan.make_dialog, plan.listeners, edges=(ears, mouth, clock, threshold))
        finally:
            plan.close()
            ears.close()
            mouth.close()
    return 0


# ------------------------------------------------------------------ the driver
def converse(stage, cmd: list[str], events_path: Path, turns: int, log=print,  # noqa: ANN001, ARG001
             timeout: float = 600.0) -> dict:
    """Run `cmd` (the assistant) on the stage and answer it `turns` times; record the room."""
    from .stage import EventTail, RoomRecorder, UserVoice, end_process
    recorder = RoomRecorder(stage.env)
    voice = UserVoice(stage.env)
    time.sleep(0.5)
    t_start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=stage.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tail = EventTail(events_path)
    answered: list[dict] = []
    counters: dict[str, int] = {}
    seen_listens = 0
    peak_kb = None
    deadline = t_start + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            peak_kb = _vm_hwm(proc.pid) or peak_kb
            listens = [e for e in tail.events if e.get("type") == "listen"]
            if len(answered) >= turns and len(listens) > seen_listens:
                break          # the last answer has been replied to
            if len(listens) > seen_listens:
                seen_listens = len(listens)
                ctx = listens[-1].get("context", "yes_no")
                options = ANSWERS.get(ctx, ANSWERS["coach"])
                k = counters.get(ctx, 0)
                counters[ctx] = k + 1
                text = options[k % len(options)]
                time.sleep(ANSWER_DELAY)
                if len(answered) < turns:
                    done = voice.say(text)
                    done.wait(15)
                    answered.append({"text": text, "context": ctx})
            time.sleep(0.01)
    finally:
        peak_kb = _vm_hwm(proc.pid) or peak_kb
        time.sleep(1.0)                      # let the last reply's onset reach the recording
        end_process(proc)
        voice.close()
        tail.close()
        audio = recorder.stop()
    err = proc.stderr.read().decode("utf-8", "replace")[-600:] if proc.stderr else ""
    return {"answered": answered, "events": tail.events, "audio": audio, "t_start": t_start,
            "recorder": recorder, "peak_rss_mb": round(peak_kb / 1024, 1) if peak_kb else None,
            "exit": proc.returncode, "stderr_tail": err}


def _vm_hwm(pid: int) -> int | None:
    """Peak resident set (kB) of a running process, from the kernel's own high-water mark."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def first_word_seconds(audio: np.ndarray, recorder, t_start: float) -> float | None:  # noqa: ANN001
    from .stage import frame_levels
    lv = frame_levels(audio[:, 1])
    idx = np.flatnonzero(lv > COACH_DB)
    if idx.size == 0 or recorder.start_bound == float("inf"):
        return None
    return round(recorder.time_of(idx[0] * 0.01) - t_start, 3)


def turns_from_audio(audio: np.ndarray) -> list[dict]:
    """Each of the person's utterances, and the coach's first sound after it."""
    from .stage import frame_levels, segments
    user = segments(frame_levels(audio[:, 0]) > USER_DB)
    coach_active = frame_levels(audio[:, 1]) > COACH_DB
    out = []
    for i, (start, end) in enumerate(user):
        nxt = user[i + 1][0] if i + 1 < len(user) else len(coach_active) * 0.01
        a, b = int(round(end / 0.01)), int(round(nxt / 0.01))
        onset = np.flatnonzero(coach_active[a:b])
        overlap = bool(coach_active[int(start / 0.01):a].any())
        row = {"user_start": round(float(start), 3), "user_end": round(float(end), 3),
               "reply_onset": round(float(a + onset[0]) * 0.01, 3) if onset.size else None,
               "coach_during_speech": overlap}
        if onset.size:
            # the first sound's end (first quiet frame) and the next sound after it: with an
            # earcon first, the reply's words (analyse() checks it against the tone's length)
            i0 = a + int(onset[0])
            quiet = np.flatnonzero(~coach_active[i0:b])
            if quiet.size:
                j = i0 + int(quiet[0])
                again = np.flatnonzero(coach_active[j:b])
                row["first_sound_end"] = round(j * 0.01, 3)
                row["second_onset"] = round(float(j + again[0]) * 0.01, 3) if again.size else None
        out.append(row)
    return out


def _stats(xs: list[float]) -> dict | None:
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    a = np.asarray(xs) * 1000
    return {"n": len(xs), "median_ms": round(float(np.median(a)), 1),
            "p95_ms": round(float(np.percentile(a, 95)), 1), "max_ms": round(float(a.max()), 1)}


def _word_onset(row: dict) -> float | None:
    """When the reply's first word is heard, from the recording: the sound after the tone's
    end when the tone ends (a quiet frame) within 30 ms of its known length; the tone's end
    when the words follow it with no quiet frame; None when the recording does not tell."""
    onset, end, cue = row.get("reply_onset"), row.get("first_sound_end"), row.get("cue")
    if onset is None or end is None or cue is None:
        return None
    if abs((end - onset) - cue) <= 0.03:
        return row.get("second_onset")
    if end - onset > cue + 0.03:
        return round(onset + cue, 3)     # no gap: the words start as the tone ends
    return None


def stamp_offset(timings: list[dict], answered: list[dict], widest: int = 3) -> int:
    """How many utterances the room is ahead of the stamps: an answer the assistant never
    finished (spoken while it was deaf, say) shifts every later pair. The shift under which
    the most heard texts start with the word that was said; 0 when nothing tells."""
    def agree(shift: int) -> int:
        n = 0
        for k, s in enumerate(timings):
            j = k + shift
            heard = (s.get("text") or "").split()
            if 0 <= j < len(answered) and heard and heard[0] == answered[j]["text"].split()[0]:
                n += 1
        return n
    scores = {shift: agree(shift) for shift in range(-widest, widest + 1)}
    best = max(scores, key=lambda sh: (scores[sh], -abs(sh)))
    return best if scores[best] > scores[0] else 0


def analyse(audio: np.ndarray, timings: list[dict], answered: list[dict]) -> dict:
    turns = turns_from_audio(audio)
    rows = []
    # k-th utterance in the room <-> (k - offset)-th utterance the assistant finished: the
    # room and the person's answers share their index; the stamps may lag them
    offset = stamp_offset(timings, answered)
    for k, t in enumerate(turns):
        row = dict(t)
        if t["reply_onset"] is not None:
            row["total"] = round(t["reply_onset"] - t["user_end"], 4)
        if 0 <= k - offset < len(timings):
            s = timings[k - offset]
            row.update(heard=s.get("text"), said=s.get("say_text"), reason=s.get("reason"))
            if s.get("speech_end") is not None:
                row["endpointing"] = round(s["endpoint"] - s["speech_end"], 4)
            row["recognition"] = round(s["finish_end"] - s["finish_start"], 4)
            row["recognition_cpu"] = round(s.get("finish_cpu", 0.0), 4)
            if "speculative" in s:
                row["variant"] = "speculative" if s["speculative"] else "at_endpoint"
                row["speculations"] = s.get("speculations", 0)
                row["tone_left_out"] = bool(s.get("tone_left_out"))
                if s.get("speculations"):
                    row["speculation"] = round(s["speculation"], 4)
                    row["speculation_cpu"] = round(s["speculation_cpu"], 4)
            if s.get("cue_start") is not None:
                # an earcon came first: the recorded onset is the tone; the words follow it
                # an early tone may still be playing when the turn is logged: its known length
                from ..audio.earcons import NOTE_SECONDS
                cue_end = s.get("cue_end", s["cue_start"] + 2 * NOTE_SECONDS)
                row["cue"] = round(cue_end - s["cue_start"], 4)
            late_cue = row.get("cue", 0.0) if s.get("cue_start", 0.0) >= s["finish_start"] else 0.0
            if s.get("say") is not None:
                row["dialog"] = round(s["say"] - s["finish_end"] - late_cue, 4)
                if s.get("synth_end") is not None:
                    row["synthesis"] = round(s["synth_end"] - s["say"], 4)
            parts = [row.get(x) for x in ("endpointing", "recognition", "dialog", "synthesis")]
            if "total" in row and None not in parts:
                if "cue" in row and s["cue_start"] < s["finish_start"]:
                    # early tone (started at the end of speech, overlapping recognition): total
                    # is to the tone; the words follow once both the tone and the reply's
                    # synthesis are done
                    row["audio_io"] = round(row["total"] - row["endpointing"]
                                            - (s["cue_start"] - s["endpoint"]), 4)
                    reply_ready = s["synth_end"] - s["cue_start"] if s.get("synth_end") else 0.0
                    row["to_first_word_estimate"] = round(row["total"] + max(row["cue"], reply_ready), 4)
                    heard = _word_onset(row)
                    row["to_first_word"] = (round(heard - t["user_end"], 4) if heard is not None
                                            else row["to_first_word_estimate"])
                    row["first_word_from"] = "recording" if heard is not None else "estimate"
                elif "cue" in row:
                    # total is to the tone; the words start after the cue, dialog and synthesis
                    first = row["total"] - (row["endpointing"] + row["recognition"])
                    row["audio_io"] = round(first, 4)
                    row["to_first_word"] = round(row["total"] + row["cue"] + row["dialog"] + row["synthesis"], 4)
                else:
                    row["audio_io"] = round(row["total"] - sum(parts), 4)
                    row["to_first_word"] = row["total"]
        if k < len(answered):
            row["said_by_person"] = answered[k]["text"]
        rows.append(row)
    valid = [r for r in rows if "total" in r and not r["coach_during_speech"]]
    keys = ("total", "to_first_word", "to_first_word_estimate", "endpointing", "recognition", "recognition_cpu",
            "speculation", "speculation_cpu", "cue", "dialog", "synthesis", "audio_io")
    summary = {key: _stats([r.get(key) for r in valid]) for key in keys}
    variants = sorted({r["variant"] for r in valid if "variant" in r})
    by_variant = {v: {key: _stats([r.get(key) for r in valid if r.get("variant") == v]) for key in keys}
                  for v in variants}
    for v in variants:
        by_variant[v]["tone_left_out"] = sum(1 for r in valid if r.get("variant") == v and r.get("tone_left_out"))
    understood = sum(1 for r in rows if r.get("heard"))
    return {"summary": summary, "turns_measured": len(valid), "utterances_in_room": len(turns),
            "utterances_finished_by_assistant": len(timings), "recognised_non_empty": understood,
            "matched_one_to_one": len(turns) == len(timings), "stamp_offset": offset, "rows": rows,
            **({"by_variant": by_variant, "first_word_median_ratio": _ratio(by_variant)} if len(variants) == 2 else {})}


def _ratio(by_variant: dict) -> float | None:
    """Median to the first word, speculative / at the endpoint."""
    try:
        return round(by_variant["speculative"]["to_first_word"]["median_ms"]
                     / by_variant["at_endpoint"]["to_first_word"]["median_ms"], 3)
    except (KeyError, TypeError, ZeroDivisionError):
        return None


# ------------------------------------------------------------------ endpointing trade-off
SWEEP_ANSWERS = ((("about a", "five"), "number", "about a five"), (("take a", "break"), "coach", "take a break"),
                 (("seven", "out of ten"), "number", "seven out of ten"), (("no", "thank you"), "yes_no", "no thank you"),
                 (("keep", "going"), "coach", "keep going"), (("i'm", "ready"), "coach", "i'm ready"),
                 (("yes", "please"), "yes_no", "yes please"))


def _spliced(parts: tuple[str, ...], pause: float, work: Path) -> np.ndarray:
    """The parts spoken by espeak-ng (150 wpm), trimmed, joined by sox with `pause` s of silence."""
    import wave
    cut = []
    for i, text in enumerate(parts):
        raw, trimmed = work / f"raw{i}.wav", work / f"part{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), text], check=True, capture_output=True)
        subprocess.run(["sox", str(raw), "-r", "16000", str(trimmed), "silence", "1", "0.01", "0.5%", "reverse",
                        "silence", "1", "0.01", "0.5%", "reverse"], check=True, capture_output=True)
        cut.append(str(trimmed))
    subprocess.run(["sox", cut[0], str(work / "first.wav"), "pad", "0.5", str(pause)], check=True, capture_output=True)
    subprocess.run(["sox", str(work / "first.wav"), *cut[1:], str(work / "joined.wav"), "pad", "0", "1.0"],
                   check=True, capture_output=True)
    with wave.open(str(work / "joined.wav")) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    x += np.random.default_rng(int(pause * 1000) + len(parts[0])).normal(0, 30, x.size)   # room hiss
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def endpoint_sweep(spec, pauses=(0.1, 0.2, 0.3, 0.35, 0.5), settings=(0.25, 0.3, 0.35, 0.5)) -> dict:  # noqa: ANN001
    """Answers with a real pause inside, through the endpointer (20 ms blocks, speculating at its
    pauses, as the ears do) and the real recogniser: per trailing-silence setting and pause, how
    many stay one utterance, and how many are then recognised whole and accepted (confidence >=
    threshold)."""
    import shutil
    if shutil.which("sox") is None or shutil.which("espeak-ng") is None:
        return {"skipped": "sox and espeak-ng are needed"}
    from ..audio.endpoint import (EndpointConfig, Endpointer, SpeechAudio, SpeechEnd, SpeechPause,
                                  SpeechResume, SpeechStart)
    from ..cli import DEFAULT_LOCALE_DIR, load_assets
    from .engines import open_grammar_recognizer
    from ..recognition.engines import rejection_threshold
    assets = load_assets(DEFAULT_LOCALE_DIR)
    rec = open_grammar_recognizer(spec)
    threshold = rejection_threshold(rec)
    work = Path(tempfile.mkdtemp(prefix="bench-endpoint-"))
    table: dict = {}
    for pause in pauses:
        audios = [(_spliced(parts, pause, work), ctx, whole) for parts, ctx, whole in SWEEP_ANSWERS]
        for setting in settings:
            whole_n = accepted = 0
            for x, ctx, want in audios:
                ep, hyps = Endpointer(16000, EndpointConfig(trailing_silence=setting)), []
                for i in range(0, x.size, 320):
                    for ev in ep.process(x[i:i + 320]):
                        if isinstance(ev, SpeechStart):
                            rec.begin(assets.matcher.phrases(ctx))
                            rec.feed(ev.audio.astype("<i2").tobytes())
                        elif isinstance(ev, SpeechAudio):
                            rec.feed(ev.audio.astype("<i2").tobytes())
                        elif isinstance(ev, SpeechPause) and hasattr(rec, "speculate"):
                            rec.speculate()     # as VoiceEars does: decoded during the wait
                        elif isinstance(ev, SpeechResume) and hasattr(rec, "resume"):
                            rec.resume()
                        elif isinstance(ev, SpeechEnd):
                            hyps.append(rec.finish())
                whole_n += len(hyps) == 1
                accepted += len(hyps) == 1 and hyps[0].text == want and (hyps[0].confidence or 0) >= threshold
            table[f"trailing {setting} s / pause {pause} s"] = {"answers": len(audios), "one_utterance": whole_n,
                                                               "recognised_and_accepted": accepted}
    shutil.rmtree(work, ignore_errors=True)
    return {"threshold": threshold, "answers": [a[2] for a in SWEEP_ANSWERS], "table": table}


def run(specs, evalset=None, turns: int = 36, out_dir: Path | None = None, log=print,  # noqa: ANN001
        sweep: bool = True) -> dict:
    missing = missing_prerequisites()
    if missing:
        return {"skipped": "; ".join(missing), "turns_wanted": turns}
    from .stage import Stage
    spec = next((s for s in specs if s.name == "pocketsphinx"), specs[0] if specs else None)
    engine = spec.name if spec else "pocketsphinx"
    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    stage = Stage()
    try:
        timings_path, events_path = work / "timings.jsonl", work / "events.jsonl"
        cmd = [sys.executable, "-m", "skill.bench.latency", "--child", "--timings", str(timings_path),
               "--engine", engine, "--seed", "1", "--data-dir", str(work / "data"), "--events", str(events_path)]
        if os.environ.get("BENCH_LATENCY_AB") == "1":
            cmd.append("--ab")
        if spec is not None and spec.model:
            cmd += ["--model", spec.model]
        log(f"  latency[{engine}]: {turns} turns through PulseAudio (about {turns * 7} s)")
        res = converse(stage, cmd, events_path, turns, log=log, timeout=60 + 20 * turns)
    finally:
        stage.close()
    timings = [json.loads(line) for line in timings_path.read_text().splitlines() if line.strip()] \
        if timings_path.exists() else []
    import shutil
    shutil.rmtree(work, ignore_errors=True)
    out = analyse(res["audio"], timings, res["answered"])
    if sweep and spec is not None:
        log("  latency: endpointing trade-off (answers with pauses inside)")
        out["endpoint_sweep"] = endpoint_sweep(spec)
    out.update(engine=engine, turns_wanted=turns, answered=len(res["answered"]),
               peak_rss_mb=res["peak_rss_mb"], stderr_tail=res["stderr_tail"] if not out["turns_measured"] else "",
               endpoint=_endpoint_setting(), method=__doc__.split("\n\n", 3)[2].strip())
    if out_dir is not None:
        import wave
        wav = Path(out_dir) / f"latency-room-{engine}.wav"
        with wave.open(str(wav), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(res["audio"].astype("<i2").tobytes())
        out["recording"] = str(wav)
    return out


def _endpoint_setting() -> dict:
    from dataclasses import asdict
    from ..audio.endpoint import EndpointConfig
    return asdict(EndpointConfig())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child_main(sys.argv[2:]))
    print("usage: run_assistant.py bench --only latency", file=sys.stderr)
    sys.exit(2)
