"""`run_assistant.py recognize ...` and `run_assistant.py models ...`."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import models as model_store

CONTEXTS = ("yes_no", "number", "coach", "menu")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "recognize", help="recognise WAV files in a listen context; one JSON object per file",
        description="Run the recogniser on WAV files (any rate, width, channels) constrained to "
                    "the phrases of a listen context; print {file,text,intent,value,confidence} "
                    "per file. intent is \"none\" when the speech is not a known phrase.")
    p.add_argument("--context", choices=CONTEXTS, required=True)
    p.add_argument("--engine", choices=("auto", "vosk", "pocketsphinx"), default="auto")
    p.add_argument("--model", metavar="PATH", help="Vosk model directory (else $VOSK_MODEL_PATH, models/)")
    p.add_argument("--dialogs", metavar="DIR", type=Path, default=None,
                   help="locale folder (default dialogs/en-us)")
    p.add_argument("files", nargs="+", metavar="FILE.wav")
    p.set_defaults(func=cmd_recognize)

    p = subparsers.add_parser("models", help="list or download Vosk recogniser models")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION")
    d = msub.add_parser("download", help=f"download a model into models/ (default {model_store.DEFAULT_MODEL})")
    d.add_argument("name", nargs="?", default=model_store.DEFAULT_MODEL)
    d.add_argument("--url", help="download from this URL instead of the official one")
    d.add_argument("--sha256", help="expected SHA-256 of the archive")
    d.add_argument("--dir", type=Path, default=model_store.MODELS_DIR, help="models folder")
    d.set_defaults(func=cmd_models_download)
    ls = msub.add_parser("list", help="show installed models")
    ls.add_argument("--dir", type=Path, default=model_store.MODELS_DIR, help="models folder")
    ls.set_defaults(func=cmd_models_list)
    p.set_defaults(func=cmd_models_list, dir=model_store.MODELS_DIR)


def cmd_models_list(args: argparse.Namespace) -> int:
    installed = model_store.list_models(args.dir)
    if not installed:
        print(f"No Vosk models in {args.dir}. The built-in PocketSphinx engine is used. "
              f"Get the better one with: run_assistant.py models download")
        return 0
    for m in installed:
        state = "ok" if m.valid else "INCOMPLETE (not a Vosk model; delete it or download again)"
        print(f"{m.name}\t{m.lang or '?'}\t{state}\t{m.path}")
    return 0


def cmd_models_download(args: argparse.Namespace) -> int:
    try:
        path = model_store.download_model(args.name, args.dir, url=args.url, sha256=args.sha256)
    except model_store.DownloadError as e:
        print(f"\nDownload failed: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nDownload interrupted; run the same command again to resume.", file=sys.stderr)
        return 130
    print(f"\nInstalled {args.name} in {path}")
    return 0


def recognize_files(files: list[str], context: str, recognizer, matcher,
                    threshold: float, chunk_bytes: int = 8000) -> list[dict]:
    """Decode each file, streaming it in chunks; match against the context's phrases."""
    from .wavio import AudioFileError, read_wav

    phrases = matcher.phrases(context)
    out = []
    for name in files:
        row = {"file": name, "text": "", "intent": "none", "value": None, "confidence": None}
        try:
            pcm = read_wav(name, recognizer.sample_rate)
        except AudioFileError as e:
            row["error"] = str(e)
            out.append(row)
            continue
        recognizer.begin(phrases)
        for i in range(0, len(pcm), chunk_bytes):
            recognizer.feed(pcm[i:i + chunk_bytes])
        hyp = recognizer.finish()
        row["text"] = hyp.text
        row["confidence"] = None if hyp.confidence is None else round(hyp.confidence, 3)
        m = matcher.match(hyp.text, context, confidence=hyp.confidence, min_confidence=threshold)
        row["intent"], row["value"] = m.intent, m.value
        out.append(row)
    return out


def cmd_recognize(args: argparse.Namespace) -> int:
    from skill.cli import DEFAULT_LOCALE_DIR, StartupError, load_assets
    from .engines import EngineError, open_recognizer, rejection_threshold
    from .grammar import GrammarError

    try:
        assets = load_assets(args.dialogs or DEFAULT_LOCALE_DIR)
    except StartupError as e:
        print(str(e), file=sys.stderr)
        return 2
    try:
        recognizer, notice = open_recognizer(args.engine, args.model)
    except EngineError as e:
        print(f"No recogniser can start: {e}", file=sys.stderr)
        return 3
    if notice:
        print(notice, file=sys.stderr)
    try:
        rows = recognize_files(args.files, args.context, recognizer, assets.matcher,
                               rejection_threshold(recognizer))
    except GrammarError as e:
        print(f"Cannot build the grammar for {args.context}: {e}", file=sys.stderr)
        return 2
    failed = 0
    for row in rows:
        if "error" in row:
            failed += 1
            print(f"Cannot use {row['error']}", file=sys.stderr)
        print(json.dumps(row, ensure_ascii=False))
    return 1 if failed else 0
