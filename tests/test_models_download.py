"""The model downloader against a real HTTP server on 127.0.0.1 serving archives we build."""
from __future__ import annotations

import http.server
import io
import os
import threading
import zipfile
from pathlib import Path

import pytest

from skill.recognition import models as ms

NAME = "vosk-model-small-en-us-0.15"


def make_archive(top: str = NAME, valid: bool = True, size: int = 300_000) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        if valid:
            z.writestr(f"{top}/am/final.mdl", os.urandom(size))
        z.writestr(f"{top}/conf/mfcc.conf", "--use-energy=false\n")
        z.writestr(f"{top}/README", "test model\n")
    return buf.getvalue()


class Server:
    """Serves self.body at /model.zip; honours Range unless ranges=False; can cut the
    connection after `cut_after` bytes of the body."""

    def __init__(self) -> None:
        self.body = b""
        self.ranges = True
        self.cut_after: int | None = None
        self.requests: list[dict] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep test output clean
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                outer.requests.append({"path": self.path, "range": rng})
                if self.path != "/model.zip":
                    self.send_error(404)
                    return
                body, start = outer.body, 0
                if rng and outer.ranges:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                part = body[start:]
                self.send_header("Content-Length", str(len(part)))
                self.end_headers()
                if outer.cut_after is not None:
                    self.wfile.write(part[:outer.cut_after])
                    self.wfile.flush()
                    self.connection.shutdown(2)  # the transfer dies mid-way
                    return
                self.wfile.write(part)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/model.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def quiet(done, total):
    pass


def leftovers(models_dir: Path) -> list[str]:
    return sorted(p.name for p in models_dir.iterdir()) if models_dir.exists() else []


def test_download_installs_model_and_cleans_up(server, tmp_path):
    server.body = make_archive()
    seen = []
    path = ms.download_model(NAME, tmp_path, url=server.url,
                             progress=lambda d, t: seen.append((d, t)))
    assert path == tmp_path / NAME and ms.is_vosk_model(path)
    assert leftovers(tmp_path) == [NAME]  # no partial file, no temp dir
    assert seen[-1] == (len(server.body), len(server.body))  # progress reached 100 %
    assert [m.name for m in ms.list_models(tmp_path) if m.valid] == [NAME]
    found, how = ms.find_model(None, {}, tmp_path)
    assert found == path and how


def test_interrupted_transfer_resumes_with_range(server, tmp_path):
    server.body = make_archive()
    server.cut_after = 100_000
    with pytest.raises(ms.DownloadError, match="interrupted"):
        ms.download_model(NAME, tmp_path, url=server.url, progress=quiet, timeout=5)
    part = tmp_path / ms.PARTIAL_DIR / f"{NAME}.zip.part"
    assert 0 < part.stat().st_size < len(server.body)
    assert not (tmp_path / NAME).exists()  # never a half model
    have = part.stat().st_size
    server.cut_after = None
    path = ms.download_model(NAME, tmp_path, url=server.url, progress=quiet)
    assert server.requests[-1]["range"] == f"bytes={have}-"
    assert ms.is_vosk_model(path)
    assert (path / "am" / "final.mdl").read_bytes() == zipfile.ZipFile(io.BytesIO(server.body)).read(
        f"{NAME}/am/final.mdl")
    assert leftovers(tmp_path) == [NAME]


def test_server_without_range_support_restarts_cleanly(server, tmp_path):
    server.body = make_archive()
    server.cut_after = 50_000
    with pytest.raises(ms.DownloadError):
        ms.download_model(NAME, tmp_path, url=server.url, progress=quiet, timeout=5)
    server.cut_after, server.ranges = None, False
    path = ms.download_model(NAME, tmp_path, url=server.url, progress=quiet)
    assert ms.is_vosk_model(path)


def test_corrupt_archive_is_rejected_and_deleted(server, tmp_path):
    body = bytearray(make_archive())
    body[2000:2100] = b"\xff" * 100  # damage the stored model file's bytes: CRC fails
    server.body = bytes(body)
    with pytest.raises(ms.DownloadError, match="corrupt"):
        ms.download_model(NAME, tmp_path, url=server.url, progress=quiet)
    assert not (tmp_path / NAME).exists()
    assert not (tmp_path / ms.PARTIAL_DIR / f"{NAME}.zip.part").exists()  # next run starts over
    assert not [p for p in leftovers(tmp_path) if p.startswith(".extract")]


def test_not_a_zip_and_not_a_model(server, tmp_path):
    server.body = b"<html>error page</html>"
    with pytest.raises(ms.DownloadError, match="corrupt"):
        ms.download_model(NAME, tmp_path, url=server.url, progress=quiet)
    server.body = make_archive(valid=False)
    with pytest.raises(ms.DownloadError, match="not a Vosk model"):
        ms.download_model(NAME, tmp_path, url=server.url, progress=quiet)
    assert NAME not in leftovers(tmp_path)


def test_checksum_mismatch(server, tmp_path):
    server.body = make_archive()
    with pytest.raises(ms.DownloadError, match="checksum"):
        ms.download_model(NAME, tmp_path, url=server.url, sha256="0" * 64, progress=quiet)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_models_dir(server, tmp_path):
    server.body = make_archive()
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ms.DownloadError, match="cannot write"):
            ms.download_model(NAME, ro, url=server.url, progress=quiet)
    finally:
        ro.chmod(0o700)


def test_models_path_is_a_file(server, tmp_path):
    # works for root too: a file where the models folder should be cannot be written into
    server.body = make_archive()
    blocker = tmp_path / "models"
    blocker.write_text("not a folder")
    with pytest.raises(ms.DownloadError, match="cannot write"):
        ms.download_model(NAME, blocker, url=server.url, progress=quiet)


def test_http_error_and_unreachable(server, tmp_path):
    with pytest.raises(ms.DownloadError, match="HTTP 404"):
        ms.download_model(NAME, tmp_path, url=server.url.replace("model.zip", "nope.zip"), progress=quiet)
    with pytest.raises(ms.DownloadError, match="cannot reach"):
        ms.download_model(NAME, tmp_path, url="http://127.0.0.1:9/model.zip", progress=quiet, timeout=2)


def test_cli_models_download_and_list(server, tmp_path, capsys):
    import argparse
    from skill.recognition import commands

    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers())
    server.body = make_archive()
    args = parser.parse_args(["models", "download", "--url", server.url, "--dir", str(tmp_path)])
    assert args.func(args) == 0
    args = parser.parse_args(["models", "list", "--dir", str(tmp_path)])
    assert args.func(args) == 0
    out = capsys.readouterr()
    assert NAME in out.out and "ok" in out.out
    assert "%" in out.err  # the progress bar was drawn
    (tmp_path / "broken-model").mkdir()
    args = parser.parse_args(["models", "list", "--dir", str(tmp_path)])
    args.func(args)
    assert "INCOMPLETE" in capsys.readouterr().out
