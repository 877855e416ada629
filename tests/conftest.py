"""Shared test setup."""
import os
import wave
from pathlib import Path

import numpy as np
import pytest

# sox dithers with a random seed whenever it resamples or reduces bit depth, so the "same"
# generated speech differs run to run and borderline recognitions flip: -R makes it repeatable
# for every sox the tests run (directly or through skill.bench.evalset).
os.environ["SOX_OPTS"] = (os.environ.get("SOX_OPTS", "") + " -R").strip()


@pytest.fixture(autouse=True)
def private_history(tmp_path_factory, monkeypatch):
    """Every test gets its own history folder: runs must not see each other's sessions
    (a resume offer or a daily check would change the dialog), nor the user's real one."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
    # nor the machine's config file: a ~/.config/voice-coach/config.toml would change sessions
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    monkeypatch.delenv("VOICE_COACH_CONFIG", raising=False)


@pytest.fixture(scope="session")
def quiet_room(tmp_path_factory) -> Path:
    """40 s of faint room noise as the microphone: with --fast the session's clock is the
    recording's position, so the recording must outlast what is said before the welcome."""
    path = tmp_path_factory.mktemp("quiet_room") / "room.wav"
    noise = np.random.default_rng(5).normal(0.0, 30.0, 16000 * 40)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.round(noise).astype("<i2").tobytes())
    return path


def pytest_collection_modifyitems(config, items):
    """Tests through the real PulseAudio stack depend on a shared, loaded machine's timing
    (null sinks render in blocks of up to 2 s): rerun such a test up to twice before failing.
    Logic tests never get reruns."""
    if not config.pluginmanager.hasplugin("rerunfailures"):
        return
    for item in items:
        real_audio = item.get_closest_marker("audio") or "pulse" in getattr(item, "fixturenames", ())
        if real_audio and not item.get_closest_marker("flaky"):
            item.add_marker(pytest.mark.flaky(reruns=2, reruns_delay=2))
