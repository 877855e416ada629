"""Where PocketSphinx's decoding CPU goes, and what candidate decoder settings cost in accuracy
(session 3, BENCHMARKS.md section 3). Scratch-grade measuring tool, kept so the numbers can
be re-made:

  python -m skill.bench.decoder_probe bench-results/evalset/eee080bb26 \
      '[["shipped", {}, {}], ["lattice", {"bestpath": true}, {}]]' [quick]

Each entry: [name, grammar-decoder options, phone-loop options] (merged over the shipped
ones; "_stream": true in the phone-loop options feeds the loop while the audio arrives).
Sample: 40 clean + 20 10-dB commands per context and 40 clean out-of-domain sentences in
every context; per decode the CPU of the grammar search, the phone loop and the rest
(hyp(), confidence), and the outcome at the shipped threshold. Prints one JSON summary per
setting; per-decode records go to <name>.records.json in the current folder.
"""
import json, sys, time, statistics
from pathlib import Path
from ..cli import DEFAULT_LOCALE_DIR, load_assets
from .evalset import read_pcm
from .accuracy import outcome, CHUNK_BYTES
from ..recognition import pocketsphinx_engine as pe

ROOT = Path(sys.argv[1]) if __name__ == "__main__" else Path("bench-results/evalset/eee080bb26")
matcher = load_assets(DEFAULT_LOCALE_DIR).matcher
items = json.loads((ROOT / "manifest.json").read_text())["items"]
CTX = ["yes_no", "number", "coach", "menu"]
def sample(n_clean=40, n_noisy=20, n_ood=40):
    jobs = []
    for ctx in CTX:
        c = [i for i in items if i["kind"] == "command" and i["context"] == ctx and i["noise"] == "clean"][:n_clean]
        nz = [i for i in items if i["kind"] == "command" and i["context"] == ctx and i["noise"] == "snr10"][:n_noisy]
        jobs += [(ctx, i) for i in c + nz]
    ood = [i for i in items if i["kind"] == "ood" and i["noise"] == "clean"][:n_ood]
    jobs += [(ctx, i) for i in ood for ctx in CTX]
    return jobs

class Timed:
    def __init__(self, d, acc, key): self.d, self.acc, self.key = d, acc, key
    def process_raw(self, *a):
        t = time.process_time(); r = self.d.process_raw(*a); self.acc[self.key] += time.process_time() - t; return r
    def end_utt(self):
        t = time.process_time(); r = self.d.end_utt(); self.acc[self.key] += time.process_time() - t; return r
    def __getattr__(self, n): return getattr(self.d, n)

SHIPPED = (dict(pe.GRAMMAR_DECODER_OPTIONS), dict(pe.PHONE_LOOP_OPTIONS), pe.STREAM_PHONE_LOOP)


def run(name, gopts, popts, jobs):
    pe.STREAM_PHONE_LOOP = bool(popts.pop("_stream", SHIPPED[2]))
    pe.GRAMMAR_DECODER_OPTIONS.clear(); pe.GRAMMAR_DECODER_OPTIONS.update({**SHIPPED[0], **gopts})
    pe.PHONE_LOOP_OPTIONS.clear(); pe.PHONE_LOOP_OPTIONS.update({**SHIPPED[1], **popts})
    words = set()
    for c in CTX:
        for p in matcher.phrases(c): words |= set(p.split())
    rec = pe.PocketSphinxRecognizer(vocabulary=words)
    acc = {"g": 0.0, "p": 0.0}
    rec._decoder = Timed(rec._decoder, acc, "g"); rec._phones = Timed(rec._phones, acc, "p")
    for c in CTX:  # compile grammars first
        rec.begin(matcher.phrases(c)); rec.finish()
    recs = []
    for ctx, it in jobs:
        pcm = read_pcm(ROOT / it["wav"]).tobytes()
        acc["g"] = acc["p"] = 0.0
        t0 = time.process_time()
        rec.begin(matcher.phrases(ctx))
        for i in range(0, len(pcm), CHUNK_BYTES): rec.feed(pcm[i:i+CHUNK_BYTES])
        t1 = time.process_time()
        h = rec.finish()
        fin = time.process_time() - t1
        tot = time.process_time() - t0
        sec = len(pcm) / 32000
        m = matcher.match(h.text, ctx, h.confidence, 0.5)
        m1 = matcher.match(h.text, ctx, 1.0, 0.5)
        exp = (it["intent"], it["value"])
        recs.append({"id": it["id"], "ctx": ctx, "kind": it["kind"], "noise": it["noise"], "text": h.text,
                     "conf": h.confidence, "g": acc["g"], "p": acc["p"], "tot": tot, "fin": fin, "sec": sec,
                     "out": outcome(it["kind"], exp, (m.intent, m.value)),
                     "decoded": outcome(it["kind"], exp, (m1.intent, m1.value))})
    return summarize(name, recs)

def summarize(name, recs):
    def med(xs): return statistics.median(xs) if xs else float('nan')
    s = {"name": name}
    sec = sum(r["sec"] for r in recs)
    s["rtf_total"] = round(sum(r["tot"] for r in recs) / sec, 4)
    s["rtf_med"] = round(med([r["tot"] / r["sec"] for r in recs]), 4)
    s["g_rtf"] = round(sum(r["g"] for r in recs) / sec, 4)
    s["p_rtf"] = round(sum(r["p"] for r in recs) / sec, 4)
    s["rest_rtf"] = round(sum(r["tot"] - r["g"] - r["p"] for r in recs) / sec, 4)
    cmd = [r for r in recs if r["kind"] == "command"]
    for noise in ("clean", "snr10"):
        cc = [r for r in cmd if r["noise"] == noise]
        s[f"{noise}_decoded"] = sum(r["decoded"] == "correct" for r in cc)
        for o in ("correct", "rejected", "wrong"):
            s[f"{noise}_{o}"] = sum(r["out"] == o for r in cc)
        s[f"{noise}_n"] = len(cc)
    ood = [r for r in recs if r["kind"] == "ood"]
    s["ood_fa"] = sum(r["out"] == "false_accept" for r in ood); s["ood_n"] = len(ood)
    s["ood_fa_yesno"] = sum(r["out"] == "false_accept" for r in ood if r["ctx"] == "yes_no")
    s["cmd_rtf_med"] = round(med([r["tot"] / r["sec"] for r in cmd]), 4)
    s["cmd_ms_med"] = round(1000 * med([r["tot"] for r in cmd]))
    s["cmd_finish_ms_med"] = round(1000 * med([r["fin"] for r in cmd]))
    s["finish_rtf"] = round(sum(r["fin"] for r in recs) / sec, 4)
    per = {}
    for c in CTX:
        rr = [r for r in recs if r["ctx"] == c]
        per[c] = round(sum(r["tot"] for r in rr) / sum(r["sec"] for r in rr), 3)
    s["per_ctx_rtf"] = per
    return s, recs

if __name__ == "__main__":
    configs = json.loads(sys.argv[2])
    quick = len(sys.argv) > 3
    jobs = sample(*( (10, 5, 10) if quick else (40, 20, 40)))
    for name, g, p in configs:
        s, recs = run(name, g, p, jobs)
        print(json.dumps(s), flush=True)
        Path(f"{name}.records.json").write_text(json.dumps(recs))
