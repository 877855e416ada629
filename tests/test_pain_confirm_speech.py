"""The pain-score confirmation by voice: "no, six out of ten" in one breath is heard as the new score.

The real PocketSphinx engine on espeak-ng speech (made here, sox -R: the same every run)."""
from __future__ import annotations

from pathlib import Path

import pytest

# the engine and the assets are the accuracy tests' fixtures (pytest finds imported fixtures)
from test_recognition_accuracy import assets, heard, rec, speak  # noqa: F401


@pytest.mark.parametrize("text, value", [("no, six out of ten", 6), ("no it's three", 3)])
def test_a_spoken_correction_gives_the_new_score(assets, rec, tmp_path: Path, text: str, value: int) -> None:
    clip = speak(text, "en-us", 150, tmp_path / "correction.wav")
    assert heard(assets, rec, "pain_confirm", clip) == ("number", value)


def test_a_plain_no_is_still_a_no(assets, rec, tmp_path: Path) -> None:
    clip = speak("no", "en-us", 150, tmp_path / "no.wav")
    assert heard(assets, rec, "pain_confirm", clip)[0] in ("no", "none")   # never a score
