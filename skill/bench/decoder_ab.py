"""Recognition cost of two PocketSphinx decoder settings, alternated in one process (session 3).

The cost suite (skill/bench/cost.py, free decoder left out) run for the old setting
(`bestpath=True`: the grammar's best path rescored on a word lattice) and the shipped one,
twice each in turn, so machine load hits both alike. Run:
`python -m skill.bench.decoder_ab bench-results/rtf-s3` (the folder holding `evalset/`).
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


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("bench-results")
    result = measure(folder)
    (folder / "decoder-ab.json").write_text(json.dumps(result, indent=1))
    print(f"results: {folder / 'decoder-ab.json'}")
