"""Screener answers: every "yes" and "no" phrasing of the `yes_no` context, spoken by four
espeak-ng voices, clean and at 10 dB SNR (pink noise), decoded in the full `yes_no` grammar
exactly as the assistant does, with the product's rejection.

The accuracy benchmark samples phrases round-robin over a context's intents, so with
`--per-context 20` it holds only a couple of yes/no phrasings; the screener lives on them.
Unclear answers ("i don't know", ...) are spoken too: taken as a yes or a no is the screener's
worst error (an unclear answer must never count as no). Acceptance is the product's: the
matcher with the engine's threshold plus the context's confidence margin.

    python -m skill.bench.screener_answers [--out bench-results/screener-answers]
"""
from __future__ import annotations

import argparse
import collections
import json
import zlib
from pathlib import Path

from . import evalset as ev

VOICES = (("en-us", 175), ("en-us+f3", 140), ("en-gb", 175), ("en-gb-x-rp", 200))
SNR_DB = 10.0
# What people say when they do not know; some are phrases of the `unsure` intent (session 8),
# some no phrase at all. Expected: anything but yes or no.
UNCLEAR_ANSWERS = ("i don't know", "i don't really know", "i'm not sure", "not sure", "maybe",
                   "i can't remember", "i'm not certain", "perhaps", "i have no idea", "hard to say")


def noise_offset(phrase: str) -> int:
    """Where in the noise a phrase's 10 dB mix starts: from the phrase itself, so a phrase
    added to the grammar leaves every other phrase's noise as it was (the phrase's place in the
    list did that before session 11, and so moved every paired comparison across a grammar change)."""
    return zlib.crc32(phrase.encode("utf-8")) % 500000


def run(out: Path) -> dict:
    from ..cli import DEFAULT_LOCALE_DIR, load_assets
    from ..recognition.engines import open_recognizer, rejection_threshold
    matcher = load_assets(DEFAULT_LOCALE_DIR).matcher
    phrases = matcher.phrases("yes_no")
    recognizer, _notice = open_recognizer("pocketsphinx", None)
    threshold = rejection_threshold(recognizer)
    noise = ev.make_noise(out)["pink"]

    def intent(text: str) -> str | None:
        match = matcher.match(text, "yes_no", confidence=1.0, min_confidence=0.0) if text else None
        return getattr(match, "intent", None)

    answers = [p for p in phrases if intent(p) in ("yes", "no")]
    records = []
    for i, phrase in enumerate(answers + list(UNCLEAR_ANSWERS)):
        expected = "unclear" if i >= len(answers) else intent(phrase)
        for voice, wpm in VOICES:
            wav = out / "audio" / f"{ev._slug(phrase)}-{voice}-{wpm}.wav"
            if not wav.exists():
                ev.speak(phrase, voice, wpm, wav)
            clean = ev.read_pcm(wav)
            noisy, _snr = ev.mix_at_snr(clean, noise, SNR_DB, noise_offset(phrase))
            for condition, pcm in (("clean", clean), ("snr10", noisy)):
                recognizer.begin(phrases)
                recognizer.feed(pcm.astype("<i2").tobytes())
                hyp = recognizer.finish()
                heard = matcher.match(hyp.text, "yes_no", hyp.confidence or 0.0, threshold).intent
                if expected == "unclear":   # safe unless it became an answer
                    outcome = "wrong" if heard in ("yes", "no") else "correct"
                else:
                    outcome = ("rejected" if heard == "none"
                               else "correct" if heard == expected else "wrong")
                records.append({"phrase": phrase, "voice": voice, "condition": condition,
                                "expected": expected, "heard": heard, "text": hyp.text,
                                "confidence": hyp.confidence, "outcome": outcome})
    table: dict[str, dict[str, float]] = {}
    groups: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in records:
        for key in (f"{r['expected']} {r['condition']}", f"{r['expected']} all", f"voice {r['voice']}"):
            groups[key][r["outcome"]] += 1
    for key, counts in sorted(groups.items()):
        n = sum(counts.values())
        table[key] = {"n": n, **{o: round(100.0 * counts[o] / n, 1) for o in ("correct", "rejected", "wrong")}}
    swaps = [r for r in records if r["outcome"] == "wrong" and {r["expected"], r["heard"]} == {"yes", "no"}]
    unclear_taken = [r for r in records if r["expected"] == "unclear" and r["outcome"] == "wrong"]
    result = {"threshold": threshold, "phrases": len(answers), "unclear_answers": len(UNCLEAR_ANSWERS),
              "table": table, "yes_no_swaps": len(swaps), "unclear_taken_as_answer": len(unclear_taken),
              "records": records}
    (out / "screener-answers.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skill.bench.screener_answers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench-results/screener-answers"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    result = run(args.out)
    print(f"{result['phrases']} yes/no phrasings (+ unclear answers) x {len(VOICES)} voices x clean/{SNR_DB:g} dB, "
          f"threshold {result['threshold']}")
    print(f"{'group':<22}{'n':>5}{'correct':>9}{'rejected':>10}{'wrong':>7}")
    for key, row in result["table"].items():
        print(f"{key:<22}{row['n']:>5}{row['correct']:>8.1f}%{row['rejected']:>9.1f}%{row['wrong']:>6.1f}%")
    print(f"yes heard as no or no as yes: {result['yes_no_swaps']}")
    print(f"unclear answers ({result['unclear_answers']} phrasings) taken as yes or no: "
          f"{result['unclear_taken_as_answer']} (the 'unclear' rows: correct = not taken)")
    print(f"-> {args.out / 'screener-answers.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
