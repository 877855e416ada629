"""Issue 3: the PocketSphinx engine on real (made) speech — whole-utterance decoding,
words the model's dictionary lacks, the WAV resampler, and strict rejection.

Audio is made here with espeak-ng and sox (DEVELOPERS.md); the accuracy numbers at scale are
in BENCHMARKS.md ("1. Command accuracy"); these tests pin the behaviour on a small set."""
from __future__ import annotations

import logging
import re
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from skill.recognition.base import Hypothesis
from skill.recognition.pocketsphinx_engine import (DEFAULT_PRONUNCIATIONS, LEXICAL_BAND, REJECT_BELOW,
                                                   PocketSphinxRecognizer, read_pronunciations)
from skill.prompts import read_dialog_file
from skill.recognition.wavio import read_wav

REPO = Path(__file__).resolve().parents[1]

VOICES = [("en-us", 150), ("en-gb", 140), ("en-us+f3", 170)]
# Everyday speech, none of it a command; not the benchmark's out-of-domain sentences.
OUT_OF_DOMAIN = ["the weather is lovely today", "where did i leave my keys",
                 "my sister is coming over", "i had pasta for dinner",
                 "can you turn the radio on", "the bus was late again"]


@pytest.fixture(scope="module")
def assets():
    from skill.cli import DEFAULT_LOCALE_DIR, load_assets
    return load_assets(DEFAULT_LOCALE_DIR)


@pytest.fixture(scope="module")
def rec() -> PocketSphinxRecognizer:
    return PocketSphinxRecognizer()


def speak(text: str, voice: str, wpm: int, out: Path, snr_db: float | None = None) -> Path:
    """espeak-ng at its own 22,050 Hz, padded; optionally pink noise at `snr_db` (speech RMS)."""
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(out), text], check=True)
    padded = out.with_suffix(".pad.wav")
    subprocess.run(["sox", "-R", "-q", str(out), str(padded), "pad", "0.3", "0.3"], check=True)
    if snr_db is None:
        return padded
    with wave.open(str(padded)) as w:
        rate, x = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(float)
    # pink noise (1/f power), seeded: the same every run
    spec = np.fft.rfft(np.random.default_rng(7).normal(size=x.size))
    spec /= np.sqrt(np.maximum(np.fft.rfftfreq(x.size, 1 / rate), 20.0))
    n = np.fft.irfft(spec, x.size)
    core = x[int(0.3 * rate): x.size - int(0.3 * rate)]
    n *= np.sqrt(np.mean(core ** 2)) / (np.sqrt(np.mean(n ** 2)) * 10 ** (snr_db / 20))
    mixed = out.with_suffix(f".snr{snr_db:g}.wav")
    with wave.open(str(mixed), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(np.clip(np.round(x + n), -32768, 32767).astype("<i2").tobytes())
    return mixed


def decode(rec: PocketSphinxRecognizer, phrases: list[str], path: Path) -> Hypothesis:
    pcm = read_wav(path, rec.sample_rate)
    rec.begin(phrases)
    for i in range(0, len(pcm), 3200):
        rec.feed(pcm[i:i + 3200])
    return rec.finish()


def heard(assets, rec, context: str, path: Path) -> tuple[str, object]:
    h = decode(rec, assets.matcher.phrases(context), path)
    m = assets.matcher.match(h.text, context, h.confidence, REJECT_BELOW)
    return m.intent, m.value


def heard_clean_and_noisy(assets, rec, context: str, texts, voices, tmp_path: Path) -> list[tuple]:
    """(text, voice, snr, intent heard) for each text in each voice, clean and at 10 dB SNR,
    decoded in that order by one recogniser."""
    out = []
    for text in texts:
        for v, s in voices:
            for snr in (None, 10):
                wav = speak(text, v, s, tmp_path / f"{re.sub(r'[^a-z0-9]+', '_', text)}_{v}.wav", snr_db=snr)
                out.append((text, v, snr, heard(assets, rec, context, wav)[0]))
    return out


# ---------------------------------------------------------------- vocabulary
def test_every_word_of_every_context_is_in_the_dictionary(assets, rec):
    # A word in neither the model's dictionary nor pronunciations.dict silently drops its
    # phrases from the grammar: fail here instead, naming the word.
    missing = {c: rec.missing_words(assets.matcher.phrases(c)) for c in assets.matcher.contexts()}
    assert not any(missing.values()), f"add these to {DEFAULT_PRONUNCIATIONS}: {missing}"


def test_pronunciations_fill_the_dictionary_gaps(rec):
    words = dict(read_pronunciations(DEFAULT_PRONUNCIATIONS))
    assert {"glute", "glutes", "unpause"} <= set(words)
    bare = PocketSphinxRecognizer(pronunciations=None)
    assert bare.missing_words(["glutes please"]) == ["glutes"]   # the model alone lacks it
    assert rec.missing_words(["glutes please", "unpause"]) == []
    assert {"glute", "glutes", "unpause"} <= set(rec.added_words)


def test_a_malformed_pronunciation_file_is_reported_not_fatal(tmp_path, caplog):
    bad = tmp_path / "p.dict"
    bad.write_text("glutes\nwibble W IH B AH L\n")
    with caplog.at_level(logging.WARNING):
        r = PocketSphinxRecognizer(pronunciations=bad)
    assert r.added_words == [] and "p.dict:1" in caplog.text
    odd = tmp_path / "q.dict"
    odd.write_text("# a phone the model does not have\nzorp ZZ AO R P\nwibble W IH B AH L\n")
    with caplog.at_level(logging.WARNING):
        r = PocketSphinxRecognizer(pronunciations=odd)
    assert r.added_words == ["wibble"] and "zorp" in caplog.text
    r2 = PocketSphinxRecognizer(pronunciations=tmp_path / "absent.dict")
    assert r2.added_words == []


def test_glutes_phrases_reach_the_grammar(assets, rec, tmp_path):
    # Before pronunciations.dict these phrases were dropped from the menu grammar, so no
    # audio could ever come out as them; now the decoder finds them in real speech.
    texts = [decode(rec, assets.matcher.phrases("menu"), speak("the glutes", v, s, tmp_path / f"g_{v}.wav")).text
             for v, s in VOICES]
    assert any(t.split()[-1] in ("glute", "glutes") for t in texts if t), texts
    for t in texts:  # whatever the confidence, the words map to the glute routine or nothing
        m = assets.matcher.match(t, "menu")
        assert m.intent in ("routine", "none") and m.value in ("glute_strength", None), (t, m)


# ---------------------------------------------------------------- front end
def test_wav_resampler_keeps_fricatives_and_stops_aliasing(tmp_path):
    # /s/ and /f/ live at 4-8 kHz; the old linear resampler dulled them and let content
    # above 8 kHz fold back into the band the recogniser uses.
    rate, t = 22050, np.arange(22050) / 22050
    for freq, lo, hi in ((5000, -1.0, 1.0), (10000, -200.0, -30.0)):
        f = tmp_path / f"tone{freq}.wav"
        with wave.open(str(f), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
            w.writeframes((8000 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes())
        y = np.frombuffer(read_wav(f, 16000), "<i2").astype(float)[1000:-1000]
        gain_db = 20 * np.log10(np.sqrt(np.mean(y ** 2)) / (8000 / np.sqrt(2)))
        assert lo <= gain_db <= hi, (freq, gain_db)


def test_commands_in_noise_are_decoded_as_a_whole_utterance(assets, rec, tmp_path):
    # Whole-utterance cepstral normalisation: at 10 dB SNR the running estimate used before
    # was still settling during a one-second command (evaluation set, before rejection:
    # 64 % -> 82 % of commands decoded right). Decoded words, before the rejection step.
    cases = [("coach", "repeat that"), ("coach", "take a break"), ("coach", "skip this one"),
             ("coach", "that really hurts"), ("yes_no", "yes please"), ("number", "about a four")]
    rows = [(text, decode(rec, assets.matcher.phrases(ctx),
                          speak(text, v, s, tmp_path / f"n_{text[:8]}_{v}.wav", snr_db=10)).text)
            for ctx, text in cases for v, s in VOICES[:2]]
    assert sum(text == got for text, got in rows) >= 9, rows  # measured 12 of 12


@pytest.fixture(scope="module")
def one_word(assets, rec, tmp_path_factory) -> list[tuple[str, str, str, str]]:
    d = tmp_path_factory.mktemp("one_word")
    cases = {"yes_no": [("yes", "yes"), ("no", "no"), ("stop", "stop")],
             "coach": [("pause", "pause"), ("next", "next"), ("stop", "stop"), ("repeat", "repeat")],
             "menu": [("help", "help")]}
    return [(ctx, text, intent, heard(assets, rec, ctx, speak(text, v, s, d / f"w_{text}_{v}.wav"))[0])
            for ctx, words in cases.items() for text, intent in words for v, s in VOICES]


def test_one_word_commands_are_never_taken_for_another_command(one_word):
    wrong = [r for r in one_word if r[3] not in (r[2], "none")]
    assert not wrong, wrong


@pytest.mark.xfail(strict=True, reason="KNOWN LIMIT (issue 5's accuracy targets): PocketSphinx's acoustic model "
                   "fits espeak's one-word commands so badly (phone loop hears 'no' as UW OW, 'next' as "
                   "UW D) that the rejection turned most of them away. Session 5's second look against "
                   "sound-alike decoys (both off in yes_no) and the cut of a short answer's silence: 11 of these 24 accepted "
                   "(was 4; 15 with both on in yes_no too), 16 needed. Since session 11 the prompts and hints name "
                   "phrasings of several words, which are heard (BENCHMARKS.md section 1)")
def test_one_word_commands_are_mostly_accepted(one_word):
    assert sum(r[3] == r[2] for r in one_word) >= 2 * len(one_word) // 3, one_word


def test_out_of_domain_speech_is_not_understood_in_yes_no(assets, rec, tmp_path):
    results = []
    for i, text in enumerate(OUT_OF_DOMAIN):
        v, s = VOICES[i % len(VOICES)]
        results.append((text, heard(assets, rec, "yes_no", speak(text, v, s, tmp_path / f"o{i}.wav"))))
    accepted = [r for r in results if r[1][0] != "none"]
    assert not accepted, accepted


def test_words_that_begin_like_an_answer_are_not_taken_for_one(assets, rec, tmp_path):
    # The lexical second look's word loop leaves out the phrase's own words, so a word that
    # only begins like one ("nobody", "yesterday") had nothing to match but the phrase and was
    # taken for "no nothing" / "yes it is" (development probe, session 10: 3 of 120). The loop
    # now has each phrase word's extensions (verify.MAX_EXTENSIONS).
    results = heard_clean_and_noisy(assets, rec, "yes_no", ("nobody", "nowhere", "yesterday"),
                                    [("en-us+f2", 185)] + VOICES, tmp_path)
    assert not [r for r in results if r[3] in ("yes", "no")], results


def test_i_dont_know_is_heard_as_unsure_never_as_no(assets, rec, tmp_path):
    # Session 7's benchmark heard "i don't know" at 10 dB as "i have not" (a no, confidence
    # 0.74): the yes_no grammar had no better place for it than "i don't ...". Its own phrases
    # (intent `unsure`) give it one; the screener then explains the question and asks again.
    results = heard_clean_and_noisy(assets, rec, "yes_no", ("i don't know", "i'm not sure", "not sure"),
                                    VOICES, tmp_path)
    assert not [r for r in results if r[3] in ("yes", "no")], results
    assert sum(r[3] == "unsure" for r in results) >= 11, results   # measured 13 of 18


def test_no_idea_is_heard_as_unsure_never_as_no(assets, rec, tmp_path):
    # "No idea at all" begins like a no; without phrases of its own the grammar took it as
    # "no i am not" / "no i do not" (development probe, session 10: 3 of 8 renditions, two of
    # these voices). An unclear answer taken as a no is the screener's worst error.
    results = heard_clean_and_noisy(assets, rec, "yes_no", ("no idea at all", "no idea"),
                                    [("en-us+f2", 185), ("en-us+m7", 170)] + VOICES, tmp_path)
    assert not [r for r in results if r[3] in ("yes", "no")], results


def test_answers_that_mirror_the_question_are_heard(assets, rec, tmp_path):
    # "Did it start after a fall?" "No, it didn't." The screener's prompts ask for a few words
    # (a bare "no" is rejected far more often), and people answer in the question's own form.
    # Before these phrases were in the grammar such answers were rejected or heard as "unsure"
    # (development probe, session 11: 81 -> 116 of 200 yes/no answers right).
    want = {"no it didn't": "no", "no it isn't": "no", "no they aren't": "no", "no it doesn't": "no",
            "yes it did": "yes", "yes they are": "yes"}
    results = heard_clean_and_noisy(assets, rec, "yes_no", want, VOICES, tmp_path)
    assert not [r for r in results if r[3] in ("yes", "no") and r[3] != want[r[0]]], results
    assert sum(r[3] == want[r[0]] for r in results) >= 22, results   # measured 27 of 36 (6 before the phrases)


def test_a_partial_yes_or_a_doubtful_no_is_heard_as_one_never_as_yes_or_no(assets, rec, tmp_path):
    # "A little" to a red-flag question is clinically a yes, "not really" is no clear no. With no
    # phrases of their own such answers were rejected (development probe, session 11: 170 of 176
    # renditions; one heard as stop, one as yes) and the screener could only ask again in other
    # words. Heard as what they are, the screener says that even a little counts as a yes.
    want = {"sometimes": "partial_yes", "a little bit": "partial_yes", "it comes and goes": "partial_yes",
            "once or twice": "partial_yes", "i don't think so": "leaning_no", "not really": "leaning_no",
            "not that i know of": "leaning_no"}
    results = heard_clean_and_noisy(assets, rec, "yes_no", want, VOICES, tmp_path)
    assert not [r for r in results if r[3] not in (want[r[0]], "none")], results
    assert sum(r[3] == want[r[0]] for r in results) >= 30, results   # measured 35 of 42 (0 before)


def test_the_commands_the_coach_suggests_are_heard(assets, rec, tmp_path):
    # The coach's help and its "sorry" hints name what to say mid-exercise. They used to name
    # "next", "stop" and "it hurts", which development probes heard in 1 of 8, 1 of 8 and 5 of 10
    # renditions; the phrasings they name now were heard in all or nearly all of theirs
    # (BENCHMARKS.md section 1, session 11).
    help_line = read_dialog_file(REPO / "dialogs" / "en-us" / "prompts" / "help_coach.dialog").lines[0]
    suggested = {q.lower().replace(",", "") for q in re.findall(r'"([^"]+)"', help_line)} | set(assets.matcher.hints("coach"))
    commands = sorted(q for q in suggested
                      if assets.matcher.match(q, "coach").intent not in ("none", "where", "louder", "quieter",
                                                                        "more_detail", "less_detail"))
    assert len(commands) >= 8, commands
    want = {text: assets.matcher.match(text, "coach").intent for text in commands}
    results = heard_clean_and_noisy(assets, rec, "coach", commands, VOICES, tmp_path)
    assert not [r for r in results if r[3] not in (want[r[0]], "none")], results
    assert sum(r[3] == want[r[0]] for r in results) >= 43, results   # measured 48 of 54


def test_pain_mid_exercise_is_heard_on_less_evidence_and_nothing_else_is_taken_for_it(assets, rec, tmp_path):
    # contexts.toml: [coach] intent_margins = { pain = -0.2 }. The short ways of saying it
    # ("it hurts", "ouch", "it's sore") come in under the engine's threshold most of the time;
    # missed, the coaching goes on through the pain.
    results = heard_clean_and_noisy(
        assets, rec, "coach",
        ("it hurts", "ouch", "that hurts", "i'm in pain", "it's sore", "my back hurts") + tuple(OUT_OF_DOMAIN),
        VOICES, tmp_path)
    pain = [r for r in results if r[0] not in OUT_OF_DOMAIN]
    assert not [r for r in pain if r[3] not in ("pain", "none")], pain
    assert sum(r[3] == "pain" for r in pain) >= 14, pain   # measured 17 of 36 (10 without the margin)
    assert not [r for r in results if r[0] in OUT_OF_DOMAIN and r[3] != "none"], results


def test_confidence_combines_the_measures_it_reports(assets, rec, tmp_path):
    # The confidence is a fixed function of gap, uncovered speech and phone distance (the
    # three measures fitted in session 3), and of the lexical gap too where the lexical second
    # look ran (session 6); the phones the loop hears for a command are closer to its
    # pronunciation than those of an unrelated sentence forced onto a phrase.
    from skill.recognition.pocketsphinx_engine import combined_confidence, lexical_confidence
    phrases = assets.matcher.phrases("yes_no")
    measured = {}
    for text in ("yes please", "the weather is lovely today"):
        h = decode(rec, phrases, speak(text, "en-us", 150, tmp_path / f"{text[:8]}.wav"))
        assert h.text, text   # the grammar always forces some whole phrase onto these
        m = rec.last_measures
        if "lexical" in m:
            assert h.confidence == lexical_confidence(m["gap"], m["uncovered"], m["distance"], m["lexical"])
        else:
            assert h.confidence == combined_confidence(m["gap"], m["uncovered"], m["distance"])
        measured[text] = m["distance"]
    assert measured["yes please"] < measured["the weather is lovely today"], measured


def test_lexical_confidence_rises_with_the_lexical_gap_and_falls_with_the_others():
    from skill.recognition.pocketsphinx_engine import lexical_confidence
    mid = lexical_confidence(0.0, 0.0, 0.6, 15.0)
    assert lexical_confidence(0.0, 0.0, 0.6, 25.0) > mid > lexical_confidence(0.0, 0.0, 0.6, 5.0)
    assert lexical_confidence(0.0, 0.0, 0.9, 15.0) < mid and lexical_confidence(0.0, 0.3, 0.6, 15.0) < mid
    assert lexical_confidence(0.0, 0.0, float("inf"), 15.0) == 0.0


def test_the_lexical_look_tells_a_command_from_everyday_words(assets, rec, tmp_path):
    # Session 6: an uncertain result of several words is decoded again with the phrase alone
    # and with a loop of everyday words. A command fits its phrase far better than the loop
    # does; everyday speech forced onto a phrase fits it barely better than the loop. (The band
    # is opened here so that the look runs whatever the first confidence.)
    phrases = assets.matcher.phrases("coach")
    lexical = {}
    rec.lexical_band = (0.0, 1.01)
    try:
        for text in ("take a break", "repeat that please", "my phone is in the kitchen",
                     "we went to the cinema"):
            h = decode(rec, phrases, speak(text, "en-us", 150, tmp_path / f"lex_{text[:6]}.wav"))
            if len(h.text.split()) > 1:
                lexical[text] = rec.last_measures["lexical"]
    finally:
        rec.lexical_band = LEXICAL_BAND
    commands = [lexical[t] for t in ("take a break", "repeat that please")]
    others = [v for t, v in lexical.items() if t not in ("take a break", "repeat that please")]
    assert others, lexical   # the grammar forces some phrase of several words onto them
    assert min(commands) > max(others) + 3, lexical


def test_the_lexical_look_does_not_grow_with_the_phrases_it_looks_at(assets, rec, tmp_path):
    # Session 7: a pair of searches kept per phrase looked at grew the process by ~12 MB per
    # phrase with the full dictionary (2 MB with the product's small one): a day of answers
    # would have used gigabytes. The two searches are rebuilt for each new phrase instead.
    phrases = assets.matcher.phrases("coach")
    decode(rec, phrases, speak("take a break", "en-us", 150, tmp_path / "grow.wav"))
    pcm = read_wav(tmp_path / "grow.wav", rec.sample_rate)
    several = [p for p in phrases if len(p.split()) > 1][:12]
    rec._lexical_look(several[0], pcm, 0.5)      # the first look builds the searches

    def rss_mb() -> float:
        return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1024
    before = rss_mb()
    for phrase in several[1:]:
        rec._lexical_look(phrase, pcm, 0.5)
    assert rss_mb() - before < 30, f"{rss_mb() - before:.1f} MB for {len(several) - 1} more phrases"
    assert rec._lexical_phrase == several[-1]      # every look rebuilt them, for its own phrase


# ---------------------------------------------------- British speakers (session 4)
# The dictionary spells only US pronunciations; the accent variants (skill/recognition/
# accents.py, dialogs/en-us/accents.toml) give a British "no" [n@U] or BATH-vowel "faster" a
# path of its own. Cases picked on development data (the session 4 screener-answers and
# development-set runs), made the evaluation set's way (skill/bench/evalset.speak).
BRITISH = [("yes_no", "no", "no", "en-gb", 175),
           ("coach", "faster", "faster", "en-gb", 175),
           ("yes_no", "no thank you", "no", "en-gb-x-rp", 160)]


@pytest.fixture(scope="module")
def british(assets, tmp_path_factory) -> dict[str, list[tuple[str, str]]]:
    """(expected intent, heard intent) per case, with and without the accent variants.
    Decoded without session 5's noise floor and session 6's lexical second look, as the
    variants were measured (session 4): with the floor these three clips come out differently
    both ways (the floor's own effect by voice is in BENCHMARKS.md section 1), and the lexical
    look alone wins back "no thank you" without the variants."""
    from skill.bench.evalset import read_pcm
    from skill.bench.evalset import speak as speak_16k
    d = tmp_path_factory.mktemp("british")
    out: dict[str, list[tuple[str, str]]] = {}
    for label, rec in (("with", PocketSphinxRecognizer(floor_below_db=None)),
                       ("without", PocketSphinxRecognizer(accents=None, floor_below_db=None))):
        rec.lexical_band = None
        rows = []
        for ctx, text, intent, voice, wpm in BRITISH:
            wav = d / f"{text.replace(' ', '_')}_{voice}_{wpm}.wav"
            if not wav.exists():
                speak_16k(text, voice, wpm, wav)
            pcm = read_pcm(wav).astype("<i2").tobytes()
            rec.begin(assets.matcher.phrases(ctx))
            for i in range(0, len(pcm), 3200):
                rec.feed(pcm[i:i + 3200])
            h = rec.finish()
            match = assets.matcher.match(h.text, ctx, h.confidence, REJECT_BELOW)
            rows.append((intent, match.intent))
        out[label] = rows
    return out


def test_british_answers_are_accepted_with_the_accent_variants(british):
    assert all(heard == intent for intent, heard in british["with"]), british["with"]


def test_the_same_british_answers_are_rejected_without_them(british):
    # the control: without the variants the US spellings make the rejection turn them away
    # (measured: "no" decoded as "nope" at 0.40, "faster" as "softer" at 0.18)
    assert not any(heard == intent for intent, heard in british["without"]), british["without"]
    assert all(heard == "none" for _, heard in british["without"])   # and nothing worse
