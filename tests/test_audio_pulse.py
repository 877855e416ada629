"""The real audio stack (PortAudio -> ALSA -> PulseAudio virtual devices), no stand-ins.

Speech made with espeak-ng is played into the virtual microphone and must come out of
MicrophoneSource + VoiceEars as the right words; what PyttsxMouth says must really arrive
at the virtual speaker and be recognisable; a microphone whose audio server dies must give
a clear message and an end, not a hang or a traceback.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pulse_harness import (PulseDevices, PulseUnavailable, SphinxGrammarRecognizer, missing_tools,  # noqa: E402
                           recognize_wav, rms_dbfs)

ROOT = Path(__file__).resolve().parent.parent
PHRASES = ["yes", "no", "stop", "resume", "repeat", "seven", "twelve"]


@pytest.fixture(scope="session")
def pulse() -> PulseDevices:
    if missing_tools():
        pytest.skip("PulseAudio test stack not installed: " + ", ".join(missing_tools()))
    try:
        return PulseDevices.ensure()
    except PulseUnavailable as exc:
        pytest.skip(str(exc))


def test_speech_into_the_virtual_mic_is_heard_through_portaudio(pulse):
    from skill.audio.ears import VoiceEars
    from skill.audio.sources import MicrophoneSource
    from skill.clock import SystemClock
    from skill.edges import Heard

    source = MicrophoneSource(None, 16000)
    assert source.native_rate != 16000 or True   # whatever the device offers, we resample
    ears = VoiceEars(source, SphinxGrammarRecognizer(), lambda ctx: PHRASES, SystemClock())
    try:
        done = {}

        def speak():
            time.sleep(0.8)
            pulse.say_into_mic("twelve")
            done["at"] = time.monotonic()
        threading.Thread(target=speak, daemon=True).start()
        heard = ears.hear("any", deadline=time.monotonic() + 15)
        returned = time.monotonic()
    finally:
        ears.close()
    assert isinstance(heard, Heard), heard
    assert heard.text == "twelve"
    # the reply can start soon after the person stops (paplay returns after its drain,
    # which on a null sink is late, so this bound is loose; BENCHMARKS.md has the numbers)
    print(f"capture->Heard: returned {returned - done.get('at', returned):+.2f} s after paplay "
          f"finished; recognition {ears.last_timing}")


def test_the_mouth_really_reaches_the_speaker_and_is_intelligible(pulse):
    from skill.audio.tts import PyttsxMouth
    mouth = PyttsxMouth()
    rec = pulse.record_speaker()
    try:
        mouth.say("repeat")
        time.sleep(1.0)          # a gap longer than the endpointer's trailing silence
        mouth.say("twelve")
    finally:
        x, rate = rec.stop()
        mouth.close()
    from skill.audio.endpoint import find_utterances
    segs = find_utterances(x, rate)
    assert len(segs) == 2, segs
    assert rms_dbfs(x) > -45
    words = [recognize_wav(x[int(max(0, s.start - 0.2) * rate):int((s.end + 0.3) * rate)], rate, PHRASES)
             for s in segs]
    assert words == ["repeat", "twelve"]


def test_half_duplex_the_coach_does_not_hear_itself(pulse):
    """Loop the speaker back into the microphone: with the gate, its own words are ignored."""
    from skill.audio.ears import VoiceEars
    from skill.audio.sources import MicrophoneSource
    from skill.audio.tts import PyttsxMouth
    from skill.clock import SystemClock
    from skill.edges import NothingHeard

    loop = pulse.pactl("load-module", "module-loopback", "source=coach_speaker.monitor",
                       "sink=user_mouth", "latency_msec=20").strip()
    try:
        ears = VoiceEars(MicrophoneSource(None, 16000), SphinxGrammarRecognizer(), lambda ctx: PHRASES,
                         SystemClock())
        mouth = PyttsxMouth(gate=ears.gate)
        try:
            time.sleep(0.5)
            mouth.say("stop")
            assert isinstance(ears.hear("any", time.monotonic() + 2.0), NothingHeard)
        finally:
            ears.close()
            mouth.close()
    finally:
        pulse.pactl("unload-module", loop)


UNPLUG_SCRIPT = textwrap.dedent("""
    import os, signal, sys, threading, time
    sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
    from skill.audio.ears import VoiceEars
    from skill.audio.sources import MicrophoneSource
    from skill.clock import SystemClock
    from pulse_harness import SphinxGrammarRecognizer
    ears = VoiceEars(MicrophoneSource(None, 16000), SphinxGrammarRecognizer(), lambda c: ["yes", "no"],
                     SystemClock(), reconnect_seconds=3,
                     on_notice=lambda kind, msg: print("NOTICE", kind, msg, flush=True))
    def unplug():
        time.sleep(1.5)
        os.kill({pid}, signal.SIGKILL)
    threading.Thread(target=unplug, daemon=True).start()
    t0 = time.monotonic()
    result = ears.hear("any", None)
    print("RESULT", type(result).__name__, getattr(result, "reason", ""), flush=True)
    print("ELAPSED", round(time.monotonic() - t0, 2))
    ears.close()
""")


def test_microphone_gone_mid_session_gives_a_message_and_ends_cleanly(pulse, tmp_path):
    # a private daemon, so killing it disturbs no one else
    private = PulseDevices.ensure(str(tmp_path / "pulse"), client_config=False)
    pid = private.daemon_pid()
    assert pid, "the private daemon's pid file is missing"
    script = tmp_path / "unplug.py"
    script.write_text(UNPLUG_SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests"), pid=pid))
    res = subprocess.run([sys.executable, str(script)], env=private.env, capture_output=True,
                         text=True, timeout=60)
    out = res.stdout
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert "NOTICE device_lost" in out and "unplugged" in out
    assert "RESULT EndOfInput" in out and "did not come back" in out
    elapsed = float(out.split("ELAPSED")[1].split()[0])
    assert elapsed < 20, out


def test_no_audio_server_means_a_clear_error_not_a_traceback(tmp_path):
    if missing_tools():
        pytest.skip("PulseAudio test stack not installed")
    script = tmp_path / "nodev.py"
    script.write_text(textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(ROOT)!r})
        from skill.audio.capture import AudioError
        from skill.audio.sources import MicrophoneSource
        try:
            MicrophoneSource(None, 16000)
        except AudioError as exc:
            print("ERROR", type(exc).__name__, exc)
    """))
    env = dict(os.environ, PULSE_SERVER=f"unix:{tmp_path}/nothing-here")
    res = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in res.stderr, res.stderr
    assert "ERROR DeviceOpenError" in res.stdout or "ERROR NoInputDevice" in res.stdout, res.stdout
