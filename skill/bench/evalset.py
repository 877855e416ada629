"""The evaluation set: synthetic commands per listen context, out-of-domain speech, real digits.

Everything is made here, not downloaded (DEVELOPERS.md): espeak-ng speaks each phrase in
several voices and rates, sox resamples to 16 kHz mono and pads silence, and noise (pink and
brown, generated once by sox with a fixed seed) is mixed in at a set SNR. The SNR is computed
from the RMS of the speech itself (the padded silence left out), and verified after mixing.

The set is cached in `<cache>/` with a `manifest.json`; a second run with the same plan
reuses every WAV already there.

Sampling (deterministic, stated in the manifest): every phrase of a context when it has at
most `per_context` phrases; otherwise every (intent, value) pair gets its share round-robin
(so every intent and every value is covered), phrases drawn in a seeded shuffle. Each phrase
is spoken in `renditions` of the voice x rate combinations, rotating so that every voice and
every rate is used equally often.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import wave
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from ..matcher import Matcher

RATE = 16000
VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb-x-rp")
RATES_WPM = (140, 175, 200)
SNRS_DB = (20, 10, 5)
CONTEXTS = ("yes_no", "number", "coach", "menu")
PAD_SECONDS = 0.3
SEED = 5
FSDD_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fsdd-dev"
# How FSDD's 8 kHz clips become the 16 kHz audio the recogniser is fed: by the product's own
# file reader (skill/recognition/wavio.py read_wav: its resampler), exactly as
# `recognize` or `--audio-in` would read them. Part of the cache key: a changed reader makes
# a new set.
FSDD_READER = "wavio.read_wav-v1"

# Sentences that are no command in any context: everyday talk, exercise chatter, and
# near-misses that share a word or a sound with a command.
OUT_OF_DOMAIN = (
    "yesterday was nice",
    "no idea what you mean",
    "next door neighbour",
    "stop sign",
    "the weather is lovely today",
    "i had toast for breakfast",
    "can you turn on the kitchen light",
    "my sister is coming over later",
    "where did i leave my keys",
    "the dog needs a walk",
    "what time is the train",
    "i need to buy some milk",
    "the television is too loud",
    "did you see the football last night",
    "this mat is a bit slippery",
    "my knee clicks when i bend it",
    "i should drink more water",
    "the floor is cold",
    "let me put my glasses on",
    "i went swimming on tuesday",
    "how many calories does this burn",
    "i think the neighbours are home",
    "someone is at the door",
    "my phone is ringing",
    "the cat is sitting on my towel",
    "nobody told me about that",
    "yes terday was nice",
    "know what i mean",
    "yesteryear",
    "the bus stop is around the corner",
    "i'll get the next bus",
    "a skipping rope",
    "help yourself to biscuits",
    "pause the music",
    "repeat prescriptions are ready",
    "the number is in my diary",
    "four seasons pizza",
    "ten green bottles",
    "seventeen",
    "nine hundred",
    "hip hip hooray",
    "back to the future",
    "go away",
    "not now",
    "maybe later",
    "i'm not sure",
    "i don't know",
    "what was the question",
    "hello there",
    "good morning",
)


@dataclass
class Item:
    id: str
    kind: str            # "command" | "ood" | "fsdd"
    context: str         # listen context it is scored in ("*" for ood: scored in every context)
    text: str            # what is said (fsdd: the digit word)
    intent: str          # expected intent ("none" for ood)
    value: object        # expected value
    voice: str
    rate: int            # words per minute (0 for fsdd)
    noise: str           # "clean" or e.g. "snr10"
    snr_db: float | None  # measured after mixing
    wav: str             # path relative to the cache dir
    seconds: float = 0.0


@dataclass
class Plan:
    per_context: int = 160      # phrases per context at most
    renditions: int = 2         # voice x rate combinations per phrase
    ood_renditions: int = 2
    snrs: tuple[int, ...] = SNRS_DB
    voices: tuple[str, ...] = VOICES
    rates: tuple[int, ...] = RATES_WPM
    contexts: tuple[str, ...] = CONTEXTS
    fsdd: int = 600             # FSDD files at most (every n-th, so every digit and speaker)
    ood: int = len(OUT_OF_DOMAIN)

    @classmethod
    def quick(cls) -> "Plan":
        return cls(per_context=4, renditions=1, ood_renditions=1, snrs=(10,), fsdd=5, ood=3)

    def key(self, matcher: Matcher | None = None) -> str:
        """Cache key: the plan and the phrases it draws from (a changed .voc makes a new set)."""
        data = {"plan": asdict(self), "ood": OUT_OF_DOMAIN[: self.ood], "fsdd_reader": FSDD_READER}
        if matcher is not None:
            data["phrases"] = {c: matcher.phrases(c) for c in self.contexts}
        return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]


@dataclass
class EvalSet:
    root: Path
    items: list[Item]
    sampling: dict = field(default_factory=dict)

    def path(self, item: Item) -> Path:
        return self.root / item.wav

    def load(self, item: Item) -> np.ndarray:
        return read_pcm(self.path(item))


# ------------------------------------------------------------------ audio helpers
def read_pcm(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        if w.getframerate() != RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16 kHz mono 16-bit")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy()


def write_pcm(path: Path, pcm: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.astype("<i2").tobytes())


def _run(cmd: list[str]) -> None:
    # sox -R: no random dither seed, so the same plan makes the same audio on every machine
    env = {**os.environ, "SOX_OPTS": (os.environ.get("SOX_OPTS", "") + " -R").strip()}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")


def speak(text: str, voice: str, wpm: int, out: Path) -> None:
    """espeak-ng -> sox: 16 kHz mono int16 with PAD_SECONDS of silence either side."""
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = out.with_suffix(".espeak.wav")
    _run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(raw), text])
    _run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out),
          "silence", "1", "0.02", "0.1%", "reverse", "silence", "1", "0.02", "0.1%", "reverse",
          "pad", str(PAD_SECONDS), str(PAD_SECONDS)])
    raw.unlink()


def speech_rms(pcm: np.ndarray, pad: float = PAD_SECONDS) -> float:
    """RMS of the speech part: the padded silence at either end is left out."""
    n = int(pad * RATE)
    core = pcm[n: pcm.size - n] if pcm.size > 2 * n + RATE // 10 else pcm
    return float(np.sqrt(np.mean(core.astype(np.float64) ** 2)))


def make_noise(root: Path) -> dict[str, np.ndarray]:
    """60 s of pink and of brown noise from sox (repeatable mode: same noise every run)."""
    out = {}
    for colour in ("pink", "brown"):
        path = root / "noise" / f"{colour}.wav"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            _run(["sox", "-R", "-n", "-r", str(RATE), "-c", "1", "-b", "16", str(path),
                  "synth", "60", f"{colour}noise", "vol", "0.3"])
        out[colour] = read_pcm(path).astype(np.float64)
    return out


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float, offset: int,
               pad: float = PAD_SECONDS) -> tuple[np.ndarray, float]:
    """Clean speech plus noise scaled so that speech RMS / noise RMS = snr_db; the measured SNR."""
    sig = clean.astype(np.float64)
    # float: squared int16 samples overflow, and the noise came out ~40 dB too loud (session 10)
    seg = np.resize(np.roll(noise, -offset), sig.size).astype(np.float64)
    s_rms = speech_rms(clean, pad)
    n_rms = float(np.sqrt(np.mean(seg ** 2)))
    seg = seg * (s_rms / (n_rms * 10 ** (snr_db / 20.0)))
    mixed = sig + seg
    peak = float(np.max(np.abs(mixed)))
    if peak > 32000:                       # scale both alike: the SNR is unchanged
        mixed *= 32000 / peak
        sig = sig * (32000 / peak)
    out = np.round(mixed).astype(np.int16)
    # verify: SNR of what was actually written (rounding included)
    n = int(pad * RATE)
    core = slice(n, sig.size - n) if sig.size > 2 * n + RATE // 10 else slice(0, sig.size)
    resid = out.astype(np.float64) - sig
    measured = 20 * np.log10(np.sqrt(np.mean(sig[core] ** 2)) / np.sqrt(np.mean(resid ** 2)))
    return out, float(measured)


# ------------------------------------------------------------------ sampling
def sample_phrases(matcher: Matcher, context: str, limit: int, seed: int = SEED) -> tuple[list[str], dict]:
    """At most `limit` phrases, covering every (intent, value) pair of the context."""
    phrases = matcher.phrases(context)
    groups: dict[tuple, list[str]] = defaultdict(list)
    for p in phrases:
        ph = matcher.intent_of(p, context)
        groups[(ph.intent, repr(ph.value))].append(p)
    if len(phrases) <= limit:
        chosen = list(phrases)
        how = "all phrases"
    else:
        rng = random.Random(f"{seed}:{context}")
        queues = {k: rng.sample(v, len(v)) for k, v in sorted(groups.items())}
        chosen = []
        while len(chosen) < limit and any(queues.values()):
            for k in sorted(queues):
                if queues[k] and len(chosen) < limit:
                    chosen.append(queues[k].pop())
        how = (f"{len(chosen)} of {len(phrases)} phrases: round-robin over the {len(groups)} "
               f"(intent, value) pairs, seeded shuffle (seed {seed})")
    covered = {(matcher.intent_of(p, context).intent, repr(matcher.intent_of(p, context).value)) for p in chosen}
    info = {"phrases_total": len(phrases), "phrases_used": len(chosen), "groups": len(groups),
            "groups_covered": len(covered), "how": how}
    return sorted(chosen), info


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)[:40] + "_" + hashlib.sha1(text.encode()).hexdigest()[:6]


def _combos(plan: Plan) -> list[tuple[str, int]]:
    # interleaved so that consecutive picks differ in both voice and rate
    combos = [(v, r) for i, r in enumerate(plan.rates) for v in plan.voices]
    return sorted(combos, key=lambda c: ((plan.voices.index(c[0]) + plan.rates.index(c[1])) % len(plan.rates),
                                          plan.voices.index(c[0])))


# ------------------------------------------------------------------ building
def build(matcher: Matcher, cache: Path, plan: Plan | None = None, log=print) -> EvalSet:
    plan = plan or Plan()
    root = cache / plan.key(matcher)
    manifest = root / "manifest.json"
    if manifest.exists():
        data = json.loads(manifest.read_text())
        return EvalSet(root, [Item(**i) for i in data["items"]], data["sampling"])
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        raise RuntimeError("The benchmark needs espeak-ng and sox (apt-get install espeak-ng sox).")
    root.mkdir(parents=True, exist_ok=True)
    noise = make_noise(root)
    combos = _combos(plan)
    items: list[Item] = []
    sampling: dict = {"plan": asdict(plan), "contexts": {}}
    turn = 0
    snr_errors: list[float] = []

    def add_renditions(kind: str, context: str, text: str, intent: str, value, n: int) -> None:
        nonlocal turn
        for _ in range(n):
            voice, wpm = combos[turn % len(combos)]
            turn += 1
            base = f"{kind}/{_slug(text)}/{voice.replace('+', '_')}_{wpm}"
            clean_rel = f"{base}_clean.wav"
            clean_path = root / clean_rel
            if not clean_path.exists():
                speak(text, voice, wpm, clean_path)
            clean = read_pcm(clean_path)
            iid = f"{context}:{text}:{voice}:{wpm}"
            items.append(Item(iid + ":clean", kind, context, text, intent, value, voice, wpm, "clean",
                              None, clean_rel, clean.size / RATE))
            for snr in plan.snrs:
                colour = ("pink", "brown")[turn % 2]
                offset = int(hashlib.sha1(iid.encode()).hexdigest()[:6], 16) % (50 * RATE)
                mixed, measured = mix_at_snr(clean, noise[colour], snr, offset)
                snr_errors.append(abs(measured - snr))
                rel = f"{base}_snr{snr}_{colour}.wav"
                write_pcm(root / rel, mixed)
                items.append(Item(f"{iid}:snr{snr}", kind, context, text, intent, value, voice, wpm,
                                  f"snr{snr}", round(measured, 2), rel, mixed.size / RATE))

    for context in plan.contexts:
        chosen, info = sample_phrases(matcher, context, plan.per_context)
        sampling["contexts"][context] = info
        log(f"  evalset: {context}: {info['how']} x {plan.renditions} voice/rate x "
            f"{1 + len(plan.snrs)} noise conditions")
        for phrase in chosen:
            ph = matcher.intent_of(phrase, context)
            add_renditions("command", context, phrase, ph.intent, ph.value, plan.renditions)
    ood = list(OUT_OF_DOMAIN[: plan.ood])
    for sentence in ood:
        add_renditions("ood", "*", sentence, "none", None, plan.ood_renditions)
    sampling["ood"] = {"sentences": len(ood), "renditions": plan.ood_renditions}
    fsdd = sorted(FSDD_DIR.glob("*.wav")) if FSDD_DIR.is_dir() else []
    if plan.fsdd <= 0:
        fsdd = []
    elif fsdd and plan.fsdd < len(fsdd):
        step = len(fsdd) / plan.fsdd
        fsdd = [fsdd[int(i * step)] for i in range(plan.fsdd)]
    for path in fsdd:
        rel = f"fsdd/{path.stem}.wav"
        out = root / rel
        if not out.exists():
            # clips are 8 kHz and trimmed tight: read them as the product reads an 8 kHz
            # recording (FSDD_READER), then pad like the synthetic ones
            from ..recognition.wavio import read_wav
            pad = np.zeros(int(PAD_SECONDS * RATE), dtype=np.int16)
            write_pcm(out, np.concatenate([pad, np.frombuffer(read_wav(path, RATE), dtype="<i2"), pad]))
        digit = int(path.name.split("_")[0])
        from ..vocab import NUMBER_WORDS
        items.append(Item(f"number:fsdd:{path.stem}", "fsdd", "number", NUMBER_WORDS[digit], "number",
                          digit, path.name.split("_")[1], 0, "clean", None, rel,
                          read_pcm(out).size / RATE))
    sampling["fsdd"] = {"files": len(fsdd), "available": len(list(FSDD_DIR.glob('*.wav'))) if FSDD_DIR.is_dir() else 0}
    sampling["snr_max_error_db"] = round(max(snr_errors), 3) if snr_errors else None
    sampling["voices"], sampling["rates_wpm"] = list(plan.voices), list(plan.rates)
    manifest.write_text(json.dumps({"sampling": sampling, "items": [asdict(i) for i in items]}, indent=1))
    return EvalSet(root, items, sampling)


def summary(evalset: EvalSet) -> dict:
    by: dict[str, int] = defaultdict(int)
    for it in evalset.items:
        by[f"{it.kind}:{it.context}:{it.noise}"] += 1
    return dict(sorted(by.items()))


def items_of(evalset: EvalSet, kinds: Iterable[str]) -> list[Item]:
    kinds = set(kinds)
    return [i for i in evalset.items if i.kind in kinds]
