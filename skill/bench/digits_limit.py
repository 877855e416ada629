"""How many spoken digits can PocketSphinx's en-us model decode at all? (issue 5)

The FSDD target (95 % correct) is missed; this separates the causes. Each digit clip is
decoded as the assistant decodes it (the product's front end: WAV reader/resampler, dither,
noise floor, short-answer cut; `begin`/`feed`/`finish`), with NO rejection ("decoded right":
the best path's value is the clip's digit) and with the shipped rejection ("correct"), under:
- grammar `number` (the shipped `number` context) or `digits` (the ten words zero..nine);
- beams `shipped` or `wide` (beam/pbeam 1e-80, wbeam 1e-60, no per-frame HMM/word caps),
  `widetop` (wide, and all 128 Gaussians per codebook scored instead of the best 4);
- optionally an MLLR transform (skill/bench/mllr.py), `+NAME` for `<xf>/NAME/mllr_matrix`,
  or `+loso`: each FSDD speaker with the transform adapted on the other five.
Sets: `fsdd` (600 human clips, 8 kHz), `esp8`/`esp16` (the narrow-band study's 120 espeak-ng
dev digits through an 8 kHz round trip, and the same at 16 kHz).

    python -m skill.bench.digits_limit --variants number,digits,digits_wide,number+loso \
        --sets fsdd,esp8,esp16 [--xf DIR] [--out FILE] [--jobs 2]
    python -m skill.bench.digits_limit --capture DIR   # the decoder's audio, for mllr.py
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
import wave
from collections import defaultdict
from pathlib import Path

import numpy as np

from . import narrowband

ROOT = Path(__file__).resolve().parents[2]
FSDD_DIR = ROOT.parent / "shared" / "data" / "fsdd-dev"
PAD_SECONDS = 0.3   # as the evaluation set pads its FSDD clips
WIDE = {"beam": 1e-80, "wbeam": 1e-60, "pbeam": 1e-80, "maxhmmpf": -1, "maxwpf": -1}
BEAMS = {"shipped": {}, "wide": WIDE, "widetop": {**WIDE, "topn": 128}}


def parse_variant(name: str) -> tuple[str, str, str]:
    """'digits_wide+loso' -> ('digits', 'wide', 'loso')."""
    head, _, xf = name.partition("+")
    grammar, _, beams = head.partition("_")
    beams = beams or "shipped"
    if grammar not in ("number", "digits") or beams not in BEAMS:
        raise ValueError(f"unknown variant {name!r}: grammar number|digits, beams {'|'.join(BEAMS)}")
    return grammar, beams, xf


def items(sets: list[str], devset: Path) -> list[dict]:
    out: list[dict] = []
    if "fsdd" in sets:
        for p in sorted(FSDD_DIR.glob("*.wav")):
            digit, speaker, _ = p.stem.split("_")
            out.append(dict(set="fsdd", id=p.stem, path=str(p), digit=int(digit), speaker=speaker))
    if {"esp8", "esp16", "esp8x"} & set(sets):
        dev = narrowband.build_devset(devset)
        for s in ("esp8", "esp16"):
            if s in sets:
                out += [dict(set=s, id=it["id"], w16=it["w16"], w8=it["w8"], digit=it["value"],
                             speaker=it["voice"]) for it in dev if it["kind"] == "digit"]
        if "esp8x" in sets:   # the other dev clips through 8 kHz (text known: for adaptation only)
            out += [dict(set="esp8x", id=it["id"], w16=it["w16"], w8=it["w8"], digit=-1,
                         speaker=it["voice"], text=it["text"]) for it in dev if it["kind"] != "digit"]
    return out


def pcm_of(item: dict) -> bytes:
    """The 16 kHz audio the assistant would be given for this clip."""
    from ..audio.capture import to_int16
    from ..recognition.wavio import read_wav
    if item["set"] == "fsdd":
        pad = np.zeros(int(PAD_SECONDS * 16000), dtype=np.int16)
        return np.concatenate([pad, np.frombuffer(read_wav(item["path"], 16000), dtype="<i2"), pad]).tobytes()
    name = "full" if item["set"] == "esp16" else "base"
    return to_int16(narrowband.candidate(name, narrowband._read(item["w16"]), narrowband._read(item["w8"]))).tobytes()


# ------------------------------------------------------------------ decoding
_W: dict = {}


def _init(grammar: str, beams: str, mllr: str | None) -> None:
    from ..cli import DEFAULT_LOCALE_DIR, load_assets
    from ..recognition import pocketsphinx_engine as pe
    from ..recognition.engines import open_recognizer, rejection_threshold
    from ..vocab import NUMBER_WORDS
    # module settings read when the recogniser is built: this worker process only
    pe.GRAMMAR_DECODER_OPTIONS = {**pe.GRAMMAR_DECODER_OPTIONS, **BEAMS[beams]}
    if mllr:   # the grammar decoder and the phone loop (the confidence's yardstick) alike
        pe.GRAMMAR_DECODER_OPTIONS["mllr"] = mllr
        pe.PHONE_LOOP_OPTIONS = {**pe.PHONE_LOOP_OPTIONS, "mllr": mllr}
    _W["matcher"] = load_assets(DEFAULT_LOCALE_DIR).matcher
    _W["rec"], _ = open_recognizer(engine="pocketsphinx")
    _W["threshold"] = rejection_threshold(_W["rec"])
    _W["phrases"] = _W["matcher"].phrases("number") if grammar == "number" else list(NUMBER_WORDS[:10])


def decode(item: dict) -> dict:
    rec, matcher = _W["rec"], _W["matcher"]
    pcm = pcm_of(item)
    rec.begin(_W["phrases"])
    for i in range(0, len(pcm), 3200):
        rec.feed(pcm[i:i + 3200])
    hyp = rec.finish()
    best = matcher.match(hyp.text, "number") if hyp.text else None
    m = matcher.match(hyp.text, "number", confidence=hyp.confidence, min_confidence=_W["threshold"])
    return dict(set=item["set"], id=item["id"], speaker=item["speaker"], digit=item["digit"],
                text=hyp.text, confidence=hyp.confidence,
                decoded=best.value if best is not None and best.intent == "number" else None,
                accepted=m.value if m.intent == "number" else None)


def run(variant: str, its: list[dict], xf_dir: Path, jobs: int = 2) -> list[dict]:
    grammar, beams, xf = parse_variant(variant)
    groups: list[tuple[str | None, list[dict]]]
    if xf == "loso":   # never adapted on the speaker decoded
        groups = [(str(xf_dir / f"loso_{s}" / "mllr_matrix"), [i for i in its if i["speaker"] == s])
                  for s in sorted({i["speaker"] for i in its if i["set"] == "fsdd"})]
    else:
        groups = [(str(xf_dir / xf / "mllr_matrix") if xf else None, its)]
    out: list[dict] = []
    for mllr, group in groups:
        with mp.get_context("fork").Pool(jobs, _init, (grammar, beams, mllr)) as pool:
            out += [dict(r, variant=variant) for r in pool.map(decode, group, chunksize=4)]
    return out


def summary(records: list[dict]) -> dict:
    """{(variant, set, speaker or '*'): {n, decoded, correct, wrong}}."""
    table: dict = defaultdict(lambda: dict(n=0, decoded=0, correct=0, wrong=0))
    for r in records:
        for key in ((r["variant"], r["set"], "*"), (r["variant"], r["set"], r["speaker"])):
            row = table[key]
            row["n"] += 1
            row["decoded"] += r["decoded"] == r["digit"]
            row["correct"] += r["accepted"] == r["digit"]
            row["wrong"] += r["accepted"] is not None and r["accepted"] != r["digit"]
    return dict(table)


# ------------------------------------------------------------------ audio for adaptation
def capture(out: Path, devset: Path) -> int:
    """Write the audio the grammar decoder is given (after dither, the short-answer cut and
    the noise floor) for every clip, with its transcript, for skill/bench/mllr.py."""
    from ..vocab import NUMBER_WORDS
    (out / "wav").mkdir(parents=True, exist_ok=True)
    _init("digits", "shipped", None)
    rec = _W["rec"]
    floor, seen = rec._with_noise_floor, []

    def spy(pcm: bytes) -> bytes:
        seen.append(floor(pcm))
        return seen[-1]

    rec._with_noise_floor = spy
    meta = []
    for n, it in enumerate(items(["fsdd", "esp8", "esp16", "esp8x"], devset)):
        seen.clear()
        rec.begin(_W["phrases"])
        rec.feed(pcm_of(it))
        rec.finish()
        uid = f"{it['set']}_{n:04d}"
        with wave.open(str(out / "wav" / f"{uid}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(seen[0])   # the first decode: the cut, when there is one
        text = it.get("text") or NUMBER_WORDS[it["digit"]]
        meta.append(dict(uid=uid, set=it["set"], speaker=it["speaker"], digit=it["digit"],
                         text=" ".join(text.lower().split()), id=it["id"]))
    (out / "meta.json").write_text(json.dumps(meta, indent=0))
    return len(meta)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", default="number,digits,digits_wide")
    ap.add_argument("--sets", default="fsdd,esp8,esp16")
    ap.add_argument("--devset", default=str(ROOT / "bench-results" / "narrowband" / "devset"))
    ap.add_argument("--xf", default=str(ROOT / "bench-results" / "mllr"), help="transforms (mllr.py --out)")
    ap.add_argument("--out", default=str(ROOT / "bench-results" / "digits-limit.json"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--capture", metavar="DIR", help="write the decoder's audio for adaptation, then stop")
    args = ap.parse_args(argv)
    if args.capture:
        print(capture(Path(args.capture), Path(args.devset)), "clips ->", args.capture)
        return 0
    try:
        variants = [v for v in args.variants.split(",") if parse_variant(v)]
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    for v in variants:
        _, _, xf = parse_variant(v)
        need = [f"loso_{s}" for s in ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")] \
            if xf == "loso" else [xf] if xf else []
        absent = [n for n in need if not (Path(args.xf) / n / "mllr_matrix").is_file()]
        if absent:
            print(f"{v}: no transform {', '.join(absent)} under {args.xf} (make it with "
                  "python -m skill.bench.mllr)", file=sys.stderr)
            return 2
    its = items(args.sets.split(","), Path(args.devset))
    records: list[dict] = []
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    for v in variants:
        t0 = time.time()
        got = run(v, its, Path(args.xf), args.jobs)
        records += got
        print(f"{v}: {time.time() - t0:.0f} s", flush=True)
        table = summary(got)
        for (_, s, spk), row in sorted(table.items(), key=lambda kv: (kv[0][1], kv[0][2] != "*", kv[0][2])):
            n = row["n"]
            print(f"  {s:6s} {spk:16s} n={n:4d} decoded {100 * row['decoded'] / n:5.1f} %  "
                  f"correct {100 * row['correct'] / n:5.1f} %  wrong {100 * row['wrong'] / n:4.1f} %", flush=True)
        # written after every variant: a long run cut short keeps what it measured
        Path(args.out).write_text(json.dumps({"argv": sys.argv, "records": records}, indent=0))
    print("->", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
