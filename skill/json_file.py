"""Small JSON state files in the data dir (preferences, what was last said about the engine).

Reading never fails: a missing file is "nothing kept", an unreadable or damaged one is reported
in plain words. Writing is atomic (temporary file + rename, flushed to disk), so a crash never
leaves half a file; the folder is created owner-only, like the history's.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def read_json_object(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(the object, None); (None, None) when there is no file; (None, the problem) otherwise."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"cannot read {path} ({getattr(exc, 'strerror', None) or exc})"
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return None, f"{path} is damaged (not valid JSON)"
    if not isinstance(data, dict):
        return None, f"{path} is damaged (not a JSON object)"
    return data, None


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` with `data` all at once; raises OSError."""
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
