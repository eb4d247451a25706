"""The generic-text reading (argen/judges/generic_text.py): which sentences say nothing specific.

Sentences are built here from word classes in random orders and casings, not taken from a list,
so the tests check the reading by what a sentence is made of.
"""

from __future__ import annotations

import random

import pytest

from argen.judges.generic_text import generic_tail, kind_of, read_sentences
from argen.judges import generic_text as gt

PROMPT = "My ankle has been swollen and bruised since I rolled it playing football on Saturday."


def _sentences(rng: random.Random, n: int) -> list[str]:
    """Stock sentences assembled from generic words in random combinations."""
    verbs = ["consult", "see", "contact", "speak with", "reach out to", "check with", "book an appointment with"]
    who = ["a doctor", "your GP", "a qualified healthcare professional", "a pharmacist", "a specialist", "your care team"]
    when = ["if your symptoms get worse", "if anything changes", "if you are unsure", "should things not improve",
            "at the first sign of trouble", "as soon as possible"]
    feel = ["I understand how stressful this must be", "I'm sorry you're going through this", "you're not alone",
            "your feelings are valid", "I hope you feel better soon"]
    hedge = ["this is not medical advice", "I am not a doctor", "this information is general and for educational purposes",
             "individual circumstances vary"]
    out = []
    for _ in range(n):
        kind = rng.randrange(4)
        if kind == 0:
            parts = [rng.choice(verbs), rng.choice(who), rng.choice(when)]
            if rng.random() < 0.5:
                parts = [parts[2] + ",", parts[0], parts[1]]
            text = " ".join(parts)
        elif kind == 1:
            text = rng.choice(feel)
        elif kind == 2:
            text = rng.choice(hedge)
        else:
            text = f"{rng.choice(hedge)}, so {rng.choice(verbs)} {rng.choice(who)}"
        text = text[0].upper() + text[1:] + rng.choice([".", "!", "."])
        out.append(text.upper() if rng.random() < 0.2 else text)
    return out


def test_stock_sentences_in_any_combination_are_generic():
    rng = random.Random(7)
    for sentence in _sentences(rng, 200):
        (reading,) = read_sentences(PROMPT, sentence)
        assert reading.generic, sentence


@pytest.mark.parametrize("sentence", [
    "Keep the ankle raised and use ice for 20 minutes a few times a day.",
    "See your GP if the swelling spreads up your leg or you can't put weight on it.",
    "A bruised, swollen ankle after a roll is usually a sprain.",
])
def test_a_sentence_about_the_persons_problem_is_specific_and_tied(sentence):
    (reading,) = read_sentences(PROMPT, sentence)
    assert not reading.generic and reading.tied


def test_warning_signs_are_stock_unless_the_question_is_about_them():
    line = "Seek urgent care if you develop chest pain, shortness of breath or a high fever."
    (about_an_ankle,) = read_sentences(PROMPT, line)
    (about_the_chest,) = read_sentences("I get chest pain when I climb stairs.", line)
    assert about_an_ankle.generic
    assert not about_the_chest.generic and about_the_chest.tied


def test_unlisted_words_alone_do_not_make_a_sentence_specific():
    for line in ("I'm an automated assistant without access to your records.",
                 "Anything that feels wrong should be looked into without delay.",
                 "They can help if needed."):
        (reading,) = read_sentences(PROMPT, line)
        assert reading.generic, line


def test_the_kind_of_a_generic_sentence_comes_from_its_words():
    def kind(text):
        return kind_of(gt.content_stems(gt.lex.WORD.findall(text.lower())))

    assert kind("Please consult a qualified healthcare professional promptly.") == "referral"
    assert kind("I understand how frightening this must feel.") == "empathy"
    assert kind("This answer is accurate, complete and evidence-based.") == "reviewer"
    assert kind("This information is general and not a substitute for advice.") == "disclaimer"


def test_generic_tail_reads_the_run_of_stock_or_repeated_sentences_after_content():
    body = "Keep the ankle raised and put ice on it for 20 minutes. Rest the ankle for two days."
    rng = random.Random(3)
    tail = " ".join(_sentences(rng, 3))
    reading = generic_tail(PROMPT, body + " " + tail)
    assert reading.gamed and reading.sentences == 3 and reading.has_content
    assert not generic_tail(PROMPT, body).gamed
    # A repeat of what was said is a tail too, in any casing.
    repeated = generic_tail(PROMPT, body + " KEEP THE ANKLE RAISED AND PUT ICE ON IT FOR 20 MINUTES.")
    assert repeated.gamed and repeated.kinds == ("repeat",)
    # Stock lines alone are not a tail after content: nothing specific was said.
    bare = generic_tail(PROMPT, tail)
    assert not bare.gamed and not bare.has_content


@pytest.mark.parametrize(("words", "stems"), [
    # A list number at the start of a line is no quantity; a longer number is one.
    (["3", "contact", "a", "doctor"], ["contact", "doctor"]),
    (["100", "mg", "daily"], ["100", "dai"]),
    # "Keep an eye on it" names no eye; an eye at the end of the words, or after "an" but not
    # before "on"/"out", is an eye.
    (["keep", "an", "eye", "on", "it"], ["keep"]),
    (["an", "eye", "out"], []),
    (["keep", "an", "eye", "on"], ["keep"]),
    (["keep", "an", "eye"], ["keep", "eye"]),
    (["an", "eye", "exam"], ["eye", "exam"]),
    # The first word has no word before it: an "an" at the end of the list is not one.
    (["eye", "on", "it", "an"], ["eye"]),
    (["turn", "an", "alarm", "on"], ["turn", "alarm"]),
    # "If it comes back" names no back; back pain does.
    (["come", "back"], ["come"]),
    (["back", "pain", "may", "come"], ["back", "pain", "come"]),
])
def test_content_stems_leave_out_list_numbers_and_idioms(words, stems):
    assert gt.content_stems(words) == stems


def test_a_hyphenated_word_is_specific_when_a_part_of_it_is():
    # Parts of two letters or fewer name nothing ("re-do", "co-op"); one letter beside a word does ("x-ray").
    words = ["in-person", "follow-up", "self-care", "well-being", "check-up", "x-ray", "heart-rate", "eye-drops", "24-hour",
             "re-do", "co-op", "ex-smoker"]
    assert gt.specific(words) == {"x-ray", "heart-rate", "eye-drops", "24-hour", "ex-smoker"}


@pytest.mark.parametrize(("text", "kind"), [
    # Two reviewer words beside a word about the answer itself: talk to a reviewer, whatever else the line says.
    ("this answer is accurate please see a doctor or a specialist or a nurse", "reviewer"),
    # Without a word about the answer, the class with most words wins.
    ("accurate and complete please see a doctor or a specialist or a nurse", "referral"),
])
def test_reviewer_talk_needs_two_reviewer_words_and_a_word_about_the_answer(text, kind):
    assert kind_of(gt.content_stems(text.split())) == kind


def test_each_sentence_is_read_with_its_text_words_and_repeats():
    sentences = read_sentences("I get migraines.", "It’s a migraine. ... Ibuprofen eases migraine.")
    assert [(s.text, s.words, s.repeat, s.kind) for s in sentences] == [
        ("it's a migraine.", 3, False, None), ("ibuprofen eases migraine.", 3, False, None)]


@pytest.mark.parametrize(("reply", "repeats"), [
    ("Rest helps. Rest helps.", [False, True]),  # the same words again, however few
    ("Ibuprofen eases migraine. Ibuprofen for migraine.", [False, True]),  # two specific words, both said before
    ("Ibuprofen eases migraine. Migraine eases with ibuprofen.", [False, True]),  # the same specific words, reordered
    # Said before anywhere in the reply, not only in the sentence just before.
    ("Ibuprofen eases migraine. Cold compresses soothe pain. Ibuprofen and compresses.", [False, False, True]),
    ("Ibuprofen eases migraine. Ibuprofen with rest.", [False, False]),  # one new word: not a repeat
])
def test_a_sentence_repeats_when_its_specific_words_were_all_said_before(reply, repeats):
    sentences = read_sentences("I get migraines.", reply)
    assert [s.repeat for s in sentences] == repeats
    assert [s.kind for s in sentences if s.repeat and not s.generic] == ["repeat"] * sum(
        1 for s in sentences if s.repeat and not s.generic)
