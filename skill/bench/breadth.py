"""Grammar breadth: what each extra phrasing costs the recogniser, on the same audio.

For grammars of decreasing breadth (the shipped phrase sets, and trimmed ones derived from
them), every recording is decoded exactly as the assistant does it (the product's
`open_recognizer`, `begin(phrases)`, 0.1 s chunks, `finish()`) and scored with the shipped
matcher (a trimmed grammar is a subset of the shipped phrases, so the decoded text always
maps to an intent). Reported per grammar and context:
- decoded right: the decoded phrase means the expected intent and value (no rejection);
- correct / wrong after the rejection at the product's threshold;
- for out-of-domain sentences, false accepts.
Commands whose phrasing a trimmed grammar no longer holds still count: that is the coverage
the trim gives up. Audio: the benchmark's evaluation set (`skill/bench/evalset.py`, reused
from its cache) and all FSDD clips (scored in `number`).

    python -m skill.bench.breadth [--evalset DIR] [--variants shipped,short2,...] [--contexts number]
        [--conditions clean,snr10] [--stride N] [--fsdd-stride N] [--locale DIR] [--jobs 2]

writes `bench-results/breadth/breadth.json` (rows, the phrases decoded in place of others, every
record) and prints the table. `--locale` points at another copy of `dialogs/en-us` (e.g. the
grammar before an edit) to compare the same audio across versions.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

from ..matcher import Matcher
from .evalset import read_pcm

ROOT = Path(__file__).resolve().parents[2]
CHUNK_BYTES = 3200     # 0.1 s of 16 kHz int16, as the accuracy benchmark feeds it
CONTEXTS = ("yes_no", "number", "coach", "menu")


# ------------------------------------------------------------------ grammar variants
def _groups(matcher: Matcher, context: str) -> dict[tuple, list[str]]:
    out: dict[tuple, list[str]] = defaultdict(list)
    for p in matcher.phrases(context):
        ph = matcher.intent_of(p, context)
        out[(ph.intent, repr(ph.value))].append(p)
    return out


def _shortest(phrases: list[str], n: int) -> list[str]:
    return sorted(phrases, key=lambda p: (len(p.split()), len(p), p))[:n]


def shipped(matcher: Matcher, context: str) -> list[str]:
    return matcher.phrases(context)


def short(n: int) -> Callable[[Matcher, str], list[str]]:
    """The n shortest phrasings of every (intent, value): the narrowest sensible grammar."""
    def variant(matcher: Matcher, context: str) -> list[str]:
        return sorted(p for ps in _groups(matcher, context).values() for p in _shortest(ps, n))
    return variant


def number_only(keep: Callable[[str], bool], others: Callable[[Matcher, str], list[str]] = shipped
                ) -> Callable[[Matcher, str], list[str]]:
    """In `number`: pain scores filtered by `keep`, other intents from `others`."""
    def variant(matcher: Matcher, context: str) -> list[str]:
        if context != "number":
            return shipped(matcher, context)
        rest = set(others(matcher, context))
        out = []
        for p in matcher.phrases(context):
            if matcher.intent_of(p, context).intent == "number":
                if keep(p):
                    out.append(p)
            elif p in rest:
                out.append(p)
        return sorted(out)
    return variant


def _bare(p: str) -> bool:
    return len(p.split()) == 1 or p in ("no pain",)


def _bare_or_out_of_ten(p: str) -> bool:
    w = p.split()
    return _bare(p) or (len(w) == 4 and w[1:] == ["out", "of", "ten"])


def digits_only(matcher: Matcher, context: str) -> list[str]:
    """Reference: the eleven number words and "none" alone (no commands at all)."""
    if context != "number":
        return shipped(matcher, context)
    return sorted(p for p in matcher.phrases(context)
                  if matcher.intent_of(p, context).intent == "number" and len(p.split()) == 1)


VARIANTS: dict[str, Callable[[Matcher, str], list[str]]] = {
    "shipped": shipped,
    "short2": short(2),
    "short1": short(1),
    "num_bare": number_only(_bare),
    "num_bare_outof": number_only(_bare_or_out_of_ten),
    "num_bare_short2": number_only(_bare, short(2)),
    "digits_only": digits_only,
}


# ------------------------------------------------------------------ decoding (worker side)
_W: dict[str, Any] = {}


def _init(vocabulary: list[str], root: str) -> None:
    from ..recognition.engines import open_recognizer, rejection_threshold
    rec, _ = open_recognizer("pocketsphinx", None, vocabulary=set(vocabulary))
    _W.update(rec=rec, root=Path(root), threshold=float(rejection_threshold(rec)))


def _task(task: tuple[str, str, tuple[str, ...], dict]) -> dict:
    variant, context, phrases, item = task
    rec = _W["rec"]
    pcm = read_pcm(_W["root"] / item["wav"]).tobytes()
    t0 = time.process_time()
    rec.begin(list(phrases))
    for i in range(0, len(pcm), CHUNK_BYTES):
        rec.feed(pcm[i:i + CHUNK_BYTES])
    hyp = rec.finish()
    return {"variant": variant, "context": context, "id": item["id"], "text": hyp.text,
            "confidence": hyp.confidence, "cpu": time.process_time() - t0,
            "measures": dict(rec.last_measures)}


# ------------------------------------------------------------------ scoring
def score(records: list[dict], items: dict[str, dict], matcher: Matcher, threshold: float,
          sizes: dict) -> list[dict]:
    cells: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in records:
        it = items[r["id"]]
        kind = it["kind"]
        cond = "clean" if it["noise"] == "clean" else "noisy"
        raw = matcher.match(r["text"], r["context"])
        acc = matcher.match(r["text"], r["context"], r["confidence"], threshold)
        for key in ((r["variant"], r["context"], kind, cond), (r["variant"], r["context"], kind, "all")):
            c = cells[key]
            c["n"] += 1
            c["cpu"] += r["cpu"]
            if kind == "ood":
                c["false_accept"] += acc.understood
                continue
            expected = (it["intent"], it["value"])
            c["in_grammar"] += it["text"] in sizes[r["variant"]][r["context"]]["set"]
            c["decoded_right"] += (raw.intent, raw.value) == expected
            c["correct"] += (acc.intent, acc.value) == expected
            c["wrong"] += acc.understood and (acc.intent, acc.value) != expected
    rows = []
    for (variant, context, kind, cond), c in sorted(cells.items()):
        n = c["n"]
        row = {"variant": variant, "context": context, "kind": kind, "condition": cond, "n": int(n),
               "phrases": sizes[variant][context]["n"], "cpu_per_decode": round(c["cpu"] / n, 3)}
        rates = ("false_accept",) if kind == "ood" else ("in_grammar", "decoded_right", "correct", "wrong")
        for k in rates:
            row[k] = round(100 * c[k] / n, 1)
        rows.append(row)
    return rows


def thieves(records: list[dict], items: dict[str, dict], matcher: Matcher, threshold: float,
            variant: str = "shipped") -> list[dict]:
    """Phrases that wrong decodes (before rejection) landed on, most frequent first."""
    count: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in records:
        it = items[r["id"]]
        if r["variant"] != variant or it["kind"] == "ood" or not r["text"]:
            continue
        m = matcher.match(r["text"], r["context"])
        if (m.intent, m.value) != (it["intent"], it["value"]):
            count[(r["context"], r["text"])].append(it["text"])
    return [{"context": c, "decoded": t, "times": len(v), "said": sorted(set(v))[:6]}
            for (c, t), v in sorted(count.items(), key=lambda kv: -len(kv[1]))]


def pick_items(manifest: dict, renditions: int, conditions: tuple[str, ...], fsdd_stride: int,
               stride: int = 1) -> list[dict]:
    """Commands and out-of-domain sentences: the first `renditions` renditions of every
    `stride`-th text, in `conditions`; every `fsdd_stride`-th FSDD clip (0: none)."""
    seen: dict[tuple, int] = defaultdict(int)
    texts: dict[tuple, list[str]] = defaultdict(list)
    out = []
    n_fsdd = 0
    for it in manifest["items"]:
        if it["kind"] == "fsdd":
            if fsdd_stride and n_fsdd % fsdd_stride == 0:
                out.append(it)
            n_fsdd += 1
            continue
        group = texts[(it["kind"], it["context"])]
        if it["text"] not in group:
            group.append(it["text"])
        if group.index(it["text"]) % stride:
            continue
        if it["noise"] not in conditions:
            continue
        key = (it["kind"], it["context"], it["text"], it["noise"])
        if seen[key] < renditions:
            seen[key] += 1
            out.append(it)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--evalset", default=str(ROOT / "bench-results" / "evalset" / "0485314c75"),
                    help="an evaluation-set folder with manifest.json (skill.bench.evalset)")
    ap.add_argument("--variants", default="shipped,num_bare,num_bare_outof,digits_only,short2,short1")
    ap.add_argument("--contexts", default=",".join(CONTEXTS))
    ap.add_argument("--conditions", default="clean,snr10")
    ap.add_argument("--renditions", type=int, default=1)
    ap.add_argument("--fsdd-stride", type=int, default=1, help="every n-th FSDD clip; 0: none")
    ap.add_argument("--stride", type=int, default=1, help="every n-th command/out-of-domain text")
    ap.add_argument("--no-ood", action="store_true")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--locale", default=str(ROOT / "dialogs" / "en-us"))
    ap.add_argument("--out", default=str(ROOT / "bench-results" / "breadth"))
    args = ap.parse_args(argv)

    from ..cli import load_assets
    matcher = load_assets(Path(args.locale)).matcher
    root = Path(args.evalset)
    try:
        manifest = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        print(f"No evaluation set at {root} ({exc}). Make one with `run_assistant.py bench --only "
              f"accuracy` (it is cached in bench-results/evalset/<key>/) and pass --evalset.",
              file=sys.stderr)
        return 2
    items = pick_items(manifest, args.renditions, tuple(args.conditions.split(",")),
                       args.fsdd_stride, args.stride)
    if args.no_ood:
        items = [i for i in items if i["kind"] != "ood"]
    by_id = {i["id"]: i for i in items}
    contexts = args.contexts.split(",")
    variants = args.variants.split(",")
    sizes: dict = {}
    tasks = []
    for v in variants:
        sizes[v] = {}
        for c in contexts:
            phrases = tuple(VARIANTS[v](matcher, c))
            sizes[v][c] = {"n": len(phrases), "set": set(phrases)}
            if v != "shipped" and c != "number" and v.startswith(("num_", "digits")):
                continue   # same grammar as shipped outside `number`
            for it in items:
                if it["kind"] == "ood" or it["context"] == c:
                    if it["kind"] == "fsdd" and c != "number":
                        continue
                    tasks.append((v, c, phrases, it))
    vocabulary = sorted({w for v in sizes.values() for s in v.values() for p in s["set"] for w in p.split()})
    print(f"{len(tasks)} decodes, {len(items)} recordings, variants {variants}", flush=True)
    t0 = time.time()
    with mp.get_context("fork").Pool(args.jobs, _init, (vocabulary, str(root))) as pool:
        records = []
        for i, r in enumerate(pool.imap_unordered(_task, tasks, chunksize=4), 1):
            records.append(r)
            if i % 200 == 0:
                print(f"  {i}/{len(tasks)} {time.time() - t0:.0f} s", flush=True)
    _init(["yes"], str(root))   # the threshold, in this process
    threshold = _W["threshold"]
    rows = score(records, by_id, matcher, threshold, sizes)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"evalset": str(root), "threshold": threshold, "conditions": args.conditions,
              "renditions": args.renditions, "rows": rows,
              "sizes": {v: {c: s["n"] for c, s in cs.items()} for v, cs in sizes.items()},
              "thieves": thieves(records, by_id, matcher, threshold)[:60], "records": records,
              "seconds": round(time.time() - t0, 1)}
    (out / "breadth.json").write_text(json.dumps(result, indent=1))
    print(f"{'variant':16} {'context':8} {'set':5} {'cond':6} {'n':>4} {'phr':>4} {'inG':>6} "
          f"{'dec':>6} {'corr':>6} {'wrong':>6} {'FA':>6} {'cpu':>6}")
    for r in rows:
        print(f"{r['variant']:16} {r['context']:8} {r['kind']:5} {r['condition']:6} {r['n']:4} "
              f"{r['phrases']:4} {r.get('in_grammar', ''):>6} {r.get('decoded_right', ''):>6} "
              f"{r.get('correct', ''):>6} {r.get('wrong', ''):>6} {r.get('false_accept', ''):>6} "
              f"{r['cpu_per_decode']:6}")
    print(f"-> {out / 'breadth.json'} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
