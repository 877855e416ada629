"""Preferences that persist across sessions: detail level and volume.

A small JSON file in the data dir (next to the history). Reading never fails: a missing
file means defaults, a corrupt one is reported and defaults are used. Writing is atomic
(temporary file + rename), so a crash never leaves half a file. The dialog core only
announces changes (`Record("preference", {...})`); `PreferenceRecorder`, a sink listener,
writes them.
"""
from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, Any

from .json_file import read_json_object, write_json_atomic

FILE_NAME = "preferences.json"
DETAIL_LEVELS = ("full", "short")
DEFAULT_DETAIL = "full"
VOLUME_RANGE = (1, 10)
DEFAULT_VOLUME = 8          # -6 dB: room to say "louder" twice


class PreferencesError(Exception):
    """The preferences file cannot be read or written; the message says why in plain words."""


@dataclass(frozen=True)
class Preferences:
    detail: str = DEFAULT_DETAIL
    volume: int = DEFAULT_VOLUME

    def updated(self, data: dict[str, Any]) -> "Preferences":
        """These preferences with the valid fields of `data` applied (others ignored)."""
        prefs = self
        if data.get("detail") in DETAIL_LEVELS:
            prefs = replace(prefs, detail=data["detail"])
        volume = data.get("volume")
        if isinstance(volume, int) and not isinstance(volume, bool) and VOLUME_RANGE[0] <= volume <= VOLUME_RANGE[1]:
            prefs = replace(prefs, volume=volume)
        return prefs


def preferences_path(data_dir: Path) -> Path:
    return Path(data_dir) / FILE_NAME


def load_preferences(data_dir: Path, defaults: Preferences | None = None) -> tuple[Preferences, str | None]:
    """(preferences, problem): `problem` says in plain words why defaults are used, or None.

    Fields that are missing or out of range keep their default; unknown fields are ignored
    (a newer version may have written them)."""
    defaults = defaults or Preferences()
    data, problem = read_json_object(preferences_path(data_dir))
    if problem:
        return defaults, f"{problem}; using the default settings"
    if data is None:
        return defaults, None
    return defaults.updated(data), None


def save_preferences(data_dir: Path, prefs: Preferences) -> None:
    """Write atomically (owner-only, like the history); raises PreferencesError."""
    path = preferences_path(data_dir)
    try:
        write_json_atomic(path, asdict(prefs))
    except OSError as exc:
        raise PreferencesError(f"cannot save settings to {path} ({exc.strerror or exc})") from None


def check_writable(data_dir: Path) -> str | None:
    """Why preferences could not be saved in `data_dir`, or None when they can (checked at
    start so the coach can say so when a setting changes, instead of failing silently)."""
    path = Path(data_dir)
    probe = path
    while not probe.exists():   # the nearest existing folder must let us create the rest
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        return f"{path} is not writable"
    target = preferences_path(path)
    if target.exists() and not os.access(target, os.W_OK):
        # replacing needs the folder only, but a read-only file is a clear "don't touch"
        return f"{target} is read-only"
    return None


class PreferenceRecorder:
    """EventSink listener: keeps the preferences and saves each `preference` record."""

    def __init__(self, data_dir: Path, prefs: Preferences, stream: IO[str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.prefs = prefs
        self.stream = stream
        self.failed: str | None = None

    def __call__(self, obj: dict) -> None:
        if obj.get("type") != "record" or obj.get("kind") != "preference":
            return
        self.prefs = self.prefs.updated(obj)
        try:
            save_preferences(self.data_dir, self.prefs)
            self.failed = None
        except PreferencesError as exc:
            if self.failed is None:   # say it once, not at every change
                print(f"Settings are not being saved: {exc}", file=self.stream or sys.stderr, flush=True)
            self.failed = str(exc)
