"""skill.preferences: the saved detail level and volume — round trip, damaged files, unwritable
folders (a clear message, defaults, the session goes on), and the sink listener that saves."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from skill.preferences import (DEFAULT_DETAIL, DEFAULT_VOLUME, PreferenceRecorder, Preferences,
                               PreferencesError, check_writable, load_preferences, preferences_path,
                               save_preferences)


def test_missing_file_gives_defaults_without_a_message(tmp_path: Path) -> None:
    prefs, problem = load_preferences(tmp_path / "nowhere")
    assert prefs == Preferences(DEFAULT_DETAIL, DEFAULT_VOLUME) == Preferences("full", 8)
    assert problem is None


def test_round_trip_and_atomic_owner_only_write(tmp_path: Path) -> None:
    data = tmp_path / "new" / "dir"
    save_preferences(data, Preferences("short", 3))
    assert load_preferences(data) == (Preferences("short", 3), None)
    assert json.loads(preferences_path(data).read_text()) == {"detail": "short", "volume": 3}
    assert [p.name for p in data.iterdir()] == ["preferences.json"], "no temporary file left behind"
    assert (data.stat().st_mode & 0o777) == 0o700
    save_preferences(data, Preferences("full", 10))
    assert load_preferences(data)[0] == Preferences("full", 10)


@pytest.mark.parametrize("text, why", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    ("<not utf-8>", None),
])
def test_damaged_file_is_reported_and_defaults_used(tmp_path: Path, text: str, why: str | None) -> None:
    path = preferences_path(tmp_path)
    if why is None:
        path.write_bytes(b"\xff\xfe\x00garbage")
    else:
        path.write_text(text)
    prefs, problem = load_preferences(tmp_path, Preferences("short", 5))
    assert prefs == Preferences("short", 5), "the given defaults, not a crash"
    assert problem and str(path) in problem and "default" in problem
    if why:
        assert why in problem


def test_bad_fields_keep_their_defaults_and_unknown_fields_are_ignored(tmp_path: Path) -> None:
    preferences_path(tmp_path).write_text(json.dumps({"detail": "medium", "volume": 11, "theme": "dark"}))
    assert load_preferences(tmp_path) == (Preferences(), None)
    preferences_path(tmp_path).write_text(json.dumps({"detail": "short", "volume": True}))
    assert load_preferences(tmp_path) == (Preferences("short", 8), None)
    preferences_path(tmp_path).write_text(json.dumps({"volume": 1}))
    assert load_preferences(tmp_path) == (Preferences("full", 1), None)


def test_unwritable_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    data = blocker / "voice-coach"          # a folder can never be made under a file (even as root)
    assert check_writable(data) == f"{data} is not writable"
    with pytest.raises(PreferencesError, match="cannot save settings to .*voice-coach/preferences.json"):
        save_preferences(data, Preferences("short", 8))
    assert check_writable(tmp_path / "not" / "yet" / "there") is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_folder(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        assert check_writable(tmp_path) == f"{tmp_path} is not writable"
    finally:
        tmp_path.chmod(0o700)


def test_recorder_saves_each_preference_record_and_ignores_the_rest(tmp_path: Path) -> None:
    rec = PreferenceRecorder(tmp_path, Preferences())
    rec({"type": "say", "text": "hi", "prompt": "welcome"})
    rec({"type": "record", "kind": "pain", "score": 3})
    assert not preferences_path(tmp_path).exists()
    rec({"type": "record", "kind": "preference", "volume": 6})
    rec({"type": "record", "kind": "preference", "detail": "short"})
    assert load_preferences(tmp_path)[0] == Preferences("short", 6)


def test_recorder_reports_a_failed_save_once_and_goes_on(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    err = io.StringIO()
    rec = PreferenceRecorder(blocker / "dir", Preferences(), stream=err)
    rec({"type": "record", "kind": "preference", "volume": 9})
    rec({"type": "record", "kind": "preference", "volume": 10})
    assert err.getvalue().count("Settings are not being saved") == 1
    assert rec.prefs == Preferences("full", 10), "kept for this session"


def test_cli_with_an_unwritable_data_dir_runs_and_says_why(tmp_path: Path) -> None:
    import subprocess
    import sys
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "run_assistant.py", "--text", "--json", "--fast", "--skip-screener",
                           "--routine", "back_relief", "--data-dir", str(blocker / "dir")], cwd=repo,
                          input="louder\n3\nstop\nyes\n2\n", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert "Settings cannot be saved" in proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    said = [o["prompt"] for o in out if o["type"] == "say"]
    assert "preference_not_saved" in said and "volume_louder" in said
    assert out[-1]["type"] == "end"
