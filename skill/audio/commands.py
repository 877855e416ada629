"""`run_assistant.py devices`: list microphones (and speakers, voices)."""
from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:  # noqa: ANN001 - argparse's private subparsers type
    p = subparsers.add_parser("devices", help="list microphones (for --input-device), speakers and voices")
    p.add_argument("--voices", action="store_true", help="also list the speech synthesiser's voices (for --voice)")
    p.set_defaults(func=cmd_devices)


def cmd_devices(args: argparse.Namespace) -> int:
    from .capture import AudioError, list_input_devices, load_sounddevice
    try:
        inputs = list_input_devices()
    except AudioError as exc:
        print(str(exc), file=sys.stderr)
        return 3
    if inputs:
        print("Microphones (use the number or name with --input-device; * = default):")
        for dev in inputs:
            print("  " + dev.describe())
    else:
        print("No microphone found. Use --audio-in FILE.wav to listen to a recording, or --text.")
    sd = load_sounddevice()
    try:
        outputs = [(i, d) for i, d in enumerate(sd.query_devices()) if d["max_output_channels"] > 0]
    except Exception:  # noqa: BLE001
        outputs = []
    print("Speakers:" if outputs else "No speaker found. Use --audio-out FILE.wav to record what is said.")
    for i, d in outputs:
        print(f"    {i:3d}  {d['name']}  ({int(d['default_samplerate'])} Hz)")
    if getattr(args, "voices", False):
        from .tts import Synthesizer, TtsError
        try:
            voices = Synthesizer().voices()
        except TtsError as exc:
            print(str(exc), file=sys.stderr)
            return 3
        print("Voices (use the id or name with --voice):")
        for vid, name, langs in voices:
            print(f"    {vid:28s} {name}  {' '.join(langs)}")
    return 0
