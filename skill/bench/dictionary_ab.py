"""Before/after for PocketSphinx's small dictionary, measured in one run (BENCHMARKS.md §4).

  python -m skill.bench.dictionary_ab session full small full small full small
      the real voice session on the PulseAudio stage (skill.bench.latency.converse), with the
      full 134k-word dictionary (open_recognizer's vocabulary dropped) or the grammars' words,
      alternated: peak RSS and start -> first audible word; JSON lines on stdout
  python -m skill.bench.dictionary_ab recogniser full|small
      the recogniser alone in this process: RSS and time to open, and after compiling every grammar
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WRAP = ("import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import skill.recognition.engines as e\n"
        "if sys.argv[1] == 'full':\n"
        "    o = e.open_recognizer\n"
        "    e.open_recognizer = lambda *a, **k: o(*a, **{**k, 'vocabulary': None})\n"
        "from skill.cli import main\n"
        "sys.argv = ['run_assistant.py'] + sys.argv[2:]\n"
        "sys.exit(main())\n")


def session(variants: list[str]) -> list[dict]:
    from .latency import converse, first_word_seconds
    from .stage import Stage
    out = []
    for variant in variants:
        work = Path(tempfile.mkdtemp(prefix="dict-ab-"))
        events = work / "events.jsonl"
        cmd = [sys.executable, "-c", WRAP, variant, "--engine", "pocketsphinx", "--seed", "1",
               "--data-dir", str(work / "data"), "--events", str(events)]
        stage = Stage()
        try:
            res = converse(stage, cmd, events, 6, log=lambda *a: None, timeout=240)
        finally:
            stage.close()
        first_say = next((e["_seen"] for e in res["events"] if e.get("type") == "say"), None)
        heard = [e for e in res["events"] if e.get("type") == "heard"]
        row = {"variant": variant, "peak_rss_mb": res["peak_rss_mb"], "turns": len(res["answered"]),
               "understood": sum(1 for e in heard if e.get("intent") not in (None, "none")),
               "first_say": round(first_say - res["t_start"], 3) if first_say else None,
               "first_audible": first_word_seconds(res["audio"], res["recorder"], res["t_start"])}
        print(json.dumps(row), flush=True)
        out.append(row)
        shutil.rmtree(work, ignore_errors=True)
    return out


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def recogniser(variant: str) -> dict:
    from ..cli import load_assets
    from ..recognition.pocketsphinx_engine import PocketSphinxRecognizer
    assets = load_assets(ROOT / "dialogs" / "en-us")
    vocab = {w for c in assets.matcher.contexts() for p in assets.matcher.phrases(c) for w in p.split()}
    r0, t = _rss_mb(), time.perf_counter()
    rec = PocketSphinxRecognizer(vocabulary=vocab if variant == "small" else None)
    row = {"variant": variant, "words": len(vocab), "open_seconds": round(time.perf_counter() - t, 3),
           "open_mb": round(_rss_mb() - r0, 1)}
    for ctx in assets.matcher.contexts():
        rec.begin(assets.matcher.phrases(ctx))
        rec.feed(b"\0" * 32000)
        rec.finish()
    row["after_all_grammars_mb"] = round(_rss_mb() - r0, 1)
    print(json.dumps(row), flush=True)
    return row


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("session", "recogniser"):
        sys.exit(__doc__)
    if sys.argv[1] == "session":
        session(sys.argv[2:])
    else:
        recogniser(sys.argv[2])
