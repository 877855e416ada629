"""Settings from a TOML config file and the environment, under the command line.

Precedence, per key: command line > environment > config file > built-in default. The
config file is `--config FILE`, else `$VOICE_COACH_CONFIG`, else
`$XDG_CONFIG_HOME/voice-coach/config.toml` (a missing default file just means defaults).
Config keys are argparse attribute names, so applying them is generic: any command whose
parser has `--config` gets every key it has an option for.

Every problem is a ConfigError whose message names the file, the line and the key, and
says what is accepted; the CLI prints it and exits 2.
"""
from __future__ import annotations

import argparse
import difflib
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

APP_DIR_NAME = "voice-coach"
CONFIG_NAME = "config.toml"
CONFIG_ENV = "VOICE_COACH_CONFIG"
EXIT_BAD_CONFIG = 2
ENGINES = ("auto", "vosk", "pocketsphinx")
# a wake-phrase word: plain lowercase letters, an apostrophe inside ("i'm") at most
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


class ConfigError(Exception):
    """A bad config file, value or key; the message says which and what is accepted."""

    exit_code = EXIT_BAD_CONFIG


# ---------------------------------------------------------------------- values
def device_spec(text: str | int) -> str | int:
    """A device as given: its index (int) or a name / part of its name (str).

    Also the argparse `type` of --input-device/--output-device, so a number means the same
    on the command line and in the config file."""
    if isinstance(text, bool):
        raise ValueError("a device is a number or a name, not true/false")
    if isinstance(text, int):
        if text < 0:
            raise ValueError("a device number cannot be negative")
        return text
    value = str(text).strip()
    if not value:
        raise ValueError("a device name cannot be empty")
    return int(value) if value.isdigit() else value


def _device(value: Any, base: Path | None) -> str | int:
    if not isinstance(value, (str, int)):
        raise ValueError("expected a device number or name (see `run_assistant.py devices`)")
    return device_spec(value)


def _engine(value: Any, base: Path | None) -> str:
    if not isinstance(value, str) or value not in ENGINES:
        raise ValueError(f"accepted values are {', '.join(ENGINES)}")
    return value


def _path(value: Any, base: Path | None) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a folder path as a string")
    path = Path(value).expanduser()
    # relative to the config file, not to wherever the service happens to start
    return path if path.is_absolute() or base is None else base / path


def _text(value: Any, base: Path | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value.strip()


def _rate(value: Any, base: Path | None) -> int:
    from .audio.tts import MAX_WPM, MIN_WPM  # the synthesiser's own limits
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number of words per minute, {MIN_WPM} to {MAX_WPM}")
    if not MIN_WPM <= value <= MAX_WPM:
        raise ValueError(f"{value} is outside {MIN_WPM}..{MAX_WPM} words per minute")
    return value


def rate_option(text: str) -> int:
    """`--rate` on the command line: the config file's check, so both refuse the same values
    (argparse turns the error into a usage message naming --rate, and exit 2)."""
    try:
        value: Any = int(text)
    except ValueError:
        value = text        # not a number: _rate refuses it, giving the accepted range
    try:
        return _rate(value, None)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _wake_phrase(value: Any, base: Path | None) -> str | list[str]:
    phrases = [value] if isinstance(value, str) else value
    if not isinstance(phrases, list) or not phrases or not all(isinstance(p, str) for p in phrases):
        raise ValueError('expected a phrase or a list of phrases, e.g. "hey coach"')
    cleaned = []
    for phrase in phrases:
        words = phrase.split()
        bad = [w for w in words if not _WORD.fullmatch(w)]
        if not words or bad:
            raise ValueError(f"{phrase!r}: use plain lowercase words (letters only), "
                             f"e.g. \"hey coach\"")
        cleaned.append(" ".join(words))
    return cleaned[0] if isinstance(value, str) else cleaned


def _volume(value: Any, base: Path | None) -> int:
    from .preferences import VOLUME_RANGE
    low, high = VOLUME_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"expected a whole number from {low} (quietest) to {high} (loudest)")
    return value


def _detail(value: Any, base: Path | None) -> str:
    from .preferences import DETAIL_LEVELS
    if value not in DETAIL_LEVELS:
        raise ValueError(f"accepted values are {', '.join(DETAIL_LEVELS)}")
    return value


@dataclass(frozen=True)
class Key:
    name: str
    parse: Callable[[Any, Path | None], Any]   # TOML value, config folder -> argparse-like value
    default: Any
    default_note: str                          # what an unset (None) default means, for `config`
    example: str                               # TOML line for `config --init`
    help: str
    env: str | None = None                     # environment variable that sets this key
    option: bool = True                        # has a command-line option of the same name; if
                                               # not, set for every command that takes --config


KEYS: dict[str, Key] = {k.name: k for k in (
    Key("input_device", _device, None, "the system's default microphone", 'input_device = "USB"',
        "microphone: number or (part of the) name from `run_assistant.py devices`"),
    Key("output_device", _device, None, "the system's default speaker", 'output_device = "Headphones"',
        "speaker: number or (part of the) name from `run_assistant.py devices`"),
    Key("engine", _engine, "auto", "", 'engine = "auto"',
        "speech recogniser: auto (Vosk when an English model is found, else PocketSphinx), vosk, "
        "pocketsphinx"),
    Key("model", _path, None, "an English model in models/, else PocketSphinx's built-in one",
        'model = "~/voice-coach/models/vosk-model-small-en-us-0.15"',
        "Vosk model folder (relative paths are relative to this file)", env="VOSK_MODEL_PATH"),
    Key("voice", _text, None, "espeak-ng's default voice", 'voice = "en-us"',
        "speech voice id or name (`run_assistant.py devices --voices`)"),
    Key("rate", _rate, None, "the coach's default speaking pace", "rate = 160",
        "speaking rate in words per minute, 80 to 400"),
    Key("wake_phrase", _wake_phrase, None, 'built-in: "hey coach", "start my exercises"',
        'wake_phrase = ["hey coach", "start my exercises"]',
        "what starts a session in `serve` mode: a phrase or a list of phrases, plain lowercase words"),
    Key("data_dir", _path, None, "$XDG_DATA_HOME/voice-coach", 'data_dir = "~/.local/share/voice-coach"',
        "where the exercise history is kept (relative paths are relative to this file)"),
    Key("volume", _volume, None, "8 of 10", "volume = 8",
        "starting volume, 1 to 10, until you say \"louder\" or \"quieter\" (the coach remembers that, "
        "and it wins over this)", option=False),
    Key("detail", _detail, None, "full", 'detail = "full"',
        "starting detail of the instructions, full or short, until you ask for more or less detail "
        "(remembered, and it wins over this)", option=False),
)}


# ---------------------------------------------------------------------- the file
def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/voice-coach/config.toml`, else `~/.config/voice-coach/config.toml`."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / APP_DIR_NAME / CONFIG_NAME


def choose_config_path(given: Path | str | None,
                       environ: Mapping[str, str] | None = None) -> tuple[Path, str, bool]:
    """(path, how it was chosen, whether it must exist): an explicitly named file must."""
    env = os.environ if environ is None else environ
    if given:
        return Path(given).expanduser(), "--config", True
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser(), f"environment {CONFIG_ENV}", True
    return default_config_path(env), "default", False


@dataclass
class ConfigFile:
    path: Path
    found: bool
    values: dict[str, Any]       # key -> parsed value
    lines: dict[str, int]        # key -> line number in the file


def _key_lines(text: str) -> dict[str, int]:
    """Line of each top-level `key = ...` (tomllib does not report positions)."""
    lines = {}
    for number, line in enumerate(text.splitlines(), start=1):
        table = re.match(r"\s*\[+\s*([A-Za-z0-9_-]+)", line)
        if table:
            lines.setdefault(table.group(1), number)   # a [section]: only to point at it
            break                                  # no more top-level keys after a table
        m = re.match(r"""\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_-]+))\s*=""", line)
        if m:
            lines.setdefault(next(g for g in m.groups() if g is not None), number)
    return lines


def _where(path: Path, line: int | None) -> str:
    return f"{path}, line {line}" if line else str(path)


def unknown_key_message(key: str, where: str) -> str:
    close = difflib.get_close_matches(key.replace("-", "_").lower(), list(KEYS), n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return (f"{where}: unknown setting '{key}'.{hint} "
            f"Accepted settings: {', '.join(KEYS)}.")


def read_config(path: Path, required: bool) -> ConfigFile:
    """Read and validate a config file; a missing optional one gives no values."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise ConfigError(f"The config file {path} does not exist "
                              f"(`run_assistant.py config --init --config {path}` writes an example).") from None
        return ConfigFile(path, False, {}, {})
    except OSError as exc:
        raise ConfigError(f"Cannot read the config file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{_where(path, line)}: the config file is not UTF-8 text.") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts the position in the message: "Invalid value (at line 3, column 9)"
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
        where = f"{path}, line {m.group(1)}, column {m.group(2)}" if m else str(path)
        raise ConfigError(f"{where}: this is not valid TOML: {reason}. "
                          f"Write settings as  key = value  e.g.  engine = \"auto\".") from None
    lines = _key_lines(text)
    values = {}
    for key, value in data.items():
        where = _where(path, lines.get(key))
        if key not in KEYS:
            raise ConfigError(unknown_key_message(key, where))
        try:
            values[key] = KEYS[key].parse(value, path.parent)
        except ValueError as exc:
            raise ConfigError(f"{where}: bad value for '{key}' ({_show(value)}): {exc}.") from None
    return ConfigFile(path, True, values, lines)


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------------- resolving
@dataclass(frozen=True)
class Setting:
    key: str
    value: Any
    origin: str      # "command line", "environment X", "config file PATH:LINE", "default"


@dataclass
class Resolved:
    config: ConfigFile
    config_origin: str
    settings: dict[str, Setting]


def resolve(cli_values: Mapping[str, Any], config: ConfigFile,
            environ: Mapping[str, str] | None = None) -> dict[str, Setting]:
    """Each key's value and origin: command line > environment > config file > default."""
    env = os.environ if environ is None else environ
    settings = {}
    for name, key in KEYS.items():
        if name in cli_values:
            settings[name] = Setting(name, cli_values[name], "command line")
        elif key.env and env.get(key.env):
            try:
                value = key.parse(env[key.env], None)
            except ValueError as exc:
                raise ConfigError(f"The environment variable {key.env} has a bad value: {exc}.") from None
            settings[name] = Setting(name, value, f"environment {key.env}")
        elif name in config.values:
            line = config.lines.get(name)
            settings[name] = Setting(name, config.values[name],
                                     f"config file {config.path}" + (f":{line}" if line else ""))
        else:
            settings[name] = Setting(name, key.default, "default")
    return settings


_UNSET = object()


def given_on_command_line(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
                          names: Sequence[str]) -> set[str]:
    """Which of `names` were really typed on the command line (argparse fills in defaults,
    so a typed `--engine auto` and the default "auto" look alike): parse again with every
    such option's default swapped for a marker, in the parser and all its subparsers."""
    swapped: list[tuple[argparse.Action, Any]] = []

    def swap(p: argparse.ArgumentParser, seen: set[int]) -> None:
        if id(p) in seen:
            return
        seen.add(id(p))
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    swap(sub, seen)
            elif action.dest in names and action.default is not argparse.SUPPRESS:
                # (a SUPPRESSed default must stay: it is what keeps a value typed before the subcommand)
                swapped.append((action, action.default))
                action.default = _UNSET

    swap(parser, set())
    try:
        again = parser.parse_args(argv)   # argv parsed fine once already, so this cannot fail
    finally:
        for action, default in swapped:
            action.default = default
    return {n for n in names if getattr(again, n, _UNSET) is not _UNSET}


def apply_config(parser: argparse.ArgumentParser, args: argparse.Namespace,
                 argv: Sequence[str] | None, environ: Mapping[str, str] | None = None) -> Resolved | None:
    """Fill in args from the environment, the config file and the defaults wherever the command
    line said nothing. Only for commands that take --config (and do not read it themselves,
    like `config --init`)."""
    active = active_parser(parser, args)
    dests = {action.dest for action in active._actions}
    if getattr(args, "reads_config_itself", False):
        # `config` resolves the settings itself (its --init must work with a broken file); it
        # only needs to know which were typed, before or after the subcommand
        args.typed_settings = given_on_command_line(parser, argv, [n for n in KEYS if KEYS[n].option])
        return None
    if "config" not in dests:
        return None
    present = [name for name in KEYS if name in dests or not KEYS[name].option]
    return apply_resolved(args, given_on_command_line(parser, argv, present), environ, present)


def active_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the chosen subcommand (the top-level one's options also land in args,
    so "args has a config attribute" would not tell which command takes --config)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = getattr(args, action.dest or "", None)
            if chosen in action.choices:
                return action.choices[chosen]
    return parser


def apply_resolved(args: argparse.Namespace, typed: set[str], environ: Mapping[str, str] | None = None,
                   present: Sequence[str] | None = None) -> Resolved:
    """Resolve every key (`typed`: those given on the command line) and set those in `present`
    (default: all); the result is also kept as args.resolved_config (`config` prints it)."""
    path, origin, required = choose_config_path(getattr(args, "config", None), environ)
    config = read_config(path, required)
    settings = resolve({n: getattr(args, n) for n in typed}, config, environ)
    for name in (KEYS if present is None else present):
        setattr(args, name, settings[name].value)
    resolved = Resolved(config, origin, settings)
    args.resolved_config = resolved
    return resolved


# ---------------------------------------------------------------------- example
def example_config() -> str:
    """A commented config file with every key (all commented out: defaults stay defaults)."""
    out = ["# Voice exercise coach settings (TOML). Uncomment a line to change a setting.",
           "# Precedence: command line > environment > this file > built-in default.",
           "# `run_assistant.py config` shows the effective settings and where each came from.",
           ""]
    for key in KEYS.values():
        out.append(f"# {key.help}.")
        if key.default is None:
            out.append(f"# Default: {key.default_note}.")
        else:
            out.append(f"# Default: {key.default}.")
        if key.env:
            out.append(f"# The environment variable {key.env} overrides this.")
        out.append(f"# {key.example}")
        out.append("")
    return "\n".join(out)
