"""The systemd user service: the rendered unit passes systemd's own checker, install-service
makes exactly the right systemctl calls (a logging stand-in for systemctl: that part is pure
logic), and the real systemctl here (no systemd running) gives a plain message, not a
traceback. Also the journal log format of skill/logs.py."""
from __future__ import annotations

import io
import logging
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from skill.logs import configure_logging
from skill.service import TEMPLATE, render_unit

ROOT = Path(__file__).resolve().parent.parent
ANALYZE = shutil.which("systemd-analyze")


def analyze(unit: Path, runtime_dir: Path, user: bool) -> subprocess.CompletedProcess:
    # --user needs a runtime dir even for `verify`; no running systemd is needed
    runtime_dir.mkdir(mode=0o700, exist_ok=True)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime_dir))
    cmd = [ANALYZE, *(["--user"] if user else []), "verify", str(unit)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)


def exec_argv(unit_text: str) -> list[str]:
    line = next(ln for ln in unit_text.splitlines() if ln.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart=").replace("%%", "%").replace("$$", "$"))


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("user", [False, True], ids=["system-checker", "user-checker"])
def test_rendered_unit_passes_systemd_analyze_verify(tmp_path, user):
    unit = tmp_path / "voice-coach.service"
    unit.write_text(render_unit(Path(sys.executable), ROOT))
    res = analyze(unit, tmp_path / "run", user)
    assert res.returncode == 0 and res.stderr.strip() == "", res.stderr
    text = unit.read_text()
    for setting in ("Restart=on-failure", "RestartSec=5", "StartLimitBurst=5", "StartLimitIntervalSec=300",
                    "SyslogIdentifier=voice-coach", "WantedBy=default.target", f"WorkingDirectory={ROOT}",
                    "After=pipewire.service pipewire-pulse.service pulseaudio.service sound.target"):
        assert setting in text.splitlines(), setting
    assert exec_argv(text) == [sys.executable, str(ROOT / "run_assistant.py"), "serve"]
    assert "@" not in text                         # every placeholder filled in
    # the checker can fail: a mistyped key and a missing program are reported
    bad = tmp_path / "bad" / "voice-coach.service"
    bad.parent.mkdir()
    bad.write_text(text.replace("RestartSec=", "RestartSecs=").replace(sys.executable, "/nonexistent/python"))
    res = analyze(bad, tmp_path / "run", user)
    assert "Unknown key 'RestartSecs'" in res.stderr and res.returncode != 0, res.stderr


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")
def test_paths_with_spaces_percent_and_dollar_survive_systemd(tmp_path):
    pydir = tmp_path / "py dir 100%"
    pydir.mkdir()
    python = pydir / "python"
    python.symlink_to(sys.executable)
    repo = tmp_path / "my $repo"
    config = tmp_path / "my config.toml"
    text = render_unit(python, repo, ["--config", str(config)])
    unit = tmp_path / "voice-coach.service"
    unit.write_text(text)
    res = analyze(unit, tmp_path / "run", False)
    assert res.returncode == 0 and res.stderr.strip() == "", res.stderr
    assert exec_argv(text) == [str(python), str(repo / "run_assistant.py"), "serve", "--config", str(config)]
    assert "WorkingDirectory=" + str(repo).replace("%", "%%") in text.splitlines()


def test_the_template_is_in_the_repo_with_its_placeholders():
    text = TEMPLATE.read_text()
    assert "ExecStart=@PYTHON@ @REPO@/run_assistant.py serve@ARGS@" in text


# ---------------------------------------------------------------------- install-service
FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> "{log}"
{body}
"""


def fake_bin(tmp_path: Path, body: str = "exit 0") -> tuple[Path, Path]:
    """A systemctl that logs its argv (and behaves as `body` says), first on PATH."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    log = tmp_path / "systemctl.log"
    exe = bindir / "systemctl"
    exe.write_text(FAKE_SYSTEMCTL.format(log=log, body=body))
    exe.chmod(0o755)
    return bindir, log


def run(tmp_path: Path, *argv: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "xdg"), USER="coach")
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, str(ROOT / "run_assistant.py"), *argv], capture_output=True,
                          text=True, timeout=60, env=env)


def unit_file(tmp_path: Path) -> Path:
    return tmp_path / "xdg" / "systemd" / "user" / "voice-coach.service"


def test_install_writes_the_unit_and_enables_it(tmp_path):
    bindir, log = fake_bin(tmp_path)
    res = run(tmp_path, "install-service", path=f"{bindir}:{os.environ['PATH']}")
    assert res.returncode == 0, res.stderr
    assert log.read_text().splitlines() == ["--user daemon-reload", "--user enable --now voice-coach.service"]
    text = unit_file(tmp_path).read_text()
    assert exec_argv(text) == [sys.executable, str(ROOT / "run_assistant.py"), "serve"]
    assert "journalctl --user -u voice-coach -f" in res.stdout
    assert "sudo loginctl enable-linger coach" in res.stdout


def test_install_with_a_config_file_passes_it_to_serve(tmp_path):
    bindir, _log = fake_bin(tmp_path)
    cfg = tmp_path / "coach.toml"
    missing = run(tmp_path, "install-service", "--config", str(cfg), path=f"{bindir}:{os.environ['PATH']}")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    cfg.write_text('engine = "auto"\n')
    res = run(tmp_path, "install-service", "--config", str(cfg), path=f"{bindir}:{os.environ['PATH']}")
    assert res.returncode == 0, res.stderr
    assert exec_argv(unit_file(tmp_path).read_text())[-2:] == ["--config", str(cfg)]


def test_no_user_bus_keeps_the_unit_and_says_what_to_run(tmp_path):
    bindir, log = fake_bin(tmp_path, 'echo "Failed to connect to bus: No medium found" >&2; exit 1')
    res = run(tmp_path, "install-service", path=f"{bindir}:{os.environ['PATH']}")
    assert res.returncode == 4
    assert "Traceback" not in res.stderr
    assert "user manager cannot be reached (Failed to connect to bus: No medium found)" in res.stderr
    assert "systemctl --user enable --now voice-coach.service" in res.stderr
    assert unit_file(tmp_path).exists()
    assert log.read_text().splitlines() == ["--user daemon-reload"]     # stopped at the first failure


@pytest.mark.skipif(shutil.which("systemctl") is None, reason="no systemctl here")
def test_the_real_systemctl_without_systemd_gives_a_plain_message(tmp_path):
    # this container has systemctl but no running systemd: whatever it says, no traceback
    res = run(tmp_path, "install-service")
    if res.returncode == 0:
        pytest.skip("systemd's user manager runs here: the real install worked")
    assert res.returncode == 4, res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.startswith("Could not enable the service: ")
    assert "The unit file is in place" in res.stderr and unit_file(tmp_path).exists()


def test_no_systemctl_at_all(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run(tmp_path, "install-service", path=str(empty))
    assert res.returncode == 4
    assert "systemctl is not installed here" in res.stderr and unit_file(tmp_path).exists()


def test_dry_run_changes_nothing_and_bad_python_is_refused(tmp_path):
    bindir, log = fake_bin(tmp_path)
    res = run(tmp_path, "install-service", "--dry-run", path=f"{bindir}:{os.environ['PATH']}")
    assert res.returncode == 0 and "ExecStart=" in res.stdout
    assert not unit_file(tmp_path).exists() and not log.exists()
    res = run(tmp_path, "install-service", "--python", str(tmp_path / "nope"), path=f"{bindir}:{os.environ['PATH']}")
    assert res.returncode == 2 and "is not an executable Python" in res.stderr
    assert not unit_file(tmp_path).exists()


def test_uninstall_stops_disables_and_removes(tmp_path):
    bindir, log = fake_bin(tmp_path)
    path = f"{bindir}:{os.environ['PATH']}"
    assert run(tmp_path, "install-service", path=path).returncode == 0
    log.unlink()
    res = run(tmp_path, "uninstall-service", path=path)
    assert res.returncode == 0, res.stderr
    assert log.read_text().splitlines() == ["--user disable --now voice-coach.service", "--user daemon-reload"]
    assert not unit_file(tmp_path).exists()


# ---------------------------------------------------------------------- logging
@pytest.fixture
def root_logger():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield root
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in saved[0]:
        root.addHandler(h)
    root.setLevel(saved[1])


def emit_all(name: str = "skill.serve") -> None:
    log = logging.getLogger(name)
    log.debug("dbg")
    log.info("woke up")
    log.warning("mic quiet")
    log.error("mic gone")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("crashed")


def test_journal_format_has_sd_daemon_priorities(root_logger):
    out = io.StringIO()
    configure_logging(service=True, stream=out, environ={})
    emit_all()
    lines = out.getvalue().splitlines()
    assert lines[:4] == ["<6>skill.serve: woke up", "<4>skill.serve: mic quiet", "<3>skill.serve: mic gone",
                         "<3>skill.serve: crashed"]
    # the traceback stays at error priority line by line, instead of falling to the default
    assert len(lines) > 5 and all(line.startswith("<3>") for line in lines[3:])
    assert lines[-1] == "<3>ValueError: boom"


def test_journal_stream_alone_selects_the_journal_format_and_verbose_adds_debug(root_logger):
    out = io.StringIO()
    configure_logging(service=False, verbose=True, stream=out, environ={"JOURNAL_STREAM": "8:12345"})
    emit_all()
    assert out.getvalue().splitlines()[0] == "<7>skill.serve: dbg"


def test_plain_format_for_people_shows_warnings_and_up(root_logger):
    out = io.StringIO()
    configure_logging(service=False, stream=out, environ={})
    emit_all()
    lines = out.getvalue().splitlines()
    assert not any("<" in line[:3] for line in lines)
    assert lines[0].endswith(" WARNING skill.serve: mic quiet") and lines[0][2] == ":"   # HH:MM:SS
    assert not any("woke up" in line for line in lines)
    # configuring again replaces the handler instead of doubling every line
    configure_logging(service=False, stream=out, environ={})
    before = len(out.getvalue().splitlines())
    logging.getLogger("x").warning("once")
    assert len(out.getvalue().splitlines()) == before + 1
