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

from pathlib import Path

from .json_file import read_json_object, write_json_atomic

FILE_NAME = "engine_notice.json"


def notice_path(data_dir: Path) -> Path:
    return Path(data_dir) / FILE_NAME


def last_said(data_dir: Path) -> tuple[str | None, str | None]:
    """(the notice text last spoken, or None; problem in plain words, or None)."""
    path = notice_path(data_dir)
    data, problem = read_json_object(path)
    if data is None:
        return None, problem
    said = data.get("said")
    if not isinstance(said, str):
        return None, f"{path} is damaged (no notice text in it)"
    return said, None


def remember_said(data_dir: Path, text: str, prompt: str | None = None) -> str | None:
    """Keep `text` as the notice last spoken; the problem in plain words, or None."""
    path = notice_path(data_dir)
    try:
        write_json_atomic(path, {"said": text, "prompt": prompt})
    except OSError as exc:
        return f"cannot save {path} ({exc.strerror or exc})"
    return None
