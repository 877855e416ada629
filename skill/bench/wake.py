"""Wake-phrase benchmark (`run_assistant.py bench --only wake`), BENCHMARKS.md section 5.

- detection: each wake phrase in every evaluation voice x rate (evalset.VOICES, RATES_WPM),
  clean and at 10 dB SNR in pink and in brown noise;
- near misses: phrases that sound like a wake phrase ("hey couch", "okay coach"...), reported
  apart: a person saying them to the coach is a fair wake;
- false wakes per hour: over an hour or more of ordinary speech that never contains a wake
  phrase (espeak-ng reading the seed text clause by clause and the out-of-domain sentences in three voices,
  pauses, stretches of plain noise, all over a pink-noise floor at 15 dB SNR), run through
  the same endpointer and WakeRecognizer as `serve` (VoiceEars over the recording, fast);
- idle cost of the real `serve` process: CPU % of one core and RSS over 60 s of wall time,
  reading a real-time recording of room noise and some talk (--audio-in, not --fast).
Audio is generated once and cached under <out>/wake/.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from . import evalset as E

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "dialogs" / "en-us"
SEEDS = ROOT.parent / "shared" / "seeds"
NEAR_MISSES = ("hey couch", "okay coach", "hey roach", "the coach", "hey poach", "stage coach",
               "hey josh", "start exercising", "start my car", "a coach trip")
LONG_VOICES = (("en-us", 160), ("en-gb", 175), ("en-us+f3", 145))
LONG_SNR_DB = 15
IDLE_SECONDS = 60
CONFIDENCE_CUTS = (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)   # and WAKE_MIN_CONFIDENCE


def _detector():
    from ..wake import WakeRecognizer, load_wake_phrases
    phrases = load_wake_phrases(LOCALE)
    return phrases, WakeRecognizer(phrases, LOCALE)


def _decode(rec, pcm: np.ndarray) -> str:
    rec.begin([])
    rec.feed(pcm.astype("<i2").tobytes())
    return rec.finish().text


def _rendition(root: Path, text: str, voice: str, wpm: int) -> np.ndarray:
    path = root / "phrases" / f"{E._slug(text)}_{voice}_{wpm}.wav"
    if not path.exists():
        E.speak(text, voice, wpm, path)
    return E.read_pcm(path)


def detection(root: Path, quick: bool) -> dict:
    phrases, rec = _detector()
    noise = E.make_noise(root)
    voices = E.VOICES[:2] if quick else E.VOICES
    rates = E.RATES_WPM[:1] if quick else E.RATES_WPM
    rows: dict[str, dict] = {}
    misses: list[str] = []
    candidates: list[dict] = []      # everything the grammar found, for the threshold sweep
    k = 0
    for kind, texts in (("wake", phrases), ("near", NEAR_MISSES[:3] if quick else NEAR_MISSES)):
        for text in texts:
            for voice in voices:
                for wpm in rates:
                    clean = _rendition(root, text, voice, wpm)
                    conds = [("clean", clean)]
                    if kind == "wake":
                        for colour in ("pink", "brown"):
                            k += 1
                            mixed, _ = E.mix_at_snr(clean, noise[colour], 10, k * 7919)
                            conds.append((f"10dB {colour}", mixed))
                    for cond, pcm in conds:
                        got = _decode(rec, pcm)
                        key = f"{kind}/{'10dB' if cond != 'clean' else 'clean'}"
                        row = rows.setdefault(key, {"n": 0, "woke": 0})
                        row["n"] += 1
                        woke = bool(got)
                        row["woke"] += woke
                        if kind == "near":
                            rows.setdefault(f"near/{text}", {"n": 0, "woke": 0})
                            rows[f"near/{text}"]["n"] += 1
                            rows[f"near/{text}"]["woke"] += woke
                        if kind == "wake" and not woke:
                            misses.append(f"{text} | {voice} {wpm} | {cond} | {rec.last_measures}")
                        if rec.last_measures.get("text"):
                            candidates.append({"key": key, **rec.last_measures})
    for row in rows.values():
        row["rate"] = round(row["woke"] / row["n"], 4)
    return {"rows": rows, "missed": misses, "candidates": candidates}


def _sentences() -> list[str]:
    text = " ".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(SEEDS.glob("*.txt")))
    text = re.sub(r"\[\d+\]", " ", text)
    out = []
    # clauses, not whole sentences: short stretches of talk between pauses are what a wake
    # detector must reject (a 20-word sentence is cut off by MAX_WAKE_SECONDS anyway)
    for s in re.split(r"(?<=[.!?,;:])\s+", text):
        s = " ".join(s.split())
        low = s.lower()
        if len(s) < 8 or "coach" in low or "my exercises" in low:   # never the wake phrase
            continue
        out.append(s)
    return out + list(E.OUT_OF_DOMAIN)


def long_audio(root: Path, quick: bool) -> tuple[Path, float]:
    """The cached non-wake recording (built once); its duration in seconds."""
    path = root / ("long-clauses-quick.wav" if quick else "long-clauses.wav")
    if path.exists():
        return path, E.read_pcm(path).size / E.RATE
    rng = np.random.default_rng(E.SEED)
    sentences = _sentences()
    if quick:
        sentences = sentences[:12]
    noise = E.make_noise(root)["pink"]
    chunks: list[np.ndarray] = []
    parts = root / "long-parts"
    for voice, wpm in (LONG_VOICES[:1] if quick else LONG_VOICES):
        for i, text in enumerate(sentences):        # one clause per espeak call, then a pause
            wav = parts / f"{voice}_{wpm}_c{i:04d}.wav"
            if not wav.exists():
                E.speak(text, voice, wpm, wav)
            # speech, then a pause; now and then a longer stretch of the noise floor alone
            chunks.append(E.read_pcm(wav).astype(np.float64))
            chunks.append(np.zeros(int(rng.uniform(0.3, 3.0) * E.RATE)))
            if rng.random() < 0.1:
                chunks.append(np.zeros(int(rng.uniform(5, 20) * E.RATE)))
    x = np.concatenate(chunks)
    n = noise / np.sqrt(np.mean(noise ** 2))
    speech_rms = float(np.sqrt(np.mean(x[np.abs(x) > 0] ** 2)))
    x = x + n[np.arange(x.size) % n.size] * speech_rms / 10 ** (LONG_SNR_DB / 20)
    E.write_pcm(path, np.clip(np.round(x), -32768, 32767).astype(np.int16))
    return path, x.size / E.RATE


def false_wakes(root: Path, quick: bool) -> dict:
    from ..audio.ears import VoiceEars
    from ..audio.sources import WavFileSource
    from ..edges import EndOfInput, Heard
    phrases, rec = _detector()
    path, seconds = long_audio(root, quick)
    source = WavFileSource(path, E.RATE, fast=True)
    ears = VoiceEars(source, rec, lambda c: phrases, source.clock, report_unrecognised=True,
                     on_notice=lambda kind, msg: None)
    wakes, segments, candidates = [], 0, []
    cpu0 = time.process_time()
    while True:
        heard = ears.hear("wake", None)
        if isinstance(heard, EndOfInput):
            break
        if isinstance(heard, Heard):
            segments += 1
            if rec.last_measures.get("text"):
                candidates.append(dict(rec.last_measures))   # the grammar alone would have woken
            if heard.text:
                wakes.append({"at": round(source.position, 1), "heard": heard.text,
                              "measures": rec.last_measures})
    cpu = time.process_time() - cpu0
    hours = seconds / 3600
    return {"audio_hours": round(hours, 3), "segments": segments, "grammar_candidates": len(candidates),
            "candidates": candidates,
            "false_wakes": len(wakes), "false_wakes_per_hour": round(len(wakes) / hours, 3),
            "upper_95_per_hour": round(3.0 / hours, 2) if not wakes else None,
            "cpu_seconds_per_audio_second": round(cpu / seconds, 4), "wakes": wakes}


def idle_cost(root: Path, quick: bool) -> dict:
    """The real serve process reading a real-time recording: CPU % of one core, RSS."""
    seconds = 20 if quick else IDLE_SECONDS
    wav = root / f"idle-{seconds}.wav"
    if not wav.exists():
        noise = E.make_noise(root)["pink"]
        talk = _rendition(root, "the weather is lovely today", "en-gb", 175).astype(np.float64)
        x = np.zeros(int((seconds + 20) * E.RATE))
        for at in (15, 35, 55):
            i = int(at * E.RATE)
            if i + talk.size < x.size:
                x[i:i + talk.size] += talk
        x += noise[np.arange(x.size) % noise.size] * 0.03
        E.write_pcm(wav, np.clip(x, -32768, 32767).astype(np.int16))
    cmd = [sys.executable, str(ROOT / "run_assistant.py"), "serve", "--audio-in", str(wav),
           "--audio-out", str(root / "idle-out.wav"), "--engine", "pocketsphinx", "--no-history"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tick = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    def status(key: str) -> float:
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024
        return float("nan")
    try:
        time.sleep(10)                    # start-up (models, first prompt) is not idling
        c0, t0 = cpu(), time.monotonic()
        time.sleep(seconds)
        c1, t1 = cpu(), time.monotonic()
        rss, peak = status("VmRSS:"), status("VmHWM:")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"wall_seconds": round(t1 - t0, 1), "cpu_seconds": round(c1 - c0, 2),
            "cpu_percent_of_one_core": round(100 * (c1 - c0) / (t1 - t0), 2),
            "rss_mb": round(rss, 1), "peak_rss_mb": round(peak, 1),
            "exit_on_sigterm": proc.returncode}


def _passes(m: dict, max_distance: float, decoys: bool = False, min_confidence: float | None = None,
            band_min: float | None = None) -> bool:
    """Would the detector wake with this phone-distance limit (and wake-confidence cut, default
    WAKE_MIN_CONFIDENCE)? With `decoys`: only within MAX_PHONE_DISTANCE on the phones alone,
    beyond it only if the decoy stage (recorded for distances up to DECOY_MAX_PHONE_DISTANCE,
    when the confidence passed) kept the wake phrase; and, with `band_min` (default
    WAKE_BAND_MIN_CONFIDENCE), a confidence in [band_min, cut) wakes only if the decoy stage kept
    the phrase, at any distance up to DECOY_MAX_PHONE_DISTANCE. Where the decoy stage did not run
    (it runs only where the detector needed it) it counts as refused: a lower bound. Audio the
    detector laid its noise floor under (`floored`) keeps its own cuts (FLOORED_*), as it does.
    A candidate the detector woke on its second look (noise-suppressed audio, its own cut) passes
    at every setting: that look ran because the shipped rule refused it, so at a stricter setting
    it would have run too, and at a looser one the first look may take it anyway."""
    from ..wake import (DECOY_MAX_PHONE_DISTANCE, FLOORED_BAND_MIN_CONFIDENCE, FLOORED_MIN_CONFIDENCE,
                        MAX_PHONE_DISTANCE, MAX_WAKE_SECONDS, MIN_WAKE_SECONDS,
                        WAKE_BAND_MIN_CONFIDENCE, WAKE_MIN_CONFIDENCE, wake_confidence)
    cut = WAKE_MIN_CONFIDENCE if min_confidence is None else min_confidence
    band = WAKE_BAND_MIN_CONFIDENCE if band_min is None else band_min
    if m.get("floored"):
        cut, band = max(cut, FLOORED_MIN_CONFIDENCE), max(band, FLOORED_BAND_MIN_CONFIDENCE)
    low = min(cut, band) if decoys else cut
    if not (MIN_WAKE_SECONDS <= m["seconds"] <= MAX_WAKE_SECONDS and m.get("distance") is not None):
        return False
    if m.get("woke_on_second_look"):
        return True
    confidence = wake_confidence(m)
    if confidence < low:
        return False
    if confidence < cut:      # the band
        return m["distance"] <= DECOY_MAX_PHONE_DISTANCE and m.get("decoy") == m["text"]
    if m["distance"] > max_distance:
        return False
    return not decoys or m["distance"] <= MAX_PHONE_DISTANCE or m.get("decoy") == m["text"]


def sweep(det: dict, fw: dict) -> list[dict]:
    """The same decisions at other phone-distance limits, from the measures recorded above
    (one decoding pass): detection against false wakes per hour, on the phones alone and
    (up to DECOY_MAX_PHONE_DISTANCE, where the decoy stage's answer was recorded) with the
    decoy stage deciding beyond MAX_PHONE_DISTANCE."""
    from ..wake import DECOY_MAX_PHONE_DISTANCE
    out = []
    for limit in (0.5, 0.6, 0.67, 0.75, 1.0):
        for decoys in (False, True):
            if decoys and limit > DECOY_MAX_PHONE_DISTANCE:
                continue
            row = {"max_distance": limit, "decoys": decoys}
            for key in ("wake/clean", "wake/10dB", "near/clean"):
                n = det["rows"].get(key, {}).get("n", 0)
                hits = sum(1 for c in det["candidates"] if c["key"] == key and _passes(c, limit, decoys))
                row[key] = round(hits / n, 4) if n else None
            fws = sum(1 for c in fw["candidates"] if _passes(c, limit, decoys))
            row["false_wakes_per_hour"] = round(fws / fw["audio_hours"], 3)
            out.append(row)
    return out


def confidence_sweep(det: dict, fw: dict) -> list[dict]:
    """The shipped rule (decoy stage and band included, band floor WAKE_BAND_MIN_CONFIDENCE) at
    other wake-confidence cuts. Where the decoy stage did not run (confidence under the band
    floor, or over the cut with the phones close enough) its answer is not known: a candidate
    that would need it counts as refused (a lower bound)."""
    from ..wake import DECOY_MAX_PHONE_DISTANCE, WAKE_MIN_CONFIDENCE
    out = []
    for cut in sorted(set(CONFIDENCE_CUTS) | {WAKE_MIN_CONFIDENCE}):
        row: dict = {"min_confidence": cut}
        for key in ("wake/clean", "wake/10dB", "near/clean"):
            n = det["rows"].get(key, {}).get("n", 0)
            hits = sum(1 for c in det["candidates"]
                       if c["key"] == key and _passes(c, DECOY_MAX_PHONE_DISTANCE, True, cut))
            row[key] = round(hits / n, 4) if n else None
        fws = sum(1 for c in fw["candidates"] if _passes(c, DECOY_MAX_PHONE_DISTANCE, True, cut))
        row["false_wakes_per_hour"] = round(fws / fw["audio_hours"], 3)
        out.append(row)
    return out


def run(out_dir: Path, quick: bool = False) -> dict:
    root = out_dir / "wake"
    root.mkdir(parents=True, exist_ok=True)
    det, fw = detection(root, quick), false_wakes(root, quick)
    return {"detection": det, "false_wakes": fw, "sweep": sweep(det, fw),
            "confidence_sweep": confidence_sweep(det, fw), "idle": idle_cost(root, quick)}


def print_wake(res: dict) -> None:
    print("\n== Wake phrase ==")
    for key, row in res["detection"]["rows"].items():
        print(f"{key:28s} {row['woke']:4d}/{row['n']:<4d} woke {100 * row['rate']:5.1f}%")
    fw = res["false_wakes"]
    print(f"false wakes: {fw['false_wakes']} in {fw['audio_hours']} h ({fw['segments']} speech segments, "
          f"{fw['grammar_candidates']} passed the grammar) = {fw['false_wakes_per_hour']}/h; "
          f"CPU {fw['cpu_seconds_per_audio_second']} s per audio s")
    print("phone-distance limit sweep (same audio): " + "; ".join(
        f"{r['max_distance']}{' +decoys' if r['decoys'] else ''}: clean {r['wake/clean']}, "
        f"10dB {r['wake/10dB']}, near {r['near/clean']}, {r['false_wakes_per_hour']}/h"
        for r in res["sweep"]))
    print("wake-confidence sweep (same audio, shipped phone rule): " + "; ".join(
        f"{r['min_confidence']}: clean {r['wake/clean']}, 10dB {r['wake/10dB']}, near {r['near/clean']}, "
        f"{r['false_wakes_per_hour']}/h" for r in res.get("confidence_sweep", [])))
    idle = res["idle"]
    print(f"idle serve: {idle['cpu_percent_of_one_core']}% of one core over {idle['wall_seconds']} s, "
          f"RSS {idle['rss_mb']} MB (peak {idle['peak_rss_mb']} MB), exit on SIGTERM {idle['exit_on_sigterm']}")
