"""The real PocketSphinx engine on made speech (espeak-ng + sox noise) and real human digits."""
from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from skill.recognition.base import Hypothesis
from skill.recognition.pocketsphinx_engine import REJECT_BELOW, PocketSphinxRecognizer
from skill.recognition.wavio import read_wav

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd-dev"
COMMANDS = ["yes", "no", "next", "pause", "stop", "repeat that", "go faster", "help", "skip", "resume"]
IN_GRAMMAR = ["yes", "no", "next", "pause", "stop", "repeat that", "go faster", "help"]
OUT_OF_GRAMMAR = ["what time is it", "turn on the lights", "I like cheese", "hello there",
                  "the weather is nice", "call my mother"]
VOICES = [("en-us", 150), ("en-gb", 140)]
# The screener's yes/no context: everyday sentences must come out as "not understood"
YES_NO_IN = ["yes", "no", "yes please", "no thanks", "nope", "not at all", "yeah", "i don't"]
YES_NO_OUT = ["the weather is lovely today", "my dog is sleeping on the sofa",
              "where did i leave my keys", "i had pasta for dinner", "tell me a joke",
              "book a table for two", "the bus was late again", "who won the football match",
              "order a pizza", "my sister is a doctor"]


def speak(text: str, voice: str, rate: int, out: Path, noise: Path) -> Path:
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(raw), text], check=True)
    clean = out.with_suffix(".clean.wav")
    # 16 kHz with 0.3 s of room either side, then a quiet noise floor as a real microphone has
    subprocess.run(["sox", "-R", "-q", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(clean),
                    "pad", "0.3", "0.3"], check=True)
    dur = subprocess.run(["soxi", "-D", str(clean)], capture_output=True, text=True, check=True).stdout
    subprocess.run(["sox", "-R", "-q", "-m", str(clean), str(noise), str(out), "trim", "0", dur.strip()],
                   check=True)
    return out


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> dict[str, list[tuple[str, Path]]]:
    d = tmp_path_factory.mktemp("ps_speech")
    noise = d / "noise.wav"
    subprocess.run(["sox", "-R", "-q", "-n", "-r", "16000", "-c", "1", "-b", "16", str(noise),
                    "synth", "6", "whitenoise", "vol", "0.02"], check=True)
    out: dict[str, list[tuple[str, Path]]] = {"in": [], "out": [], "yn_in": [], "yn_out": []}
    for voice, rate in VOICES:
        for kind, texts in (("in", IN_GRAMMAR), ("out", OUT_OF_GRAMMAR), ("yn_in", YES_NO_IN),
                            ("yn_out", YES_NO_OUT)):
            for text in texts:
                f = d / f"{kind}_{voice}_{rate}_{text.replace(' ', '_')}.wav"
                out[kind].append((text, speak(text, voice, rate, f, noise)))
    return out


@pytest.fixture(scope="session")
def rec() -> PocketSphinxRecognizer:
    return PocketSphinxRecognizer()


def decode(rec, phrases, path: Path, chunk: int = 3200) -> Hypothesis:
    pcm = read_wav(path, rec.sample_rate)
    rec.begin(phrases)
    for i in range(0, len(pcm), chunk):
        rec.feed(pcm[i:i + chunk])
    return rec.finish()


def accepted(h: Hypothesis) -> bool:
    return bool(h.text) and (h.confidence is None or h.confidence >= REJECT_BELOW)


def test_in_grammar_commands_are_recognised(rec, speech):
    results = [(text, decode(rec, COMMANDS, f)) for text, f in speech["in"]]
    correct = sum(accepted(h) and h.text == text for text, h in results)
    wrong = [(text, h.text) for text, h in results if accepted(h) and h.text != text]
    # the garbage loop trades recall for fewer false accepts (see the recognition report)
    assert correct >= 0.5 * len(results), results
    assert len(wrong) <= 0.1 * len(results), wrong


def test_out_of_grammar_speech_is_rejected(rec, speech):
    results = [(text, decode(rec, COMMANDS, f)) for text, f in speech["out"]]
    false_accepts = [(text, h) for text, h in results if accepted(h)]
    assert len(false_accepts) <= 0.1 * len(results), false_accepts


@pytest.fixture(scope="session")
def yes_no_phrases() -> list[str]:
    from skill.cli import DEFAULT_LOCALE_DIR, load_assets
    return load_assets(DEFAULT_LOCALE_DIR).matcher.phrases("yes_no")


def test_out_of_domain_speech_is_not_understood_in_yes_no(rec, speech, yes_no_phrases):
    # The free phone loop fits any speech; a known phrase fits the grammar nearly as well,
    # an everyday sentence forced into the 175-phrase grammar much worse.
    results = [(text, decode(rec, yes_no_phrases, f)) for text, f in speech["yn_out"]]
    false_accepts = [(text, h) for text, h in results if accepted(h)]
    assert len(false_accepts) <= 0.1 * len(results), false_accepts


def test_yes_no_answers_are_accepted_and_never_swapped(rec, speech, yes_no_phrases):
    from skill.cli import DEFAULT_LOCALE_DIR, load_assets
    matcher = load_assets(DEFAULT_LOCALE_DIR).matcher

    def intent(text: str) -> str:
        return matcher.match(text, "yes_no", 1.0, 0.0).intent

    results = [(text, decode(rec, yes_no_phrases, f)) for text, f in speech["yn_in"]]
    correct = sum(accepted(h) and h.text == text for text, h in results)
    # swapped = taken as the other answer ("nope" heard as "no" is no swap)
    wrong = [(text, h) for text, h in results if accepted(h) and intent(h.text) != intent(text)]
    # A floor, not the goal: in the 248-phrase grammar under this noise the decoder finds the
    # right phrase for 10 of these 16 clips, and the rejection keeps only 3 of them (decoding
    # as it streams: 8 found, 4 kept, 2 wrong ones kept). Issue 3/5: see BENCHMARKS.md.
    assert correct >= 3, results
    assert len(wrong) <= 0.1 * len(results), wrong


def test_confidence_is_a_probability_and_falls_for_a_worse_fit(rec, speech, yes_no_phrases):
    yes_file = dict(speech["yn_in"])["yes"]
    h = decode(rec, yes_no_phrases, yes_file)
    assert h.text == "yes" and 0.0 <= h.confidence <= 1.0
    assert set(rec.last_measures) == {"gap", "uncovered", "distance"}
    # the same "yes" forced into a grammar that cannot hold it fits worse than in its own
    forced = decode(rec, ["go faster", "repeat that"], yes_file)
    assert not accepted(forced) or forced.confidence < h.confidence


def test_chunk_size_does_not_matter(rec, speech):
    text, f = speech["in"][0]
    whole = decode(rec, COMMANDS, f, chunk=10**9)
    for chunk in (320, 4001, 16000):
        assert decode(rec, COMMANDS, f, chunk=chunk).text == whole.text


def test_rebegin_with_other_phrase_sets_is_cached(rec, speech):
    yes_file = dict(speech["in"])["yes"]
    assert decode(rec, ["yes", "no"], yes_file).text == "yes"
    n = len(rec._searches)
    # the same audio in a context without "yes" can never come out as "yes"
    assert decode(rec, ["stop", "pause"], yes_file).text != "yes"
    assert decode(rec, ["yes", "no"], yes_file).text == "yes"
    assert len(rec._searches) == n + 1  # ["yes","no"] was reused, not rebuilt


def test_silence_and_noise_give_nothing(rec, tmp_path):
    f = tmp_path / "noise.wav"
    subprocess.run(["sox", "-R", "-q", "-n", "-r", "16000", "-b", "16", str(f), "synth", "1.5",
                    "whitenoise", "vol", "0.02"], check=True)
    h = decode(rec, COMMANDS, f)
    assert not accepted(h)
    rec.begin(COMMANDS)
    rec.feed(b"\0\0" * 16000)
    assert not accepted(rec.finish())


def test_feed_before_begin_is_an_error():
    r = PocketSphinxRecognizer()
    with pytest.raises(RuntimeError):
        r.feed(b"\0\0")


def test_unknown_words_are_reported_and_dropped(rec, speech):
    yes_file = dict(speech["in"])["yes"]
    h = decode(rec, ["yes", "flurbix"], yes_file)
    assert rec.missing == ["flurbix"]
    assert h.text == "yes"


@pytest.mark.skipif(not FSDD.is_dir(), reason="fsdd-dev digits not present")
def test_real_human_digits_8khz(rec):
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    files = sorted(FSDD.glob("*.wav"))
    random.Random(3).shuffle(files)
    files = files[:30]
    ok = 0
    for f in files:
        # with the room either side that the endpointer always delivers (the clips are
        # trimmed to the word; the whole-utterance normalisation needs some silence)
        pcm = read_wav(f, rec.sample_rate)
        rec.begin(words)
        rec.feed(b"\0\0" * 4800 + pcm + b"\0\0" * 4800)
        ok += rec.finish().text == words[int(f.name[0])]
    # measured 20 of these 30 (44 of the first 60 of this shuffle, 73 %); with the lattice
    # best path (bestpath=True, dropped in session 3 for its cost) 23 (48 of 60), though
    # fewer of those passed the rejection: 24 of 60 right and accepted vs 35 now
    assert ok >= 0.6 * len(files), ok


# --- the small dictionary (vocabulary=...): same results, far less memory ---------------

@pytest.fixture(scope="session")
def small_rec() -> PocketSphinxRecognizer:
    words = {w for p in COMMANDS + YES_NO_IN for w in p.split()}
    return PocketSphinxRecognizer(vocabulary=words)


def test_small_dictionary_decodes_exactly_as_the_full_one(speech, yes_no_phrases):
    # fresh engines for both: a decoder's results depend a little on the utterances it has
    # decoded before (measured: the session-wide `rec` gives another confidence for "yes")
    rec = PocketSphinxRecognizer()
    small_rec = PocketSphinxRecognizer(vocabulary={w for p in COMMANDS + yes_no_phrases
                                                   for w in p.split()})
    assert small_rec.small_dictionary and not rec.small_dictionary
    cases = ([(COMMANDS, f) for _, f in speech["in"][:6] + speech["out"][:3]]
             + [(yes_no_phrases, f) for _, f in speech["yn_in"][:4] + speech["yn_out"][:3]])
    accepted_any = False
    for phrases, f in cases:
        full, small = decode(rec, phrases, f), decode(small_rec, phrases, f)
        assert (small.text, small.confidence) == (full.text, full.confidence), f.name
        assert small_rec.last_measures == rec.last_measures, f.name
        accepted_any |= accepted(full)
    assert accepted_any  # the comparison covered real recognitions, not only rejections
    # the phone loop (the wake detector's phone check reads it) sees the same phones
    assert [s.word for s in small_rec._phones.seg()] == [s.word for s in rec._phones.seg()]


def test_small_dictionary_holds_only_the_vocabulary_and_alternates(small_rec):
    d = small_rec._decoder
    assert d.lookup_word("yes") == rec_full_spelling("yes")
    # a word the vocabulary lacks is not loaded until asked for ...
    assert d.lookup_word("cheese") is None


def rec_full_spelling(word: str) -> str | None:
    """The word's phones in the wheel's full cmudict-en-us.dict ('read(2)': the alternate)."""
    from skill.recognition.pocketsphinx_engine import default_model_dir, dictionary_lines
    lines = dictionary_lines(default_model_dir() / "cmudict-en-us.dict", {word.split("(")[0]})
    return next((l.split(None, 1)[1] for l in lines if l.split()[0] == word), None)


def test_words_outside_the_vocabulary_are_fetched_on_demand(speech):
    small = PocketSphinxRecognizer(vocabulary=["no"])
    assert small._decoder.lookup_word("yes") is None
    yes_file = dict(speech["in"])["yes"]
    h = decode(small, ["yes", "no", "flurbix"], yes_file)
    assert h.text == "yes" and accepted(h)
    assert small.missing == ["flurbix"]           # unknown everywhere: still reported
    assert small.missing_words(["read", "flurbix"]) == ["flurbix"]
    # every pronunciation comes along, as in the full dictionary
    assert small._decoder.lookup_word("read(2)") == rec_full_spelling("read(2)") is not None
    # a word from dialogs/en-us/pronunciations.dict is there without being in the vocabulary
    from skill.recognition.pocketsphinx_engine import DEFAULT_PRONUNCIATIONS, read_pronunciations
    own = read_pronunciations(DEFAULT_PRONUNCIATIONS)
    if own:
        assert small.missing_words([own[0][0]]) == []


def test_an_empty_vocabulary_still_works(speech):
    small = PocketSphinxRecognizer(vocabulary=[])
    yes_file = dict(speech["in"])["yes"]
    assert decode(small, COMMANDS, yes_file).text == "yes"


# ------------------------------------------------------------------ decoding cost (session 3)
def test_decoder_settings_reach_both_decoders():
    from skill.recognition import pocketsphinx_engine as pe
    small = PocketSphinxRecognizer(vocabulary=["yes", "no"])
    for decoder, options in ((small._decoder, pe.GRAMMAR_DECODER_OPTIONS), (small._phones, pe.PHONE_LOOP_OPTIONS)):
        for key, value in options.items():
            assert decoder.config[key] == value, key
    # the grammar's best path is read off the search itself, not a rescored lattice: on
    # speech far from every phrase the lattice took seconds (BENCHMARKS.md section 3)
    assert small._decoder.config["bestpath"] is False


def test_phone_loop_runs_only_for_a_whole_phrase(rec, speech, yes_no_phrases):
    yes_file = dict(speech["yn_in"])["yes"]
    h = decode(rec, yes_no_phrases, yes_file)
    assert h.text == "yes" and rec.phone_loop_decoded and h.confidence is not None
    last_phones = [s.word for s in rec._phones.seg()]
    # sentences the grammar cannot hold: most end in no whole phrase, and those are rejected
    # without running the phone loop
    skipped = []
    # three-word phrases: with British variants ("F AA S T AH"...) two-word ones took every
    # sentence to a whole phrase; these leave most sentences inside a phrase (measured 10 of 12)
    for text, f in speech["out"]:
        h = decode(rec, ["go faster please now", "repeat that slowly", "help me with this"], f)
        assert rec.phone_loop_decoded == bool(h.text), (text, h)
        if rec.phone_loop_decoded:
            last_phones = [s.word for s in rec._phones.seg()]
        else:
            assert h.text == "" and h.confidence in (None, 0.0)
            skipped.append(text)
            # the loop's segments are the last decoded ones, not this sentence's
            assert [s.word for s in rec._phones.seg()] == last_phones
    assert skipped, "every sentence decoded to a whole phrase: the skip was never exercised"


def test_a_partial_path_is_rejected_without_the_phone_loop(rec, speech):
    # "help" alone in a grammar whose phrases all need a second word: the search ends inside
    # a phrase (or nowhere), never a whole phrase, so no confidence is computed
    f = dict(speech["in"])["help"]
    h = decode(rec, ["help me please", "help us now"], f)
    if h.text:
        pytest.fail(f"a partial path came out as a phrase: {h}")
    assert not rec.phone_loop_decoded


def test_streamed_phone_loop_gives_the_same_words_and_a_confidence(speech, yes_no_phrases):
    streamed = PocketSphinxRecognizer(vocabulary=yes_no_phrases_words(yes_no_phrases))
    streamed.stream_phone_loop = True
    batch = PocketSphinxRecognizer(vocabulary=yes_no_phrases_words(yes_no_phrases))
    for text, f in speech["yn_in"][:4]:
        hs, hb = decode(streamed, yes_no_phrases, f), decode(batch, yes_no_phrases, f)
        assert hs.text == hb.text, text        # the grammar decoder is untouched
        assert streamed.phone_loop_decoded
        if hs.text:
            assert 0.0 <= hs.confidence <= 1.0
    # an utterance too short to decode still closes the streamed loop's utterance
    streamed.begin(yes_no_phrases)
    streamed.feed(b"\0\0" * 800)
    assert streamed.finish() == Hypothesis("", None)
    text, f = speech["yn_in"][0]
    assert decode(streamed, yes_no_phrases, f).text == decode(batch, yes_no_phrases, f).text


def yes_no_phrases_words(phrases: list[str]) -> set[str]:
    return {w for p in phrases for w in p.split()}


class _AddWordSpy:
    """The engine's grammar decoder, counting add_word calls that rebuild the active search."""

    def __init__(self, decoder) -> None:
        self._decoder, self.rebuilds, self.added = decoder, 0, 0

    def __getattr__(self, name: str):
        return getattr(self._decoder, name)

    def add_word(self, word: str, phones: str, update: bool = True):
        self.added += 1
        self.rebuilds += bool(update)
        return self._decoder.add_word(word, phones, update)


def test_accent_variants_are_added_without_rebuilding_the_search_each_time(yes_no_phrases):
    # With update=True every variant rebuilt the active search: the first yes_no grammar then
    # took 10 s of CPU (0.01 s without), and begin() runs when the person starts speaking.
    rec = PocketSphinxRecognizer(vocabulary={w for p in yes_no_phrases for w in p.split()})
    spy = _AddWordSpy(rec._decoder)
    rec._decoder = spy
    rec.begin(yes_no_phrases)
    assert spy.added >= 10                      # the variants were added here ...
    assert spy.rebuilds == 0                    # ... and the grammar built once, after them
    assert len(rec.pronunciations("no")) >= 2   # and the grammar has them: "N AH UW"
