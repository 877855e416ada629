"""Narrow-band (8 kHz, telephone-band) input: does a front-end step help the recogniser?

Many Bluetooth headsets (HFP), telephone adapters and some USB microphones deliver 8 kHz audio:
after resampling to 16 kHz nothing lies above ~3.8 kHz, while PocketSphinx's model was trained
with a filterbank up to 6.8 kHz. This study decodes a development set (espeak-ng digits,
`number` phrases and everyday out-of-domain sentences, several voices, through an 8 kHz round
trip with sox; never the FSDD clips, which are the test set) exactly as the assistant does
(`open_recognizer`, `begin`, 0.1 s chunks, `finish`, the shipped matcher and threshold), once
per front-end candidate:
- full: the 16 kHz original (what the band costs);
- base: the 8 kHz clip resampled by the product's resampler (what the product does);
- foldN: plus spectral folding, the mirror image of 0-3.6 kHz in 4.4-8 kHz at -N dB
  (`extend`: the band-limited 16 kHz signal times (-1)^n is its mirror about 4 kHz);
- hnoiseN: plus stationary noise in 4.4-8 kHz, N dB under the loud frames' level;
- noiseN: plus noise in 4.4-8 kHz following the speech envelope, N dB under it.

Result (BENCHMARKS.md, "Narrow-band input (session 4)"): no candidate helps enough to ship;
the product treats 8 kHz input like any other rate.

    python -m skill.bench.narrowband [--candidates full,base,fold10] [--kinds digit,phrase,ood]
        [--cache DIR] [--jobs 2]

writes `bench-results/narrowband/narrowband.json` and prints the table.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
import wave
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RATE = 16000
LOW_BAND = (300.0, 3400.0)
HIGH_BAND = (4400.0, 7000.0)
_FRAME = 512
_LOUD_WITHIN_DB = 20.0


# ------------------------------------------------------------------ the maths
def is_narrowband_rate(native_rate: int) -> bool:
    """A source at this native rate holds nothing above 4 kHz."""
    return 0 < int(native_rate) <= 8000


def band_ratio_db(samples: np.ndarray, rate: int = RATE) -> float:
    """High-band (4.4-7 kHz) to low-band (0.3-3.4 kHz) energy in dB over the louder frames
    (speech, not the pauses around it): about -200 for an empty high band, 0.0 for audio too
    short or silent to tell."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    n = x.size // _FRAME
    if n == 0 or rate < 2 * HIGH_BAND[1]:
        return 0.0
    frames = x[: n * _FRAME].reshape(n, _FRAME) * np.hanning(_FRAME)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(_FRAME, 1.0 / rate)
    low = power[:, (freqs >= LOW_BAND[0]) & (freqs < LOW_BAND[1])].sum(axis=1)
    high = power[:, (freqs >= HIGH_BAND[0]) & (freqs < HIGH_BAND[1])].sum(axis=1)
    level = 10 * np.log10(low + 1.0)
    loud = level >= np.percentile(level, 90) - _LOUD_WITHIN_DB
    if low[loud].sum() <= 0:
        return 0.0
    return float(10 * np.log10(max(high[loud].sum(), 1e-20) / low[loud].sum()))


class BandwidthExtender:
    """Spectral folding of 16 kHz audio resampled from 8 kHz, block by block: x + g * x * (-1)^n.
    The sign follows the absolute sample count, so any block sizes give the one-call output."""

    def __init__(self, gain_db: float = -10.0) -> None:
        self.gain = float(10 ** (gain_db / 20.0))
        self._n = 0

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        sign = 1.0 - 2.0 * ((self._n + np.arange(x.size)) % 2)
        self._n += x.size
        return x + self.gain * sign * x


def extend(samples: np.ndarray, gain_db: float = -10.0) -> np.ndarray:
    return BandwidthExtender(gain_db).process(samples)


def _high_band_noise(n8: int, seed: int = 1) -> np.ndarray:
    """Unit-variance white noise confined to 4.4-8 kHz at 16 kHz (a folded 8 kHz noise)."""
    from ..audio.capture import resample
    noise = resample(np.random.default_rng(seed).normal(0, 1, n8), 8000, RATE)
    return noise * (1.0 - 2.0 * (np.arange(noise.size) % 2)) * np.sqrt(2)


def _envelope(x: np.ndarray, frame: int = 160) -> np.ndarray:
    n = x.size // frame * frame
    e = np.repeat(np.sqrt((x[:n].reshape(-1, frame) ** 2).mean(axis=1) + 1e-9), frame)
    return np.concatenate([e, np.full(x.size - n, e[-1] if e.size else 0.0)])


def candidate(name: str, full16: np.ndarray, narrow8: np.ndarray) -> np.ndarray:
    """The 16 kHz audio the recogniser gets under front-end candidate `name`."""
    from ..audio.capture import resample
    if name == "full":
        return full16
    x = resample(narrow8, 8000, RATE)
    if name == "base":
        return x
    for prefix in ("fold", "hnoise", "noise"):
        if name.startswith(prefix):
            gain = 10 ** (-float(name[len(prefix):]) / 20)
            break
    else:
        raise ValueError(f"unknown candidate {name!r}")
    if prefix == "fold":
        return x + gain * x * (1.0 - 2.0 * (np.arange(x.size) % 2))
    noise = _high_band_noise(narrow8.size)[: x.size]
    if prefix == "hnoise":
        return x + gain * np.percentile(_envelope(x), 95) * noise
    return x + gain * _envelope(x) * noise


# ------------------------------------------------------------------ development set
VOICES = (("en-us", 160), ("en-gb-x-rp", 150), ("en-us+f3", 175), ("en-gb", 140), ("en-us+m3", 130),
          ("en-gb-scotland", 155))
VOICES2 = (("en-us", 120), ("en-us+f2", 140), ("en-us+m5", 170), ("en-gb-x-rp+f3", 130), ("en-us+m1", 150),
           ("en-gb+m2", 165))
NUMBER_PHRASES = ("about a {}", "{} out of ten")
# our own everyday sentences (session 3's development list, not the benchmark's)
DEV_OOD = (
    "turn the radio down a bit|i left the oven on|we are going to the beach on saturday|"
    "my back feels much better this week|the plumber is coming tomorrow|could you pass me the remote|"
    "i forgot to water the plants|let's have pasta for dinner|the kids are playing in the garden|"
    "how long until lunch|my shoulder is a little stiff|i bought new running shoes|"
    "that film was really good|the car needs petrol|she said she would call back|it's raining again|"
    "put the kettle on please|the parcel arrived this morning|i can't find my slippers|"
    "we should paint the fence|the heating is broken|tell me a joke|what's on the telly tonight|"
    "grandma is ninety next week|the shop closes at six|i'll do it after breakfast|my feet are freezing|"
    "open the window|that's a lovely picture|the baby is asleep|yes please with milk|"
    "no thanks i'm fine|next to the sofa|stop it you two|pause for thought|skip to my lou|"
    "repeat after me|one more cup of tea|five o'clock shadow|three little pigs|seven days a week|"
    "the rest of the cake|back in a minute|slow and steady wins the race|a faster car|"
    "finish your homework|start the washing machine|menu for tonight please|help me with the shopping|"
    "done and dusted|okay boomer|sure thing|eight o'clock|twenty questions|quit smoking|"
    "ready steady cook|harder than it looks|left right left right|louder music please|easy peasy"
).split("|")


def build_devset(cache: Path) -> list[dict]:
    """espeak-ng clips (evalset.speak: trimmed, padded) and their 8 kHz round trip (sox -R)."""
    from ..vocab import NUMBER_WORDS
    from .evalset import speak
    cache.mkdir(parents=True, exist_ok=True)
    items: list[dict] = []

    def add(kind: str, text: str, voice: str, wpm: int, intent: str, value) -> None:
        slug = hashlib.sha1(f"{text}|{voice}|{wpm}".encode()).hexdigest()[:10]
        w16, w8 = cache / f"{slug}_16k.wav", cache / f"{slug}_8k.wav"
        if not w16.exists():
            speak(text, voice, wpm, w16)
        if not w8.exists():
            subprocess.run(["sox", str(w16), "-r", "8000", "-c", "1", "-b", "16", str(w8)], check=True,
                           capture_output=True, env={**os.environ, "SOX_OPTS": "-R"})
        items.append(dict(id=f"{kind}:{text}:{voice}:{wpm}", kind=kind, text=text, voice=voice,
                          intent=intent, value=value, w16=str(w16), w8=str(w8)))

    for d, w in enumerate(NUMBER_WORDS[:10]):
        for voice, wpm in VOICES + VOICES2:
            add("digit", w, voice, wpm, "number", d)
    k = 0
    for d, w in enumerate(NUMBER_WORDS[:10]):
        for t in NUMBER_PHRASES:
            voice, wpm = VOICES[k % len(VOICES)]
            k += 1
            add("phrase", t.format(w), voice, wpm, "number", d)
    for k, s in enumerate(DEV_OOD):
        for r in range(2):
            voice, wpm = VOICES[(2 * k + r) % len(VOICES)]
            add("ood", s, voice, wpm, "none", None)
    return items


# ------------------------------------------------------------------ decoding
_W: dict = {}


def _init() -> None:
    from ..cli import DEFAULT_LOCALE_DIR, load_assets
    from ..recognition.engines import open_recognizer, rejection_threshold
    _W["matcher"] = load_assets(DEFAULT_LOCALE_DIR).matcher
    _W["rec"], _ = open_recognizer(engine="pocketsphinx")
    _W["threshold"] = rejection_threshold(_W["rec"])


def _read(path: str) -> np.ndarray:
    with wave.open(path, "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


def _task(task: tuple[str, str, dict]) -> dict:
    from ..audio.capture import to_int16
    name, context, item = task
    rec, matcher = _W["rec"], _W["matcher"]
    pcm = to_int16(candidate(name, _read(item["w16"]), _read(item["w8"]))).tobytes()
    rec.begin(matcher.phrases(context))
    for i in range(0, len(pcm), 3200):
        rec.feed(pcm[i:i + 3200])
    hyp = rec.finish()
    m = matcher.match(hyp.text, context, confidence=hyp.confidence, min_confidence=_W["threshold"])
    decoded = matcher.match(hyp.text, context) if hyp.text else None
    return dict(candidate=name, context=context, id=item["id"], kind=item["kind"],
                expected=[item["intent"], item["value"]], text=hyp.text, confidence=hyp.confidence,
                decoded=[decoded.intent, decoded.value] if decoded else ["none", None],
                accepted=[m.intent, m.value], measures=dict(rec.last_measures))


def score(records: list[dict]) -> list[dict]:
    rows = []
    for name in dict.fromkeys(r["candidate"] for r in records):
        rs = [r for r in records if r["candidate"] == name]
        cmd = [r for r in rs if r["kind"] != "ood"]
        row = {"candidate": name, "commands": len(cmd),
               "decoded_right": sum(r["decoded"] == r["expected"] for r in cmd),
               "correct": sum(r["accepted"] == r["expected"] for r in cmd),
               "wrong": sum(r["accepted"][0] != "none" and r["accepted"] != r["expected"] for r in cmd)}
        for ctx in ("number", "yes_no"):
            ood = [r for r in rs if r["kind"] == "ood" and r["context"] == ctx]
            row[f"ood_{ctx}"] = len(ood)
            row[f"fa_{ctx}"] = sum(r["accepted"][0] != "none" for r in ood)
        rows.append(row)
    return rows


def paired(records: list[dict], name: str, against: str = "base") -> Counter:
    """Commands this candidate gets right that `against` does not, and the other way round."""
    got = {(r["candidate"], r["id"]): r["accepted"] == r["expected"] for r in records if r["kind"] != "ood"}
    out: Counter = Counter()
    for (c, i), ok in got.items():
        if c == name and (against, i) in got:
            out["gained"] += ok and not got[(against, i)]
            out["lost"] += got[(against, i)] and not ok
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--candidates", default="full,base,fold10,fold20,hnoise25")
    ap.add_argument("--kinds", default="digit,phrase,ood")
    ap.add_argument("--cache", default=str(ROOT / "bench-results" / "narrowband" / "devset"))
    ap.add_argument("--out", default=str(ROOT / "bench-results" / "narrowband"))
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    try:
        names = args.candidates.split(",")
        for n in names:
            candidate(n, np.zeros(RATE), np.zeros(8000))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    items = [it for it in build_devset(Path(args.cache)) if it["kind"] in args.kinds.split(",")]
    tasks = [(n, ctx, it) for n in names for it in items
             for ctx in (("number", "yes_no") if it["kind"] == "ood" else ("number",))]
    print(f"{len(tasks)} decodes, {len(items)} clips, candidates {names}", flush=True)
    t0 = time.time()
    with mp.get_context("fork").Pool(args.jobs, _init) as pool:
        records = pool.map(_task, tasks, chunksize=4)
    rows = score(records)
    print(f"{'candidate':10s} {'n':>4s} {'decoded':>8s} {'correct':>8s} {'wrong':>6s} {'FA number':>10s} "
          f"{'FA yes_no':>10s} {'vs base +/-':>12s}")
    for row in rows:
        p = paired(records, row["candidate"])
        print(f"{row['candidate']:10s} {row['commands']:4d} {row['decoded_right']:8d} {row['correct']:8d} "
              f"{row['wrong']:6d} {row['fa_number']:>5d}/{row['ood_number']:<4d} "
              f"{row['fa_yes_no']:>5d}/{row['ood_yes_no']:<4d} {p['gained']:>6d}/{p['lost']:<5d}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "narrowband.json").write_text(json.dumps({"rows": rows, "records": records,
                                                     "seconds": round(time.time() - t0, 1)}, indent=1))
    print(f"-> {out / 'narrowband.json'} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
