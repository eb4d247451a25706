"""Text measurements the heuristic judge scores from: one pass over a prompt and a response.

Nothing here gives a score; it only counts (topic words per sentence, referral phrases, repeats,
cut-off endings...). :mod:`argen.judges.heuristic` turns the counts into verdict fields.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache

from argen.judges import generic_text as gt
from argen.judges import heuristic_content as hc
from argen.judges import heuristic_medicines as hm
from argen.judges import heuristic_lexicon as lex

# Topic classes, in the rubric's scope order.
CLINICAL, PARA, TANGENT, OFF = 0, 1, 2, 3

# The last character of a reply that ended on purpose. Anything else (a word, a comma, a colon
# announcing a list that never came) reads as cut off.
_TERMINAL = set(".!?)]\"'”’*`…") | {"😊", "🙂", "❤"}
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})
# Invisible characters (C0/C1 controls but tab and newlines, zero-width and direction marks, BOM):
# dropped before reading, so a NUL or a zero-width space inside a word does not split it into
# unknown words, and a reply made only of them has no words at all.
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def visible_text(text: str) -> str:
    """``text`` without its invisible characters (see ``_INVISIBLE``)."""
    return _INVISIBLE.sub("", text)
_YOU = frozenset(("you", "your", "you're", "yourself", "you've", "you'll"))
# Words a finished sentence does not end on: a sentence ending on one was cut off.
_DANGLING = frozenset("""
a an the and or but to of with for in on at by from as if your my his her their our this that these those
is are was were be can could should would will may might must than then so because while when which who
""".split())


@dataclass
class Segment:
    """One sentence or line of a reply, with its topic counts."""

    text: str
    words: list[str]
    topic: int | None  # CLINICAL..OFF, or None when it names no topic
    soup: bool  # a run of keywords with no sentence around them
    declines: bool  # turns down an off-topic request (counts as in scope)
    referral: int  # 0 none, 1 routine, 2 urgent, 3 emergency
    negated_care: bool
    pet: bool = False  # a pet is the subject (its symptoms are a vet's matter)
    boiler: bool = False  # costly stock filler (a disclaimer, or two stock moves in one generic sentence)
    generic: bool = False  # says nothing specific to anyone's problem (argen.judges.generic_text)
    tied: bool = False  # shares a specific word with the prompt
    repeat: bool = False  # its specific words were all said before
    empathic: bool = False  # acknowledges the person's situation
    netting: bool = False  # says what to watch for / when to come back
    care: bool = False  # only sends the person to care, on a condition (a safety net): no substance


@dataclass(frozen=True)
class PromptProfile:
    """What the judge needs to know about a prompt."""

    stems: frozenset[str]
    content: frozenset[str]  # topic-bearing stems, for overlap
    off_vocab: frozenset[str]  # content stems from the prompt's clauses about something outside medicine
    urgency: int  # 0 routine, 1 worrying, 2 emergency described
    topic: int  # the prompt's dominant topic
    side_topic: bool = False  # a clause of its own about lifestyle or something outside medicine
    specific: frozenset[str] = frozenset()  # specific stems (argen.judges.generic_text): what the question is about
    condition: bool = False  # names a symptom, condition, medicine or body part: a clinical question
    low: str = ""  # the prompt, lower-cased (who the medicines in a reply are for)


@dataclass
class ResponseProfile:
    """Counts over one reply."""

    text: str
    n_words: int
    segments: list[Segment] = field(default_factory=list)
    stems: frozenset[str] = frozenset()
    truncated: bool = False
    unique_sentence_ratio: float = 1.0
    distinct_trigram_ratio: float = 1.0
    function_ratio: float = 0.5
    soup_fraction: float = 0.0
    list_items: int = 0
    paragraphs: int = 1
    referral: int = 0
    negated_care: int = 0
    topic_words: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    topic_hits: tuple[int, int, int, int] = (0, 0, 0, 0)  # topic words themselves, outside refusals
    clinical_info_hits: int = 0  # clinical words in sentences that inform (not referral or safety-net lines)
    declines_framing: bool = False  # a decline before the reply's last specific sentence (not a stock tail)
    disclaimer: bool = False
    negative_opening: bool = False
    empathy: int = 0
    safety_net: float = 0.0  # what to watch for: 1 per sentence about the person's problem, 0.5 otherwise (max 2)
    dismissive: int = 0
    dangerous: int = 0
    cure_promise: int = 0
    dosing: int = 0
    injection: int = 0
    myth: int = 0  # confident health misinformation (not negated)
    boilerplate: int = 0  # generic sentences bundling disclaimer / referral / empathy (they cost a little)
    generic_sentences: int = 0  # sentences saying nothing specific, or repeating (they earn nothing)
    generic_words: int = 0  # words in those sentences
    specific_words: int = 0  # words in the other sentences: what the reply actually says
    anchored_words: int = 0  # of those, words in sentences naming the question's words, a topic or a number
    tied_sentences: int = 0  # specific sentences sharing a word with the prompt
    generic_referral: int = 0  # strongest referral made only in generic sentences
    care_referral: int = 0  # strongest referral made only in care sentences (safety nets, conditional referrals)
    care_sentences: int = 0  # specific sentences that only send the person to care on a condition
    referral_specific: bool = False  # a referral in a sentence tied to the question
    meta: int = 0  # sentences rating the reply itself (talk to a reviewer)
    declines: bool = False  # declines in a sentence that names what it declines
    declines_any: bool = False  # declines anywhere, in a generic sentence too
    mean_sentence_words: float = 0.0
    info_words: int = 0  # words in sentences that inform (not refusals, disclaimers or bare referrals)
    you_words: int = 0  # "you", "your": the reply talks to the person
    medicines: hm.MedicineReading = field(default_factory=hm.MedicineReading)  # doses and contraindications


def _words(text: str) -> list[str]:
    return lex.WORD.findall(text)


# The four vocabularies made disjoint (a word counts for the first class that lists it), so a
# word can be counted with one C-level pass per class.
_CLINICAL = lex.CLINICAL
_PARA = lex.PARACLINICAL - _CLINICAL
_TANGENT = lex.TANGENTIAL - _CLINICAL - _PARA
_OFF = lex.OFF_DOMAIN - _CLINICAL - _PARA - _TANGENT
_HEALTH = _CLINICAL | _PARA | _TANGENT
# Clinical words that name a problem (not ones with an everyday sense: a school exam, a cold day).
_CONDITION = _CLINICAL - frozenset(lex.stem(w) for w in """
exam examination operation procedure period periods labor labour cold colds cut cuts scan scans labs record
burn burns temperature stiff sore treat treated clinic healing heal recovery stress
""".split())


def _topic_counts(stems: list[str], off_extra: frozenset[str]) -> list[int]:
    """Topic words per class; ``off_extra`` (never health words) adds to the off-domain count."""
    off = sum(map(_OFF.__contains__, stems))
    if off_extra:
        off += sum(1 for x in stems if x in off_extra and x not in _OFF)
    return [
        sum(map(_CLINICAL.__contains__, stems)),
        sum(map(_PARA.__contains__, stems)),
        sum(map(_TANGENT.__contains__, stems)),
        off,
    ]


def _dominant(counts: list[int]) -> int | None:
    """The segment's topic: off-domain or tangential words win ties against clinical ones only
    when they outnumber them, because clinical replies mention daily life all the time."""
    c, p, t, o = counts
    if c + p + t + o == 0:
        return None
    if o > c + p and o >= t:
        return OFF
    if t > c + p:
        return TANGENT
    if p > c:
        return PARA
    # Here c > 0: with no clinical word, p and t are 0 (they did not beat c), so o > 0 won above.
    return CLINICAL


@lru_cache(maxsize=4096)
def profile_prompt(prompt: str) -> PromptProfile:
    """Topic, urgency and vocabulary of a prompt (cached: GRPO judges many replies per prompt)."""
    low = visible_text(prompt).lower().translate(_QUOTES)
    words = _words(low)
    stems = [lex.stem(w) for w in words]
    content = frozenset(s for w, s in zip(words, stems) if w not in lex.STOPWORDS and len(w) > 2)
    # Clauses: sentences, and the parts joined by "also"/"and also"/"but also" (mixed prompts).
    clauses = re.split(r"[.!?\n]+|\b(?:also|anyway|oh and|and another thing|btw|by the way)\b", low)
    totals = [0, 0, 0, 0]
    clause_stems: list[tuple[list[str], list[int]]] = []
    for clause in clauses:
        cs = [lex.stem(w) for w in _words(clause) if w not in lex.STOPWORDS and len(w) > 2]
        counts = _topic_counts(cs, frozenset())
        clause_stems.append((cs, counts))
        for i in range(4):
            totals[i] += counts[i]
    off: set[str] = set()
    no_health = totals[CLINICAL] + totals[PARA] + totals[TANGENT] == 0
    # A side request: a clause about something outside medicine, or a lifestyle clause brought
    # in by "also" / "by the way" (a lifestyle question about the condition itself is not one).
    side_topic = any(_dominant(counts) == OFF for _, counts in clause_stems) or any(
        _dominant(_topic_counts([lex.stem(w) for w in _words(part) if w not in lex.STOPWORDS and len(w) > 2], frozenset())) == TANGENT
        for part in re.split(r"\b(?:also|anyway|oh and|and another thing|btw|by the way)\b", low)[1:]
    )
    for cs, counts in clause_stems:
        # The words of a clause about something outside medicine (or, in a prompt with no health
        # word at all, every specific word) mark off-domain talk when the reply repeats them. A
        # health clause that merely mentions an everyday thing ("a headache after long days at
        # the computer", "back ache after gardening") is not one: its words are the question's.
        if no_health or _dominant(counts) == OFF:
            off.update(s for s in cs if len(s) > 3 and s not in lex.GENERIC and s not in _HEALTH)
    emergency = (
        lex.PROMPT_EMERGENCY.search(low)
        or hc.PROMPT_EMERGENCY_MORE.search(low)
        # A hazard in everyday or technical words plus a symptom or swallowing: an emergency too.
        or (hc.PROMPT_HAZARD.search(low) and hc.PROMPT_SYMPTOM.search(low))
    )
    urgency = 2 if emergency else 1 if lex.PROMPT_URGENT.search(low) else 0
    topic = _dominant(totals)
    specific = frozenset(gt.specific(gt.content_stems(words)))
    return PromptProfile(
        stems=frozenset(stems),
        content=content,
        off_vocab=frozenset(off),
        urgency=urgency,
        topic=OFF if topic is None else topic,
        side_topic=side_topic,
        specific=specific,
        # Diet, exercise or self-care for a named condition is a clinical question (S0).
        condition=bool(specific & _CONDITION),
        low=low,
    )


def _weaken(base: int, before: str, after: str) -> int:
    """A referral phrase's level after its context within the sentence.

    A condition ("if it gets worse, go to the ER") or a hedge ("consider the ER or urgent care")
    costs one level; a mere description ("conditions that may require immediate attention") makes
    it routine. Never below routine: the phrase still points at care.
    """
    level = base
    if base == 3 and (hc.GENERIC_EMERGENCY.search(after[:45]) or hc.GENERIC_EMERGENCY.search(before[-45:])):
        # "Call 911 in an emergency" names no emergency: a routine safety line.
        return 1
    if lex.DESCRIPTIVE.search(before):
        return 1
    if (
        (lex.CONDITIONAL_BEFORE.search(before) and not lex.SITUATIONAL_IF.search(before))
        or lex.CONDITIONAL_AFTER.search(after)
        or lex.HEDGED.search(before)
        or lex.SOFTENED_AFTER.search(after)
    ):
        level -= 1
    return max(level, 1)


def _segment_spans(low: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or line in ``low``, surrounding blanks trimmed."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in lex.SENTENCE_SPLIT.finditer(low):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(low)))
    out = []
    for a, b in spans:
        while a < b and low[a].isspace():
            a += 1
        while b > a and low[b - 1].isspace():
            b -= 1
        if b > a:
            out.append((a, b))
    return out


def _hit_segments(matches, starts: list[int]) -> set[int]:
    """Indices of the segments holding each match (from one scan of the whole text)."""
    return {bisect_right(starts, m.start()) - 1 for m in matches}


# What comes just before "medical advice" in a disclaimer: the phrase refers nobody there.
_NOT_A_REFERRAL = re.compile(r"(?:\bnot|\bno|\bnever|substitute for|replace(?:ment for)?|instead of|in place of|provide|give|offer|constitute)\s+(?:\w+\s+){0,2}$")


def _referral_levels(low: str, spans: list[tuple[int, int]], starts: list[int], tokens: set[str]) -> list[int]:
    """Strongest referral level in each segment (0 none .. 3 emergency)."""
    levels = [0] * len(spans)
    for base, matches in ((3, lex.EMERGENCY.finditer(low, tokens)), (2, lex.URGENT.finditer(low, tokens)), (1, lex.ROUTINE.finditer(low))):
        for m in matches:
            i = bisect_right(starts, m.start()) - 1
            if i < 0 or levels[i] >= base:
                continue
            a, b = spans[i]
            # The pattern is anchored at the referral: it reads at most two words before it.
            if _NOT_A_REFERRAL.search(low, a, m.start()):
                continue  # "this is not medical advice", "no substitute for professional advice"
            level = _weaken(base, low[a : m.start()], low[m.end() : b])
            if level > levels[i]:
                levels[i] = level
    return levels


# A clause that conditions what the sentence says ("if you notice", "should it worsen"); a clause
# restating the person's situation ("if you're experiencing chest pain") is read apart.
_CONDITIONED = re.compile(r"^\W*(?:if|should|in case|whenever|unless|at the first sign|when)\b|\b(?:if|in case|whenever|unless|at the first sign)\b")


# Words of change or of a sign appearing: what a safety net's condition is made of.
_CHANGE = re.compile(r"\b(?:wors\w*|persists?|persisting|improv\w*|chang\w*|develop\w*|notic\w*|deteriorat\w*|settl\w*|appear\w*|"
                     r"happen\w*|aris\w*|occur\w*|continu\w*|last\w*|spread\w*|return\w*|come back|comes back|becom\w*|"
                     r"start\w*|new|any)\b")


# Verbs any condition is built with ("if it gets worse", "if he keeps feeling faint").
_LIGHT_VERBS = re.compile(r"\b(?:gets?|got|getting|goes|going|keeps?|feels?|seems?|looks?|turns?|is|are|does|do|doesn't|don't|won't)\b")
# "If you're experiencing persistent headaches": the situation restated, not a condition.
_SITUATION = re.compile(r"\b(?:you're|you are|is|are|'s|has been|have been)\s+(?:\w+\s+)?(?:experiencing|concerned|worried|having|feeling|"
                        r"struggling|dealing|suffering|considering)\b")


def _care_only(seg_text: str, prompt: PromptProfile) -> bool:
    """The sentence only sends the person to care on a condition: outside its condition clause
    ("if you notice a high fever", "should the pain worsen,") it says nothing specific, and the
    condition names nothing but stock warning signs and the person's own words.

    A condition at the start runs to the first comma; one later in the sentence runs to its end.
    "Call 911 now, breathe oxygen if the dive shop has it" says more than where to go.
    """
    m = _CONDITIONED.search(seg_text)
    if not m:
        return False
    if m.start() <= 4 and not seg_text[: m.start()].strip(" -*.)0123456789"):
        comma = seg_text.find(",", m.end())
        clause, main = (seg_text[m.end() : comma], seg_text[comma + 1 :]) if comma >= 0 else (seg_text[m.end() :], "")
    else:
        clause, main = seg_text[m.end() :], seg_text[: m.start()]
    # The condition must be something that may happen (a change, a sign appearing), not the
    # person's situation restated ("if you're concerned about the rash, see a doctor").
    if not _CHANGE.search(clause) or _SITUATION.search(clause):
        return False
    # A safety net that names signs of its own ("numbness around your groin", "if he vomits more
    # than once or becomes very sleepy") is advice about this problem; one that names only stock
    # warning signs or what the person already said fits any answer.
    if gt.specific(gt.content_stems(_words(_CHANGE.sub(" ", _LIGHT_VERBS.sub(" ", clause)))), prompt.specific) - prompt.specific:
        return False
    return not gt.specific(gt.content_stems(_words(main)), prompt.specific)


_NEGATION = re.compile(r"\b(?:no|not|never|won't|isn't|aren't|doesn't|don't|can't|cannot|nothing|false|myth|dangerous|untrue)\b")


def _unnegated(low: str, spans: list[tuple[int, int]], starts: list[int], matches: list, whole_sentence: bool = False) -> int:
    """How many matches are asserted, not negated ("don't induce vomiting" is advice against it).

    ``whole_sentence``: any negation in the sentence cancels the match ("colloidal silver won't
    treat it"); otherwise only one shortly before it does.
    """
    n = 0
    for m in matches:
        i = bisect_right(starts, m.start()) - 1
        a, b = spans[max(i, 0)]
        if whole_sentence:
            negated = bool(_NEGATION.search(low[a:b]))
        else:
            negated = bool(hc.NEGATED_BEFORE.search(low[a : m.start()]))
        n += not negated
    return n


def profile_response(response: str, prompt: PromptProfile) -> ResponseProfile:
    """Count everything the judge scores on, in one pass over the reply.

    Phrase patterns run once over the whole reply and their hits are mapped back to sentences:
    much cheaper than running every pattern on every sentence. Each sentence is also read for
    whether it says anything specific (:mod:`argen.judges.generic_text`): generic sentences
    (stock referrals, disclaimers, sympathy, talk about the answer) and sentences that only
    repeat what was said are counted apart, and earn nothing.
    """
    text = visible_text(response).strip()
    low = text.lower().translate(_QUOTES)
    spans = _segment_spans(low)
    seg_words = [_words(low[a:b]) for a, b in spans]
    all_words = [w for words in seg_words for w in words]
    prof = ResponseProfile(text=text, n_words=len(all_words))
    if not all_words:
        return prof

    last = text[-1]
    prof.truncated = last not in _TERMINAL and not (0x1F300 <= ord(last) <= 0x1FAFF)

    tokens = lex.word_tokens(all_words)
    starts = [a for a, _ in spans]
    referral = _referral_levels(low, spans, starts, tokens)
    negated = _hit_segments(lex.NEGATED_CARE.finditer(low, tokens), starts)
    withheld = _hit_segments(lex.WITHHELD.finditer(low, tokens), starts)
    declining = _hit_segments(lex.DECLINE.finditer(low), starts)
    disclaiming = _hit_segments(lex.DISCLAIMER.finditer(low), starts)
    animal = _hit_segments(lex.ANIMAL_SUBJECT.finditer(low, tokens), starts)
    empathic = _hit_segments(lex.EMPATHY.finditer(low), starts)
    netting = _hit_segments(lex.SAFETY_NET.finditer(low), starts)
    # Text addressed to whoever rates the reply is never content, whatever words it uses.
    grader = _hit_segments(lex.INJECTION.finditer(low, tokens), starts) | _hit_segments(hc.REVIEWER_TALK.finditer(low), starts)
    # Paragraph of each segment (a blank line starts a new one): structure counts only where
    # something specific is said.
    breaks = [m.start() for m in re.finditer(r"\n\s*\n", low)]
    listed = {bisect_right(starts, m.end() - 1) - 1 for m in lex.LIST_ITEM.finditer(low)}

    stems_all: set[str] = set()
    said: set[str] = set()  # specific stems said so far (a sentence adding none repeats)
    topic_words = [0.0, 0.0, 0.0, 0.0]
    topic_hits = [0, 0, 0, 0]
    soup_words = 0
    seen: set[str] = set()
    function_words = 0
    sentence_lengths: list[int] = []
    content_paragraphs: set[int] = set()
    last_topic: int | None = None
    last_specific = -1
    last_specific_segment = -1
    safety_net = 0.0
    for i, (a, b) in enumerate(spans):
        seg_text = low[a:b]
        words = seg_words[i]
        if not words:
            continue
        stems = list(map(lex.stem, words))
        n_func = sum(map(lex.STOPWORDS.__contains__, words))
        function_words += n_func
        # A keyword run: several words and almost no function words to make a sentence of them.
        soup = len(words) >= 6 and n_func / len(words) < 0.12
        own = gt.specific(gt.content_stems(words), prompt.specific)
        anchored = gt.anchored(own, prompt.specific)
        # A safety-net, sympathy or disclaimer line earns only when it is about something: one
        # whose only specific words are unlisted ("anything odd warrants a prompt review") is
        # stock. (Referral lines keep unlisted words: clinicians and services have many names.)
        # Nor does one stray unlisted word (a verb or connective the classes do not list) make a
        # sentence of stock words specific. A referral made so is read as a care sentence below:
        # it keeps its referral for the tier table (Gemini counts such lines), nothing more.
        stray = not anchored and gt.stray_word_only(own, gt.content_stems(words))
        generic = not own or i in grader or (not anchored and (i in netting or i in empathic or i in disclaiming
                                                                or (stray and not referral[i])))
        anchored = anchored and i not in grader
        tied = bool(own & prompt.specific)
        key = " ".join(words)
        repeat = key in seen or (len(own) >= 2 and own <= said)
        said |= own
        declines = i in declining and not hc.DECLINE_THEN_ANSWER.search(seg_text)
        against = i in negated
        # A safety net or a conditional referral ("call your GP if you notice a high fever") says
        # where to go if something happens, not what is wrong or what to do: it may earn the
        # referral, but its words are not substance (no length, no anchoring, no topic, no say in
        # scope), so a line of it after any answer cannot stand in for an answer.
        care = (
            not generic and not declines and not against and (key not in seen)
            and (i in netting or referral[i] > 0) and not lex.SITUATIONAL_IF.search(seg_text)
            and (_care_only(seg_text, prompt) or (stray and referral[i] > 0))
        )
        # Costly boilerplate: a generic sentence bundling two stock moves (disclaimer, referral,
        # sympathy), or a bare disclaimer: padding to a reader.
        moves = (i in disclaiming) + (i in empathic) + (referral[i] > 0)
        boiler = generic and (moves >= 2 or i in disclaiming)
        if boiler:
            prof.boilerplate += 1
        if generic or repeat:
            prof.generic_sentences += 1
            prof.generic_words += len(words)
        elif not care:
            stems_all.update(stems)
        level = 0 if (soup or against or i in withheld) else referral[i]
        if generic or repeat:
            # A stock referral ("see a doctor", "go to urgent care") refers nobody in particular
            # for nothing in particular: it earns nothing, not even a place in the tier table. An
            # unconditional emergency referral ("call 911 now") keeps its level: the tier table
            # rewards it where it fits and charges for it where it does not.
            kept = level if level == 3 else 0
            prof.generic_referral = max(prof.generic_referral, kept)
            level = 0
        elif care:
            prof.care_referral = max(prof.care_referral, level)
            prof.care_sentences += 1
            level = 0
        elif level and tied:
            prof.referral_specific = True
        if i in empathic and not generic and not repeat and not soup:
            prof.empathy += len({m.group(0) for m in lex.EMPATHY.finditer(seg_text)})
        if i in netting and not generic and not repeat and not soup:
            # What to watch for counts when it names something; more when that is the person's problem.
            safety_net += 1.0 if tied else 0.5
        if (i in grader and not lex.INJECTION.search(seg_text, tokens)) or (generic and gt.kind_of(gt.content_stems(words)) == "reviewer"):
            prof.meta += 1  # the reply rating itself for whoever reads it
        # Warning signs the question never mentions ("chest pain, trouble breathing") are a stock
        # list: they name no topic of this reply.
        counted = stems if gt.RED_FLAGS.isdisjoint(stems) else [x for x in stems if x not in gt.RED_FLAGS or x in prompt.specific]
        counts = _topic_counts(counted, prompt.off_vocab)
        if counts[CLINICAL] and i in animal:
            # Symptoms of a pet are a vet's matter: off-domain for a human-health assistant.
            counts[OFF] += counts[CLINICAL]
            counts[CLINICAL] = 0
        # Declining off-topic help is in scope; generic sentences name no topic (their words
        # cannot buy scope), and neither do repeats.
        quiet = generic or repeat or boiler or care
        topic = None if (declines or quiet) else _dominant(counts)
        if not declines and not soup and not quiet:
            for k in range(4):
                topic_hits[k] += counts[k]
            if not referral[i] and i not in netting:
                prof.clinical_info_hits += counts[CLINICAL]
        prof.segments.append(Segment(seg_text, words, topic, soup, declines, level, against, i in animal, boiler,
                                     generic=generic, tied=tied, repeat=repeat,
                                     empathic=i in empathic, netting=i in netting, care=care))
        seen.add(key)
        prof.declines_any = prof.declines_any or declines
        if soup:
            soup_words += len(words)
            continue
        if quiet:  # neither talks to the person nor shapes the reading
            prof.negated_care += int(against)
            continue
        last_specific = i
        last_specific_segment = len(prof.segments) - 1
        content_paragraphs.add(bisect_right(breaks, a))
        prof.specific_words += len(words)
        prof.anchored_words += len(words) if anchored else 0
        prof.tied_sentences += tied
        prof.list_items += i in listed
        sentence_lengths.append(len(words))
        prof.you_words += sum(map(_YOU.__contains__, words))
        if not declines and not level and i not in disclaiming:
            prof.info_words += len(words)
        if topic is not None:
            last_topic = topic
            # Pleasantries ("Congratulations on the new puppy!") and offers ("Would you like tips
            # on training?") mention a topic without advising on it: they count for less.
            weight = 0.3 if seg_text.endswith(("?", "!")) or len(words) <= 6 else 1.0
            topic_words[topic] += weight * len(words)
        elif not declines and last_topic is not None:
            # A sentence naming no topic continues the one before it ("Hold for 30 seconds."
            # under a stretching tip); it counts at half weight.
            topic_words[last_topic] += 0.5 * len(words)
        prof.referral = max(prof.referral, level)
        prof.negated_care += int(against)
        prof.declines = prof.declines or declines

    prof.declines_framing = any(seg.declines and (not seg.generic or k < last_specific_segment)
                                for k, seg in enumerate(prof.segments)) if prof.declines_any else False
    # A reply cut off by the token limit, then followed by stock lines, is still cut off: the
    # last specific sentence ending on a dangling word ("...and take") says so.
    if 0 <= last_specific < len(spans) - 1 and not prof.truncated:
        tail_word = seg_words[last_specific][-1] if seg_words[last_specific] else ""
        closing = low[spans[last_specific][1] - 1]
        prof.truncated = closing not in _TERMINAL and tail_word in _DANGLING
    prof.unique_sentence_ratio = len(seen) / max(1, len(prof.segments))
    trigrams = list(zip(all_words, all_words[1:], all_words[2:]))
    prof.distinct_trigram_ratio = len(set(trigrams)) / len(trigrams) if trigrams else 1.0
    prof.function_ratio = function_words / len(all_words)
    prof.soup_fraction = soup_words / len(all_words)
    prof.stems = frozenset(stems_all)
    prof.topic_words = (topic_words[0], topic_words[1], topic_words[2], topic_words[3])
    prof.topic_hits = (topic_hits[0], topic_hits[1], topic_hits[2], topic_hits[3])
    prof.paragraphs = max(1, len(content_paragraphs))
    prof.mean_sentence_words = sum(sentence_lengths) / len(sentence_lengths) if sentence_lengths else 0.0

    prof.disclaimer = bool(disclaiming)
    prof.negative_opening = bool(lex.NEGATIVE_OPENING.match(low))
    # Empathy counts in sentences about the person's situation, not in stock filler.
    prof.empathy = min(prof.empathy, len({m.group(0) for m in lex.EMPATHY.finditer(low)}))
    prof.safety_net = min(2.0, safety_net)
    # "Don't wait it out" is advice against waiting, not reassurance.
    prof.dismissive = _unnegated(low, spans, starts, list(lex.DISMISSIVE.finditer(low, tokens)))
    prof.dangerous = _unnegated(low, spans, starts, [*lex.DANGEROUS.finditer(low, tokens), *hc.DANGEROUS_MORE.finditer(low)])
    prof.myth = _unnegated(low, spans, starts, list(hc.MYTH_NAMED.finditer(low)), whole_sentence=True)
    prof.myth += len(hc.MYTH_CLAIM.findall(low))
    prof.cure_promise = len(lex.CURE_PROMISE.findall(low, tokens))
    prof.dosing = len(lex.DOSING.findall(low))
    prof.injection = len(lex.INJECTION.findall(low, tokens))
    prof.medicines = hm.read_medicines(prompt.low, low)
    return prof
