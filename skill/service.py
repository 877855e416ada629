"""`run_assistant.py install-service` / `uninstall-service`: the coach as a systemd user service.

The unit is rendered from deploy/voice-coach.service with this checkout's and this venv's
real paths, written to $XDG_CONFIG_HOME/systemd/user/, then `systemctl --user daemon-reload`
and `enable --now`. Where there is no systemd or no user bus (containers, `su` shells) the
file is still written and the commands to run are printed; the exit code is then 4.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "voice-coach.service"
UNIT_NAME = "voice-coach.service"
EXIT_NO_SYSTEMD = 4
SYSTEMCTL_TIMEOUT = 60.0


def register(subparsers) -> None:  # noqa: ANN001 - argparse's private subparsers type
    p = subparsers.add_parser("install-service",
                              help="install and start the coach as a systemd user service (`serve` at login/boot)")
    p.add_argument("--dry-run", action="store_true", help="print the unit file and the commands; change nothing")
    p.add_argument("--python", metavar="PATH", type=Path, default=None,
                   help="Python that runs the service (default: this venv's, else the repo's .venv)")
    p.add_argument("--config", metavar="FILE", dest="service_config", type=Path, default=None,
                   help="settings file the service uses (default: the usual one, see `run_assistant.py config`)")
    p.set_defaults(func=cmd_install)
    p = subparsers.add_parser("uninstall-service", help="stop, disable and remove the systemd user service")
    p.add_argument("--dry-run", action="store_true", help="print the commands; change nothing")
    p.set_defaults(func=cmd_uninstall)


# ---------------------------------------------------------------------- the unit file
def unit_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / "systemd" / "user" / UNIT_NAME


def venv_python(repo: Path = ROOT) -> Path:
    """The interpreter the service should run: this one when it is a venv's (not resolved:
    the venv's python is a symlink to the system one, which lacks the venv's packages)."""
    if sys.prefix != sys.base_prefix:
        return Path(sys.executable).absolute()
    candidate = repo / ".venv" / "bin" / "python"
    return candidate if candidate.exists() else Path(sys.executable).absolute()


def _specifiers(text: str) -> str:
    return text.replace("%", "%%")        # systemd expands %n, %h, ... in most settings


def exec_word(word: str) -> str:
    """One ExecStart= argument, quoted so that spaces, quotes, % and $ survive systemd."""
    text = _specifiers(word).replace("$", "$$")
    if any(c.isspace() for c in text) or any(c in text for c in "\"'\\;"):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def render_unit(python: Path, repo: Path = ROOT, serve_args: Sequence[str] = (),
                template: Path = TEMPLATE) -> str:
    text = template.read_text(encoding="utf-8")
    exec_start = (exec_word(str(python)) + " " + exec_word(str(repo / "run_assistant.py")) + " serve"
                  + "".join(" " + exec_word(a) for a in serve_args))
    lines = [f"# Voice exercise coach as a systemd user service. Written by `run_assistant.py install-service`",
             f"# from {_specifiers(str(repo))}/deploy/voice-coach.service: reinstall rather than edit."]
    body = text.splitlines()
    while body and body[0].startswith("#"):
        body.pop(0)                           # the template's own header talks about placeholders
    for line in body:
        if line.startswith("ExecStart="):
            line = "ExecStart=" + exec_start
        elif line.startswith("Documentation="):
            line = "Documentation=" + _specifiers("file://" + urllib.parse.quote(str(repo / "README.md")))
        else:
            line = line.replace("@REPO@", _specifiers(str(repo)))
        lines.append(line)
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------------- systemctl
@dataclass
class Outcome:
    ok: bool
    message: str


def systemctl(*args: str) -> Outcome:
    """`systemctl --user ARGS`, with any failure turned into a plain sentence."""
    exe = shutil.which("systemctl")
    if exe is None:
        return Outcome(False, "systemctl is not installed here: this system does not run systemd.")
    try:
        res = subprocess.run([exe, "--user", *args], capture_output=True, text=True, timeout=SYSTEMCTL_TIMEOUT)
    except subprocess.TimeoutExpired:
        return Outcome(False, f"`systemctl --user {' '.join(args)}` did not answer within "
                              f"{SYSTEMCTL_TIMEOUT:.0f} s.")
    except OSError as exc:
        return Outcome(False, f"systemctl could not be run: {exc.strerror or exc}.")
    if res.returncode == 0:
        return Outcome(True, res.stdout.strip())
    detail = (res.stderr or res.stdout).strip().splitlines()
    reason = detail[-1] if detail else f"exit code {res.returncode}"
    if "bus" in reason.lower() or "not been booted with systemd" in reason.lower():
        return Outcome(False, f"systemd's user manager cannot be reached ({reason}). It runs for a "
                              "logged-in user on a systemd machine; containers and `su`/`sudo` shells "
                              "have none (log in as that user, e.g. over ssh).")
    return Outcome(False, f"`systemctl --user {' '.join(args)}` failed: {reason}")


def linger_enabled(user: str) -> bool:
    # where logind records `loginctl enable-linger USER`
    return Path("/var/lib/systemd/linger", user).exists()


def _user() -> str:
    return os.environ.get("USER") or os.environ.get("LOGNAME") or "$USER"


def _linger_advice() -> str:
    user = _user()
    if linger_enabled(user):
        return f"Lingering is on for {user}: the service starts at boot, without a login."
    return (f"To start it at boot without anyone logging in, run once:  sudo loginctl enable-linger {user}\n"
            "(without it, systemd starts user services only while that user is logged in).")


# ---------------------------------------------------------------------- commands
def cmd_install(args: argparse.Namespace) -> int:
    python = (args.python or venv_python()).expanduser().absolute()
    if not (python.is_file() and os.access(python, os.X_OK)):
        print(f"{python} is not an executable Python. Run `bash scripts/setup` first (it creates .venv), "
              "or give --python PATH.", file=sys.stderr)
        return 2
    serve_args = []
    if args.service_config:
        config = args.service_config.expanduser().absolute()
        if not config.is_file():
            print(f"The config file {config} does not exist (`run_assistant.py config --init --config "
                  f"{config}` writes an example).", file=sys.stderr)
            return 2
        serve_args = ["--config", str(config)]
    try:
        text = render_unit(python, ROOT, serve_args)
    except OSError as exc:
        print(f"Cannot read the unit template {TEMPLATE}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    path = unit_path()
    commands = ["systemctl --user daemon-reload", f"systemctl --user enable --now {UNIT_NAME}"]
    if args.dry_run:
        print(f"# would write {path}:\n{text}\n# then run:")
        for c in commands:
            print("  " + c)
        return 0
    try:
        write_atomically(path, text)
    except OSError as exc:
        print(f"Cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"Wrote {path} (runs: {python} {ROOT / 'run_assistant.py'} serve"
          f"{' ' + ' '.join(serve_args) if serve_args else ''}).")
    for step in (("daemon-reload",), ("enable", "--now", UNIT_NAME)):
        outcome = systemctl(*step)
        if not outcome.ok:
            print(f"Could not enable the service: {outcome.message}", file=sys.stderr)
            print("The unit file is in place. Where systemd runs for your user, enable it with:", file=sys.stderr)
            for c in commands:
                print("  " + c, file=sys.stderr)
            print(_linger_advice(), file=sys.stderr)
            return EXIT_NO_SYSTEMD
    print(f"Enabled and started {UNIT_NAME}; it restarts on failure.")
    print(f"Follow its log:  journalctl --user -u {UNIT_NAME.removesuffix('.service')} -f")
    print(_linger_advice())
    return 0


def cmd_uninstall(args: argparse.Namespace) -> int:
    path = unit_path()
    if args.dry_run:
        print(f"would run: systemctl --user disable --now {UNIT_NAME}\nwould remove: {path}\n"
              "would run: systemctl --user daemon-reload")
        return 0
    stopped = systemctl("disable", "--now", UNIT_NAME)
    if path.exists():
        try:
            path.unlink()
        except OSError as exc:
            print(f"Cannot remove {path}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(f"Removed {path}.")
    else:
        print(f"No unit file at {path}.")
    if not stopped.ok:
        print(f"Could not stop or disable the service: {stopped.message}", file=sys.stderr)
        print(f"If it is still running where systemd runs for your user:  systemctl --user disable --now "
              f"{UNIT_NAME}", file=sys.stderr)
        return EXIT_NO_SYSTEMD
    reload = systemctl("daemon-reload")
    if not reload.ok:
        print(f"Could not reload systemd: {reload.message}", file=sys.stderr)
        return EXIT_NO_SYSTEMD
    print(f"Stopped and disabled {UNIT_NAME}.")
    return 0
