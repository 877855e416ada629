"""Config file + environment + command line: precedence, origins, validation, and the CLI's
messages for bad files (exit 2, no traceback). Pure logic, except the end-to-end CLI runs."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from skill import cli
from skill.config import (KEYS, ConfigError, apply_config, choose_config_path, default_config_path,
                          example_config, read_config)

ROOT = Path(__file__).resolve().parent.parent


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def session_args(argv: list[str], environ: dict[str, str]) -> argparse.Namespace:
    parser = cli.build_parser()
    args = parser.parse_args(argv)
    apply_config(parser, args, argv, environ)
    return args


def serve_like_parser() -> argparse.ArgumentParser:
    """A subcommand built the way `serve` is agreed to be: session options + --wake-phrase."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("serve")
    cli.add_session_options(p)
    p.add_argument("--wake-phrase", default=None)
    return parser


# ---------------------------------------------------------------------- precedence and origins
def test_precedence_command_line_over_environment_over_file_over_default(tmp_path):
    cfg = write(tmp_path / "c.toml", 'engine = "pocketsphinx"\nmodel = "/from/file"\nrate = 150\n'
                                     'voice = "en-gb"\n')
    env = {"VOSK_MODEL_PATH": "/from/env", "XDG_CONFIG_HOME": str(tmp_path / "none")}
    args = session_args(["--config", str(cfg), "--rate", "200"], env)
    s = args.resolved_config.settings
    assert (args.rate, s["rate"].origin) == (200, "command line")
    assert (args.model, s["model"].origin) == (Path("/from/env"), "environment VOSK_MODEL_PATH")
    assert (args.engine, s["engine"].origin) == ("pocketsphinx", f"config file {cfg}:1")
    assert (args.voice, s["voice"].origin) == ("en-gb", f"config file {cfg}:4")
    assert (args.input_device, s["input_device"].origin) == (None, "default")


def test_a_value_typed_on_the_command_line_wins_even_when_it_equals_the_default(tmp_path):
    # argparse fills in "auto" either way: only the typed one may override the file
    cfg = write(tmp_path / "c.toml", 'engine = "vosk"\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    typed = session_args(["--config", str(cfg), "--engine", "auto"], env)
    assert (typed.engine, typed.resolved_config.settings["engine"].origin) == ("auto", "command line")
    untyped = session_args(["--config", str(cfg)], env)
    assert untyped.engine == "vosk"


def test_the_default_config_file_is_read_from_xdg_config_home_and_may_be_missing(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert default_config_path(env) == tmp_path / "voice-coach" / "config.toml"
    args = session_args([], env)                  # no file: defaults, no error
    assert args.engine == "auto" and not args.resolved_config.config.found
    write(tmp_path / "voice-coach" / "config.toml", 'data_dir = "~/coach-data"\n')
    args = session_args([], env)
    assert args.data_dir == Path("~/coach-data").expanduser()


def test_voice_coach_config_names_the_file_and_then_it_must_exist(tmp_path):
    cfg = write(tmp_path / "elsewhere.toml", "rate = 120\n")
    env = {"VOICE_COACH_CONFIG": str(cfg), "XDG_CONFIG_HOME": str(tmp_path)}
    assert choose_config_path(None, env) == (cfg, "environment VOICE_COACH_CONFIG", True)
    assert session_args([], env).rate == 120
    with pytest.raises(ConfigError, match="does not exist"):
        session_args([], {"VOICE_COACH_CONFIG": str(tmp_path / "gone.toml")})
    with pytest.raises(ConfigError, match="gone.toml does not exist"):
        session_args(["--config", str(tmp_path / "gone.toml")], {})


def test_config_applies_generically_to_a_serve_like_subcommand(tmp_path):
    cfg = write(tmp_path / "c.toml", 'wake_phrase = "hello coach"\ninput_device = "USB"\n'
                                     'output_device = 2\n')
    parser = serve_like_parser()
    env = {"XDG_CONFIG_HOME": str(tmp_path / "x")}
    argv = ["serve", "--config", str(cfg), "--input-device", "3"]
    args = parser.parse_args(argv)
    apply_config(parser, args, argv, env)
    assert args.wake_phrase == "hello coach"
    assert args.input_device == 3                 # typed: an index, as from the config
    assert args.output_device == 2
    argv = ["serve", "--config", str(cfg), "--wake-phrase", "hey there"]
    args = parser.parse_args(argv)
    apply_config(parser, args, argv, env)
    assert args.wake_phrase == "hey there" and args.input_device == "USB"


def test_volume_and_detail_reach_the_session_without_options_of_their_own(tmp_path):
    cfg = write(tmp_path / "c.toml", 'volume = 3\ndetail = "short"\n')
    args = session_args(["--config", str(cfg)], {})
    assert (args.volume, args.detail) == (3, "short")
    assert session_args([], {"XDG_CONFIG_HOME": str(tmp_path / "none")}).volume is None   # preferences decide


def test_config_command_shows_a_saved_preference_over_the_file(tmp_path):
    from skill.preferences import Preferences, save_preferences
    cfg = write(tmp_path / "c.toml", f'volume = 3\ndata_dir = "{tmp_path / "data"}"\n')
    res = run("config", "--json", "--config", str(cfg))
    assert json.loads(res.stdout)["settings"]["volume"] == {"value": 3, "origin": f"config file {cfg}:1"}
    save_preferences(tmp_path / "data", Preferences(volume=6))
    res = run("config", "--json", "--config", str(cfg))
    volume = json.loads(res.stdout)["settings"]["volume"]
    assert volume["value"] == 6 and volume["origin"].startswith("saved preference ")


def test_commands_without_config_option_are_left_alone(tmp_path):
    parser = cli.build_parser()
    args = parser.parse_args(["exercises"])
    assert apply_config(parser, args, ["exercises"], {"VOICE_COACH_CONFIG": str(tmp_path / "gone")}) is None
    # `recognize` has --engine but no --config: a configured engine must not leak into it
    cfg = write(tmp_path / "c.toml", 'engine = "vosk"\n')
    argv = ["recognize", "--context", "yes_no", "x.wav"]
    args = parser.parse_args(argv)
    assert apply_config(parser, args, argv, {"VOICE_COACH_CONFIG": str(cfg)}) is None
    assert args.engine == "auto"


def test_relative_paths_are_relative_to_the_config_file(tmp_path):
    cfg = write(tmp_path / "etc" / "c.toml", 'data_dir = "history"\nmodel = "/abs/model"\n')
    values = read_config(cfg, required=True).values
    assert values["data_dir"] == tmp_path / "etc" / "history"
    assert values["model"] == Path("/abs/model")


# ---------------------------------------------------------------------- validation messages
@pytest.mark.parametrize("text, expected", [
    ('engine = "whisper"\n', "line 1: bad value for 'engine' (\"whisper\"): accepted values are auto, vosk, pocketsphinx"),
    ("rate = 1000\n", "1000 is outside 80..400 words per minute"),
    ("rate = 79\n", "79 is outside 80..400"),
    ('rate = "fast"\n', "expected a whole number of words per minute, 80 to 400"),
    ("rate = true\n", "expected a whole number"),
    ("rate = 150.5\n", "expected a whole number"),
    ('\n\nwake_phrase = "Hey Coach"\n', "line 3: bad value for 'wake_phrase'"),
    ('wake_phrase = ["hey coach", "go 2"]\n', "'go 2': use plain lowercase words"),
    ("wake_phrase = []\n", "expected a phrase or a list of phrases"),
    ('wake_phrase = ""\n', "use plain lowercase words"),
    ("input_device = true\n", "a device is a number or a name"),
    ('output_device = ""\n', "a device name cannot be empty"),
    ("input_device = -1\n", "cannot be negative"),
    ('data_dir = ""\n', "expected a folder path"),
    ("voice = 3\n", "expected a non-empty string"),
    ("volume = 0\n", "expected a whole number from 1 (quietest) to 10 (loudest)"),
    ("volume = 5.0\n", "expected a whole number from 1"),
    ('detail = "medium"\n', "accepted values are full, short"),
])
def test_bad_values_name_the_key_line_and_what_is_accepted(tmp_path, text, expected):
    cfg = write(tmp_path / "c.toml", text)
    with pytest.raises(ConfigError) as err:
        read_config(cfg, required=True)
    assert str(cfg) in str(err.value)
    assert expected in str(err.value)


def test_unknown_key_suggests_the_close_one_and_lists_all(tmp_path):
    cfg = write(tmp_path / "c.toml", 'rate = 150\ninput-device = "USB"\n')
    with pytest.raises(ConfigError) as err:
        read_config(cfg, required=True)
    msg = str(err.value)
    assert f"{cfg}, line 2: unknown setting 'input-device'. Did you mean 'input_device'?" in msg
    assert "Accepted settings: " + ", ".join(KEYS) in msg
    cfg = write(tmp_path / "d.toml", "volume = 5\n[coach]\nrate = 1\n")
    with pytest.raises(ConfigError, match="line 2: unknown setting 'coach'"):
        read_config(cfg, required=True)


def test_toml_syntax_error_gives_file_line_and_column(tmp_path):
    cfg = write(tmp_path / "c.toml", 'engine = "vosk"\nrate = \n')
    with pytest.raises(ConfigError) as err:
        read_config(cfg, required=True)
    assert f"{cfg}, line 2, column 8: this is not valid TOML" in str(err.value)


def test_a_file_that_is_not_text_or_not_readable(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b'rate = 150\nvoice = "\xff\xfe"\n')
    with pytest.raises(ConfigError, match="line 2: the config file is not UTF-8"):
        read_config(cfg, required=True)
    with pytest.raises(ConfigError, match="Cannot read the config file"):
        read_config(tmp_path, required=False)          # a folder


def test_every_example_line_of_the_init_file_is_valid(tmp_path):
    # the written example has everything commented out; uncommented, each line must load
    example = example_config()
    assert read_config(write(tmp_path / "all.toml", example), True).values == {}
    for key in KEYS.values():
        assert f"# {key.example}" in example
        got = read_config(write(tmp_path / f"{key.name}.toml", key.example + "\n"), True).values
        assert list(got) == [key.name]


# ---------------------------------------------------------------------- through the CLI
def run(*argv: str, env_extra: dict[str, str] | None = None, stdin: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("VOICE_COACH_CONFIG", None)
    env.pop("VOSK_MODEL_PATH", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(ROOT / "run_assistant.py"), *argv], input=stdin,
                          capture_output=True, text=True, timeout=120, env=env)


def test_cli_bad_config_exits_2_with_the_message_and_no_traceback(tmp_path):
    cfg = write(tmp_path / "c.toml", 'engin = "vosk"\n')
    for argv in (["config", "--config", str(cfg)], ["--text", "--config", str(cfg)],
                 ["devices", "--config", str(cfg)]):
        res = run(*argv, env_extra={"XDG_CONFIG_HOME": str(tmp_path)})
        assert res.returncode == 2, (argv, res.stderr)
        assert "Traceback" not in res.stderr
        assert "unknown setting 'engin'. Did you mean 'engine'?" in res.stderr


def test_cli_config_prints_values_and_origins_in_text_and_json(tmp_path):
    write(tmp_path / "voice-coach" / "config.toml", 'voice = "en-gb"\n\nrate = 140\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path), "VOSK_MODEL_PATH": str(tmp_path / "m")}
    res = run("config", "--rate", "190", env_extra=env)
    assert res.returncode == 0, res.stderr
    cfg = tmp_path / "voice-coach" / "config.toml"
    lines = {line.split()[0]: line for line in res.stdout.splitlines()[1:]}
    assert lines["rate"].split()[1] == "190" and lines["rate"].endswith("[command line]")
    assert lines["voice"].split()[1] == "en-gb" and lines["voice"].endswith(f"[config file {cfg}:1]")
    assert lines["model"].endswith("[environment VOSK_MODEL_PATH]")
    assert lines["engine"].split()[1] == "auto" and lines["engine"].endswith("[default]")
    res = run("config", "--json", env_extra=env)
    data = json.loads(res.stdout)
    assert data["config_file"] == str(cfg) and data["config_file_found"] is True
    assert data["settings"]["rate"] == {"value": 140, "origin": f"config file {cfg}:3"}
    assert data["settings"]["model"] == {"value": str(tmp_path / "m"), "origin": "environment VOSK_MODEL_PATH"}
    assert set(data["settings"]) == set(KEYS)


def test_cli_config_init_writes_a_commented_example_once(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    res = run("config", "--init", env_extra=env)
    cfg = tmp_path / "voice-coach" / "config.toml"
    assert res.returncode == 0 and cfg.read_text() == example_config()
    again = run("config", "--init", env_extra=env)
    assert again.returncode == 1 and "already exists" in again.stderr
    cfg.write_text("broken = = =\n")
    forced = run("config", "--init", "--force", env_extra=env)     # works even over a broken file
    assert forced.returncode == 0 and cfg.read_text() == example_config()


def test_a_session_really_uses_the_configured_data_dir(tmp_path):
    # the history lands where the config file says: the config is applied, not just printed
    cfg = write(tmp_path / "conf" / "c.toml", 'data_dir = "hist"\n')
    res = run("--config", str(cfg), "--text", "--json", "--fast", "--skip-screener",
              env_extra={"XDG_CONFIG_HOME": str(tmp_path)}, stdin="")
    assert res.returncode == 0, res.stderr[-2000:]
    from skill.history.store import db_path
    assert db_path(tmp_path / "conf" / "hist").exists()


def test_the_readme_example_is_a_valid_config(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    values = read_config(write(tmp_path / "c.toml", example), True).values
    assert set(values) == set(KEYS)


# ---------------------------------------------------------------------- options before the subcommand
@pytest.mark.parametrize("argv,expected", [
    (["--rate", "150", "serve"], {"rate": 150}),
    (["serve", "--rate", "150"], {"rate": 150}),
    (["--engine", "pocketsphinx", "--seed", "4", "serve"], {"engine": "pocketsphinx", "seed": 4}),
    (["--input-device", "3", "--voice", "en-gb", "screen"], {"input_device": 3, "voice": "en-gb"}),
    (["--engine", "pocketsphinx", "recognize", "--context", "yes_no", "x.wav"], {"engine": "pocketsphinx"}),
    (["recognize", "--engine", "pocketsphinx", "--context", "yes_no", "x.wav"], {"engine": "pocketsphinx"}),
    (["--dialogs", "/elsewhere", "exercises"], {"dialogs": Path("/elsewhere")}),
    (["--rate", "120", "serve", "--rate", "300"], {"rate": 300}),     # the later, nearer one wins
])
def test_options_given_before_the_subcommand_are_kept(argv: list[str], expected: dict) -> None:
    args = cli.build_parser().parse_args(argv)
    assert {k: getattr(args, k) for k in expected} == expected


def test_an_option_before_the_subcommand_still_beats_the_config_file(tmp_path):
    cfg = write(tmp_path / "c.toml", "rate = 200\nengine = \"vosk\"\n")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "x")}
    for argv in (["--rate", "150", "--engine", "pocketsphinx", "serve", "--config", str(cfg)],
                 ["serve", "--config", str(cfg), "--rate", "150", "--engine", "pocketsphinx"]):
        args = session_args(argv, env)
        s = args.resolved_config.settings
        assert (args.rate, s["rate"].origin) == (150, "command line"), argv
        assert (args.engine, s["engine"].origin) == ("pocketsphinx", "command line"), argv
    args = session_args(["serve", "--config", str(cfg)], env)       # not typed: the file's
    assert (args.rate, args.engine) == (200, "vosk")


# ---------------------------------------------------------------------- --rate agrees with the file
@pytest.mark.parametrize("argv", [["--rate", "500", "--text"], ["--rate", "79", "serve"], ["serve", "--rate", "401"],
                                  ["--text", "--rate", "fast"]])
def test_cli_rate_out_of_range_is_an_error_with_the_range_like_the_file(tmp_path, argv):
    res = run(*argv, env_extra={"XDG_CONFIG_HOME": str(tmp_path)})
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert "argument --rate:" in res.stderr and ("80..400" in res.stderr or "80 to 400" in res.stderr), res.stderr
    # the same value in the config file is refused with the same range
    if argv[1].isdigit():
        cfg = write(tmp_path / "c.toml", f"rate = {argv[1]}\n")
        with pytest.raises(ConfigError, match=r"'rate'.*80\.\.400"):
            read_config(cfg, required=True)


def test_cli_rate_in_range_is_taken(tmp_path):
    args = session_args(["--rate", "80", "--text"], {"XDG_CONFIG_HOME": str(tmp_path)})
    assert args.rate == 80
    assert session_args(["--rate", "400", "--text"], {"XDG_CONFIG_HOME": str(tmp_path)}).rate == 400


# ---------------------------------------------------------------------- `config` sees options on either side
@pytest.mark.parametrize("argv", [["--engine", "pocketsphinx", "--rate", "150", "config", "--json"],
                                  ["config", "--engine", "pocketsphinx", "--rate", "150", "--json"]])
def test_config_command_shows_options_typed_before_or_after_it(tmp_path, argv):
    write(tmp_path / "voice-coach" / "config.toml", 'engine = "vosk"\nrate = 200\nvoice = "en-gb"\n')
    res = run(*argv, env_extra={"XDG_CONFIG_HOME": str(tmp_path)})
    assert res.returncode == 0, res.stderr
    settings = json.loads(res.stdout)["settings"]
    assert settings["engine"] == {"value": "pocketsphinx", "origin": "command line"}
    assert settings["rate"] == {"value": 150, "origin": "command line"}
    cfg = tmp_path / "voice-coach" / "config.toml"
    assert settings["voice"] == {"value": "en-gb", "origin": f"config file {cfg}:3"}   # not typed: the file's


def test_config_command_refuses_a_rate_out_of_range_like_a_session(tmp_path):
    res = run("config", "--rate", "500", env_extra={"XDG_CONFIG_HOME": str(tmp_path)})
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "argument --rate: 500 is outside 80..400" in res.stderr, res.stderr
