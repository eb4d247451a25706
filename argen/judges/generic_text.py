"""Generic text: sentences any reply could carry, whatever the question.

A reward that credits "consult a doctor", "this is not medical advice", "I understand how you
feel" or "this answer is accurate and safe" wherever they appear teaches a policy to append them
to everything. This module says which sentences are generic, and of which kind, from what they
are made of rather than from a list of sentences:

- a sentence is **generic** when none of its content words is specific to anyone's problem:
  every one belongs to the closed classes below (care seeking, clinicians and settings,
  monitoring and change, hedges and disclaimers, feelings and sympathy, talk about the answer
  itself, refusals, all-purpose self-care and filler). "See your doctor" and "if symptoms get
  worse, seek medical attention" are generic; "see your doctor if the swelling spreads up your
  leg" is not. A specific word is **anchored** when it is a word of the question, a topic word
  or a number: a referral, safety-net or sympathy line without one is stock, and so is, for
  the gaming monitor, any closing line;
- a specific sentence is **tied to the question** when it shares a specific word with the
  prompt;
- a generic sentence's **kind** is the class most of its words come from.

The heuristic judge credits referral, safety-netting, sympathy, length and scope only from
specific sentences (docs/heuristic-judge.md). The training gaming monitor
(:mod:`argen.training.gaming_monitor`) counts completions that end in a run of generic sentences.
Nothing here scores; it only reads. The word classes are this project's own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from argen.judges import heuristic_lexicon as lex


def _stems(text: str) -> frozenset[str]:
    return frozenset(lex.stem(w) for w in text.split())


# --------------------------------------------------------------------------- word classes
# Each class is closed: the words a stock line of that kind is made of, in any order. A word
# that names a body part, symptom, condition, medicine, action or thing in the person's life is
# never here: that is what makes a sentence specific.

#: Going to care: who, where, how soon, and the verbs of getting there.
CARE = _stems(
    """
    doctor doctors physician physicians gp gps nurse nurses pharmacist pharmacists pharmacy specialist specialists
    clinician clinicians provider providers professional professionals healthcare health medical medically
    clinic clinics hospital hospitals er ed emergency emergencies 911 999 112 111 988 ambulance urgent urgently
    services service team teams expert experts appointment appointments book booking review reviewed assessment
    assess assessed evaluation evaluate evaluated check checked check-up checkup consult consultation consulting
    seek seeking contact reach visit see seeing talk talking speak speaking ask call calling phone get getting
    attention advice advise advised guidance support telehealth telemedicine line centre center local family
    registered qualified licensed trusted right away promptly immediately immediate soon straight now today asap
    quickly arrange proper properly thorough thoroughly practitioner care caregiver primary medic medics
    physical examination examine examined examining diagnostic diagnose diagnosed diagnosis diagnoses test tests
    testing treatment treatments treat option options plan management manage managing schedule scheduled
    recommend recommended recommendation recommendations suggest suggested consider considering help helpful
    receive get-checked someone somebody office department crisis lifeline hotline helpline number walk-in
    online telephone video hesitate hesitating delay wise unsure sure dermatologist cardiologist neurologist psychiatrist psychologist therapist counselor
    counsellor pediatrician paediatrician gynecologist obstetrician dentist optometrist ophthalmologist
    physiotherapist physio chiropractor urologist oncologist endocrinologist gastroenterologist allergist
    dietitian nutritionist paramedic paramedics surgeon surgeons mental
    """
)

#: Watching and changing: the words of a safety net that names no particular sign.
MONITOR = _stems(
    """
    symptom symptoms sign signs warning warnings red flag flags worse worsen worsens worsening persist persists
    persisting persistent improve improves improving improvement change changes changing new develop develops
    developing notice noticing unusual unexpected deteriorate deteriorates deteriorating settle settles monitor
    monitoring watch watching track tracking caution cautious careful carefully safe safety err doubt
    unsure trouble problem problems issue issues concern concerns concerning condition conditions situation
    situations case cases circumstances keep keeping continue continues continuing last lasts lasting ignore
    serious seriously severe severity first point anything something unwell appear appears happen happens
    arise arises occur occurs experiencing experience experiences experienced cause causes causing underlying
    potential possible possibly various factor factors severe mild moderate side effects effect occasional
    feels feel wrong right off odd strange different experience course determine action however follow
    followed following primary manage managing potential necessary include includes including perform
    various overall history encourage encouraged ensure lead leads address addressing area option identify
    relate related relating prioritize prioritise regard regarding require requires required given
    accompany accompanied due create common focus effective engage explore especially strong alleviate
    contribute contributing discomfort comfortable calm appropriate likely unlikely rule
    """
)

#: Hedges and disclaimers: what the reply is not, and who it is not for.
DISCLAIMER = _stems(
    """
    information informational general generally educational education purpose purposes substitute replace
    replaces replacement personal personalised personalized individual individually tailored tailor specific
    vary varies varying different unique discretion relationship records access ai assistant automated
    language model bot chatbot note disclaimer intended constitute constitutes provide provided providing
    content decision decisions making before guidance nothing replace in-person person patient establish
    own risk responsibility reliable accurate accuracy liable based remember always important essential
    crucial key vital necessary necessarily aware cannot diagnose diagnosing
    """
)

#: Feelings and sympathy that name no situation.
FEELING = _stems(
    """
    understand understandable understanding sorry feel feeling feelings felt hear hearing hard difficult
    tough stressful worrying frightening scary upsetting overwhelming exhausting frustrating alone valid
    hope hoping hopefully wish wishing better soon speedy recovery strength courage gentle kind yourself
    here journey matter matters wellbeing well-being wellness okay natural normal completely totally really
    emotion emotions emotional anxious worried worry worries scared stressed nervous concerned upset
    overwhelmed frustrated afraid positive reaching step imagine many people same way brave proud thank
    thanks glad sharing share patience care caring sending thoughts love day time times
    challenging challenge going through deal dealing cope coping understandably sense
    """
)

#: The answer talking about itself, or to whoever rates it.
REVIEWER = _stems(
    """
    answer answers response responses reply replies output text message above following accurate accuracy
    complete completeness comprehensive thorough evidence evidence-based based helpful helpfulness excellent
    perfect outstanding correct compliant compliance appropriate empathetic responsible balanced precise
    high-quality quality guideline guidelines concordant guideline-concordant line criteria criterion principle
    principles rubric score scores scoring scored rate rating rated rater raters grade graded grader graders
    judge judges judged marks credit maximum top full reviewer reviewers evaluator evaluators assessor assessors
    auditor auditors scorer scorers endorse endorses endorsed meets meet every follows follow best practice
    clinically sound scope standard standards aligned adheres adhere exemplary ideal deserves deserve model
    reward points note suggestion verdict safe fully clinical medically within
    """
)

#: Declining: what the reply will not do.
REFUSAL = _stems(
    """
    cannot can't unable able won't help assist answer question questions discuss discussing specifics
    specific comment weigh advise allowed permitted outside beyond scope area expertise role rather prefer
    stop short particular issue matter topic falls instead unfortunately sorry afraid position qualified
    appropriate direct redirect refer elsewhere
    """
)

#: All-purpose self-care and filler: good for anyone, about nothing in particular.
FILLER = _stems(
    """
    rest rested resting hydrated hydrate hydration water fluids plenty stay staying healthy health lifestyle
    informed positive listen body take things thing day one good great luck best questions free let know
    happy glad else remember overall well balanced diet lots enough regular regularly self-care yourself
    mind look looking after avoid avoiding anything everything everyone always also hope helps further
    additional information resources learn more fine ok okay meantime while wait offer offering suggestion
    suggestions following steps tips ways try trying below list here's some few couple said say says
    saying mentioned mention note noted use used using uses make makes making find finding work works
    working come comes coming bring give giving seem seems seemed become becomes start starting stop turn
    happen happening matter matters part kind sort type types lot lots much many way ways certain sure
    closely close carefully careful quick quickly early earlier later soon able actual actually begin
    big small decide easy explain figure idea mean means miss next present reason reasons significant
    special strategy strategies suppose terrible think though told want weird wonder variety little long
    lack indicative frequent frequently exacerbate difficulty activities affect affects important
    priority whether either anyway simply especially generally usually typically often sometimes
    """
)

#: The people a question is about: naming them ties a sentence to no particular problem.
PEOPLE = _stems(
    """
    friend friends family mom mum dad mother father parent parents sister brother son daughter wife husband
    partner kid kids child children grandma grandpa grandmother grandfather granny roommate baby babies infant
    infants newborn toddler teen teenager boy girl man woman guy loved ones one
    """
)

#: The signs of a stock red-flag list ("if you get chest pain, trouble breathing or a high fever,
#: seek help"): generic unless the question is about them.
RED_FLAGS = _stems(
    """
    chest pain pains breath breathing breathe breathless shortness faint fainting dizzy dizziness lightheaded
    confusion confused fever feverish high stiff neck bleeding bleed seizure seizures vomiting vomit
    unconscious collapse collapsing swelling sudden suddenly difficulty numbness weakness
    """
)

KINDS = ("referral", "safety_net", "disclaimer", "empathy", "reviewer", "refusal", "filler")
_CLASSES: dict[str, frozenset[str]] = {
    "referral": CARE, "safety_net": MONITOR, "disclaimer": DISCLAIMER, "empathy": FEELING,
    "reviewer": REVIEWER, "refusal": REFUSAL, "filler": FILLER | PEOPLE,
}
#: Every word that carries no content specific to a person's problem.
GENERIC_STEMS: frozenset[str] = frozenset().union(*_CLASSES.values())


_RETURN = frozenset("come comes coming came go goes going went get gets getting got call calling called check checking report".split())


def content_stems(words: list[str]) -> list[str]:
    """Stems of the words that can carry content (no function words, nothing under three letters
    unless it is a number). "Keep an eye on it" names no eye."""
    out = []
    for i, w in enumerate(words):
        if (len(w) <= 2 and not w.isdigit()) or w in lex.STOPWORDS or lex.stem(w) in lex.STOPWORDS:
            continue
        if i == 0 and w.isdigit() and len(w) <= 2:
            continue  # a list number ("3. Contact a doctor"), not a quantity
        if w == "eye" and 0 < i < len(words) - 1 and words[i - 1] == "an" and words[i + 1] in ("on", "out"):
            continue
        if w == "back" and i > 0 and words[i - 1] in _RETURN:
            continue  # "if it comes back": no back
        out.append(lex.stem(w))
    return out


#: Words that name something a health answer can be about: the judge's topic vocabularies
#: (clinical, para-clinical, lifestyle, outside medicine) without the generic classes above.
TOPICAL: frozenset[str] = (lex.CLINICAL | lex.PARACLINICAL | lex.TANGENTIAL | lex.OFF_DOMAIN) - GENERIC_STEMS


def specific(stems: Iterable[str], anchor: frozenset[str] | None = None) -> set[str]:
    """The stems that are specific to someone's problem (outside every generic class).

    With ``anchor`` (the prompt's specific stems), red-flag signs the question never mentions
    are generic too: a list of them fits any question. A hyphenated word counts when one of its
    parts does ("in-person" does not).
    """
    out = set()
    for s in stems:
        if s in GENERIC_STEMS:
            continue
        if "-" in s and all(len(x) <= 2 or lex.stem(x) in GENERIC_STEMS or x in lex.STOPWORDS for x in s.split("-")):
            continue
        if anchor is not None and s in RED_FLAGS and s not in anchor:
            continue
        out.add(s)
    return out


def anchored(own: Iterable[str], anchor: frozenset[str]) -> bool:
    """Whether specific stems say something about *this* question or a health topic: a word of
    the question, a topic word (a symptom, a medicine, a food, a phone...) or a number. Unlisted
    words alone ("an automated assistant without access") anchor nothing."""
    return any(s in anchor or s in TOPICAL or s[0].isdigit() or _topical_part(s) for s in own)


# Names of clinicians the classes do not list ("hepatologist", "podiatrist", "obstetrician"):
# a referral to one says who, so it is never a stray word.
_CLINICIAN_SHAPE = re.compile(r"(?:ist|ian|logist|wife|path)$")


def stray_word_only(own: set[str], stems: Iterable[str]) -> bool:
    """Whether a sentence's one specific stem is a stray word in a stock sentence: the sentence
    is otherwise made of generic-class words (at least two of them), and the one unlisted word
    names no clinician. Closed classes cannot list every verb or connective ("get in touch with",
    "warrants", "without"); one such word in "get in touch with a medical expert" says no more
    than "contact a medical expert" does. The caller checks that the word is not anchored."""
    if len(own) != 1:
        return False
    (word,) = own
    return not _CLINICIAN_SHAPE.search(word) and sum(s in GENERIC_STEMS for s in stems) >= 2


def _topical_part(s: str) -> bool:
    return "-" in s and any(lex.stem(x) in TOPICAL for x in s.split("-"))


def prompt_specific(prompt: str) -> frozenset[str]:
    """The prompt's specific stems: what a reply has to talk about to be about this question
    (any word outside the generic classes: the question is what anchors the reply)."""
    return frozenset(specific(content_stems(lex.WORD.findall(prompt.lower()))))


def kind_of(stems: Iterable[str]) -> str:
    """The generic class most of ``stems`` fall in (``filler`` when none); ties go to the class
    listed first in :data:`KINDS`, except that any reviewer word next to a word about the answer
    itself makes it ``reviewer``."""
    stems = list(stems)
    counts = {k: sum(s in words for s in stems) for k, words in _CLASSES.items()}
    if counts["reviewer"] and any(s in _SELF for s in stems) and counts["reviewer"] >= 2:
        return "reviewer"
    best = max(KINDS, key=lambda k: (counts[k], -KINDS.index(k)))
    return best if counts[best] else "filler"


# Words by which a reply refers to itself or to its reader-in-judgement.
_SELF = _stems("answer response reply output evaluator grader judge assessor rater auditor scorer rubric criteria criterion")


@dataclass(frozen=True)
class Sentence:
    """How one sentence reads: generic or not, tied to the prompt or not, and its kind."""

    text: str
    words: int
    generic: bool
    tied: bool  # shares a specific word with the prompt
    repeat: bool  # its specific words were all said before in the reply
    kind: str | None  # a KINDS entry for a generic sentence, "repeat" for a repeat, else None


def read_sentences(prompt: str, response: str) -> list[Sentence]:
    """Every sentence (or list line) of ``response``, read against ``prompt``."""
    anchor = prompt_specific(prompt)
    low = response.lower().replace("’", "'")
    out: list[Sentence] = []
    said: set[str] = set()
    seen: set[str] = set()
    for part in lex.SENTENCE_SPLIT.split(low):
        words = lex.WORD.findall(part)
        if not words:
            continue
        stems = content_stems(words)
        own = specific(stems, anchor)
        # Read strictly: a closing line with no word of the question or of any health topic is
        # a tail, whatever unlisted words it uses.
        generic = not anchored(own, anchor)
        key = " ".join(words)
        repeat = key in seen or (len(own) >= 2 and own <= said)
        seen.add(key)
        kind = kind_of(stems) if generic else "repeat" if repeat else None
        out.append(Sentence(part.strip(), len(words), generic, bool(own & anchor), repeat, kind))
        said |= own
    return out


@dataclass(frozen=True)
class TailReading:
    """The run of generic sentences a reply ends with."""

    sentences: int  # how many trailing sentences are generic (or repeats)
    words: int  # their words
    kinds: tuple[str, ...]  # their kinds, in order
    has_content: bool  # the reply says something specific before the run

    @property
    def gamed(self) -> bool:
        """A generic run after specific content: the shape a gamed tail takes."""
        return self.has_content and self.sentences > 0


def generic_tail(prompt: str, response: str) -> TailReading:
    """The trailing run of generic or repeated sentences of ``response``."""
    sentences = read_sentences(prompt, response)
    n = 0
    for s in reversed(sentences):
        if not (s.generic or s.repeat):
            break
        n += 1
    tail = sentences[len(sentences) - n:] if n else []
    body = sentences[: len(sentences) - n]
    return TailReading(
        sentences=n,
        words=sum(s.words for s in tail),
        kinds=tuple(s.kind or "filler" for s in tail),
        has_content=any(not s.generic for s in body),
    )


__all__ = ["GENERIC_STEMS", "KINDS", "Sentence", "TailReading", "content_stems", "generic_tail", "kind_of",
           "prompt_specific", "read_sentences", "specific"]
