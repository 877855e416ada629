"""Phrase -> intent: normalisation, template expansion, exact/near/rejected matches, broken data."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from skill.cli import routine_phrases
from skill.content import load_content
from skill.matcher import REJECTED, MatcherError, load_matcher, normalize
from skill.vocab import NUMBER_WORDS, VocabError, expand_template, read_voc_file

REPO = Path(__file__).resolve().parents[1]
LOCALE = REPO / "dialogs" / "en-us"


@pytest.fixture(scope="module")
def matcher():
    return load_matcher(LOCALE, {"routine": routine_phrases(load_content(LOCALE))})


# ---------------------------------------------------------------- normalisation
@pytest.mark.parametrize("raw,norm", [
    ("Pause!", "pause"),
    ("  SAY   that again?? ", "say that again"),
    ("um, pause please", "pause"),
    ("Please, coach, repeat.", "repeat"),
    ("uh I'd say a 5", "i'd say a five"),
    ("10", "ten"),
    ("7 out of 10", "seven out of ten"),
    ("I’m done", "i'm done"),                 # curly apostrophe
    ("'next'", "next"),
    ("hmm... well... ok", "ok"),
    ("so", ""),
    ("", ""),
    ("?!.", ""),
])
def test_normalize(raw: str, norm: str) -> None:
    assert normalize(raw) == norm


def test_normalize_keeps_inner_fillers_that_are_words_of_a_phrase() -> None:
    # "so" and "please" only go at the edges
    assert normalize("so far so good") == "far so good"
    assert normalize("yes please") == "yes"


# ---------------------------------------------------------------- template expansion
def _texts(template: str, intent: str = "x") -> list[tuple[str, object]]:
    return sorted((p.text, p.value) for p in expand_template(template, intent))


def test_expansion_of_alternatives_and_optionals() -> None:
    assert _texts("(go|speak) [a bit] faster") == sorted([
        ("go faster", None), ("go a bit faster", None), ("speak faster", None), ("speak a bit faster", None)])


def test_expansion_nested_and_value() -> None:
    assert _texts("[the] (back [pain]|spine) => back") == sorted([
        ("back", "back"), ("back pain", "back"), ("spine", "back"), ("the back", "back"),
        ("the back pain", "back"), ("the spine", "back")])


def test_number_slot_gives_each_value() -> None:
    phrases = _texts("about {n}", "number")
    assert phrases == sorted((f"about {w}", n) for n, w in enumerate(NUMBER_WORDS))


def test_explicit_value_is_an_int_when_numeric() -> None:
    assert _texts("none => 0") == [("none", 0)]


@pytest.mark.parametrize("template,message", [
    ("(a|b", "missing ')'"),
    ("[a|b", "missing ']'"),
    ("a)", "unexpected ')'"),
    ("(a]", "where ')' was expected"),
    ("{x}", "only the {n} slot"),
    ("{n} {n}", "at most one {n}"),
    ("go =>", "no value"),
    ("   ", "empty template"),
    ("(a|b|c|d|e|f|g|h|i|j) " * 4, "expands to more than"),
])
def test_bad_templates_are_errors(template: str, message: str) -> None:
    with pytest.raises(VocabError, match=re.escape(message)):
        expand_template(template, "x")


def test_voc_file_error_names_file_and_line(tmp_path: Path) -> None:
    voc = tmp_path / "broken.voc"
    voc.write_text("# a comment\nfine phrase\n\n(unclosed | group\n", encoding="utf-8")
    with pytest.raises(VocabError) as err:
        read_voc_file(voc)
    assert f"{voc}:4:" in str(err.value)
    assert "missing ')'" in str(err.value)


def test_voc_file_without_phrases_is_an_error(tmp_path: Path) -> None:
    voc = tmp_path / "empty.voc"
    voc.write_text("# only a comment\n\n", encoding="utf-8")
    with pytest.raises(VocabError, match="has no phrases"):
        read_voc_file(voc)


def test_voc_intent_is_the_file_name(tmp_path: Path) -> None:
    voc = tmp_path / "wave.voc"
    voc.write_text("hello # greeting\n(hi|hey) there\n", encoding="utf-8")
    phrases = read_voc_file(voc)
    assert {p.intent for p in phrases} == {"wave"}
    assert sorted(p.text for p in phrases) == ["hello", "hey there", "hi there"]


# ---------------------------------------------------------------- the real vocabulary
def test_every_real_phrase_matches_its_own_intent(matcher) -> None:
    for ctx in matcher.contexts():
        for phrase in matcher.phrases(ctx):
            m = matcher.match(phrase, ctx)
            expected = matcher.intent_of(phrase, ctx)
            assert (m.intent, m.value, m.score) == (expected.intent, expected.value, 1.0), (ctx, phrase)


def test_hints_are_phrases_of_their_context(matcher) -> None:
    for ctx in matcher.contexts():
        hints = matcher.hints(ctx)
        assert len(hints) == 2, ctx
        for hint in hints:
            assert matcher.match(hint, ctx).understood


@pytest.mark.parametrize("text,context,intent", [
    ("next", "coach", "next"),
    ("I'm ready", "coach", "next"),
    ("say that again", "coach", "repeat"),
    ("pardon?", "coach", "repeat"),
    ("hold on", "coach", "pause"),
    ("hang on", "coach", "pause"),
    ("wait a moment", "coach", "pause"),
    ("keep going", "coach", "resume"),
    ("carry on", "coach", "resume"),
    ("skip this one", "coach", "skip"),
    ("I can't do this", "coach", "skip"),
    ("I'm done", "coach", "stop"),
    ("that's enough", "coach", "stop"),
    ("slow down", "coach", "slower"),
    ("too fast", "coach", "slower"),
    ("speed up", "coach", "faster"),
    ("what can I say", "coach", "help"),
    ("help", "coach", "help"),
    ("it hurts", "coach", "pain"),
    ("ouch", "coach", "pain"),
    ("you choose", "menu", "routine"),
    ("sure", "menu", "yes"),
    ("stop", "yes_no", "stop"),
    ("repeat", "number", "repeat"),
])
def test_commands_and_natural_variants(matcher, text: str, context: str, intent: str) -> None:
    assert matcher.match(text, context).intent == intent


@pytest.mark.parametrize("alias,routine", [
    ("back pain relief", "back_relief"), ("the hip mobility routine", "hip_mobility"),
    ("glutes", "glute_strength"), ("pregnancy", "gentle_pregnancy"), ("chair supported", "chair"),
    ("with a chair", "chair")])
def test_routine_names_and_aliases(matcher, alias: str, routine: str) -> None:
    m = matcher.match(alias, "menu")
    assert (m.intent, m.value) == ("routine", routine)


# ---------------------------------------------------------------- yes / no: strict
@pytest.mark.parametrize("text", ["yes", "Yeah.", "yep", "yup", "sure", "OK", "yes I do", "correct",
                                  "that's right", "of course", "um, yes"])
def test_clear_yes(matcher, text: str) -> None:
    assert matcher.match(text, "yes_no").intent == "yes"


@pytest.mark.parametrize("text", ["no", "nope", "nah", "no I don't", "not at all", "none of those"])
def test_clear_no(matcher, text: str) -> None:
    assert matcher.match(text, "yes_no").intent == "no"


@pytest.mark.parametrize("text", ["yess", "yes no", "maybe", "i guess", "not sure", "kind of",
                                  "sort of yes", "no yes", "probably", "i think so", "yeah no",
                                  "nooo", "ye", "I don't know", "sometimes", "a little", "",
                                  "not really", "I don't think so", "so"])
def test_anything_unclear_is_neither_yes_nor_no_in_yes_no(matcher, text: str) -> None:
    """The screener must never stretch an unclear answer into yes or no. "I don't know", a
    partial yes ("a little") and a doubtful no ("not really") are phrases of intents of their own
    (so that the recogniser does not force them onto "i don't", and the screener can answer
    them); everything else unclear is not understood."""
    own = {"maybe": "unsure", "not sure": "unsure", "I don't know": "unsure", "kind of": "partial_yes",
           "i think so": "partial_yes", "sometimes": "partial_yes", "a little": "partial_yes",
           "not really": "leaning_no", "I don't think so": "leaning_no"}
    assert matcher.match(text, "yes_no").intent == own.get(text, REJECTED)


# ---------------------------------------------------------------- numbers
@pytest.mark.parametrize("text,value", [
    *[(str(n), n) for n in range(11)],
    *[(w, n) for n, w in enumerate(NUMBER_WORDS)],
    ("about a three", 3), ("around 4", 4), ("maybe a six", 6), ("probably an eight", 8),
    ("five out of ten", 5), ("about a 7 out of 10", 7), ("I'd say a two", 2), ("I think 9", 9),
    ("it's a four out of ten", 4), ("none", 0), ("no pain", 0), ("nothing", 0), ("um... three", 3),
    ("Five.", 5),
])
def test_numbers_in_all_phrasings(matcher, text: str, value: int) -> None:
    m = matcher.match(text, "number")
    assert (m.intent, m.value) == ("number", value)


@pytest.mark.parametrize("text", ["eleven", "11", "minus one", "3.5", "a lot", "three or four",
                                  "ten out of five hundred", "high", "twenty"])
def test_non_numbers_and_out_of_range_are_rejected(matcher, text: str) -> None:
    assert matcher.match(text, "number").intent != "number"


def test_numbers_are_not_understood_outside_the_number_context(matcher) -> None:
    assert matcher.match("five", "coach").intent == REJECTED
    assert matcher.match("five", "yes_no").intent == REJECTED


# ---------------------------------------------------------------- near matches and rejection
def test_typo_level_near_match(matcher) -> None:
    m = matcher.match("pausee", "coach")
    assert m.intent == "pause" and 0.86 <= m.score < 1.0
    assert matcher.match("repet", "coach").intent == "repeat"


def test_far_or_off_list_input_is_rejected(matcher) -> None:
    for text in ("purple elephants", "what's the weather", "play some music", "p"):
        m = matcher.match(text, "coach")
        assert m.intent == REJECTED and not m.understood


def test_near_match_between_two_intents_is_rejected() -> None:
    from skill.matcher import Context, Matcher
    from skill.vocab import Phrase
    ctx = Context("c", ("a", "b"), (), 0.5, {"cart": Phrase("cart", "a"), "card": Phrase("card", "b")})
    m = Matcher({"c": ctx})
    assert m.match("car", "c").intent == REJECTED     # as close to both: ask again, don't guess
    assert m.match("cart", "c").intent == "a"


def test_low_recogniser_confidence_is_rejected(matcher) -> None:
    assert matcher.match("pause", "coach", confidence=0.3, min_confidence=0.5).intent == REJECTED
    assert matcher.match("pause", "coach", confidence=0.9, min_confidence=0.5).intent == "pause"


def test_a_pain_report_is_taken_on_less_evidence_mid_exercise(matcher) -> None:
    # contexts.toml: [coach] intent_margins = { pain = -0.2 }: missing a pain report costs more
    # than a false one (which only pauses and asks about the pain)
    assert matcher.match("it hurts", "coach", confidence=0.35, min_confidence=0.5).intent == "pain"
    assert matcher.match("it hurts", "coach", confidence=0.25, min_confidence=0.5).intent == REJECTED
    # other intents keep the threshold, and so does pain where no margin is set
    assert matcher.match("take a break", "coach", confidence=0.35, min_confidence=0.5).intent == REJECTED
    assert matcher.match("it hurts", "number", confidence=0.35, min_confidence=0.5).intent == REJECTED
    # typed text has no threshold to lower
    assert matcher.match("it hurts", "coach").intent == "pain"


def test_a_no_to_the_screener_never_needs_less_evidence_than_the_context_asks(matcher) -> None:
    # Safety: intent_margins may lower a threshold (pain, mid-exercise); never a "no" in yes_no,
    # which would let an unclear answer through as a no
    nos = [p for p in matcher.phrases("yes_no") if matcher.match(p, "yes_no").intent == "no"]
    assert len(nos) > 20
    assert {matcher.match(p, "yes_no", confidence=0.59, min_confidence=0.5).intent for p in nos} == {REJECTED}


def test_unknown_context_is_an_error(matcher) -> None:
    with pytest.raises(MatcherError, match="unknown listen context"):
        matcher.match("yes", "nowhere")


# ---------------------------------------------------------------- malformed data
@pytest.fixture
def locale(tmp_path: Path) -> Path:
    dest = tmp_path / "en-us"
    shutil.copytree(LOCALE / "vocab", dest / "vocab")
    shutil.copy(LOCALE / "contexts.toml", dest / "contexts.toml")
    return dest


def test_the_copied_locale_loads(locale: Path) -> None:
    routines = routine_phrases(load_content(LOCALE))
    assert "coach" in load_matcher(locale, {"routine": routines}).contexts()
    # without the routine names, the menu hints are not phrases of the menu: refused
    with pytest.raises(MatcherError, match=r"hint 'back pain relief' of \[menu\]"):
        load_matcher(locale)


@pytest.mark.parametrize("text,message", [
    ("[coach\nintents = ['next']\n", "contexts.toml"),
    ("[coach]\nhints = ['next', 'pause']\n", "needs a non-empty 'intents' list"),
    ("[coach]\nintents = []\n", "needs a non-empty 'intents' list"),
    ("[coach]\nintents = 'next'\n", "needs a non-empty 'intents' list"),
    ("coach = 3\n", "needs a non-empty 'intents' list"),
    ("[coach]\nintents = ['next']\nhints = 'next'\n", "'hints' must be a list"),
    ("[coach]\nintents = ['next']\nfuzzy = 2\n", "'fuzzy' must be a number from 0 to 1"),
    ("[coach]\nintents = ['next']\nfuzzy = true\n", "'fuzzy' must be a number from 0 to 1"),
    ("[coach]\nintents = ['next', 'dance']\n", "no vocab/dance.voc"),
    ("[coach]\nintents = ['next']\nhints = ['pause']\n", "hint 'pause' of [coach] is not a phrase"),
    ("[coach]\nintents = ['next']\nintent_margins = 0.2\n", "'intent_margins' must be a table"),
    ("[coach]\nintents = ['next']\nintent_margins = { pain = -0.2 }\n", "names 'pain', which is not one of its intents"),
    ("[coach]\nintents = ['next']\nintent_margins = { next = -0.9 }\n", "'next' must be a number from -0.5 to 0.5"),
    ("[coach]\nintents = ['next']\nintent_margins = { next = 'low' }\n", "'next' must be a number from -0.5 to 0.5"),
])
def test_malformed_contexts_toml(locale: Path, text: str, message: str) -> None:
    (locale / "contexts.toml").write_text(text, encoding="utf-8")
    with pytest.raises(MatcherError) as err:
        load_matcher(locale)
    assert message in str(err.value)
    assert "contexts.toml" in str(err.value) or message == "no vocab/dance.voc"


def test_missing_contexts_toml(locale: Path) -> None:
    (locale / "contexts.toml").unlink()
    with pytest.raises(MatcherError, match="contexts.toml"):
        load_matcher(locale)


def test_a_broken_voc_file_names_file_and_line(locale: Path) -> None:
    path = locale / "vocab" / "pause.voc"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(2, "wait (a|the minute")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(VocabError) as err:
        load_matcher(locale)
    assert f"{path}:3:" in str(err.value)


def test_a_phrase_meaning_two_intents_in_one_context_is_an_error(locale: Path) -> None:
    with (locale / "vocab" / "skip.voc").open("a", encoding="utf-8") as fh:
        fh.write("hold on\n")          # already "pause"; [coach] and [number] have both
    with pytest.raises(MatcherError) as err:
        load_matcher(locale)
    assert re.search(r"context \[(coach|number)\]", str(err.value))
    assert "'hold on'" in str(err.value)
    assert "pause" in str(err.value) and "skip" in str(err.value)


def test_one_phrase_with_two_values_is_an_error(locale: Path) -> None:
    with (locale / "vocab" / "number.voc").open("a", encoding="utf-8") as fh:
        fh.write("nothing at all => 0\nnothing => 1\n")
    with pytest.raises(MatcherError, match="'nothing' means both number=0 and number=1"):
        load_matcher(locale)


def test_the_same_phrase_in_two_intents_is_fine_when_no_context_has_both(locale: Path) -> None:
    (locale / "contexts.toml").write_text(
        "[a]\nintents = ['skip']\n[b]\nintents = ['pause']\n", encoding="utf-8")
    with (locale / "vocab" / "skip.voc").open("a", encoding="utf-8") as fh:
        fh.write("hold on\n")
    m = load_matcher(locale)
    assert m.match("hold on", "a").intent == "skip"
    assert m.match("hold on", "b").intent == "pause"


def test_bad_extra_phrase_is_an_error(locale: Path) -> None:
    with pytest.raises(MatcherError, match="routine phrase"):
        load_matcher(locale, {"routine": [("(hip mobility", "hip_mobility")]})


# ---------------------------------------------------------------- typed-only phrasings
def test_typed_lines_are_matched_but_not_listened_for(locale: Path) -> None:
    with (locale / "vocab" / "pause.voc").open("a", encoding="utf-8") as fh:
        fh.write("typed: (hold|wait) up a (sec|tick)  # keyboard shorthand\n")
    m = load_matcher(locale, {"routine": routine_phrases(load_content(LOCALE))})
    for ctx in ("coach", "number"):
        assert "hold up a sec" not in m.phrases(ctx)           # not in the recogniser's grammar
        assert "wait up a tick" in m.typed_phrases(ctx)
        assert set(m.phrases(ctx)) < set(m.typed_phrases(ctx))
        assert (m.match("Hold up a sec!", ctx).intent, m.match("hold up a sec", ctx).score) == ("pause", 1.0)
    assert not m.intent_of("wait up a sec", "coach").spoken


def test_a_phrase_both_typed_only_and_listened_for_is_listened_for(locale: Path) -> None:
    with (locale / "vocab" / "pause.voc").open("a", encoding="utf-8") as fh:
        fh.write("typed: (pause|hang on) [please]\n")           # "pause", "hang on" are spoken lines too
    m = load_matcher(locale, {"routine": routine_phrases(load_content(LOCALE))})
    assert {"pause", "hang on"} <= set(m.phrases("coach"))
    assert "hang on please" not in m.phrases("coach")


def test_a_typed_only_hint_is_refused(locale: Path) -> None:
    (locale / "contexts.toml").write_text(
        "[a]\nintents = ['pause']\nhints = ['pause', 'hold up']\n", encoding="utf-8")
    with (locale / "vocab" / "pause.voc").open("a", encoding="utf-8") as fh:
        fh.write("typed: hold up\n")
    with pytest.raises(MatcherError, match=r"hint 'hold up' of \[a\] is not a phrase"):
        load_matcher(locale)


def test_typed_prefix_needs_a_template() -> None:
    with pytest.raises(VocabError, match="empty template"):
        expand_template("typed:   ", "x")
    assert [(p.text, p.spoken) for p in expand_template("TYPED: nope => 0", "no")] == [("nope", False)]


def test_typed_only_phrases_of_one_context(locale: Path) -> None:
    (locale / "contexts.toml").write_text(
        "[a]\nintents = ['slower', 'faster', 'number']\ntyped_only = ['too (fast|slow)']\n"
        "[b]\nintents = ['slower']\n", encoding="utf-8")
    m = load_matcher(locale)
    assert "too fast" not in m.phrases("a") and "too slow" in m.typed_phrases("a")
    assert "two" in m.phrases("a") and "too fast" in m.phrases("b")
    assert (m.match("too fast", "a").intent, m.match("too slow", "a").intent) == ("slower", "faster")


@pytest.mark.parametrize("entry,message", [
    ("'too slow'", "'too slow' is not a phrase of that context"),   # "faster" is not in [a]
    ("'(too'", "typed_only '(too'"),
    ("3", "'typed_only' must be a list"),
])
def test_bad_typed_only_entries(locale: Path, entry: str, message: str) -> None:
    (locale / "contexts.toml").write_text(f"[a]\nintents = ['slower']\ntyped_only = [{entry}]\n", encoding="utf-8")
    with pytest.raises(MatcherError, match=re.escape(message)):
        load_matcher(locale)
