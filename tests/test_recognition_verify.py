"""The second look at uncertain one-word results (skill/recognition/verify.py): the utterance
is decoded again with the context's phrases plus sound-alike decoys, and the word is taken
only if it still wins. Real decoder, real (made) speech; the decoy rule also on a tiny
dictionary (pure logic). The decoys are computed offline (dialogs/en-us/decoys.json,
skill/recognition/decoy_file.py): the file is checked against a rebuild, and a stale, missing
or malformed file against the decoys computed at first use."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import skill.recognition.verify as verify
from skill.recognition import decoy_file
from skill.recognition.pocketsphinx_engine import REJECT_BELOW, PocketSphinxRecognizer
from skill.recognition.verify import DecoyVerifier, extensions, neighbours, one_edit

# the engine and the assets are the accuracy tests' fixtures (the same configuration:
# load_assets(DEFAULT_LOCALE_DIR), PocketSphinxRecognizer() with the full dictionary)
from test_recognition_accuracy import VOICES, assets, decode, rec, speak  # noqa: F401


@pytest.fixture
def every_uncertain(monkeypatch):
    # the second look for every result under the threshold, however poor, in every grammar:
    # these tests are about what the stage decides, not about which results reach it
    monkeypatch.setattr(verify, "VERIFY_FROM", 0.0)
    monkeypatch.setattr(verify, "OFF_WHERE_ANSWERS", frozenset())


# ---------------------------------------------------------------- the decoy rule
def test_one_edit_is_every_substitution_deletion_and_insertion():
    near = one_edit(("N", "OW"))
    assert ("G", "OW") in near and ("OW",) in near and ("S", "N", "OW") in near
    assert ("N", "OW", "T") in near and ("N", "AW") in near
    assert ("N", "OW") not in near and ("G", "AA") not in near    # itself; two edits


def test_neighbours_leave_out_homophones_and_other_spellings(tmp_path):
    d = tmp_path / "tiny.dict"
    d.write_text("go G OW1\nknow N OW1\nno N OW1\nnote N OW1 T\nsnow S N OW1\n"
                 "gnaw N AO1\ngnaw(2) N OW1\nnot N AA1 T\nno's N OW1 Z\n", encoding="utf-8")
    near, same = neighbours(d, {"no": [("N", "OW")]})
    words = [w for w, _ in near["no"]]
    assert set(words) == {"go", "note", "snow"}, words   # not "not" (two edits) nor "no's"
    assert same["no"] == {"no", "know", "gnaw"}            # a homophone by any spelling


def test_extensions_begin_like_the_word_and_go_on_never_a_homophone(tmp_path):
    d = tmp_path / "tiny.dict"
    d.write_text("go G OW1\nknow N OW1\nno N OW1\nnobody N OW1 B AA2 D IY0\nnote N OW1 T\n"
                 "snow S N OW1\ngnaw N AO1\ngnaw(2) N OW1\nnope N OW1 P\nnot N AA1 T\n"
                 "knows N OW1 Z\nyes Y EH1 S\n", encoding="utf-8")
    near, same = neighbours(d, {"no": [("N", "OW")]})
    longer = extensions(d, {"no": [("N", "OW")]}, same)
    words = [w for w, _ in longer["no"]]
    # begins with N OW and goes on; not "snow" (the sound is inside), not "not" (another
    # vowel), not "know" or "gnaw" (a homophone, by any spelling), not "no" itself
    assert set(words) == {"nobody", "note", "nope", "knows"}, words
    assert dict(longer["no"])["nobody"] == "N OW B AA D IY"


def test_the_lexical_loop_gets_the_extensions_of_the_phrase_words_only(assets, rec):
    rec.begin(assets.matcher.phrases("yes_no"))
    got = dict(rec.verifier.extensions("no nothing"))
    assert {"nobody", "nowhere", "november"} <= set(got), got
    assert not {"no", "nothing", "know"} & set(got)       # its own words and their homophones
    assert "yesterday" not in got                          # "yes" is not one of its words
    assert "yesterday" in dict(rec.verifier.extensions("yes it is"))


def test_decoys_are_everyday_sound_alikes_never_an_answer(assets, rec):
    phrases = assets.matcher.phrases("yes_no")
    rec.begin(phrases)   # as in a session: the grammar gives its words their accent variants
    decoys = rec.verifier.decoys("no", phrases)
    assert {"go", "so", "snow", "note"} <= set(decoys), decoys
    assert not {"know", "no", "nope", "nah"} & set(decoys)   # a homophone; the answers
    assert len(decoys) <= verify.MAX_DECOYS
    # rare names one phone away ("knepp" for "next") are not decoys: they fit odd
    # renditions of the command itself better than the command does
    rec.begin(assets.matcher.phrases("coach"))
    assert {"text", "neck"} <= set(rec.verifier.decoys("next", assets.matcher.phrases("coach")))
    assert "knepp" not in rec.verifier.decoys("next", assets.matcher.phrases("coach"))


def test_only_uncertain_short_words_get_a_second_look(rec):
    assert rec.verifier.applies("no") and rec.verifier.applies("next")
    assert not rec.verifier.applies("no thanks")              # a phrase of several words
    assert not rec.verifier.applies("absolutely")             # long enough for the phone loop
    before = rec.verifier.decodes
    assert rec.verifier.check("no", 0.9, b"", ["no", "yes"], REJECT_BELOW, "x", {}) == 0.9
    assert rec.verifier.check("no", 0.0, b"", ["no", "yes"], REJECT_BELOW, "x", {}) == 0.0
    assert rec.verifier.decodes == before                     # neither was decoded again


# ---------------------------------------------------------------- real speech
def test_a_sound_alike_loses_to_its_decoy(assets, rec, tmp_path, every_uncertain):
    # "snow" and "nose" are one phone from "no": the grammar alone forces them onto "no"
    # (in the screener that would be an answer nobody gave); with the decoys they lose.
    phrases = assets.matcher.phrases("yes_no")
    rows = []
    for word in ("snow", "nose"):
        for v, s in VOICES:
            h = decode(rec, phrases, speak(word, v, s, tmp_path / f"{word}_{v}.wav"))
            m = assets.matcher.match(h.text, "yes_no", h.confidence, REJECT_BELOW)
            rows.append((word, v, h.text, m.intent, rec.verifier.last.get("winner")))
    # wherever the second look ran, the sound-alike was not taken for "no" (where it did not
    # run, the result is the plain decoder's, as without the stage)
    assert all(r[3] != "no" for r in rows if r[4] is not None), rows
    lost = [r for r in rows if r[4] not in (None, "no")]
    assert len(lost) >= 3, rows     # measured 5 of 6: the stage, not the threshold, decided


def test_the_command_survives_its_decoys(assets, rec, tmp_path, every_uncertain):
    rows = []
    for ctx, word in (("coach", "next"), ("yes_no", "no")):
        for v, s in VOICES:
            h = decode(rec, assets.matcher.phrases(ctx), speak(word, v, s, tmp_path / f"{word}_{v}.wav"))
            rows.append((word, v, h.text, h.confidence, rec.verifier.last.get("winner")))
    # with the noise floor (session 5) most of these are confident at once: measured 2 of 6
    # kept through the second look (raised to the threshold), 3 confident already, and en-gb
    # "no" lost to its decoy "note" (rejected: asked again, never another answer)
    kept = [r for r in rows if r[2] == r[0] and r[4] == r[0] and r[3] == REJECT_BELOW]
    assert len(kept) >= 2, rows
    assert all(r[2] in ("", r[0]) for r in rows), rows   # never another command
    # the engine's own grammar is back in place: the next utterance decodes as before
    h = decode(rec, assets.matcher.phrases("yes_no"), speak("yes", "en-us", 150, tmp_path / "yes.wav"))
    assert h.text == "yes" and h.confidence >= REJECT_BELOW


# ---------------------------------------------------------------- the decoded stretch
def test_a_short_answer_is_decoded_without_most_of_its_silence():
    from skill.recognition.span import MAX_SPEECH_SECONDS, speech_span
    quiet, loud = [100.0] * 50, [1e6] * 40               # 0.5 s silence, 0.4 s of a word
    first, end = speech_span(quiet + loud + quiet, 10.0, 0.15)
    assert (first, end) == (50 - 15, 90 + 15)            # the word and 0.15 s either side
    long_speech = [1e6] * int(MAX_SPEECH_SECONDS * 100 + 20)
    assert speech_span(quiet + long_speech + quiet, 10.0, 0.15) == (0, 100 + len(long_speech))
    assert speech_span(quiet + loud + quiet, 10.0, None) == (0, 140)   # cutting turned off
    assert speech_span([100.0] * 80, 10.0, 0.15) == (0, 80)            # no speech: all of it
    assert speech_span([], 10.0, 0.15) == (0, 0)


def test_an_unreadable_language_model_turns_the_second_look_off_not_recognition(
        assets, tmp_path, caplog, every_uncertain):
    r = PocketSphinxRecognizer()
    # no decoys file: they are computed at first use, and the n-gram model is not there
    r.verifier = DecoyVerifier(r._decoder, r.full_dictionary, tmp_path / "missing.lm.bin",
                               decoys_file=None)
    clip = speak("no", "en-gb", 140, tmp_path / "no.wav")
    with caplog.at_level("WARNING"):
        first = decode(r, assets.matcher.phrases("yes_no"), clip)
        again = decode(r, assets.matcher.phrases("yes_no"), clip)
    assert first.text == again.text == "no"                 # still decoded, as before the stage
    assert first.confidence < REJECT_BELOW and r.verifier.last == {}
    assert caplog.text.count("second look at one-word answers turned off") == 1
    assert "missing.lm.bin" in caplog.text


def test_the_second_look_is_off_where_yes_and_no_are_answers(assets, rec, tmp_path):
    # yes_no (screener) and pain_confirm: a wrongly accepted answer costs more there than a
    # question asked again (on the benchmark the stage took yes_no over its false-accept limit)
    assert verify.OFF_WHERE_ANSWERS <= set(assets.matcher.phrases("yes_no"))
    assert verify.OFF_WHERE_ANSWERS <= set(assets.matcher.phrases("pain_confirm"))
    assert not verify.OFF_WHERE_ANSWERS <= set(assets.matcher.phrases("coach"))
    assert not rec.verifier.short_words(assets.matcher.phrases("yes_no"))   # nor the cut
    assert rec.verifier.short_words(assets.matcher.phrases("coach"))
    before = rec.verifier.decodes
    h = decode(rec, assets.matcher.phrases("yes_no"), speak("no", "en-gb", 140, tmp_path / "no.wav"))
    assert h.text == "no" and h.confidence < REJECT_BELOW      # uncertain, and left so
    assert rec.verifier.decodes == before and rec.verifier.last == {}


# ---------------------------------------------------------------- the decoys computed offline
def test_the_decoys_file_is_what_the_model_and_phrase_lists_give_now():
    # a .voc, accents.toml or pronunciations.dict edit without a rebuild fails here
    text, words = decoy_file.build()
    assert decoy_file.DEFAULT_PATH.read_text(encoding="utf-8") == text, (
        f"dialogs/en-us/decoys.json is out of date: run {decoy_file.BUILD_COMMAND}")
    assert {"next", "stop", "no", "five", "hips"} <= set(words)
    assert "absolutely" not in words      # too long for a second look: no decoys needed


def _lm(r: PocketSphinxRecognizer) -> Path:
    return r.full_dictionary.parent / "en-us.lm.bin"


def test_a_session_takes_its_decoys_from_the_file_as_they_were_computed(assets, rec, caplog):
    # the same decoys as computed at first use (before the file existed), in every context,
    # with the pronunciations a session's grammar gives each word (accent variants included)
    computed = DecoyVerifier(rec._decoder, rec.full_dictionary, _lm(rec), decoys_file=None)
    with caplog.at_level(logging.WARNING, logger=verify.__name__):
        for ctx in assets.matcher.contexts():
            phrases = assets.matcher.phrases(ctx)
            rec.begin(phrases)
            short = [p for p in phrases if " " not in p and rec.verifier.applies(p)]
            assert short, ctx
            for word in short:
                assert rec.verifier.decoys(word, phrases) == computed.decoys(word, phrases), (ctx, word)
    assert caplog.text == ""                        # every word was in the file
    assert rec.verifier._unigrams is None           # and the n-gram model was never read
    assert computed._unigrams is not None           # (the other way it is)


def _entries(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_word_missing_from_the_file_is_computed_at_first_use_with_a_warning(
        assets, rec, tmp_path, caplog):
    data = _entries(decoy_file.DEFAULT_PATH)
    del data["words"]["next"]                                  # a phrase added, no rebuild
    data["words"]["stop"]["pronunciations"] = ["S T AA P S"]   # a pronunciation changed since
    stale = tmp_path / "decoys.json"
    stale.write_text(json.dumps(data), encoding="utf-8")
    phrases = assets.matcher.phrases("coach")
    rec.begin(phrases)
    v = DecoyVerifier(rec._decoder, rec.full_dictionary, _lm(rec), decoys_file=stale)
    with caplog.at_level(logging.WARNING, logger=verify.__name__):
        got = {w: v.decoys(w, phrases) for w in ("next", "stop", "pause")}
    assert got == {w: rec.verifier.decoys(w, phrases) for w in got}   # nothing lost
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings                # said once, naming the words and the fix
    assert "'next'" in warnings[0] and "'stop'" in warnings[0] and "'pause'" not in warnings[0]
    assert decoy_file.BUILD_COMMAND in warnings[0] and str(stale) in warnings[0]


@pytest.mark.parametrize("content, says", [
    ("{\"words\": {\"no\": [", "not valid JSON"),
    ("[1, 2]", "no \"words\" table"),
    (None, "the entry for 'no' is malformed"),
    ("other model", "made for another model"),
    ("missing", "cannot read it"),
])
def test_an_unusable_file_is_reported_once_and_the_decoys_computed(
        assets, rec, tmp_path, caplog, content, says):
    path = tmp_path / "decoys.json"
    data = _entries(decoy_file.DEFAULT_PATH)
    if content is None:
        data["words"]["no"]["decoys"] = [7]
        content = json.dumps(data)
    elif content == "other model":
        data["fingerprint"]["dictionary"]["bytes"] += 1
        content = json.dumps(data)
    if content != "missing":
        path.write_text(content, encoding="utf-8")
    phrases = assets.matcher.phrases("coach")
    rec.begin(phrases)
    with caplog.at_level(logging.WARNING, logger=verify.__name__):
        v = DecoyVerifier(rec._decoder, rec.full_dictionary, _lm(rec), decoys_file=path)
        got = v.decoys("next", phrases)
    assert got == rec.verifier.decoys("next", phrases)
    (warning,) = [r.getMessage() for r in caplog.records]   # at start-up; not again per word
    assert str(path) in warning and says in warning and decoy_file.BUILD_COMMAND in warning, warning
    assert "Traceback" not in caplog.text


def test_the_build_command_writes_and_checks_the_file(tmp_path, capsys):
    out = tmp_path / "decoys.json"
    assert decoy_file.main(["--out", str(out), "--check"]) == 1     # not there yet
    assert "OUT OF DATE" in capsys.readouterr().out
    assert decoy_file.main(["--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == decoy_file.DEFAULT_PATH.read_text(encoding="utf-8")
    assert decoy_file.main(["--out", str(out), "--check"]) == 0
    assert "up to date" in capsys.readouterr().out
