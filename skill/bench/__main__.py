"""`python -m skill.bench` = `run_assistant.py bench`: run the benchmarks, print tables, write JSON."""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from . import engines as bench_engines

SUITES = ("accuracy", "cost", "footprint", "latency", "wake")
# run only when named in --only (hours of audio: not part of a default run)
EXTRA_SUITES = ("wake-long",)
ROOT = Path(__file__).resolve().parents[2]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=["all", "pocketsphinx", "vosk"], default="all",
                   help="engines to measure (all: PocketSphinx, and Vosk when an English model is installed)")
    p.add_argument("--model", help="English Vosk model folder")
    p.add_argument("--quick", action="store_true", help="a handful of utterances per suite (smoke run)")
    p.add_argument("--only", default=",".join(SUITES), help=f"comma-separated suites: {','.join(SUITES + EXTRA_SUITES)} "
                        f"(default: all but {','.join(EXTRA_SUITES)})")
    p.add_argument("--out", type=Path, default=ROOT / "bench-results", help="results folder (JSON, evalset cache)")
    p.add_argument("--threshold", type=float, default=None,
                   help="rejection threshold for accuracy (default: the assistant's own)")
    p.add_argument("--jobs", type=int, default=2, help="parallel decoding processes for accuracy")
    p.add_argument("--naive-stride", type=int, default=None,
                   help="naive baseline on 1 of N recordings (default 4)")
    p.add_argument("--per-context", type=int, default=None,
                   help="phrases sampled per context (default 160; 4 in --quick)")
    p.add_argument("--contexts", default=None,
                   help="listen contexts to score (default: yes_no,number,coach,menu)")
    p.add_argument("--turns", type=int, default=None, help="latency: spoken turns (default 36; 4 in --quick)")
    p.add_argument("--hours", type=float, default=None,
                   help="wake-long: hours of never-wake audio (default 0.5; 30 s in --quick)")
    p.add_argument("--first-chunk", type=int, default=0,
                   help="wake-long: the first chunk (each chunk's audio is seeded by its index: "
                        "hours never heard before are new indices)")


def _pct(x: float | None) -> str:
    return "   -  " if x is None else f"{100 * x:5.1f}%"


def print_accuracy(res: dict) -> None:
    print(f"\n== Command accuracy: {res['engine']} (rejection threshold {res['threshold']}) ==")
    print(f"{'set':38s} {'n':>5s} {'correct':>8s} {'rejected':>8s} {'wrong':>8s} {'false acc':>9s}")
    for key, row in res["grammar"].items():
        print(f"{key:38s} {row['total']:5d} {_pct(row['correct_rate']):>8s} {_pct(row['rejected_rate']):>8s} "
              f"{_pct(row['wrong_rate']):>8s} {_pct(row['false_accept_rate']):>9s}")
    nv = res["naive"]
    print(f"\n-- Side by side on the same audio ({nv['subset']}) --")
    print(f"{'set':28s} {'grammar: correct':>16s} {'wrong':>7s} {'false acc':>9s} | "
          f"{'naive: correct':>14s} {'wrong':>7s} {'false acc':>9s}")
    for key in sorted(set(nv["naive"]) | set(nv["grammar_same_audio"])):
        if not key.endswith("/all") and "/all/" not in key:
            continue
        g, n = nv["grammar_same_audio"].get(key, {}), nv["naive"].get(key, {})
        print(f"{key:28s} {_pct(g.get('correct_rate')):>16s} {_pct(g.get('wrong_rate')):>7s} "
              f"{_pct(g.get('false_accept_rate')):>9s} | {_pct(n.get('correct_rate')):>14s} "
              f"{_pct(n.get('wrong_rate')):>7s} {_pct(n.get('false_accept_rate')):>9s}")
    print(f"RTF grammar {nv['grammar_rtf_same_audio']['rtf']}  naive {nv['naive_rtf']['rtf']}")
    if res.get("engine_error_count"):
        print(f"!! {res['engine_error_count']} decodes failed in the engine: {res['engine_errors'][:3]}")


def print_cost(res: dict) -> None:
    g, f = res["grammar"], res["free"]
    print(f"\n== Recognition cost: {res['engine']} ({res['set']}) ==")
    print(f"with grammar: RTF {g['rtf']} (median {g['rtf_median']}, p95 {g['rtf_p95']}) over {g['utterances']} utterances")
    for c, r in res["grammar_per_context"].items():
        print(f"  {c:8s} RTF {r['rtf']}  (first grammar compile {res['first_grammar_cpu_seconds'][c]} s CPU)")
    print(f"free vocabulary: RTF {f['rtf']} (median {f['rtf_median']}) over {f['utterances']} utterances; "
          f"{res['ratio_free_over_grammar']}x the grammar's cost")


def print_footprint(res: dict) -> None:
    print("\n== Footprint ==")
    for key, r in res.items():
        if key == "disk":
            continue
        if key.startswith("components:"):
            if isinstance(r, list):
                print(f"{key} (RSS after each step, seconds since start): "
                      + ", ".join(f"{name} {mb} MB @{t} s" for name, mb, t in r))
            else:
                print(f"{key}: failed: {r}")
        elif "skipped" in r:
            print(f"{key:22s} skipped: {r['skipped']}")
        elif key.startswith("voice:"):
            print(f"{key:22s} peak RSS {r['peak_rss_mb']} MB  start -> first say {r['start_to_first_say_event_seconds']} s"
                  f"  -> first audible word {r['start_to_first_audible_seconds']} s  ({r['turns']} turns, "
                  f"{r['understood']} understood)")
            if r.get("speech_before_first_prompt_seconds"):
                print(f"{'':22s} spoken before the first prompt (start notice) {r['speech_before_first_prompt_seconds']} s;"
                      f" first prompt audible at {r['start_to_first_prompt_audible_seconds']} s")
        else:
            print(f"{key:22s} peak RSS {r['peak_rss_mb']:6.1f} MB  wall {r['wall_seconds']:6.2f} s  "
                  f"first output {r['first_line_seconds']} s  exit {r['exit']}")
    d = res["disk"]
    print(f"disk: {d['total_mb']} MB in {d['environment']}: "
          + ", ".join(f"{k} {v}" for k, v in list(d["per_distribution_mb"].items())[:8]))


def print_latency(res: dict) -> None:
    print("\n== Turn latency ==")
    if "skipped" in res:
        print(f"skipped: {res['skipped']}")
        return
    print(f"{res['engine']}: {res['turns_measured']} turns measured of {res['answered']} answers "
          f"({res['recognised_non_empty']} recognised; one-to-one with the assistant's utterances: "
          f"{res['matched_one_to_one']}); trailing silence {res['endpoint']['trailing_silence']} s")
    for key in ("total", "to_first_word", "endpointing", "recognition", "recognition_cpu", "cue", "dialog",
                "synthesis", "audio_io"):
        s = res["summary"].get(key)
        if s:
            print(f"{key:13s} median {s['median_ms']:7.0f} ms   p95 {s['p95_ms']:7.0f} ms   (n={s['n']})")
    sweep = res.get("endpoint_sweep", {})
    for key, row in sweep.get("table", {}).items():
        print(f"  {key:30s} one utterance {row['one_utterance']}/{row['answers']}, recognised whole and "
              f"accepted {row['recognised_and_accepted']}/{row['answers']}")


def main(args: argparse.Namespace) -> int:
    from ..cli import DEFAULT_LOCALE_DIR, load_assets
    from . import evalset as E

    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SUITES + EXTRA_SUITES)
    if unknown:
        print(f"Unknown suite(s): {', '.join(sorted(unknown))}. Choose from {', '.join(SUITES + EXTRA_SUITES)}.",
              file=sys.stderr)
        return 2
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    assets = load_assets(DEFAULT_LOCALE_DIR)
    specs, notes = bench_engines.select(args.engine, args.model)
    for n in notes:
        print(f"note: {n}")
    report: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "argv": sys.argv,
                    "machine": {"cpus": __import__("os").cpu_count(), "platform": platform.platform(),
                                "python": platform.python_version()},
                    "quick": args.quick, "engines": [s.name for s in specs], "notes": notes}
    plan = E.Plan.quick() if args.quick else E.Plan()
    if args.per_context:
        plan.per_context = args.per_context
    if args.contexts:
        plan.contexts = tuple(c.strip() for c in args.contexts.split(",") if c.strip())
        bad = set(plan.contexts) - set(assets.matcher.contexts())
        if bad:
            print(f"Unknown context(s): {', '.join(sorted(bad))}.", file=sys.stderr)
            return 2
    evalset = None
    if {"accuracy", "cost"} & set(only):   # footprint and latency make their own audio
        print(f"evaluation set ({'quick' if args.quick else 'full'}) in {out_dir / 'evalset'} ...")
        evalset = E.build(assets.matcher, out_dir / "evalset", plan, log=print)
        report["evalset"] = {"root": str(evalset.root), "sampling": evalset.sampling, "counts": E.summary(evalset)}
    stride = args.naive_stride or 4
    for spec in specs:
        er: dict = {}
        report[spec.name] = er
        try:
            if "accuracy" in only:
                from . import accuracy
                er["accuracy"] = accuracy.run(spec, evalset, assets.matcher, DEFAULT_LOCALE_DIR,
                                              contexts=plan.contexts, threshold=args.threshold, naive_stride=stride, jobs=args.jobs)
                print_accuracy(er["accuracy"])
            if "cost" in only:
                from . import cost
                er["cost"] = cost.run(spec, evalset, assets.matcher, per_context=4 if args.quick else 40,
                                      contexts=plan.contexts)
                print_cost(er["cost"])
        except bench_engines.EngineUnavailable as exc:
            er["skipped"] = str(exc)
            print(f"\n{spec.name}: skipped: {exc}")
    if "footprint" in only:
        from . import footprint
        report["footprint"] = footprint.run(specs, evalset.root if evalset else None)
        print_footprint(report["footprint"])
    if "latency" in only:
        from . import latency
        report["latency"] = latency.run(specs, evalset, turns=args.turns or (4 if args.quick else 36),
                                        out_dir=out_dir)
        print_latency(report["latency"])
    if "wake" in only:
        from . import wake
        report["wake"] = wake.run(out_dir, quick=args.quick)
        wake.print_wake(report["wake"])
    if "wake-long" in only:
        from . import wake_long
        if args.quick:
            report["wake-long"] = wake_long.run(out_dir, hours=args.hours or 30 / 3600, jobs=args.jobs,
                                                chunk_seconds=30.0, first=args.first_chunk)
        else:
            report["wake-long"] = wake_long.run(out_dir, hours=args.hours or 0.5, jobs=args.jobs,
                                                first=args.first_chunk)
        wake_long.print_wake_long(report["wake-long"])
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    name = ("bench-quick.json" if args.quick else "bench.json" if set(only) == set(SUITES)
            else f"bench-{'-'.join(only)}.json")
    path = out_dir / name
    path.write_text(json.dumps(report, indent=1, default=str))
    print(f"\nresults: {path}")
    return 0


def cli(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m skill.bench", description=__doc__)
    add_arguments(p)
    return main(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
