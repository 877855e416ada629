"""How long PocketSphinx's finish() takes: whole-utterance vs streaming decoding (issue 3),
and with only the phone loop streamed (session 3).

The decoding left after the endpoint adds to the turn latency. Both modes decode the same
clean commands of a cached evaluation set, alternating file by file so machine load hits
both alike. Run: `python -m skill.bench.finish_latency bench-results/issue3-final/evalset/<key>`.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path


def measure(evalset_dir: Path) -> dict[str, dict[str, float]]:
    from ..cli import DEFAULT_LOCALE_DIR, load_assets
    from ..recognition.pocketsphinx_engine import PocketSphinxRecognizer
    from .evalset import read_pcm

    matcher = load_assets(DEFAULT_LOCALE_DIR).matcher
    items = [i for i in json.loads((evalset_dir / "manifest.json").read_text())["items"]
             if i["kind"] == "command" and i["noise"] == "clean"]
    recs = {"whole": PocketSphinxRecognizer(whole_utterance=True),
            "streaming": PocketSphinxRecognizer(whole_utterance=False),
            "phone_loop_streamed": PocketSphinxRecognizer(whole_utterance=True)}
    # the grammar decoder on the whole utterance, the phone loop while the audio arrives
    # (STREAM_PHONE_LOOP; off in the product: see BENCHMARKS.md section 3)
    recs["phone_loop_streamed"].stream_phone_loop = True
    cpu: dict[str, list[float]] = {k: [] for k in recs}
    for it in items:
        pcm = read_pcm(evalset_dir / it["wav"]).tobytes()
        for mode, rec in recs.items():
            rec.begin(matcher.phrases(it["context"]))
            for i in range(0, len(pcm), 3200):
                rec.feed(pcm[i:i + 3200])
            t0 = time.process_time()
            rec.finish()
            cpu[mode].append(time.process_time() - t0)
    return {mode: {"n": len(v), "median_ms": round(1000 * statistics.median(v)),
                   "p95_ms": round(1000 * sorted(v)[int(0.95 * (len(v) - 1))])}
            for mode, v in cpu.items()}


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1])), indent=1))
