"""`run_assistant.py config`: the effective settings and where each came from; `--init` writes an example."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .config import (KEYS, ConfigError, Resolved, apply_resolved, choose_config_path, device_spec,
                     example_config, rate_option)


def register(subparsers) -> None:  # noqa: ANN001 - argparse's private subparsers type
    p = subparsers.add_parser(
        "config", help="show the effective settings and where each came from (--init: write an example file)",
        description="Shows each setting's value and origin: command line > environment > config file "
                    "> default. Options given here override as they would for a session.")
    # Setting options default to SUPPRESS: a value typed before `config` (`--engine vosk config`)
    # must not be overwritten by this subparser; main() records which ones were typed.
    p.add_argument("--config", metavar="FILE", type=Path, default=argparse.SUPPRESS,
                   help="config file (default: $VOICE_COACH_CONFIG, else $XDG_CONFIG_HOME/voice-coach/config.toml)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--init", action="store_true",
                   help="write a commented example config file (refuses to replace an existing one)")
    p.add_argument("--force", action="store_true", help="with --init: replace an existing file")
    # the settings' own options, so `config --engine vosk` shows what a session would use
    hidden = argparse.SUPPRESS
    p.add_argument("--input-device", metavar="DEV", type=device_spec, default=hidden)
    p.add_argument("--output-device", metavar="DEV", type=device_spec, default=hidden)
    p.add_argument("--engine", choices=["auto", "vosk", "pocketsphinx"], default=hidden)
    p.add_argument("--model", metavar="PATH", type=Path, default=hidden)
    p.add_argument("--voice", default=hidden)
    p.add_argument("--rate", type=rate_option, default=hidden)
    p.add_argument("--wake-phrase", default=hidden)
    p.add_argument("--data-dir", metavar="DIR", type=Path, default=hidden)
    # --init must work when the file is missing or broken: resolve here, not in cli.main
    p.set_defaults(func=cmd_config, reads_config_itself=True)


def shown(name: str, value: Any) -> str:
    if value is None:
        return f"({KEYS[name].default_note})"
    if isinstance(value, list):
        return ", ".join(f'"{v}"' for v in value)
    return str(value)


def as_json(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    return value


def cmd_config(args: argparse.Namespace) -> int:
    if args.init:
        return init_config(args.config, args.force)
    # typed before or after `config` (main() finds out: see config.apply_config)
    typed = getattr(args, "typed_settings", None)
    if typed is None:   # called without main(): what is set was typed
        typed = {name for name in KEYS if getattr(args, name, None) is not None}
    resolved: Resolved = apply_resolved(args, typed)
    saved_preferences(resolved)
    cfg = resolved.config
    if args.json:
        print(json.dumps({
            "config_file": str(cfg.path), "config_file_found": cfg.found,
            "config_file_chosen_by": resolved.config_origin,
            "settings": {s.key: {"value": as_json(s.value), "origin": s.origin}
                         for s in resolved.settings.values()},
        }))
        return 0
    state = "" if cfg.found else "  (not found: built-in defaults; `run_assistant.py config --init` writes one)"
    print(f"config file: {cfg.path}{state}")
    width = max(len(k) for k in KEYS)
    for s in resolved.settings.values():
        print(f"  {s.key:<{width}}  {shown(s.key, s.value)}   [{s.origin}]")
    return 0


def saved_preferences(resolved: Resolved) -> None:
    """Volume and detail once changed by voice are remembered in the data dir and win over
    the config: show those, so the table tells what a session would really start with."""
    from .config import Setting
    from .history.store import default_data_dir
    from .preferences import load_preferences, preferences_path
    data_dir = resolved.settings["data_dir"].value or default_data_dir()
    path = preferences_path(data_dir)
    if not path.exists():
        return
    prefs, problem = load_preferences(data_dir)
    if problem:
        print(f"note: {problem}", file=sys.stderr)
        return
    for name in ("volume", "detail"):
        resolved.settings[name] = Setting(name, getattr(prefs, name), f"saved preference {path}")


def init_config(given: Path | None, force: bool) -> int:
    path, _origin, _required = choose_config_path(given)
    if path.exists() and not force:
        print(f"{path} already exists; not replacing it (add --force to replace it).", file=sys.stderr)
        return 1
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(example_config(), encoding="utf-8")
        os.replace(tmp, path)     # never a half-written config
    except OSError as exc:
        raise ConfigError(f"Cannot write {path}: {exc.strerror or exc}") from None
    print(f"Wrote an example config to {path}; every setting is commented out (defaults). "
          f"Edit it, then check with `run_assistant.py config`.")
    return 0
