"""British pronunciation variants (skill/recognition/accents.py): the accent rules on sample
words, the rules file, and how the recogniser adds the variants as alternates.
The real decodes (a British "no" rejected without the variants, accepted with them) are in
tests/test_recognition_accuracy.py."""
from __future__ import annotations

import pytest

from skill.recognition import accents
from skill.recognition.accents import AccentRules, british_variants, load_rules

RULES = load_rules()


def only(rule: str, phones: str, word: str = "") -> str:
    """One rule alone on a US spelling."""
    return " ".join(getattr(accents, rule)(phones.split(), word, RULES))


@pytest.mark.parametrize("rule, word, us, british", [
    # R only before a vowel; the vowel becomes its non-rhotic partner
    ("non_rhotic", "four", "F AO R", "F AO"),
    ("non_rhotic", "start", "S T AA R T", "S T AA T"),
    ("non_rhotic", "here", "HH IY R", "HH IY AH"),
    ("non_rhotic", "sure", "SH UH R", "SH AO"),
    ("non_rhotic", "there", "DH EH R", "DH EH"),
    ("non_rhotic", "very", "V EH R IY", "V EH R IY"),        # a vowel follows: R stays
    ("non_rhotic", "three", "TH R IY", "TH R IY"),            # R after a consonant stays
    # unstressed lettER -> schwa; first-syllable NURSE stays ER; ER before a vowel: STRUT + R
    ("letter", "better", "B EH T ER", "B EH T AH"),
    ("letter", "exercise", "EH K S ER S AY Z", "EH K S AH S AY Z"),
    ("letter", "hurts", "HH ER T S", "HH ER T S"),
    ("letter", "hurry", "HH ER IY", "HH AH R IY"),
    # GOAT [@U], not before L
    ("goat", "no", "N OW", "N AH UW"),
    ("goat", "okay", "OW K EY", "AH UW K EY"),
    ("goat", "cold", "K OW L D", "K OW L D"),
    # LOT rounded, START and PALM not
    ("lot", "stop", "S T AA P", "S T AO P"),
    ("lot", "start", "S T AA R T", "S T AA R T"),
    ("lot", "father", "F AA DH ER", "F AA DH ER"),
    # BATH words only (TRAP words keep AE)
    ("bath", "can't", "K AE N T", "K AA N T"),
    ("bath", "faster", "F AE S T ER", "F AA S T ER"),
    ("bath", "asked", "AE S K T", "AA S K T"),
    ("bath", "back", "B AE K", "B AE K"),
    ("bath", "understand", "AH N D ER S T AE N D", "AH N D ER S T AE N D"),
    # yod where the spelling has it, not in "do"/"noon"
    ("yod", "new", "N UW", "N Y UW"),
    ("yod", "during", "D UW R IH NG", "D Y UW R IH NG"),
    ("yod", "noon", "N UW N", "N UW N"),
    ("yod", "do", "D UW", "D UW"),
])
def test_each_rule_on_sample_words(rule, word, us, british):
    assert only(rule, us, word) == british


@pytest.mark.parametrize("word, us, expected", [
    ("no", "N OW", ["N AH UW"]),                        # southern; northern keeps OW = US
    ("four", "F AO R", ["F AO"]),                       # both accents agree: one variant
    ("faster", "F AE S T ER", ["F AA S T AH", "F AE S T AH"]),   # southern BATH, northern TRAP
    ("start", "S T AA R T", ["S T AA T"]),              # rules apply in order: lot sees the R
    ("slower", "S L OW ER", ["S L AH UW AH", "S L OW AH"]),
    ("yes", "Y EH S", []),                              # nothing British about it
    ("help", "HH EH L P", []),
])
def test_variants_per_word(word, us, expected):
    assert british_variants(us, word) == expected


def test_variants_skip_known_spellings_and_respect_the_cap():
    # "our" already has CMUdict's AA R: a variant equal to a known spelling is not repeated
    assert british_variants("AW ER", "our", known=["AW R", "AW AH"]) == []
    capped = AccentRules(RULES.accents, max_variants=1, bath=RULES.bath, palm=RULES.palm)
    assert british_variants("F AE S T ER", "faster", capped) == ["F AA S T AH"]
    none = AccentRules(RULES.accents, max_variants=0)
    assert british_variants("N OW", "no", none) == []


def test_without_the_word_the_lexical_rules_do_nothing():
    # BATH and yod need the spelling; the phonological rules do not
    assert british_variants("K AE N T") == []
    assert british_variants("F AO R") == ["F AO"]


def test_the_rules_file_is_checked(tmp_path):
    bad = tmp_path / "accents.toml"
    bad.write_text('[[accent]]\nname = "x"\nrules = ["non_rhotic", "cockney"]\n')
    with pytest.raises(ValueError, match="cockney"):
        load_rules(bad)
    bad.write_text("max_variants = -1\n")
    with pytest.raises(ValueError, match="max_variants"):
        load_rules(bad)
    bad.write_text("[[accent]\n")
    with pytest.raises(ValueError, match=str(bad)):
        load_rules(bad)
    with pytest.raises(ValueError, match="nowhere"):
        load_rules(tmp_path / "nowhere.toml")


def test_the_shipped_rules_name_two_accents_and_the_lexical_sets():
    assert list(RULES.accents) == ["southern", "northern"]
    assert {"can't", "after", "ask", "last"} <= RULES.bath
    assert "nah" in RULES.palm and RULES.max_variants == 2


# ------------------------------------------------------------- in the recogniser
@pytest.fixture(scope="module")
def rec():
    from skill.recognition.pocketsphinx_engine import PocketSphinxRecognizer
    return PocketSphinxRecognizer(vocabulary=["no", "four", "yes", "our"])


def test_grammar_words_get_their_variants_as_alternates(rec):
    rec.begin(["no", "yes", "four", "our", "nope"])   # "nope": fetched on demand, also varied
    assert rec.pronunciations("no") == ["N OW", "N AH UW"]
    assert rec.pronunciations("four") == ["F AO R", "F AO"]
    assert rec.pronunciations("yes") == ["Y EH S"]
    assert rec.pronunciations("nope") == ["N OW P", "N AH UW P"]
    # CMUdict's own alternates keep their numbers; a variant comes after them
    assert rec.pronunciations("our")[:3] == ["AW ER", "AW R", "AA R"]
    assert rec._decoder.lookup_word("our(4)") == "AW AH"
    # a second grammar with the same words adds nothing twice
    rec.begin(["no", "four"])
    assert rec.pronunciations("no") == ["N OW", "N AH UW"]
    rec.finish()


def test_accents_off_and_a_broken_rules_file_leave_the_us_spellings(tmp_path, caplog):
    from skill.recognition.pocketsphinx_engine import PocketSphinxRecognizer
    off = PocketSphinxRecognizer(vocabulary=["no"], accents=None)
    off.begin(["no", "yes"])
    assert off.pronunciations("no") == ["N OW"]
    bad = tmp_path / "accents.toml"
    bad.write_text("max_variants = 'many'\n")
    with caplog.at_level("WARNING"):
        broken = PocketSphinxRecognizer(vocabulary=["no"], accents=bad)
    assert "accent variants not loaded" in caplog.text and str(bad) in caplog.text
    broken.begin(["no", "yes"])
    assert broken.pronunciations("no") == ["N OW"]
