"""The naive alternative a developer writes first: free-vocabulary recognition + keyword spotting.

Same engines, same audio, no grammar: PocketSphinx with its default US-English language model,
Vosk with no grammar argument. The transcript is then searched for the context's phrases
(longest first, as whole words), and failing that for keywords: a word that occurs in the
phrases of only one (intent, value) of the context. The first such word wins. Nothing is ever
rejected unless no phrase or keyword occurs at all, which is what keyword spotting does.
"""
from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from ..matcher import REJECTED, Matcher, normalize
from ..recognition.base import Hypothesis

# Words that say nothing about the intent on their own.
STOPWORDS = frozenset("""a an the i i'm it it's is am are do does did to of that that's this
    one me my you your please can what go say""".split())


class KeywordSpotter:
    def __init__(self, matcher: Matcher, context: str) -> None:
        self.context = context
        self.phrases: list[tuple[str, str, Any]] = []
        owners: dict[str, set] = defaultdict(set)
        for p in matcher.phrases(context):
            ph = matcher.intent_of(p, context)
            self.phrases.append((p, ph.intent, ph.value))
            for w in p.split():
                owners[w].add((ph.intent, repr(ph.value), ph.value))
        self.phrases.sort(key=lambda t: -len(t[0]))
        self.keywords: dict[str, tuple[str, Any]] = {}
        for w, who in owners.items():
            if w in STOPWORDS or len({(i, r) for i, r, _ in who}) != 1:
                continue
            (intent, _, value), = who
            self.keywords[w] = (intent, value)

    def spot(self, text: str) -> tuple[str, Any]:
        norm = normalize(text)
        if not norm:
            return REJECTED, None
        padded = f" {norm} "
        for phrase, intent, value in self.phrases:
            if f" {phrase} " in padded:
                return intent, value
        for w in norm.split():
            if w in self.keywords:
                return self.keywords[w]
        return REJECTED, None


class FreePocketSphinx:
    """PocketSphinx with its default language model (the wheel's en-us model)."""

    name = "pocketsphinx"
    sample_rate = 16000

    def __init__(self) -> None:
        from pocketsphinx import Decoder
        self.decoder = Decoder(samprate=self.sample_rate, logfn=os.devnull)
        self._started = False

    def begin(self, phrases: list[str] | None = None) -> None:
        self.decoder.start_utt()
        self._started = True

    def feed(self, pcm: bytes) -> None:
        self.decoder.process_raw(pcm, False, False)

    def finish(self) -> Hypothesis:
        self.decoder.end_utt()
        self._started = False
        hyp = self.decoder.hyp()
        if hyp is None:
            return Hypothesis("", None)
        text = " ".join(w for w in hyp.hypstr.split() if not w.startswith("<") and not w.startswith("["))
        return Hypothesis(text, None)


class FreeVosk:
    """Vosk without a grammar: the model's full vocabulary and language model."""

    name = "vosk"
    sample_rate = 16000

    def __init__(self, model_path: str | Path) -> None:
        from vosk import KaldiRecognizer, Model, SetLogLevel
        SetLogLevel(-1)
        self._model = Model(str(model_path))
        self._cls = KaldiRecognizer
        self._rec = None

    def begin(self, phrases: list[str] | None = None) -> None:
        self._rec = self._cls(self._model, self.sample_rate)
        self._rec.SetWords(True)

    def feed(self, pcm: bytes) -> None:
        self._rec.AcceptWaveform(pcm)

    def finish(self) -> Hypothesis:
        res = json.loads(self._rec.FinalResult())
        text = res.get("text", "")
        words = res.get("result") or []
        conf = min((w.get("conf", 1.0) for w in words), default=None)
        return Hypothesis(re.sub(r"\[unk\]", "", text).strip(), conf)


def open_free(engine: str, model_path: str | Path | None = None):
    if engine == "pocketsphinx":
        return FreePocketSphinx()
    if engine == "vosk":
        if model_path is None:
            raise RuntimeError("free Vosk needs a model path")
        return FreeVosk(model_path)
    raise ValueError(engine)
