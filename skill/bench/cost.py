"""Recognition cost: real-time factor (CPU seconds per second of audio), grammar vs none.

One process, one engine at a time, time.process_time() around begin + feed + finish (so
grammar compilation in begin() is included). The same recordings for both: the clean
renditions of each context's sampled phrases (at most `per_context`), plus out-of-domain
sentences in every context, taken in manifest order.
"""
from __future__ import annotations

import time
from collections import defaultdict

from ..matcher import Matcher
from . import engines as bench_engines
from .accuracy import CHUNK_BYTES
from .evalset import CONTEXTS, EvalSet


def _measure(rec, jobs: list[tuple[list[str] | None, bytes]], repeats: int = 1) -> dict:
    audio = cpu = wall = 0.0
    per = []
    for _ in range(repeats):
        for phrases, pcm in jobs:
            t0, w0 = time.process_time(), time.perf_counter()
            rec.begin(phrases)
            for i in range(0, len(pcm), CHUNK_BYTES):
                rec.feed(pcm[i:i + CHUNK_BYTES])
            rec.finish()
            c = time.process_time() - t0
            wall += time.perf_counter() - w0
            cpu += c
            seconds = len(pcm) / 32000
            audio += seconds
            per.append(c / seconds)
    per.sort()
    return {"utterances": len(per), "audio_seconds": round(audio, 1), "cpu_seconds": round(cpu, 3),
            "wall_seconds": round(wall, 3), "rtf": round(cpu / audio, 4) if audio else None,
            "rtf_median": round(per[len(per) // 2], 4) if per else None,
            "rtf_p95": round(per[min(len(per) - 1, int(0.95 * len(per)))], 4) if per else None}


def run(spec: bench_engines.EngineSpec, evalset: EvalSet, matcher: Matcher, per_context: int = 40,
        contexts=CONTEXTS, log=print) -> dict:
    by_ctx: dict[str, list] = defaultdict(list)
    for it in evalset.items:
        if it.noise != "clean" or it.kind not in ("command", "ood"):
            continue
        for ctx in (contexts if it.kind == "ood" else [it.context]):
            if ctx in contexts and len(by_ctx[ctx]) < per_context:
                by_ctx[ctx].append(evalset.load(it).tobytes())
    grammar_jobs = [(matcher.phrases(c), pcm) for c in contexts for pcm in by_ctx[c]]
    # the free decoder does not depend on the context: each recording once
    seen, free_jobs = set(), []
    for _, pcm in grammar_jobs:
        if pcm not in seen:
            seen.add(pcm)
            free_jobs.append((None, pcm))
    log(f"  cost[{spec.name}]: {len(grammar_jobs)} grammar decodes, {len(free_jobs)} free decodes")
    rec = bench_engines.open_grammar_recognizer(spec)
    # warm-up: first grammar compilation per context is measured separately
    first = {}
    for c in contexts:
        t0 = time.process_time()
        rec.begin(matcher.phrases(c))
        rec.finish()
        first[c] = round(time.process_time() - t0, 4)
    per_ctx = {c: _measure(rec, [(matcher.phrases(c), p) for p in by_ctx[c]]) for c in contexts}
    grammar = _measure(rec, grammar_jobs)
    from .naive import open_free
    free = _measure(open_free(spec.name, spec.model), free_jobs)
    return {"engine": spec.name, "grammar": grammar, "grammar_per_context": per_ctx,
            "first_grammar_cpu_seconds": first, "free": free,
            "ratio_free_over_grammar": round(free["rtf"] / grammar["rtf"], 1)
            if grammar["rtf"] and free["rtf"] else None,
            "set": f"clean renditions, up to {per_context} per context (commands then out-of-domain)"}
