"""False wakes over many hours (`run_assistant.py bench --only wake-long --hours N`), issue 7.

Issue 7 asks for at most 1 false wake per 10 hours. Zero wakes in T hours only bounds the
rate at 3/T per hour (95 %), so showing 0.1/h takes 30 hours or more: far more audio than the
wake suite's `false_wakes()` (about 3 h), so this corpus is made and decoded in chunks:
- text that never contains a wake phrase (no sentence with "coach" or "my exercises"): what the
  assistant itself says (every prompt in dialogs/, exercise instructions, screener questions:
  it must not wake itself), the seed text, the evaluation set's out-of-domain sentences, and
  the prose of Python's own documentation (pydoc_data), split into clauses;
- spoken by espeak-ng in 16 English voices and variants at six rates, in scenes of 1-4
  minutes: one person talking, two people taking turns, a television-like mix of two voices
  over each other, and noise alone; each scene over pink, brown or white noise at 10-20 dB SNR;
- each chunk (default 15 minutes) is built from its own seed (reproducible, never stored for
  good), decoded by the same endpointer and WakeRecognizer as `serve` (VoiceEars over the
  recording, fast), and its result written as it finishes: a partial run still gives a number,
  and a run resumes where it stopped.
Every segment the wake grammar found (a candidate) is written to `candidates.jsonl` with the
detector's measures (`rec.last_measures`) and the text spoken there, so a changed wake rule
can be re-scored without decoding again (`rescore`).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import tempfile
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from . import evalset as E

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "dialogs" / "en-us"
SEEDS = ROOT.parent / "shared" / "seeds"
VERSION = 1                      # part of the corpus fingerprint: a changed builder makes new chunks
CHUNK_SECONDS = 900.0
# espeak-ng's English voices, with and without variants (+f female, +m male, klatt); "en-gb+f4"
# would be plain en-gb (espeak-ng 1.51 drops a variant after "en-gb"), so "en" (the same voice)
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-gb-x-rp",
          "en-029", "en-us-nyc", "en-us+f2", "en+f4", "en-gb-scotland+f3", "en-029+f1",
          "en-us+m3", "en-gb-x-rp+f5", "en-us-nyc+m5", "en-gb-x-gbclan+klatt")
RATES_WPM = (130, 150, 165, 180, 200, 220)
NOISES = ("pink", "brown", "white")
SNR_DB = (10.0, 20.0)
SCENE_SECONDS = (60.0, 240.0)
SCENES = {"talk": 0.55, "conversation": 0.2, "tv": 0.15, "noise": 0.1}
# what a scene reads: the assistant's own words weigh most (it must not wake itself)
SOURCES = {"assistant": 0.35, "seeds": 0.2, "everyday": 0.05, "python-docs": 0.4}
BREAK_MS = 2000                  # between clauses in one espeak-ng call; split at >= SPLIT_SECONDS
SPLIT_SECONDS = 1.0
BATCH = 16                       # clauses per espeak-ng call
WAKE_WORDS = ("coach", "my exercises")


# ------------------------------------------------------------------ text
def _clauses(text: str) -> list[str]:
    """Clauses between punctuation (short stretches of talk between pauses), speakable ones only."""
    out = []
    for s in re.split(r"(?<=[.!?,;:])\s+", text):
        s = " ".join(s.split()).strip("\"'()")
        low = s.lower()
        # prose only: code, markup and symbols would be read out letter by letter
        if len(s) < 8 or not re.fullmatch(r"[A-Za-z0-9 .,;:!?'\"-]+", s) or sum(c.isalpha() for c in s) < 6:
            continue
        if any(w in low for w in WAKE_WORDS):         # never the wake phrase
            continue
        out.append(s)
    return out


def _fill(line: str, rng: np.random.Generator, names: list[str]) -> str:
    """A prompt's {placeholders} filled as the assistant would: numbers, sides, exercise names."""
    numbers = ["two", "three", "five", "eight", "ten", "twelve", "twenty", "thirty"]
    words = {"side": ["left", "right"], "site": ["back", "hip", "both"], "wake": ["hey coach"]}

    def value(m: re.Match) -> str:
        key = m.group(1)
        if key in words:
            return str(rng.choice(words[key]))
        if key in ("name", "routine", "before", "after", "last", "findings", "where", "default"):
            return str(rng.choice(names))
        return str(rng.choice(numbers))
    return re.sub(r"\{([a-z_]+)\}", value, line)


def _toml_strings(x: Any) -> Iterator[str]:
    if isinstance(x, str):
        yield x
    elif isinstance(x, dict):
        for k, v in x.items():
            if k not in ("id", "source", "level", "applies", "kind", "sides", "positions", "aliases"):
                yield from _toml_strings(v)
    elif isinstance(x, list):
        for v in x:
            yield from _toml_strings(v)


def assistant_text(locale: Path = LOCALE) -> list[str]:
    """Everything the assistant says: prompts (placeholders filled), exercises, screener, routines."""
    rng = np.random.default_rng(E.SEED)
    names: list[str] = []
    tomls = sorted(locale.glob("exercises/*.toml")) + [locale / "screener.toml", locale / "routines.toml"]
    docs = [tomllib.loads(p.read_text(encoding="utf-8")) for p in tomls if p.is_file()]
    for d in docs:
        if isinstance(d.get("name"), str):
            names.append(d["name"])
    names = names or ["the bridge"]
    lines: list[str] = []
    for p in sorted(locale.glob("prompts/*.dialog")):
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append(_fill(line, rng, names))
    for d in docs:
        lines.extend(_toml_strings(d))
    return [c for line in lines for c in _clauses(line)]


def python_docs_text() -> list[str]:
    """Prose paragraphs of Python's own documentation (pydoc_data, in every CPython)."""
    from pydoc_data.topics import topics
    out = []
    for key in sorted(topics):
        for para in re.split(r"\n\s*\n", topics[key]):
            if para.startswith((" ", "\t")) or ">>>" in para or "::" in para:
                continue            # code examples, grammar rules
            para = re.sub(r"[*`]", "", para)
            out.extend(_clauses(para))
    return out


def corpus_text() -> dict[str, list[str]]:
    """source -> clauses, in document order (a scene reads a run of consecutive clauses)."""
    seeds = " ".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(SEEDS.glob("*.txt")))
    seeds = re.sub(r"\[\d+\]", " ", seeds)
    return {"assistant": assistant_text(), "seeds": _clauses(seeds),
            "everyday": [c for s in E.OUT_OF_DOMAIN for c in _clauses(s)] or list(E.OUT_OF_DOMAIN),
            "python-docs": python_docs_text()}


def fingerprint(texts: dict[str, list[str]], chunk_seconds: float) -> str:
    h = hashlib.sha256(json.dumps([VERSION, chunk_seconds, VOICES, RATES_WPM, SCENES, SOURCES, texts]).encode())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------ speech
def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed: {proc.stderr.strip()[:300]}")


def _trim(x: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(x) > 2)
    return x[loud[0]: loud[-1] + 1] if loud.size else x[:0]


def _espeak(ssml_or_text: str, voice: str, wpm: int, work: Path, ssml: bool) -> np.ndarray:
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        raw, out = Path(tmp) / "raw.wav", Path(tmp) / "out.wav"
        _run(["espeak-ng", *(["-m"] if ssml else []), "-v", voice, "-s", str(wpm), "-w", str(raw), ssml_or_text])
        # -R repeatable, -D no dither: silence stays digital zero, so the breaks can be found
        _run(["sox", "-R", str(raw), "-D", "-r", str(E.RATE), "-c", "1", "-b", "16", str(out)])
        return E.read_pcm(out)


def synth(clauses: list[str], voice: str, wpm: int, work: Path) -> list[np.ndarray]:
    """Each clause as 16 kHz int16 speech, edges trimmed: one espeak-ng call for the batch
    (a long SSML break between clauses, split there), one call per clause if the split fails."""
    esc = [c.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for c in clauses]
    pcm = _espeak("<speak>" + f' <break time="{BREAK_MS}ms"/> '.join(esc) + "</speak>", voice, wpm, work, True)
    quiet = np.abs(pcm) <= 2
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))   # run boundaries
    bounds = np.concatenate(([0], edges + 1, [pcm.size]))
    cuts = [(a, b) for a, b in zip(bounds[:-1], bounds[1:])
            if quiet[a] and b - a >= SPLIT_SECONDS * E.RATE and a > 0 and b < pcm.size]
    if len(cuts) == len(clauses) - 1:
        starts = [0] + [b for _, b in cuts]
        ends = [a for a, _ in cuts] + [pcm.size]
        return [_trim(pcm[s:e]) for s, e in zip(starts, ends)]
    return [_trim(_espeak(c, voice, wpm, work, False)) for c in clauses]


# ------------------------------------------------------------------ one chunk
@dataclass
class Clause:
    start: float          # seconds into the chunk
    end: float
    text: str
    source: str
    voice: str
    wpm: int
    scene: int


class _Reader:
    """One talker in a scene: a voice, a rate and a run of consecutive clauses of one source."""

    def __init__(self, texts: dict[str, list[str]], rng: np.random.Generator, work: Path) -> None:
        names = list(SOURCES)
        self.source = str(rng.choice(names, p=np.array(list(SOURCES.values())) / sum(SOURCES.values())))
        self.pool = texts[self.source]
        self.i = int(rng.integers(len(self.pool)))
        self.voice = str(rng.choice(VOICES))
        self.wpm = int(rng.choice(RATES_WPM))
        self.work = work
        self._queue: list[tuple[str, np.ndarray]] = []

    def next(self) -> tuple[str, np.ndarray]:
        if not self._queue:
            batch = [self.pool[(self.i + k) % len(self.pool)] for k in range(BATCH)]
            self.i += BATCH
            self._queue = [(t, p) for t, p in zip(batch, synth(batch, self.voice, self.wpm, self.work)) if p.size]
        return self._queue.pop(0)


def build_chunk(index: int, seconds: float, texts: dict[str, list[str]], noises: dict[str, np.ndarray],
                work: Path, seed: int = E.SEED) -> tuple[np.ndarray, list[Clause]]:
    """Chunk `index` of the corpus: int16 audio and what was said when. Same arguments, same audio."""
    rng = np.random.default_rng([seed, index])
    n = int(seconds * E.RATE)
    out = np.zeros(n)
    clauses: list[Clause] = []
    t, scene, ref_rms = 0, 0, 3000.0
    kinds, weights = list(SCENES), np.array(list(SCENES.values()))
    while t < n:
        length = min(n - t, int(rng.uniform(*SCENE_SECONDS) * E.RATE))
        kind = str(rng.choice(kinds, p=weights / weights.sum()))
        colour, snr = str(rng.choice(NOISES)), float(rng.uniform(*SNR_DB))
        speech = np.zeros(length)
        tracks: list[tuple[_Reader, float, tuple[float, float]]] = []
        if kind in ("talk", "conversation"):
            tracks.append((_Reader(texts, rng, work), 1.0, (0.3, 3.0)))
        if kind == "conversation":
            tracks.append((_Reader(texts, rng, work), 1.0, (0.3, 3.0)))
        if kind == "tv":      # two voices over each other, the second further away
            tracks = [(_Reader(texts, rng, work), 1.0, (0.2, 1.0)),
                      (_Reader(texts, rng, work), 10 ** (-rng.uniform(3, 10) / 20), (0.2, 1.0))]
        # a conversation is one lane, its talkers taking turns; the television's talkers each
        # have a lane of their own (over each other); noise alone has none
        lanes = [tracks] if kind in ("talk", "conversation") else [[tr] for tr in tracks]
        for lane in lanes:
            at, turn = int(rng.uniform(0.2, 2.0) * E.RATE), 0
            while at < length:
                reader, gain, gap = lane[turn % len(lane)]
                text, pcm = reader.next()
                if at + pcm.size > length:
                    break
                speech[at:at + pcm.size] += gain * pcm
                clauses.append(Clause(round((t + at) / E.RATE, 2), round((t + at + pcm.size) / E.RATE, 2),
                                      text, reader.source, reader.voice, reader.wpm, scene))
                at += pcm.size + int(rng.uniform(*gap) * E.RATE)
                if rng.random() < 0.1:         # now and then a longer quiet stretch
                    at += int(rng.uniform(5, 20) * E.RATE)
                if len(lane) > 1 and rng.random() < 0.6:
                    turn += 1
        loud = speech[np.abs(speech) > 2]
        if loud.size:
            ref_rms = float(np.sqrt(np.mean(loud ** 2)))
        if colour == "white":
            noise = rng.normal(0.0, 1.0, length)
        else:
            src = noises[colour]
            noise = np.resize(np.roll(src, -int(rng.integers(src.size))), length)
        noise = noise / np.sqrt(np.mean(noise ** 2)) * ref_rms / 10 ** (snr / 20)
        out[t:t + length] = speech + noise
        scene += 1
        t += length
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > 32000:
        out *= 32000 / peak
    return np.round(out).astype(np.int16), clauses


# ------------------------------------------------------------------ decoding
_DETECTOR: tuple | None = None


def _detector() -> tuple:
    global _DETECTOR
    if _DETECTOR is None:
        from ..wake import WakeRecognizer, load_wake_phrases
        phrases = load_wake_phrases(LOCALE)
        _DETECTOR = (phrases, WakeRecognizer(phrases, LOCALE))
    return _DETECTOR


def score(wav: Path, clauses: list[Clause], chunk: int) -> tuple[dict, list[dict]]:
    """The recording through VoiceEars and the wake detector, as `serve` hears it: counts, and
    one record per grammar candidate (measures, decision, what was said there)."""
    from ..audio.ears import VoiceEars
    from ..audio.sources import WavFileSource
    from ..edges import EndOfInput, Heard
    phrases, rec = _detector()
    source = WavFileSource(wav, E.RATE, fast=True)
    ears = VoiceEars(source, rec, lambda c: phrases, source.clock, report_unrecognised=True,
                     on_notice=lambda kind, msg: None)
    starts = np.array([c.start for c in clauses])
    segments, wakes, cands = 0, 0, []
    cpu0 = time.process_time()
    while True:
        heard = ears.hear("wake", None)
        if isinstance(heard, EndOfInput):
            break
        if not isinstance(heard, Heard):
            continue
        segments += 1
        m = dict(rec.last_measures)
        wakes += bool(heard.text)
        if not m.get("text"):
            continue
        end = float(source.position)
        begin = end - float(m.get("seconds", 0)) - 0.6
        near = [clauses[i] for i in range(max(0, int(np.searchsorted(starts, begin)) - 2),
                                          int(np.searchsorted(starts, end)))
                if clauses[i].end > begin and clauses[i].start < end]
        cands.append({"chunk": chunk, "at": round(end, 2), "woke": bool(heard.text), "heard": heard.text,
                      "measures": m, "said": [c.text for c in near],
                      "voices": sorted({f"{c.voice} {c.wpm}" for c in near}),
                      "sources": sorted({c.source for c in near})})
    cpu = time.process_time() - cpu0
    return {"segments": segments, "grammar_candidates": len(cands), "false_wakes": wakes,
            "decode_cpu_seconds": round(cpu, 2)}, cands


def _chunk_paths(root: Path, index: int) -> tuple[Path, Path]:
    return root / f"chunk-{index:04d}.json", root / f"chunk-{index:04d}.jsonl"


def run_chunk(root: Path, index: int, seconds: float, key: str, keep_audio: bool = False) -> dict:
    """Build, decode and record one chunk (the result files written last: a crash leaves none)."""
    texts = corpus_text()
    noises = E.make_noise(root)
    work = root / "work"
    work.mkdir(parents=True, exist_ok=True)
    c0, w0 = os.times(), time.perf_counter()
    pcm, clauses = build_chunk(index, seconds, texts, noises, work)
    c1 = os.times()
    build_cpu = (c1.user + c1.system + c1.children_user + c1.children_system
                 - c0.user - c0.system - c0.children_user - c0.children_system)
    wav = work / f"chunk-{index:04d}.wav"
    E.write_pcm(wav, pcm)
    try:
        summary, cands = score(wav, clauses, index)
    finally:
        if not keep_audio:
            wav.unlink(missing_ok=True)
    speech = sum(c.end - c.start for c in clauses)
    per_source: dict[str, float] = {}
    for c in clauses:
        per_source[c.source] = per_source.get(c.source, 0.0) + c.end - c.start
    summary.update({"chunk": index, "key": key, "audio_seconds": round(pcm.size / E.RATE, 2),
                    "speech_seconds": round(speech, 1), "clauses": len(clauses),
                    "speech_seconds_by_source": {k: round(v, 1) for k, v in sorted(per_source.items())},
                    "build_cpu_seconds": round(build_cpu, 2), "wall_seconds": round(time.perf_counter() - w0, 1)})
    meta, lines = _chunk_paths(root, index)
    tmp = lines.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(c, default=str) + "\n" for c in cands))
    tmp.replace(lines)
    tmp = meta.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary))
    tmp.replace(meta)
    return summary


def _done(root: Path, index: int, key: str) -> dict | None:
    meta, lines = _chunk_paths(root, index)
    try:
        summary = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    return summary if summary.get("key") == key and lines.exists() else None


# ------------------------------------------------------------------ totals
def poisson_upper(k: int, confidence: float = 0.95) -> float:
    """Upper bound on a Poisson mean after k events (exact: P(X <= k) = 1 - confidence)."""
    def cdf(lam: float) -> float:
        term = total = math.exp(-lam)
        for i in range(1, k + 1):
            term *= lam / i
            total += term
        return total
    lo, hi = 0.0, 10.0 + 10.0 * k
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) > 1 - confidence else (lo, mid)
    return hi


def read_candidates(root: Path) -> list[dict]:
    out = []
    for p in sorted(root.glob("chunk-*.jsonl")):
        out.extend(json.loads(line) for line in p.read_text().splitlines() if line.strip())
    return out


def shipped_rule(m: dict) -> bool:
    """The detector's rule re-applied to recorded measures (skill.bench.wake._passes): where the
    decoy stage did not run its answer is unknown and the candidate counts as refused."""
    from ..wake import MAX_PHONE_DISTANCE
    from .wake import _passes
    return _passes(m, MAX_PHONE_DISTANCE, decoys=True)


def rescore(cands: list[dict], rule: Callable[[dict], bool] = shipped_rule) -> int:
    """How many recorded candidates `rule(measures)` would have woken (no decoding)."""
    return sum(1 for c in cands if rule(c["measures"]))


def rule_sweep(cands: list[dict]) -> dict[str, int]:
    """False wakes under other limits, from the recorded measures (skill.bench.wake's sweeps):
    phone-distance limit with and without the decoy stage, and wake-confidence cuts. Where a
    rule needs the decoy stage's answer and it did not run, the candidate counts as refused."""
    from ..wake import DECOY_MAX_PHONE_DISTANCE
    from .wake import CONFIDENCE_CUTS, _passes
    from ..wake import WAKE_MIN_CONFIDENCE
    out = {}
    for limit in (0.5, 0.6, 0.67, 0.75, 1.0):
        out[f"phones<={limit}"] = sum(1 for c in cands if _passes(c["measures"], limit))
        if limit <= DECOY_MAX_PHONE_DISTANCE:
            out[f"phones<={limit}+decoys"] = sum(1 for c in cands if _passes(c["measures"], limit, True))
    for cut in sorted(set(CONFIDENCE_CUTS) | {WAKE_MIN_CONFIDENCE}):
        out[f"confidence>={cut}"] = sum(1 for c in cands
                                        if _passes(c["measures"], DECOY_MAX_PHONE_DISTANCE, True, cut))
    return out


def _confidence(m: dict) -> float:
    from ..wake import wake_confidence
    return float(m["wake_confidence"]) if "wake_confidence" in m else (
        wake_confidence(m) if m.get("distance") is not None else 0.0)


def totals(chunks: list[dict], cands: list[dict], top: int = 12) -> dict:
    seconds = sum(c["audio_seconds"] for c in chunks)
    hours = seconds / 3600
    wakes = sum(c["false_wakes"] for c in chunks)
    decode_cpu = sum(c["decode_cpu_seconds"] for c in chunks)
    by: dict[str, dict[str, int]] = {}
    for c in cands:
        for s in c["sources"] or ["(noise only)"]:
            row = by.setdefault(s, {"candidates": 0, "woke": 0})
            row["candidates"] += 1
            row["woke"] += c["woke"]
    speech_by: dict[str, float] = {}
    for c in chunks:
        for k, v in c["speech_seconds_by_source"].items():
            speech_by[k] = speech_by.get(k, 0.0) + v
    near = sorted(cands, key=lambda c: -_confidence(c["measures"]))[:top]
    return {"chunks": len(chunks), "audio_hours": round(hours, 3),
            "speech_hours": round(sum(c["speech_seconds"] for c in chunks) / 3600, 3),
            "speech_hours_by_source": {k: round(v / 3600, 3) for k, v in sorted(speech_by.items())},
            "clauses": sum(c["clauses"] for c in chunks),
            "segments": sum(c["segments"] for c in chunks),
            "grammar_candidates": len(cands), "false_wakes": wakes,
            "false_wakes_per_hour": round(wakes / hours, 4) if hours else None,
            "upper_95_per_hour": round(poisson_upper(wakes) / hours, 4) if hours else None,
            "rescored_false_wakes": rescore(cands),
            "rule_sweep": rule_sweep(cands),
            "candidates_by_source": by,
            "decode_cpu_seconds_per_audio_second": round(decode_cpu / seconds, 4) if seconds else None,
            "build_cpu_seconds_per_audio_second":
                round(sum(c["build_cpu_seconds"] for c in chunks) / seconds, 4) if seconds else None,
            "near_misses": [{"confidence": round(_confidence(c["measures"]), 3), "woke": c["woke"],
                             "said": c["said"], "voices": c["voices"], "chunk": c["chunk"], "at": c["at"],
                             "measures": {k: c["measures"].get(k) for k in (
                                 "text", "seconds", "distance", "phones", "gap", "uncovered",
                                 "floored", "decoy", "rejected")}} for c in near]}


def run(out_dir: Path, hours: float = 0.5, jobs: int = 2, chunk_seconds: float = CHUNK_SECONDS,
        log: Callable[[str], None] = lambda line: print(line, flush=True), first: int = 0) -> dict:
    """Chunks first..first+N-1 (N = hours / chunk length, rounded up), done ones reused, `jobs`
    at a time. Interrupted (Ctrl-C), it totals the chunks finished so far ("partial").
    A chunk's audio is seeded by its index: changed prompts change only the assistant's own
    scenes, so hours that were never heard, to test a rule chosen on others, are new indices
    (`first`), not a new corpus key."""
    root = out_dir / "wake-long"
    root.mkdir(parents=True, exist_ok=True)
    key = fingerprint(corpus_text(), chunk_seconds)
    n = max(1, math.ceil(hours * 3600 / chunk_seconds - 1e-9))
    indices = range(first, first + n)
    chunks = {i: s for i in indices if (s := _done(root, i, key)) is not None}
    todo = [i for i in indices if i not in chunks]
    log(f"wake-long: {n} chunks of {chunk_seconds:g} s in {root} (from chunk {first}); "
        f"{len(chunks)} done, {len(todo)} to go")
    E.make_noise(root)                     # once, before the workers race to make it

    def report(i: int, s: dict) -> None:
        chunks[i] = s
        log(f"  chunk {i}: {s['segments']} segments, {s['grammar_candidates']} candidates, "
            f"{s['false_wakes']} wakes, decode {s['decode_cpu_seconds']} s CPU, "
            f"build {s['build_cpu_seconds']} s, wall {s['wall_seconds']} s")
    partial, failed = False, {}

    def failure(i: int, exc: Exception) -> None:
        # one chunk that cannot be made or decoded (a voice missing, a full disk) costs that
        # chunk, not the hours of the others: said, counted, and the run goes on
        failed[i] = f"{type(exc).__name__}: {exc}"
        log(f"  chunk {i} FAILED: {failed[i]}")
    try:
        if todo and jobs <= 1:
            for i in todo:
                try:
                    s = run_chunk(root, i, chunk_seconds, key)
                except Exception as exc:  # noqa: BLE001 - reported, see failure()
                    failure(i, exc)
                    continue
                report(i, s)
        elif todo:
            with ProcessPoolExecutor(max_workers=min(jobs, len(todo))) as pool:
                futures = {i: pool.submit(run_chunk, root, i, chunk_seconds, key) for i in todo}
                try:
                    for i, f in futures.items():
                        try:
                            s = f.result()
                        except Exception as exc:  # noqa: BLE001 - reported, see failure()
                            failure(i, exc)
                            continue
                        report(i, s)
                except KeyboardInterrupt:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
    except KeyboardInterrupt:
        # what finished is on disk (a worker's chunk in progress is lost): total that
        partial = True
        chunks.update({i: s for i in indices if i not in chunks and (s := _done(root, i, key)) is not None})
        log(f"wake-long: interrupted; totals over the {len(chunks)} chunks finished")
    done = [chunks[i] for i in sorted(chunks)]
    cands = [c for c in read_candidates(root) if c["chunk"] in chunks]
    return {"key": key, "chunk_seconds": chunk_seconds, "partial": partial or bool(failed),
            "failed_chunks": failed, **totals(done, cands)}


def print_wake_long(res: dict) -> None:
    print("\n== False wakes, long corpus ==")
    if res.get("failed_chunks"):
        print(f"!! {len(res['failed_chunks'])} chunks failed (left out of the totals): "
              + "; ".join(f"{i}: {e}" for i, e in list(res["failed_chunks"].items())[:3]))
    print(f"{res['false_wakes']} false wakes in {res['audio_hours']} h ({res['speech_hours']} h of speech, "
          f"{res['segments']} segments, {res['grammar_candidates']} passed the grammar) = "
          f"{res['false_wakes_per_hour']}/h, 95 % upper bound {res['upper_95_per_hour']}/h; "
          f"re-scored from the measures: {res['rescored_false_wakes']}")
    print(f"decode {res['decode_cpu_seconds_per_audio_second']} CPU s per audio s, "
          f"build {res['build_cpu_seconds_per_audio_second']}")
    print("candidates by source: " + ", ".join(f"{k} {v['candidates']} ({v['woke']} woke)"
                                               for k, v in res["candidates_by_source"].items()))
    for m in res["near_misses"][:5]:
        print(f"  {m['confidence']:.3f} {m['measures']['text']!r} <- {' / '.join(m['said'])[:90]!r} "
              f"({', '.join(m['voices'])}; {m['measures'].get('rejected') or 'WOKE'})")
