"""`run_assistant.py devices`: list microphones (and speakers, voices); `--test` checks the levels."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import device_spec

EXIT_NO_AUDIO = 3
MIN_TEST_SECONDS, MAX_TEST_SECONDS = 0.5, 30.0


def register(subparsers) -> None:  # noqa: ANN001 - argparse's private subparsers type
    p = subparsers.add_parser("devices", help="list microphones (for --input-device), speakers and voices")
    p.add_argument("--voices", action="store_true", help="also list the speech synthesiser's voices (for --voice)")
    p.add_argument("--test", action="store_true",
                   help="record a few seconds from the microphone, print its level, and play it back")
    p.add_argument("--input-device", metavar="DEV", type=device_spec,
                   help="with --test: the microphone (default: the configured one, else the system's)")
    p.add_argument("--output-device", metavar="DEV", type=device_spec,
                   help="with --test: the speaker (default: the configured one, else the system's)")
    p.add_argument("--seconds", type=float, default=3.0, help="with --test: how long to record (default 3)")
    p.add_argument("--config", metavar="FILE", type=Path, default=None,
                   help="settings file whose devices --test uses (see `run_assistant.py config`)")
    p.set_defaults(func=cmd_devices)


def cmd_devices(args: argparse.Namespace) -> int:
    if getattr(args, "test", False):
        return cmd_test(args)
    from .capture import AudioError, list_input_devices, load_sounddevice
    try:
        inputs = list_input_devices()
    except AudioError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_NO_AUDIO
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
            return EXIT_NO_AUDIO
        print("Voices (use the id or name with --voice):")
        for vid, name, langs in voices:
            print(f"    {vid:28s} {name}  {' '.join(langs)}")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    """Record, report the level, play back: for choosing the microphone and setting its gain."""
    from .capture import AudioError
    from .mic_check import check
    if not MIN_TEST_SECONDS <= args.seconds <= MAX_TEST_SECONDS:
        print(f"--seconds must be between {MIN_TEST_SECONDS:g} and {MAX_TEST_SECONDS:g}.", file=sys.stderr)
        return 2
    try:
        check(args.input_device, args.output_device, args.seconds,
              say=lambda line: print(line, flush=True))
    except AudioError as exc:
        print(f"{exc} See `run_assistant.py devices` for the choices.", file=sys.stderr)
        return EXIT_NO_AUDIO
    return 0
