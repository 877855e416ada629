"""Global mean-only MLLR for PocketSphinx's en-us model, estimated with SphinxTrain (issue 5).

A measurement tool, not product code: it answers whether adapting the 16 kHz model to
telephone-band (8 kHz) speech wins back what the band costs. The product never runs it.

SphinxTrain (Debian `sphinxtrain` for `bw`/`mllr_solve`, `sphinxbase-utils` for `sphinx_fe`,
`pocketsphinx` for `pocketsphinx_mdef_convert`) reads text model definitions and full mixture
weights, while the wheel ships a binary mdef and quantised weights (`sendump`): both are
converted into a working copy of the model first. Features come from `sphinx_fe` with the
model's own front-end settings (feat.params): on the same audio the decoder's cepstral mean
agrees within ~1 unit of c0 and the same hypotheses come out (checked in scratch).

    python -m skill.bench.mllr --model-copy DIR --audio DIR --out DIR NAME

`audio` holds `meta.json` (uid, speaker, text, set) and `wav/<uid>.wav` (16 kHz mono, the
audio the decoder is given); NAME picks the utterances (see SPLITS). The transform file is
`<out>/<name>/mllr_matrix`, for the decoder's `mllr` option.
"""
from __future__ import annotations

import argparse
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

SPHINXTRAIN = Path("/usr/lib/sphinxtrain")
TOOLS = {"bw": SPHINXTRAIN / "bw", "mllr_solve": SPHINXTRAIN / "mllr_solve",
         "sphinx_fe": Path("sphinx_fe"), "pocketsphinx_mdef_convert": Path("pocketsphinx_mdef_convert")}
# the model's front end (feat.params) in sphinx_fe's terms; silence removal off, as in the decoder
FE_ARGS = ["-lowerf", "130", "-upperf", "6800", "-nfilt", "25", "-transform", "dct", "-lifter", "22",
           "-remove_noise", "yes", "-remove_silence", "no", "-dither", "no", "-samprate", "16000",
           "-nfft", "512"]
FEAT_ARGS = ["-feat", "1s_c_d_dd", "-svspec", "0-12/13-25/26-38", "-cmn", "current", "-agc", "none",
             "-ts2cbfn", ".ptm."]
MIXW_SHIFT = 10        # sendump stores -log1.0001(weight) >> 10 in one byte
N_STREAMS = 3


def missing_tools() -> list[str]:
    """The SphinxTrain/SphinxBase programs this needs that are not installed."""
    return [name for name, p in TOOLS.items() if shutil.which(str(p)) is None]


# ------------------------------------------------------------------ model files
def _read_strings(f) -> list[bytes]:
    out = []
    while True:
        n = struct.unpack("<I", f.read(4))[0]
        if n == 0:
            return out
        out.append(f.read(n))


def sendump_weights(path: str | Path) -> np.ndarray:
    """The mixture weights of a PTM model's `sendump`: [senone][stream][codeword], each row
    summing to 1 (the byte quantisation is undone; rows are renormalised)."""
    with open(path, "rb") as f:
        _read_strings(f)
        n_cw, n_sen = struct.unpack("<II", f.read(8))
        q = np.frombuffer(f.read(), dtype=np.uint8)
    if q.size != N_STREAMS * n_cw * n_sen:
        raise ValueError(f"{path}: {q.size} weights, expected {N_STREAMS}x{n_cw}x{n_sen}")
    w = np.power(1.0001, -(q.reshape(N_STREAMS, n_cw, n_sen).astype(np.float64) * 2 ** MIXW_SHIFT))
    w = w.transpose(2, 0, 1)
    return w / w.sum(axis=2, keepdims=True)


def write_s3_3d(path: str | Path, array: np.ndarray) -> None:
    """A SphinxTrain binary parameter file (here: mixture_weights) holding a 3-D float array."""
    d1, d2, d3 = array.shape
    hdr = b"s3\nversion 1.0\n"
    hdr += b" " * ((4 - (len(hdr) + len(b"endhdr\n")) % 4) % 4) + b"endhdr\n"   # data 4-aligned
    with open(path, "wb") as f:
        f.write(hdr + struct.pack("=i", 0x11223344) + struct.pack("=IIII", d1, d2, d3, d1 * d2 * d3))
        f.write(np.ascontiguousarray(array, dtype="<f4").tobytes())


def model_copy(model: str | Path, out: str | Path) -> Path:
    """The model with what SphinxTrain needs: mdef.txt and mixture_weights."""
    model, out = Path(model), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for p in model.iterdir():
        if p.is_file():
            shutil.copy2(p, out / p.name)
    if not (out / "mdef.txt").exists():
        subprocess.run([str(TOOLS["pocketsphinx_mdef_convert"]), "-text", str(model / "mdef"),
                        str(out / "mdef.txt")], check=True, capture_output=True)
    if not (out / "mixture_weights").exists():
        write_s3_3d(out / "mixture_weights", sendump_weights(model / "sendump"))
    return out


def write_transform(path: str | Path, a: list[np.ndarray], b: list[np.ndarray]) -> None:
    """An MLLR file as mllr_solve writes it and the decoder's `mllr` option reads it: one
    class; per stream its size, A (rows), b, and a variance scale of ones (mean-only)."""
    lines = ["1", str(len(a))]
    for ai, bi in zip(a, b):
        lines.append(str(len(bi)))
        lines += [" ".join(f"{v:.6f}" for v in row) for row in np.atleast_2d(ai)]
        lines += [" ".join(f"{v:.6f}" for v in bi), " ".join("1.000000" for _ in bi)]
    Path(path).write_text("\n".join(lines) + "\n")


def read_transform(path: str | Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    tok = Path(path).read_text().split()
    n_class, n_stream = int(tok[0]), int(tok[1])
    if n_class != 1:
        raise ValueError(f"{path}: {n_class} classes, expected 1")
    i, a, b = 2, [], []
    for _ in range(n_stream):
        d = int(tok[i])
        vals = np.array(tok[i + 1:i + 1 + d * d + 2 * d], dtype=float)
        a.append(vals[:d * d].reshape(d, d))
        b.append(vals[d * d:d * d + d])
        i += 1 + d * d + 2 * d
    return a, b


# ------------------------------------------------------------------ which utterances
def loso(meta: list[dict], held_out: str, kind: str = "fsdd") -> list[dict]:
    """Leave one speaker out: every `kind` utterance of the other speakers."""
    return [m for m in meta if m["set"] == kind and m["speaker"] != held_out]


SPLITS: dict[str, Callable[[list[dict]], list[dict]]] = {
    "esp8": lambda meta: [m for m in meta if m["set"] in ("esp8", "esp8x")],
    **{f"loso_{s}": (lambda meta, s=s: loso(meta, s))
       for s in ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")},
}


def transcript_lines(meta: Iterable[dict]) -> tuple[str, str]:
    """SphinxTrain's control file and transcription for these utterances."""
    meta = list(meta)
    return ("".join(f"wav/{m['uid']}\n" for m in meta),
            "".join(f"<s> {m['text']} </s> ({m['uid']})\n" for m in meta))


# ------------------------------------------------------------------ running SphinxTrain
def features(audio: Path) -> None:
    """sphinx_fe over every wav/<uid>.wav of `audio` into mfc/wav/<uid>.mfc (once)."""
    wavs = sorted((audio / "wav").glob("*.wav"))
    todo = [w for w in wavs if not (audio / "mfc" / "wav" / f"{w.stem}.mfc").exists()]
    if not todo:
        return
    (audio / "mfc").mkdir(exist_ok=True)
    ctl = audio / "fe.ctl"
    ctl.write_text("".join(f"wav/{w.stem}\n" for w in todo))
    subprocess.run([str(TOOLS["sphinx_fe"]), *FE_ARGS, "-c", str(ctl), "-di", str(audio),
                    "-do", str(audio / "mfc"), "-ei", "wav", "-eo", "mfc", "-mswav", "yes"],
                   check=True, capture_output=True)


def estimate(model: Path, dictionary: Path, audio: Path, out: Path, meta: list[dict]) -> Path:
    """bw (alignment counts) then mllr_solve (one global transform per stream, mean only)."""
    features(audio)
    out.mkdir(parents=True, exist_ok=True)
    (out / "acc").mkdir(exist_ok=True)
    ctl, lsn = transcript_lines(meta)
    (out / "ctl").write_text(ctl)
    (out / "lsn").write_text(lsn)
    bw = [str(TOOLS["bw"]), "-hmmdir", str(model), "-moddeffn", str(model / "mdef.txt"), *FEAT_ARGS,
          "-dictfn", str(dictionary), "-fdictfn", str(model / "noisedict"), "-ctlfn", str(out / "ctl"),
          "-lsnfn", str(out / "lsn"), "-cepdir", str(audio / "mfc"), "-accumdir", str(out / "acc")]
    solve = [str(TOOLS["mllr_solve"]), "-meanfn", str(model / "means"), "-varfn", str(model / "variances"),
             "-outmllrfn", str(out / "mllr_matrix"), "-accumdir", str(out / "acc")]
    for name, cmd in (("bw", bw), ("mllr_solve", solve)):
        r = subprocess.run(cmd, capture_output=True, text=True)
        (out / f"{name}.log").write_text(r.stdout + r.stderr)
        if r.returncode:
            raise RuntimeError(f"{name} failed: see {out / (name + '.log')}")
    return out / "mllr_matrix"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name", choices=sorted(SPLITS))
    ap.add_argument("--model-copy", required=True)
    ap.add_argument("--audio", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    missing = missing_tools()
    if missing:
        print(f"needs {', '.join(missing)}: apt-get install sphinxtrain sphinxbase-utils pocketsphinx",
              file=sys.stderr)
        return 2
    from ..recognition.pocketsphinx_engine import default_model_dir
    model = model_copy(default_model_dir() / "en-us", args.model_copy)
    dictionary = default_model_dir() / "cmudict-en-us.dict"
    words = {line.split(" ", 1)[0] for line in dictionary.read_text(encoding="utf-8").splitlines()}
    audio = Path(args.audio)
    meta = [m for m in SPLITS[args.name](json.loads((audio / "meta.json").read_text()))
            if all(w in words for w in m["text"].split())]
    path = estimate(model, dictionary, audio, Path(args.out) / args.name, meta)
    print(f"{path} ({len(meta)} utterances)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
