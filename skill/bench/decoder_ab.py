"""Recognition cost of two PocketSphinx decoder settings, alternated in one process (session 3).

The cost suite (skill/bench/cost.py, free decoder left out) run for the old setting
(`bestpath=True`: the grammar's best path rescored on a word lattice) and the shipped one,
twice each in turn, so machine load hits both alike. Run:
`python -m skill.bench.decoder_ab bench-results/rtf-s3` (the folder holding `evalset/`).

`python -m skill.bench.decoder_ab --endpointed <evalset>/<key> clean|snr10` (session 4): what
speculative decoding changes in what is recognised. Each clip goes through the Endpointer in
20 ms blocks as VoiceEars feeds it, into two engines: one decoding at the endpoint (0.3 s of
trailing silence), one speculating at the SpeechPause (0.1 s of it) as the ears now do;
both scored like the accuracy suite.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

SETTINGS = {"lattice_bestpath (before)": {"bestpath": True}, "bestpath off (after)": {"bestpath": False}}


class _NoDecoder:
    """Stands in for the free-vocabulary decoder, which this comparison leaves out."""

    def begin(self, phrases) -> None:  # noqa: ANN001
        pass

    def feed(self, pcm: bytes) -> None:
        pass

    def finish(self) -> None:
        pass


def measure(out_dir: Path, rounds: int = 2, log=print) -> dict:
    from ..cli import DEFAULT_LOCALE_DIR, load_assets
    from ..recognition import pocketsphinx_engine as pe
    from . import cost, naive
    from . import evalset as E
    from .engines import EngineSpec

    matcher = load_assets(DEFAULT_LOCALE_DIR).matcher
    ev = E.build(matcher, out_dir / "evalset", log=log)
    shipped = dict(pe.GRAMMAR_DECODER_OPTIONS)
    open_free, naive.open_free = naive.open_free, lambda *a, **k: _NoDecoder()
    out: dict[str, list] = {}
    try:
        for rnd in range(rounds):
            for name, options in SETTINGS.items():
                pe.GRAMMAR_DECODER_OPTIONS.clear()
                pe.GRAMMAR_DECODER_OPTIONS.update({**shipped, **options})
                r = cost.run(EngineSpec("pocketsphinx"), ev, matcher, per_context=40, log=lambda *a: None)
                row = {"grammar": r["grammar"],
                       "per_context": {c: v["rtf"] for c, v in r["grammar_per_context"].items()}}
                out.setdefault(name, []).append(row)
                log(f"{name} round {rnd + 1}: RTF {row['grammar']['rtf']} (median "
                    f"{row['grammar']['rtf_median']}) {row['per_context']}")
    finally:
        naive.open_free = open_free
        pe.GRAMMAR_DECODER_OPTIONS.clear()
        pe.GRAMMAR_DECODER_OPTIONS.update(shipped)
    return out


def endpointed_compare(clips, log=print, variants: dict | None = None) -> dict:  # noqa: ANN001
    """`clips`: (context, int16 16 kHz samples, kind "command"/"ood", expected (intent, value)).
    Each variant is its own engine instance fed exactly as VoiceEars feeds it (20 ms blocks
    through the Endpointer; speculate()/resume() at SpeechPause/SpeechResume for the
    speculative one), so each carries only its own history from clip to clip (PocketSphinx
    results depend a little on the utterance decoded before)."""
    import numpy as np

    from ..audio.endpoint import (EndpointConfig, Endpointer, SpeechAudio, SpeechEnd, SpeechPause,
                                  SpeechResume, SpeechStart, level_db)
    from ..cli import DEFAULT_LOCALE_DIR, load_assets
    from ..recognition.pocketsphinx_engine import REJECT_BELOW, PocketSphinxRecognizer
    from .accuracy import outcome

    matcher = load_assets(DEFAULT_LOCALE_DIR).matcher
    words = {w for c in matcher.contexts() for p in matcher.phrases(c) for w in p.split()}
    # name -> (EndpointConfig, confidence band sent back to finish()) ; None: no speculation
    variants = variants or {"at_endpoint": None, "speculative": (EndpointConfig(), None)}
    engines = {name: PocketSphinxRecognizer(vocabulary=words) for name in variants}
    for name, v in variants.items():
        if v is not None and v[1] is not None:
            engines[name].speculation_unsure = v[1]
    cells: dict[str, dict[str, int]] = {}
    held = n_utt = same = 0
    for k, (ctx, x, kind, want) in enumerate(clips):
        # its floor already knows the background, as a microphone listening a while would
        floor = float(np.median([level_db(x[i:i + 320]) for i in range(0, 3200, 320)]))
        texts = []
        for name, rec in engines.items():
            speculating = variants[name] is not None
            ep = Endpointer(16000, variants[name][0] if speculating else None)
            ep.floor_db = floor
            hyp, started, kept = None, False, False
            for i in range(0, x.size, 320):
                for ev in ep.process(x[i:i + 320]):
                    if hyp is not None:
                        break
                    if isinstance(ev, SpeechStart):
                        rec.begin(matcher.phrases(ctx))
                        rec.feed(ev.audio.astype("<i2").tobytes())
                        started = True
                    elif isinstance(ev, SpeechAudio) and started:
                        rec.feed(ev.audio.astype("<i2").tobytes())
                    elif isinstance(ev, SpeechPause) and started and speculating:
                        kept = rec.speculate()
                    elif isinstance(ev, SpeechResume) and started and speculating:
                        rec.resume()
                        kept = False
                    elif isinstance(ev, SpeechEnd) and started:
                        hyp = rec.finish()
            if hyp is None:
                if started:
                    rec.finish()
                break
            held += kept
            texts.append(hyp.text)
            m = matcher.match(hyp.text, ctx, hyp.confidence, REJECT_BELOW)
            o = outcome(kind, tuple(want), (m.intent, m.value))
            group = "commands" if kind == "command" else "ood"
            for key in (f"{name}/{group}/{ctx}", f"{name}/{group}/all"):
                cells.setdefault(key, {}).setdefault(o, 0)
                cells[key][o] += 1
        if len(texts) == len(engines):
            n_utt += 1
            same += len(set(texts)) == 1
        if k % 50 == 0:
            log(f"  {k}/{len(clips)}")
    return {"clips": len(clips), "one_utterance_found": n_utt, "same_text": same,
            "speculation_kept": held, "cells": dict(sorted(cells.items()))}


def endpointed(evalset_dir: Path, noise: str, contexts: tuple[str, ...] = ("yes_no", "number", "coach", "menu"),
               ood_contexts: tuple[str, ...] = ("yes_no", "coach"), log=print) -> dict:
    """The evaluation set's commands and out-of-domain clips of one noise condition."""
    import numpy as np

    from .evalset import read_pcm
    items = json.loads((evalset_dir / "manifest.json").read_text())["items"]
    clips = []
    for it in items:
        if it["noise"] != noise or it["kind"] not in ("command", "ood"):
            continue
        x = read_pcm(evalset_dir / it["wav"]).astype(np.int16)
        # the clip's padding goes on (0.6 s more of its own background), so the endpointer
        # sees the whole trailing silence
        x = np.concatenate([x, np.tile(x[:1600], 6)])
        for ctx in ([it["context"]] if it["kind"] == "command" else ood_contexts):
            if ctx in contexts:
                clips.append((ctx, x, it["kind"], (it["intent"], it["value"])))
    return endpointed_compare(clips, log=log)


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--endpointed":
        folder, noise = Path(sys.argv[2]), sys.argv[3]
        result = endpointed(folder, noise)
        (folder / f"decoder-ab-endpointed-{noise}.json").write_text(json.dumps(result, indent=1))
        print(json.dumps(result, indent=1))
        sys.exit(0)
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("bench-results")
    result = measure(folder)
    (folder / "decoder-ab.json").write_text(json.dumps(result, indent=1))
    print(f"results: {folder / 'decoder-ab.json'}")
