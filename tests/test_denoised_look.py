"""The commands' second look after noise suppression (pocketsphinx_engine DENOISED_LOOK_*), with
the real PocketSphinx recogniser on espeak-ng speech in sox's repeatable pink noise at 10 dB SNR.

A PocketSphinx decoder's scores depend a little on what it decoded before, and these cases were
measured each on a new recogniser: so each gets one (about a second to open)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skill.cli import DEFAULT_LOCALE_DIR, load_assets
from skill.recognition import pocketsphinx_engine as pse
from skill.recognition.engines import open_recognizer

from test_wake import speech  # noqa: E402  (espeak-ng + sox -R: repeatable audio)

MATCHER = load_assets(DEFAULT_LOCALE_DIR).matcher


@pytest.fixture(scope="module")
def noise(tmp_path_factory) -> dict:
    from skill.bench.evalset import make_noise
    return make_noise(tmp_path_factory.mktemp("noise"))


def pink_10db(text: str, tmp: Path, voice: str, wpm: int, noise: dict, offset: int) -> bytes:
    from skill.bench.evalset import mix_at_snr
    clean = np.frombuffer(speech(text, tmp, voice, wpm), dtype="<i2")
    return mix_at_snr(clean, noise["pink"], 10, offset)[0].astype("<i2").tobytes()


def fresh(look: bool = True):
    rec, _notice = open_recognizer(engine="pocketsphinx")
    if not look:
        rec.denoised_look_band = None
    return rec


def hear(rec, context: str, pcm: bytes):  # noqa: ANN201
    rec.begin(MATCHER.phrases(context))
    for i in range(0, len(pcm), 640):            # 20 ms blocks, as the ears feed it
        rec.feed(pcm[i:i + 640])
    hyp = rec.finish()
    return hyp, MATCHER.match(hyp.text, context, hyp.confidence, pse.REJECT_BELOW)


# measured (session 9): first look 0.20 / 0.18, after suppression 0.99 / 0.96
@pytest.mark.parametrize("context,phrase,intent,voice,wpm,offset", [
    ("yes_no", "yes please", "yes", "en-us+f3", 150, 31337),
    ("coach", "next exercise", "skip", "en-gb", 180, 1000),
])
def test_a_command_lost_in_steady_noise_is_kept_when_the_suppressed_audio_agrees(
        tmp_path, noise, context, phrase, intent, voice, wpm, offset):
    pcm = pink_10db(phrase, tmp_path, voice, wpm, noise, offset)
    first_only = fresh(look=False)
    hyp, match = hear(first_only, context, pcm)
    assert hyp.text == phrase and hyp.confidence < pse.REJECT_BELOW, hyp   # heard, not trusted
    assert match.intent == "none" and first_only.denoised_looked is False

    rec = fresh()
    hyp, match = hear(rec, context, pcm)
    assert rec.denoised_looked is True and rec.last_measures.get("denoised") == 1.0
    assert hyp.text == phrase and hyp.confidence >= pse.DENOISED_LOOK_MIN_CONFIDENCE
    assert match.intent == intent


def test_a_second_look_that_is_not_confident_leaves_the_first_result_rejected(tmp_path, noise):
    # measured: "about five" first 0.495, and no more confident after suppression
    pcm = pink_10db("about five", tmp_path, "en-gb", 150, noise, 1000)
    rec = fresh()
    hyp, match = hear(rec, "number", pcm)
    assert rec.denoised_looked is True and "denoised" not in rec.last_measures
    assert hyp.confidence < pse.REJECT_BELOW and match.intent == "none"
    # what is reported describes the first decode, not the refused second one
    assert rec.floored is False and rec.last_measures["gap"] is not None


def test_digitally_clean_audio_gets_no_second_look_even_when_rejected(tmp_path, monkeypatch):
    # the floor is laid under quiet audio: there is no noise to take away
    rec = fresh()
    monkeypatch.setattr(pse, "DENOISED_LOOK_MIN_CONFIDENCE", 0.0)   # any look would be kept
    rec.denoised_look_band = (0.0, 1.01)                               # every result in the band
    hyp, _match = hear(rec, "coach", speech("next exercise", tmp_path, "en-us", 160))
    assert rec.floored is True and rec.denoised_looked is False
    assert "denoised" not in rec.last_measures


def test_the_look_wants_the_same_phrase_back(tmp_path, noise, monkeypatch):
    # the rule, on the real engine: whatever the suppressed audio decodes to, only the first
    # look's own phrase can be kept (a second decode to another phrase is not taken)
    pcm = pink_10db("yes please", tmp_path, "en-us+f3", 150, noise, 31337)
    rec = fresh()
    real_suppress = pse.suppress_noise
    monkeypatch.setattr(pse, "suppress_noise", lambda x: np.zeros_like(real_suppress(x)))
    hyp, match = hear(rec, "yes_no", pcm)      # silence decodes to nothing: the first result stands
    assert rec.denoised_looked is True
    assert hyp.text == "yes please" and hyp.confidence < pse.REJECT_BELOW and match.intent == "none"


def test_the_wake_detector_turns_the_commands_look_off_for_its_own_decodes_only():
    from skill.wake import WakeRecognizer, load_wake_phrases
    rec = fresh()
    wake = WakeRecognizer(load_wake_phrases(DEFAULT_LOCALE_DIR), DEFAULT_LOCALE_DIR, engine=rec)
    seen = []
    real_finish = rec.finish

    def finish():  # noqa: ANN202
        seen.append(rec.denoised_look_band)
        return real_finish()

    rec.finish = finish
    wake.begin([])
    wake.feed(np.zeros(8000, dtype="<i2").tobytes())
    wake.finish()
    assert seen and all(band is None for band in seen)
    assert rec.denoised_look_band == pse.DENOISED_LOOK_BAND


def test_only_the_same_phrase_confident_after_suppression_replaces_the_first_result(monkeypatch):
    # the rule itself, with the two decodes stood in for: a "no" can never come out of a
    # rejected "yes" (nor any phrase out of another), whatever the suppressed audio decodes to
    from skill.recognition.base import Hypothesis
    rec = fresh()
    pcm = (np.random.default_rng(0).normal(0, 2000, 16000)).astype("<i2").tobytes()

    def run(first: Hypothesis, second: Hypothesis, floored: bool = False) -> Hypothesis:
        answers = iter([first, second])
        monkeypatch.setattr(rec, "_decode_whole_once", lambda _pcm: next(answers))
        monkeypatch.setattr(type(rec), "floored", property(lambda self: floored))
        return rec._decode_whole(pcm)

    low = pse.DENOISED_LOOK_BAND[0]
    cut = pse.DENOISED_LOOK_MIN_CONFIDENCE
    assert run(Hypothesis("yes", 0.3), Hypothesis("no", 0.99)) == Hypothesis("yes", 0.3)
    assert run(Hypothesis("yes", 0.3), Hypothesis("yes", cut - 0.01)) == Hypothesis("yes", 0.3)
    assert run(Hypothesis("yes", 0.3), Hypothesis("yes", cut)) == Hypothesis("yes", cut)
    assert rec.denoised_looked is True
    # outside the band, floored audio, or nothing decoded: no second look at all
    for first, floored in ((Hypothesis("yes", low - 0.01), False), (Hypothesis("yes", pse.REJECT_BELOW), False),
                           (Hypothesis("yes", 0.3), True), (Hypothesis("", 0.0), False), (Hypothesis("", None), False)):
        assert run(first, Hypothesis("yes", 0.99), floored) == first
        assert rec.denoised_looked is False
