"""Find, list and download Vosk models.

A download goes to models/.partial/<name>.zip.part (resumed with an HTTP Range request
when the server allows, restarted cleanly when it does not), is verified (size, zip
CRCs, expected layout), extracted into a temporary directory beside the target and only
then renamed into place: an interrupted or failed run never leaves a half-model behind.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
DEFAULT_MODEL = "vosk-model-small-en-us-0.15"
MODEL_BASE_URL = "https://alphacephei.com/vosk/models/"
KNOWN_MODELS: dict[str, dict] = {
    DEFAULT_MODEL: {"lang": "en-us", "url": MODEL_BASE_URL + DEFAULT_MODEL + ".zip",
                    "sha256": None},  # set when known; size and zip CRCs are always checked
}
PARTIAL_DIR = ".partial"
CHUNK = 1 << 16


class DownloadError(Exception):
    """A download failed; the message says why and what to do."""


@dataclass(frozen=True)
class InstalledModel:
    name: str
    path: Path
    lang: str | None
    valid: bool


def is_vosk_model(path: Path) -> bool:
    return (path / "am" / "final.mdl").is_file() and (path / "conf").is_dir()


def model_lang(path: Path) -> str | None:
    """Language of a model from its directory name (vosk-model[-small]-<lang>-<ver>)."""
    name = path.name
    if name in KNOWN_MODELS:
        return KNOWN_MODELS[name]["lang"]
    parts = name.split("-")
    if parts[:2] == ["vosk", "model"]:
        rest = parts[2:]
        if rest and rest[0] == "small":
            rest = rest[1:]
        langs = [p for p in rest if p.isalpha()]
        return "-".join(langs) or None
    return None


def list_models(models_dir: Path = MODELS_DIR) -> list[InstalledModel]:
    if not models_dir.is_dir():
        return []
    out = []
    for p in sorted(models_dir.iterdir()):
        if p.is_dir() and not p.name.startswith("."):
            out.append(InstalledModel(p.name, p, model_lang(p), is_vosk_model(p)))
    return out


def find_model(explicit: str | Path | None = None, env: Mapping[str, str] | None = None,
               models_dir: Path = MODELS_DIR, lang: str = "en") -> tuple[Path | None, str]:
    """Where the Vosk model is: --model PATH, else $VOSK_MODEL_PATH, else an installed
    English model under models/ (the default one first). Returns (path or None, how it
    was found); the path is not validated beyond existing-as-chosen."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit), "--model"
    if env.get("VOSK_MODEL_PATH"):
        return Path(env["VOSK_MODEL_PATH"]), "VOSK_MODEL_PATH"
    installed = [m for m in list_models(models_dir)
                 if m.valid and (m.lang or "").startswith(lang)]
    installed.sort(key=lambda m: m.name != DEFAULT_MODEL)
    if installed:
        return installed[0].path, f"{models_dir}/"
    return None, ""


# --- download ----------------------------------------------------------------------
def _progress_bar(stream=None) -> Callable[[int, int | None], None]:
    stream = stream or sys.stderr

    def show(done: int, total: int | None) -> None:
        mb = done / 1e6
        if total:
            frac = min(1.0, done / total)
            bar = "#" * int(frac * 30)
            stream.write(f"\r[{bar:<30}] {frac * 100:5.1f}% {mb:7.1f}/{total / 1e6:.1f} MB")
        else:
            stream.write(f"\r{mb:7.1f} MB")
        stream.flush()
    return show


def _fetch(url: str, part: Path, progress, timeout: float) -> None:
    """Fetch url into part, resuming from its current size when possible."""
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # our partial file is wrong/complete: start over
            part.unlink()
            return _fetch(url, part, progress, timeout)
        raise DownloadError(f"server refused the download: HTTP {e.code} {e.reason} ({url})") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(f"cannot reach {url}: {reason}") from None
    with resp:
        if have and resp.status == 206:
            mode = "ab"
            crange = resp.headers.get("Content-Range", "")
            total = int(crange.rsplit("/", 1)[1]) if "/" in crange and not crange.endswith("*") else None
            if not crange.startswith(f"bytes {have}-"):
                raise DownloadError(f"server resumed at the wrong place ({crange!r}); "
                                    f"delete {part} and try again")
        else:  # no resume support (or nothing to resume): clean restart
            mode, have = "wb", 0
            length = resp.headers.get("Content-Length")
            total = int(length) if length else None
        done = have
        try:
            with open(part, mode) as f:
                while True:
                    chunk = resp.read(CHUNK)
                    if not chunk:
                        break
                    f.write(chunk)
                    done += len(chunk)
                    progress(done, total)
        except (OSError, urllib.error.URLError) as e:
            if isinstance(e, OSError) and e.errno is not None and not isinstance(e, ConnectionError) \
                    and not isinstance(e, TimeoutError):
                raise DownloadError(f"cannot write {part}: {e.strerror}") from None
            raise DownloadError(f"download interrupted after {done} bytes ({e}); "
                                "run the same command again to resume") from None
    if total is not None and done != total:
        raise DownloadError(f"download interrupted after {done} of {total} bytes; "
                            "run the same command again to resume")


def verify_archive(archive: Path, sha256: str | None = None) -> str:
    """Check the archive and return the name of its single top-level directory."""
    if sha256:
        h = hashlib.sha256()
        with open(archive, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != sha256.lower():
            raise DownloadError("checksum mismatch: the archive is corrupt")
    try:
        with zipfile.ZipFile(archive) as z:
            bad = z.testzip()
            if bad is not None:
                raise DownloadError(f"archive is corrupt (bad CRC in {bad})")
            names = [n for n in z.namelist() if n.strip("/")]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as e:
        raise DownloadError(f"archive is corrupt: {e}") from None
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) != 1:
        raise DownloadError("archive does not hold exactly one model directory")
    for n in names:
        if n.startswith("/") or ".." in Path(n).parts:
            raise DownloadError(f"archive holds an unsafe path: {n}")
    top = tops.pop()
    if f"{top}/am/final.mdl" not in names:
        raise DownloadError("archive is not a Vosk model (no am/final.mdl)")
    return top


def download_model(name: str = DEFAULT_MODEL, models_dir: Path = MODELS_DIR,
                   url: str | None = None, sha256: str | None = None,
                   progress: Callable[[int, int | None], None] | None = None,
                   timeout: float = 60.0) -> Path:
    """Download and install a model as models_dir/name; returns its path."""
    if url is None:
        if name not in KNOWN_MODELS:
            raise DownloadError(f"unknown model {name!r}; known: {', '.join(KNOWN_MODELS)}")
        url = KNOWN_MODELS[name]["url"]
        sha256 = sha256 or KNOWN_MODELS[name]["sha256"]
    target = models_dir / name
    if is_vosk_model(target):
        return target
    progress = progress or _progress_bar()
    partial = models_dir / PARTIAL_DIR
    try:
        partial.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=partial, prefix=".w", delete=True)
        probe.close()
    except OSError as e:
        raise DownloadError(f"cannot write to {models_dir}: {e.strerror or e}") from None
    part = partial / f"{name}.zip.part"
    _fetch(url, part, progress, timeout)
    try:
        top = verify_archive(part, sha256)
    except DownloadError:
        part.unlink(missing_ok=True)  # a corrupt archive cannot be resumed: start over next time
        raise
    tmp = Path(tempfile.mkdtemp(prefix=f".extract-{name}-", dir=models_dir))
    try:
        with zipfile.ZipFile(part) as z:
            z.extractall(tmp)
        extracted = tmp / top
        if not is_vosk_model(extracted):
            raise DownloadError("extracted archive is not a Vosk model")
        if target.exists():  # an invalid leftover: replace it
            shutil.rmtree(target)
        os.replace(extracted, target)
    except OSError as e:
        raise DownloadError(f"cannot extract into {models_dir}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    part.unlink(missing_ok=True)
    try:
        partial.rmdir()
    except OSError:
        pass
    return target
