"""Speech out: pyttsx3 (espeak-ng) synthesises, we play (or write) the audio ourselves.

Workarounds for pyttsx3 2.99 on Linux (see DEVELOPERS.md):
- its say() plays through `aplay` from inside the espeak callback, its first say() after
  init() can return silently, runAndWait() cannot be re-entered and stop() cannot cut
  playback. We never use say(): every utterance is engine.save_to_file() + runAndWait()
  into a temporary WAV (synthesis only, ~10 ms), which we read back and play with
  sounddevice, blocking until PortAudio has drained it. So each prompt is either really
  played or raises, and the half-duplex gate knows exactly when speech starts and ends.
- save_to_file() print()s "Audio saved to ..." on stdout, which would corrupt --json
  output: that print is silenced inside the pyttsx3 espeak driver module only.
- an unknown voice is swallowed by pyttsx3's command queue: voices are checked here.
- espeak-ng runs in AUDIO_OUTPUT_RETRIEVAL mode, which synthesises on espeak's own thread:
  runAndWait() returns BEFORE the WAV is written, so reading it at once gives an empty or
  truncated file (measured: about 1 in 3 short words). We wait for the driver's
  `_speaking` flag to drop (it is cleared after the file is written).
- its espeak callback writes the WAV when it sees the end-of-message event *before*
  appending the samples of that same callback (the end of the utterance can be lost): the
  callback is wrapped so samples are appended first. An empty result is retried, then
  reported as an error, never silently skipped.
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
import wave
from pathlib import Path

import numpy as np

from ..clock import Clock, SystemClock
from .capture import AudioError, load_sounddevice, play_blocking, resample, to_int16
from .ears import HalfDuplexGate
from .earcons import DEFAULT_LEVEL, apply_gain, clamp_level, earcon, level_gain
from .sources import read_wav

log = logging.getLogger(__name__)

DEFAULT_WPM = 170          # espeak-ng's own default is 175; a touch slower for exercising
MIN_WPM, MAX_WPM = 80, 400
# The early "done" tone keeps its output stream open this long for the reply, which then
# follows the tone in that same stream: closing one stream and opening the next left 20-40 ms
# of silence before the first word (BENCHMARKS.md section 2).
REPLY_WAIT_SECONDS = 1.5
# The "done" tone fills the wait while an answer is recognised. When the ears report the
# answer already recognised at its end (gate.answer_ready: decoded during the trailing
# silence), the reply needs only the dialog and ~10-20 ms of synthesis: it is played at
# once, with no tone before it, if it is handed over within this time; otherwise the tone
# plays (then, late by this much) and the reply follows it. 140 ms of tone before the first
# word was the largest part of the turn latency left (BENCHMARKS.md section 2, session 4).
REPLY_GRACE_SECONDS = 0.15


class TtsError(AudioError):
    """Speech synthesis or playback failed; the message says why."""


class NoOutputDevice(TtsError):
    """No speaker to play speech on."""


def _quiet_print(*_args, **_kwargs) -> None:
    return None


def _patch_espeak_driver(espeak_driver, engine) -> None:  # noqa: ANN001
    """Append each callback's samples before pyttsx3 looks at its events (see module doc)."""
    import ctypes
    cls = espeak_driver.EspeakDriver
    if not getattr(cls, "_coach_patched", False):
        original = cls._onSynth

        def _on_synth(self, wav, numsamples, events):  # noqa: ANN001, ANN202
            if numsamples > 0 and self._speaking:
                self._data_buffer += ctypes.string_at(wav, numsamples * ctypes.sizeof(ctypes.c_short))
            try:
                return original(self, wav, 0, events)
            except RuntimeError:
                # the mouth was closed mid-utterance (SIGTERM while speaking): its temporary
                # folder is gone and the WAV has nobody to play it; not worth a traceback
                save = getattr(self, "_save_file", None)
                if save and not os.path.isdir(os.path.dirname(save)):
                    return 0
                raise

        cls._onSynth = _on_synth
        cls._coach_patched = True
    # the driver registered its (old) bound method with espeak at init: register again
    espeak_driver._espeak.SetSynthCallback(engine.proxy._driver._onSynth)


class Synthesizer:
    """pyttsx3 used only to turn text into samples."""

    def __init__(self, voice: str | None = None, wpm: int = DEFAULT_WPM) -> None:
        try:
            import pyttsx3
            import pyttsx3.drivers.espeak as espeak_driver
        except Exception as exc:  # noqa: BLE001 - ImportError, OSError (no libespeak-ng)
            raise TtsError("The speech synthesiser is not available (pyttsx3 with espeak-ng; "
                           f"on Debian: apt-get install espeak-ng): {exc}") from exc
        espeak_driver.print = _quiet_print  # its save_to_file prints to stdout
        try:
            self.engine = pyttsx3.init()
            _patch_espeak_driver(espeak_driver, self.engine)
        except Exception as exc:  # noqa: BLE001
            raise TtsError(f"The speech synthesiser would not start: {exc}") from exc
        self._dir = tempfile.mkdtemp(prefix="coach-tts-")
        self._n = 0
        self.wpm = int(wpm)
        self.engine.setProperty("rate", self.wpm)
        self.voice = None
        if voice:
            self.set_voice(voice)

    def voices(self) -> list[tuple[str, str, list[str]]]:
        """(id, name, languages) of every installed voice."""
        return [(v.id, v.name, list(v.languages or [])) for v in self.engine.getProperty("voices")]

    def set_voice(self, voice: str) -> None:
        wanted = voice.strip().lower()
        choices = self.voices()
        match = None
        for vid, name, langs in choices:
            if wanted in (vid.lower(), name.lower()) or wanted in [lang.lower() for lang in langs]:
                match = vid
                break
        if match is None:
            for vid, name, _ in choices:
                if wanted == vid.lower().rsplit("/", 1)[-1]:
                    match = vid
                    break
        if match is None:
            sample = ", ".join(v for v, _, _ in choices if "en" in v)[:300]
            raise TtsError(f"There is no voice called '{voice}'. English voices include: {sample}. "
                           "'run_assistant.py devices --voices' lists them all.")
        self.engine.setProperty("voice", match)
        self.voice = match

    def set_wpm(self, wpm: int) -> None:
        self.wpm = int(min(MAX_WPM, max(MIN_WPM, round(wpm))))
        self.engine.setProperty("rate", self.wpm)

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        """int16 mono samples and their rate."""
        for _attempt in range(3):
            pcm, rate = self._synthesize_once(text)
            if pcm.size > 0 or not text.strip():
                return pcm, rate
        raise TtsError(f"The speech synthesiser produced no audio for {text!r}.")

    def _synthesize_once(self, text: str) -> tuple[np.ndarray, int]:
        self._n += 1
        path = os.path.join(self._dir, f"utt{self._n % 4}.wav")
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
        driver = self.engine.proxy._driver
        try:
            self.engine.save_to_file(text, path)
            self.engine.runAndWait()
        except Exception as exc:  # noqa: BLE001
            raise TtsError(f"The speech synthesiser failed on {text!r}: {exc}") from exc
        # espeak-ng in AUDIO_OUTPUT_RETRIEVAL mode synthesises on its own thread: runAndWait()
        # returns before the WAV is written. The driver clears _speaking once it has been.
        give_up = time.monotonic() + 10.0
        while getattr(driver, "_speaking", False) and time.monotonic() < give_up:
            time.sleep(0.003)
        if getattr(driver, "_speaking", False):
            raise TtsError(f"The speech synthesiser did not finish {text!r}.")
        if not os.path.exists(path):
            raise TtsError(f"The speech synthesiser produced no audio for {text!r}.")
        pcm, rate = read_wav(path)
        os.remove(path)
        return pcm, rate

    def close(self) -> None:
        # closed mid-utterance (SIGTERM while synthesising): let espeak's thread finish writing
        # its WAV first, or it writes into a removed folder and prints a traceback at exit
        driver = getattr(getattr(self.engine, "proxy", None), "_driver", None)
        give_up = time.monotonic() + 3.0
        while getattr(driver, "_speaking", False) and time.monotonic() < give_up:
            time.sleep(0.005)
        try:
            for name in os.listdir(self._dir):
                os.remove(os.path.join(self._dir, name))
            os.rmdir(self._dir)
        except OSError:
            pass


class _RateMixin:
    synth: Synthesizer
    base_wpm: int
    volume: int = DEFAULT_LEVEL

    def set_rate(self, factor: float) -> None:
        """Speaking rate as a factor of the starting rate (clamped to 80..400 words/min)."""
        self.synth.set_wpm(self.base_wpm * float(factor))

    def set_volume(self, level: int) -> None:
        """Smart-speaker volume 1..10 (earcons.level_gain_db): speech and earcons alike."""
        self.volume = clamp_level(level)

    @property
    def gain(self) -> float:
        return level_gain(self.volume)


class PyttsxMouth(_RateMixin):
    """edges.Mouth that really plays speech on the default (or chosen) output device."""

    def __init__(self, voice: str | None = None, wpm: int = DEFAULT_WPM,
                 output_device: str | int | None = None, clock: Clock | None = None,
                 gate: HalfDuplexGate | None = None, volume: int = DEFAULT_LEVEL) -> None:
        self.sd = load_sounddevice()
        self.output_device = output_device
        self.volume = clamp_level(volume)
        self._check_output()
        self.synth = Synthesizer(voice, wpm)
        self.base_wpm = self.synth.wpm
        self.clock = clock or SystemClock()
        self.gate = gate
        self.spoken: list[tuple[float, float, str]] = []   # (start, end, text) on the clock
        self.cues: list[tuple[float, float, str]] = []     # (start, end, earcon) on the clock

    def _check_output(self) -> None:
        try:
            info = self.sd.query_devices(self.output_device, kind="output")
        except Exception as exc:  # noqa: BLE001
            raise NoOutputDevice(f"I cannot find a speaker to talk through: {exc}") from exc
        self._out_rate = int(info["default_samplerate"]) or 48000

    def say(self, text: str) -> None:
        pcm, rate = self.synth.synthesize(text)   # synthesis overlaps a tone still playing
        pcm = apply_gain(pcm, self.gain)
        self._speech_rate = rate
        early = getattr(self, "_early", None)
        if early is not None and early.thread is not threading.current_thread():
            if early.offer(pcm, rate, text):     # played right after the tone, same stream
                early.thread.join()
                self._early = None
                if early.error is not None:
                    raise early.error
                return
        self._wait_for_cue()
        start, end = self._play_gated(pcm, rate)
        self.spoken.append((start, end, text))

    def cue_async(self, name: str) -> None:
        """Start an earcon and return at once, so it sounds while the answer is recognised;
        the next say()/cue() waits for it. Only on the wall clock: a virtual or audio clock
        must not be advanced from another thread, so there it plays as cue() does.
        A "done" tone for an answer already recognised (gate.answer_ready) is left out when
        the reply comes within REPLY_GRACE_SECONDS: the reply itself then says "heard"."""
        if not isinstance(self.clock, SystemClock):
            self.cue(name)
            return
        self._wait_for_cue()
        if self.gate is not None:
            self.gate.speaking()      # deaf from now on, not from when the thread gets going
        # at the speech's rate, so that the reply can follow in the same stream
        grace = (REPLY_GRACE_SECONDS if name == "done" and self.gate is not None
                 and self.gate.answer_ready else 0.0)
        early = _EarlyTone(self, name, getattr(self, "_speech_rate", None) or self._out_rate, grace)
        self._early = early
        early.thread.start()
        # Wait (briefly) until the tone is handed to PortAudio: the decoder that runs next holds
        # the GIL, and without this the tone would only start once the answer was recognised.
        early.started.wait(0.2)

    def _wait_for_cue(self) -> None:
        early = getattr(self, "_early", None)
        if early is not None and early.thread is not threading.current_thread():
            early.decline()
            early.thread.join()
            self._early = None

    def cue(self, name: str) -> None:
        """Play an earcon ("listen" or "done"); the microphone stays deaf while it sounds."""
        self._wait_for_cue()
        rate = self._out_rate
        try:
            start, end = self._play_gated(earcon(name, rate, self.gain), rate)
        except TtsError as exc:
            # a missed tone loses nothing (the prompt was spoken); the next say() reports a dead speaker
            log.warning("earcon %r not played: %s", name, exc)
            return
        self.cues.append((start, end, name))

    def _play_gated(self, pcm: np.ndarray, rate: int) -> tuple[float, float]:
        if self.gate is not None:
            self.gate.speaking()
        start = self.clock.now()
        try:
            self._play(pcm, rate)
        finally:
            # on a virtual/audio clock, playing takes as long as the audio lasts
            self.clock.sleep_until(start + pcm.size / rate)
            end = self.clock.now()
            if self.gate is not None:
                self.gate.done_speaking(end)
        return start, end

    def _play(self, pcm: np.ndarray, rate: int) -> None:
        started, self._play_started = getattr(self, "_play_started", None), None
        play_blocking(self.sd, pcm, rate, self.output_device, (self._out_rate, 48000, 44100),
                      failed=TtsError, unopenable=NoOutputDevice, what="speech",
                      on_start=started.set if started is not None else None)

    def close(self) -> None:
        self._wait_for_cue()
        self.synth.close()


class _EarlyTone:
    """Plays an early earcon on its own thread, then keeps the stream open for the reply
    (PyttsxMouth.say offers it) for up to REPLY_WAIT_SECONDS, so the words follow the tone
    without a stream to close and reopen in between. With a `grace` (seconds), the tone
    waits that long for the reply first, and is left out if the reply comes."""

    def __init__(self, mouth: PyttsxMouth, name: str, rate: int, grace: float = 0.0) -> None:
        self.mouth, self.name, self.rate, self.grace = mouth, name, rate, grace
        self.started = threading.Event()
        self.error: TtsError | None = None     # the reply was taken but could not be played
        self._cond = threading.Condition()
        self._reply: tuple[np.ndarray, str] | None = None
        self._closed = False                   # takes no reply any more
        self.thread = threading.Thread(target=self._run, name=f"earcon-{name}", daemon=True)

    def offer(self, pcm: np.ndarray, rate: int, text: str) -> bool:
        """Hand the reply over; False if this stream cannot take it (it is closing, or runs
        at another rate): the caller then plays it itself."""
        with self._cond:
            if self._closed or rate != self.rate:
                return False
            self._reply, self._closed = (pcm, text), True
            if self.mouth.gate is not None:
                self.mouth.gate.speaking()
            self._cond.notify()
        return True

    def decline(self) -> None:
        """No reply is coming through this stream: let it close."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _run(self) -> None:
        m = self.mouth
        try:
            stream = m.sd.OutputStream(samplerate=self.rate, channels=1, dtype="int16",
                                       device=m.output_device)
        except Exception:  # noqa: BLE001 - not at this rate: the plain way tries the others
            self.decline()
            m._play_started = self.started
            m.cue(self.name)
            self.started.set()
            return
        end = None
        released = False     # the gate was told when the sound ends
        tone = earcon(self.name, self.rate, m.gain).reshape(-1, 1)
        try:
            play_tone = True
            if self.grace > 0:
                # the answer is recognised already: no decoder will hold the GIL, the caller
                # may go on at once; the tone plays only if the reply is slow to come. The
                # stream starts only then: a started stream with nothing to play fills the
                # output buffer with silence that the first word would wait behind (~90 ms).
                self.started.set()
                with self._cond:
                    self._cond.wait_for(lambda: self._reply is not None or self._closed,
                                        timeout=self.grace)
                    play_tone = self._reply is None
            stream.start()
            start = m.clock.now()
            tone_end = start
            if play_tone:
                # Hand PortAudio all of the tone that fits before letting the caller go on: the
                # decoder it runs next holds the GIL, and a thread still in Python before its
                # write() would wait for the whole decoding (measured: tone up to 250 ms late).
                first = min(tone.shape[0], max(0, int(stream.write_available)))
                if first:
                    stream.write(tone[:first])
                self.started.set()
                if first < tone.shape[0]:
                    stream.write(tone[first:])
                tone_end = start + tone.shape[0] / self.rate
                m.cues.append((start, tone_end, self.name))
            with self._cond:
                if m.gate is not None and self._reply is None:
                    m.gate.done_speaking(tone_end)     # a listen without a reply hears from here on
                    released = True
                self._cond.wait_for(lambda: self._closed, timeout=REPLY_WAIT_SECONDS)
                self._closed = True
                reply = self._reply
            if reply is not None:
                pcm, text = reply
                words_start = max(m.clock.now(), tone_end)
                stream.write(np.ascontiguousarray(pcm, dtype=np.int16).reshape(-1, 1))
            stream.stop()                          # returns once everything has been played
            end = m.clock.now()
            if reply is not None:
                end = max(end, words_start + reply[0].size / self.rate)   # cannot end sooner
                m.spoken.append((words_start, end, text))
        except Exception as exc:  # noqa: BLE001
            if self._reply is not None:
                self.error = TtsError(f"Playing speech failed: {exc}")
            else:   # a missed tone loses nothing; the next say() reports a dead speaker
                log.warning("earcon %r not played: %s", self.name, exc)
        finally:
            self.decline()
            self.started.set()
            try:
                stream.close()
            except Exception:  # noqa: BLE001
                pass
            if m.gate is not None and (self._reply is not None or not released):
                m.gate.done_speaking(end if end is not None else m.clock.now())


class WavOutMouth(_RateMixin):
    """edges.Mouth for --audio-out: everything said goes into one WAV, placed in time.

    Each utterance starts at its clock time (relative to the first clock reading), with
    silence in between; saying takes the utterance's duration on the clock.
    """

    def __init__(self, path: str | Path, clock: Clock, voice: str | None = None,
                 wpm: int = DEFAULT_WPM, gate: HalfDuplexGate | None = None,
                 sample_rate: int = 22050, volume: int = DEFAULT_LEVEL) -> None:
        self.path = Path(path)
        self.volume = clamp_level(volume)
        self.clock = clock
        self.gate = gate
        self.synth = Synthesizer(voice, wpm)
        self.base_wpm = self.synth.wpm
        self.rate = sample_rate
        self.origin = clock.now()
        self.spoken: list[tuple[float, float, str]] = []
        self.cues: list[tuple[float, float, str]] = []
        try:
            self._wav = wave.open(str(self.path), "wb")
        except OSError as exc:
            raise TtsError(f"I cannot write the audio output file {self.path}: {exc}") from exc
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(self.rate)
        self._written = 0   # samples

    def say(self, text: str) -> None:
        pcm, rate = self.synth.synthesize(text)
        if rate != self.rate:
            pcm = to_int16(resample(pcm, rate, self.rate))
        start, end = self._write_at_now(apply_gain(pcm, self.gain))
        self.spoken.append((start, end, text))

    def cue(self, name: str) -> None:
        start, end = self._write_at_now(earcon(name, self.rate, self.gain))
        self.cues.append((start, end, name))

    def _write_at_now(self, pcm: np.ndarray) -> tuple[float, float]:
        if self.gate is not None:
            self.gate.speaking()
        start = self.clock.now()
        at = int(round((start - self.origin) * self.rate))
        gap = at - self._written
        if gap > 0:
            self._wav.writeframes(np.zeros(gap, dtype="<i2").tobytes())
            self._written += gap
        self._wav.writeframes(pcm.astype("<i2").tobytes())   # header is patched on each write
        self._written += pcm.size
        self.clock.sleep_until(start + pcm.size / self.rate)
        end = self.clock.now()
        if self.gate is not None:
            self.gate.done_speaking(end)
        return start, end

    def close(self) -> None:
        if self._wav is not None:
            self._wav.close()
            self._wav = None
        self.synth.close()
