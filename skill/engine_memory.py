"""What the coach last said about its speech recogniser, so it says it again only when it is news.

A person using the speaker every morning heard "I'm using my built-in recogniser…" (~4.5 s)
before every session. The notice's full printed text (engine, model, the reason for a
fallback) is kept in a small JSON file in the data dir, next to the preferences; the short
sentence is spoken again only when that text differs (another engine, another model, another
reason). It is always printed or logged.

Reading never fails: a missing file means "never said", a damaged one is reported and taken
as "never said" (so the notice is spoken and the file rewritten). Writing is atomic
(temporary file + rename); a failure is reported and the session goes on.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

FILE_NAME = "engine_notice.json"


def notice_path(data_dir: Path) -> Path:
    return Path(data_dir) / FILE_NAME


def last_said(data_dir: Path) -> tuple[str | None, str | None]:
    """(the notice text last spoken, or None; problem in plain words, or None)."""
    path = notice_path(data_dir)
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
    said = data.get("said") if isinstance(data, dict) else None
    if not isinstance(said, str):
        return None, f"{path} is damaged (no notice text in it)"
    return said, None


def remember_said(data_dir: Path, text: str, prompt: str | None = None) -> str | None:
    """Keep `text` as the notice last spoken; the problem in plain words, or None."""
    path = notice_path(data_dir)
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp_name = tempfile.mkstemp(prefix=".engine_notice-", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"said": text, "prompt": prompt}, fh, indent=1)
            fh.write("\n")
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        return f"cannot save {path} ({exc.strerror or exc})"
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
    return None
