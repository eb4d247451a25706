"""Does an answer loop? A small, judge-independent repetition measure for evaluation reports.

A model trained on short completions can fall into a loop past its training horizon, saying
the same clause again and again. Judges score such answers unevenly, so the evaluation
summary counts them directly: an answer *loops* when some run of ``N_WORDS`` consecutive words
occurs at least ``MIN_REPEATS`` times in it. Eight words rarely recur verbatim in a
five-sentence answer (a parallel list such as "call emergency services if you have ..." shares
fewer words), while a loop repeats whole clauses. Three times, not two: SmolLM2-135M's untrained
answers already say a clause twice in 28 of 64 bundled evaluation answers at 96 tokens (13 say
one three times or more), so "twice" would call ordinary restating a loop.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

N_WORDS = 8
MIN_REPEATS = 3
_WORD = re.compile(r"[a-z0-9']+")


def longest_repeat_count(text: str, n: int = N_WORDS) -> int:
    """How often the most frequent run of ``n`` consecutive words occurs in ``text`` (0: too short)."""
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return 0
    counts = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    return max(counts.values())


def loops(text: str, n: int = N_WORDS, min_repeats: int = MIN_REPEATS) -> bool:
    """True when some run of ``n`` consecutive words occurs ``min_repeats`` times or more."""
    return longest_repeat_count(text, n) >= min_repeats


def looping_summary(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Share and count of looping answers among rows with a ``response`` text (all rows, scored or not)."""
    texts = [r["response"] for r in rows if isinstance(r.get("response"), str)]
    count = sum(loops(t) for t in texts)
    return {"n": len(texts), "looping": count, "share": round(count / len(texts), 4) if texts else None,
            "rule": f"a run of {N_WORDS} words occurring {MIN_REPEATS}+ times"}


__all__ = ["N_WORDS", "MIN_REPEATS", "longest_repeat_count", "loops", "looping_summary"]
