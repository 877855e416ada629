"""The digits-limit study (skill/bench/digits_limit.py) and the MLLR tool it uses
(skill/bench/mllr.py): variant names, scoring, never adapting on the speaker decoded, the model
file conversions, and that a transform really reaches the real decoder."""
from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from skill.bench import digits_limit, mllr


# ------------------------------------------------------------------ pure logic
def test_variant_names():
    assert digits_limit.parse_variant("number") == ("number", "shipped", "")
    assert digits_limit.parse_variant("digits_wide+loso") == ("digits", "wide", "loso")
    assert digits_limit.parse_variant("digits_widetop+esp8") == ("digits", "widetop", "esp8")
    for bad in ("numbers", "digits_narrow", "yes_no"):
        with pytest.raises(ValueError):
            digits_limit.parse_variant(bad)


def test_summary_counts_decoded_correct_and_wrong_per_speaker():
    def r(spk, digit, decoded, accepted):
        return dict(variant="digits", set="fsdd", speaker=spk, digit=digit, decoded=decoded, accepted=accepted)
    records = [r("theo", 3, 3, 3), r("theo", 3, 3, None), r("lucas", 0, 8, 8), r("lucas", 1, 1, None)]
    t = digits_limit.summary(records)
    assert t[("digits", "fsdd", "*")] == dict(n=4, decoded=3, correct=1, wrong=1)
    assert t[("digits", "fsdd", "theo")] == dict(n=2, decoded=2, correct=1, wrong=0)
    assert t[("digits", "fsdd", "lucas")] == dict(n=2, decoded=1, correct=0, wrong=1)


def test_leave_one_speaker_out_never_adapts_on_the_speaker_tested():
    meta = [dict(uid=f"u{i}", set=s, speaker=spk, text="five")
            for i, (s, spk) in enumerate([("fsdd", "theo"), ("fsdd", "lucas"), ("fsdd", "george"),
                                          ("esp8", "en-us"), ("esp16", "en-us")])]
    for spk in ("theo", "lucas", "george"):
        picked = mllr.SPLITS[f"loso_{spk}"](meta)
        assert picked and all(m["speaker"] != spk and m["set"] == "fsdd" for m in picked)
        assert len(picked) == 2
    assert {m["set"] for m in mllr.SPLITS["esp8"](meta)} == {"esp8"}   # never the 16 kHz clips
    ctl, lsn = mllr.transcript_lines(meta[:2])
    assert ctl == "wav/u0\nwav/u1\n"
    assert lsn == "<s> five </s> (u0)\n<s> five </s> (u1)\n"


def test_sendump_weights_undo_the_byte_quantisation(tmp_path):
    """sendump: header strings, then #codewords, #senones, then per stream and codeword one
    byte per senone: -log1.0001(weight) >> 10."""
    n_cw, n_sen = 4, 2
    q = np.random.default_rng(0).integers(0, 40, (3, n_cw, n_sen)).astype(np.uint8)
    blob = b"".join(struct.pack("<I", len(s)) + s for s in (b"title\0", b"feature_count 3\0")) + struct.pack("<I", 0)
    (tmp_path / "sendump").write_bytes(blob + struct.pack("<II", n_cw, n_sen) + q.tobytes())
    w = mllr.sendump_weights(tmp_path / "sendump")
    assert w.shape == (n_sen, 3, n_cw)
    np.testing.assert_allclose(w.sum(axis=2), 1.0)
    expect = 1.0001 ** -(q[1, :, 0].astype(float) * 1024)
    np.testing.assert_allclose(w[0, 1], expect / expect.sum())
    (tmp_path / "short").write_bytes(blob + struct.pack("<II", n_cw, n_sen) + q.tobytes()[:-1])
    with pytest.raises(ValueError):
        mllr.sendump_weights(tmp_path / "short")


def test_s3_file_layout(tmp_path):
    a = np.arange(24, dtype=float).reshape(2, 3, 4)
    mllr.write_s3_3d(tmp_path / "w", a)
    raw = (tmp_path / "w").read_bytes()
    start = raw.index(b"endhdr\n") + 7
    assert raw.startswith(b"s3\n") and start % 4 == 0
    assert struct.unpack("=iIIII", raw[start:start + 20]) == (0x11223344, 2, 3, 4, 24)
    np.testing.assert_array_equal(np.frombuffer(raw[start + 20:], "<f4"), a.ravel())


def test_transform_files_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    a = [rng.normal(size=(13, 13)) for _ in range(3)]
    b = [rng.normal(size=13) for _ in range(3)]
    mllr.write_transform(tmp_path / "m", a, b)
    a2, b2 = mllr.read_transform(tmp_path / "m")
    for x, y in zip(a + b, a2 + b2):
        np.testing.assert_allclose(x, y, atol=1e-6)


def test_missing_sphinxtrain_is_a_message_not_a_traceback(monkeypatch, capsys):
    monkeypatch.setitem(mllr.TOOLS, "bw", Path("/nonexistent/bw"))
    assert mllr.main(["esp8", "--model-copy", "x", "--audio", "y", "--out", "z"]) == 2
    assert "bw" in capsys.readouterr().err


# ------------------------------------------------------------------ the real decoder
@pytest.fixture(scope="module")
def eight_khz_five(tmp_path_factory) -> dict:
    """'five' (espeak-ng en-us, made as the benchmark makes its clips) through 8 kHz."""
    from skill.bench.evalset import speak
    d = tmp_path_factory.mktemp("digits")
    w16, w8 = d / "five_16k.wav", d / "five_8k.wav"
    speak("five", "en-us", 150, w16)
    subprocess.run(["sox", str(w16), "-r", "8000", str(w8)], check=True, env=dict(os.environ, SOX_OPTS="-R"))
    return dict(set="esp8", id="five", w16=str(w16), w8=str(w8), digit=5, speaker="en-us")


def _decode_with(item: dict, mllr_path: str | None, beams: str = "wide") -> dict:
    digits_limit._init("digits", beams, mllr_path)
    try:
        return digits_limit.decode(item)
    finally:   # _init changed module settings: put them back for the other tests
        from skill.recognition import pocketsphinx_engine as pe
        pe.GRAMMAR_DECODER_OPTIONS.pop("mllr", None)
        for k in digits_limit.WIDE:
            pe.GRAMMAR_DECODER_OPTIONS.pop(k, None)
        pe.PHONE_LOOP_OPTIONS.pop("mllr", None)


def test_a_transform_reaches_the_decoder(eight_khz_five, tmp_path):
    """Identity: the same result as none. A transform that moves every mean far off (c0 + 30,
    the log energy) wrecks the fit: the confidence falls, so the file really is applied."""
    eye = [np.eye(13)] * 3
    mllr.write_transform(tmp_path / "identity", eye, [np.zeros(13)] * 3)
    mllr.write_transform(tmp_path / "off", eye, [np.r_[30.0, np.zeros(12)], np.zeros(13), np.zeros(13)])
    plain = _decode_with(eight_khz_five, None)
    same = _decode_with(eight_khz_five, str(tmp_path / "identity"))
    off = _decode_with(eight_khz_five, str(tmp_path / "off"))
    assert plain["decoded"] == 5, plain
    assert (same["text"], same["confidence"]) == (plain["text"], plain["confidence"])
    assert off["confidence"] is None or off["confidence"] < plain["confidence"] - 0.2, (plain, off)
