"""Command accuracy: the product's grammar-constrained recogniser + matcher, and the naive baseline.

Each utterance: recognizer.begin(matcher.phrases(context)), feed in 0.1 s chunks, finish(),
then matcher.match(text, context, confidence, threshold). Outcomes:
- commands and FSDD digits: correct (right intent and value) / rejected (intent "none") /
  wrong (accepted as another intent or value);
- out-of-domain speech, scored in every context: rejected (good) / false_accept.

The naive baseline decodes the same audio with the same engine and no grammar, then keyword
spotting (skill/bench/naive.py). A free-vocabulary decode costs ~20x a grammar decode, so it
runs on a deterministic subset (`naive_stride`) and the grammar results on exactly that subset
are reported beside it.
"""
from __future__ import annotations

import hashlib
import multiprocessing as mp
import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable

from ..matcher import REJECTED, Matcher
from . import engines as bench_engines
from .evalset import CONTEXTS, EvalSet, Item

CHUNK_BYTES = 3200          # 0.1 s of 16 kHz int16
THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def outcome(item_kind: str, expected: tuple[str, Any], got: tuple[str, Any]) -> str:
    if item_kind == "ood":
        return "rejected" if got[0] == REJECTED else "false_accept"
    if got[0] == REJECTED:
        return "rejected"
    return "correct" if got == expected else "wrong"


# ------------------------------------------------------------------ worker side
_W: dict[str, Any] = {}


def _worker_init(spec: bench_engines.EngineSpec, locale_dir: str, root: str) -> None:
    from ..cli import load_assets
    _W["spec"] = spec
    _W["matcher"] = load_assets(Path(locale_dir)).matcher
    _W["root"] = Path(root)
    _W["rec"] = None
    _W["free"] = None


def _decode(rec, phrases, pcm: bytes) -> tuple[str, float | None, float, float]:
    t0, w0 = time.process_time(), time.perf_counter()
    rec.begin(phrases)
    for i in range(0, len(pcm), CHUNK_BYTES):
        rec.feed(pcm[i:i + CHUNK_BYTES])
    hyp = rec.finish()
    return hyp.text, hyp.confidence, time.process_time() - t0, time.perf_counter() - w0


def _grammar_task(task: tuple[str, dict]) -> dict:
    context, item = task
    from .evalset import read_pcm
    if _W["rec"] is None:
        _W["rec"] = bench_engines.open_grammar_recognizer(_W["spec"])
    matcher: Matcher = _W["matcher"]
    pcm = read_pcm(_W["root"] / item["wav"]).tobytes()
    try:
        text, conf, cpu, wall = _decode(_W["rec"], matcher.phrases(context), pcm)
        error = None
    except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
        text, conf, cpu, wall, error = "", None, 0.0, 0.0, f"{type(exc).__name__}: {exc}"
    return {"id": item["id"], "context": context, "text": text, "confidence": conf,
            "cpu": cpu, "wall": wall, "audio": len(pcm) / 32000, "error": error}


def _free_task(item: dict) -> dict:
    from .evalset import read_pcm
    from .naive import open_free
    if _W["free"] is None:
        _W["free"] = open_free(_W["spec"].name, _W["spec"].model)
    pcm = read_pcm(_W["root"] / item["wav"]).tobytes()
    text, conf, cpu, wall = _decode(_W["free"], None, pcm)
    return {"id": item["id"], "text": text, "confidence": conf, "cpu": cpu, "wall": wall,
            "audio": len(pcm) / 32000}


def _pool(spec, locale_dir: Path, root: Path, jobs: int):
    if jobs <= 1:
        _worker_init(spec, str(locale_dir), str(root))
        return None
    return mp.get_context("fork").Pool(jobs, _worker_init, (spec, str(locale_dir), str(root)))


def _map(pool, fn, tasks: list, chunks: int = 8) -> list:
    if pool is None:
        return [fn(t) for t in tasks]
    return pool.map(fn, tasks, chunksize=max(1, min(chunks, len(tasks) // 8 or 1)))


# ------------------------------------------------------------------ scoring
def in_naive_subset(item: Item, stride: int) -> bool:
    if stride <= 1:
        return True
    if item.kind == "command" and item.noise not in ("clean", "snr10"):
        return False
    # the same rendition in every noise condition
    base = item.id if item.kind == "fsdd" else item.id.rsplit(":", 1)[0]
    return int(hashlib.sha1(base.encode()).hexdigest()[:8], 16) % stride == 0


def out_of_domain_in(text: str, context: str, matcher: Matcher | None) -> bool:
    """Whether an out-of-domain sentence is scored in `context`: only where it is no phrase of
    the context. ("i don't know" and "i'm not sure" became phrases of yes_no in session 8,
    intent `unsure`; taking them as such is right, not a false accept.)"""
    return matcher is None or matcher.match(text, context).intent == REJECTED


def tasks_for(evalset: EvalSet, contexts: Iterable[str],
              matcher: Matcher | None = None) -> list[tuple[str, Item]]:
    out = []
    for it in evalset.items:
        if it.kind == "ood":
            out += [(c, it) for c in contexts if out_of_domain_in(it.text, c, matcher)]
        elif it.context in contexts:
            out.append((it.context, it))
    return out


def score(records: list[dict], threshold: float, matcher: Matcher, items: dict[str, Item]) -> list[dict]:
    out = []
    for r in records:
        it = items[r["id"]]
        m = matcher.match(r["text"], r["context"], r["confidence"], threshold)
        got = (m.intent, m.value)
        out.append({**r, "kind": it.kind, "noise": it.noise, "expected": [it.intent, it.value],
                    "got": [m.intent, m.value], "outcome": outcome(it.kind, (it.intent, it.value), got)})
    return out


def tabulate(scored: list[dict]) -> dict:
    """Counts and rates per (kind, context, noise), plus totals per kind and context."""
    cells: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in scored:
        kind = "commands" if r["kind"] == "command" else r["kind"]
        for key in (f"{kind}/{r['context']}/{r['noise']}", f"{kind}/{r['context']}/all",
                    f"{kind}/all/{r['noise']}", f"{kind}/all/all"):
            cells[key][r["outcome"]] += 1
            cells[key]["total"] += 1
    table = {}
    for key, c in sorted(cells.items()):
        row = dict(c)
        for k in ("correct", "rejected", "wrong", "false_accept"):
            row.setdefault(k, 0)
        n = row["total"]
        row["correct_rate"] = round(row["correct"] / n, 4)
        row["rejected_rate"] = round(row["rejected"] / n, 4)
        row["wrong_rate"] = round(row["wrong"] / n, 4)
        row["false_accept_rate"] = round(row["false_accept"] / n, 4)
        table[key] = row
    return table


def sweep(records: list[dict], matcher: Matcher, items: dict[str, Item]) -> list[dict]:
    """Correct / wrong / false-accept rates at each rejection threshold (needs confidences)."""
    rows = []
    for th in THRESHOLDS:
        t = tabulate(score(records, th, matcher, items))
        row = {"threshold": th}
        for key in ("commands/all/clean", "commands/all/snr10", "commands/all/all", "fsdd/number/all"):
            if key in t:
                row[key + ":correct"] = t[key]["correct_rate"]
                row[key + ":wrong"] = t[key]["wrong_rate"]
        for ctx in CONTEXTS:
            key = f"ood/{ctx}/all"
            if key in t:
                row[f"ood/{ctx}:false_accept"] = t[key]["false_accept_rate"]
        if "ood/all/all" in t:
            row["ood/all:false_accept"] = t["ood/all/all"]["false_accept_rate"]
        rows.append(row)
    return rows


def by_voice(scored: list[dict], items: dict[str, Item]) -> dict:
    """Commands' outcome rates per espeak voice (the model is US English: accents matter)."""
    cells: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in scored:
        if r["kind"] == "command":
            c = cells[items[r["id"]].voice]
            c[r["outcome"]] += 1
            c["total"] += 1
    return {v: {k: round(c[k] / c["total"], 4) for k in ("correct", "rejected", "wrong")} | {"total": c["total"]}
            for v, c in sorted(cells.items())}


def best_at_false_accepts(records: list[dict], matcher: Matcher, items: dict[str, Item],
                          max_fa: float = 0.02, max_fa_yes_no: float = 0.005) -> dict | None:
    """The lowest threshold (so the most correct commands) at which out-of-domain false
    accepts stay within both limits: what ANY threshold on this confidence can give."""
    base = score(records, 0.0, matcher, items)   # outcome if nothing were rejected
    cmds = [r for r in base if r["kind"] == "command"]
    ood = [r for r in base if r["kind"] == "ood"]
    ood_yn = [r for r in ood if r["context"] == "yes_no"]

    def kept(r: dict, th: float) -> bool:
        return r["confidence"] is None or r["confidence"] >= th

    def rate(rows: list[dict], outcome: str, th: float) -> float:
        return sum(r["outcome"] == outcome and kept(r, th) for r in rows) / max(1, len(rows))

    cuts = sorted({r["confidence"] for r in ood if r["outcome"] == "false_accept"
                   and r["confidence"] is not None})
    for th in [0.0] + [c + 1e-9 for c in cuts]:
        fa, fa_yn = rate(ood, "false_accept", th), rate(ood_yn, "false_accept", th)
        if fa <= max_fa and fa_yn <= max_fa_yes_no:
            out = {"threshold": th, "max_fa": max_fa, "max_fa_yes_no": max_fa_yes_no,
                   "ood/all:false_accept": round(fa, 4), "ood/yes_no:false_accept": round(fa_yn, 4),
                   "commands/all/all:correct": round(rate(cmds, "correct", th), 4),
                   "commands/all/all:wrong": round(rate(cmds, "wrong", th), 4)}
            for c in CONTEXTS:
                rows = [r for r in cmds if r["context"] == c]
                if rows:
                    out[f"commands/{c}/all:correct"] = round(rate(rows, "correct", th), 4)
            return out
    return None


def naive_score(free: list[dict], evalset: EvalSet, contexts: Iterable[str], matcher: Matcher) -> list[dict]:
    from .naive import KeywordSpotter
    spotters = {c: KeywordSpotter(matcher, c) for c in contexts}
    items = {i.id: i for i in evalset.items}
    out = []
    for r in free:
        it = items[r["id"]]
        for ctx in (contexts if it.kind == "ood" else [it.context]):
            if ctx not in spotters or (it.kind == "ood" and not out_of_domain_in(it.text, ctx, matcher)):
                continue
            got = spotters[ctx].spot(r["text"])
            out.append({**r, "context": ctx, "kind": it.kind, "noise": it.noise,
                        "expected": [it.intent, it.value], "got": list(got),
                        "outcome": outcome(it.kind, (it.intent, it.value), got)})
    return out


def rtf(records: Iterable[dict]) -> dict:
    recs = list(records)
    audio = sum(r["audio"] for r in recs)
    cpu = sum(r["cpu"] for r in recs)
    per = sorted(r["cpu"] / r["audio"] for r in recs if r["audio"] > 0)
    return {"utterances": len(recs), "audio_seconds": round(audio, 1), "cpu_seconds": round(cpu, 2),
            "rtf": round(cpu / audio, 4) if audio else None,
            "rtf_median": round(per[len(per) // 2], 4) if per else None}


def run(spec: bench_engines.EngineSpec, evalset: EvalSet, matcher: Matcher, locale_dir: Path,
        contexts: Iterable[str] = CONTEXTS, threshold: float | None = None, naive_stride: int = 4,
        jobs: int = 2, log=print) -> dict:
    contexts = [c for c in contexts]
    items = {i.id: i for i in evalset.items}
    pool = _pool(spec, locale_dir, evalset.root, jobs)
    try:
        tasks = tasks_for(evalset, contexts, matcher)
        try:
            bench_engines.check_available()
            if threshold is None:
                threshold = bench_engines.product_threshold(spec)
            skipped = None
        except bench_engines.EngineUnavailable as exc:
            skipped = str(exc)
            log(f"  accuracy[{spec.name}]: grammar recogniser skipped: {skipped}")
            tasks = []
        log(f"  accuracy[{spec.name}]: {len(tasks)} grammar decodes on {jobs} process(es)...")
        t0 = time.perf_counter()
        # grouped by context so an engine that caches its compiled grammar can reuse it
        tasks.sort(key=lambda t: (t[0], t[1].id))
        records = _map(pool, _grammar_task, [(c, asdict(it)) for c, it in tasks])
        log(f"    done in {time.perf_counter() - t0:.0f} s")
        naive_items = [it for it in evalset.items if in_naive_subset(it, naive_stride)
                       and (it.kind == "ood" or it.context in contexts)]
        log(f"  naive[{spec.name}]: {len(naive_items)} free-vocabulary decodes...")
        t0 = time.perf_counter()
        free = _map(pool, _free_task, [asdict(it) for it in naive_items], chunks=2)
        log(f"    done in {time.perf_counter() - t0:.0f} s")
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    scored = score(records, threshold, matcher, items)
    naive_ids = {it.id for it in naive_items}
    grammar_on_subset = [r for r in scored if r["id"] in naive_ids]
    naive_scored = naive_score(free, evalset, contexts, matcher)
    has_conf = any(r["confidence"] is not None for r in records)
    return {
        "engine": spec.name,
        "grammar_skipped": skipped,
        "threshold": threshold,
        "grammar": tabulate(scored),
        "grammar_rtf": rtf(records),
        "threshold_sweep": sweep(records, matcher, items) if has_conf else None,
        "best_at_false_accepts": best_at_false_accepts(records, matcher, items) if has_conf else None,
        "commands_by_voice": by_voice(scored, items),
        "naive": {
            "subset": f"every item whose rendition hashes to 0 mod {naive_stride} "
                      f"(commands: clean and snr10 only); {len(naive_items)} recordings",
            "naive": tabulate(naive_scored),
            "grammar_same_audio": tabulate(grammar_on_subset),
            "naive_rtf": rtf(free),
            "grammar_rtf_same_audio": rtf(r for r in records if r["id"] in naive_ids),
        },
        "engine_errors": sorted({r["error"] for r in records if r.get("error")})[:20],
        "engine_error_count": sum(1 for r in records if r.get("error")),
        "errors": [{k: r[k] for k in ("id", "context", "text", "confidence", "got", "outcome")}
                   for r in scored if r["outcome"] in ("wrong", "false_accept")][:400],
        "records": [{k: r[k] for k in ("id", "context", "text", "confidence", "outcome", "cpu", "audio")}
                    for r in scored],
        "naive_errors": [{k: r[k] for k in ("id", "context", "text", "got", "outcome")}
                         for r in naive_scored if r["outcome"] in ("wrong", "false_accept")][:200],
    }
