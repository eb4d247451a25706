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
