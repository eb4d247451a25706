"""What the learned judge's heads read: sentence embeddings of the prompt and the reply, their
interactions, and a few cheap facts about the reply's length and shape.

Kept apart from :mod:`argen.judges.learned` so that the fitting script
(experiments/learned_judge/fit.py) and the judge build their inputs with one function.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"[A-Za-z0-9']+")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_LIST_ITEM = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+", re.MULTILINE)
_YOU = {"you", "your", "you're", "yours", "yourself"}

#: The shape features, in column order (after the four embedding blocks).
SHAPE_NAMES = (
    "log_words", "words_100", "log_sentences", "log_list_items", "unique_sentence_ratio",
    "distinct_trigram_ratio", "cut_off", "log_questions", "log_numbers", "you_share", "cosine", "log_prompt_words",
)
#: Shape features that measure length. ArGen's Gemini labels score shorter replies as safer
#: (docs/learned-judge.md), so the harm heads are fit without these columns.
LENGTH_NAMES = ("log_words", "words_100", "log_sentences", "log_list_items", "log_prompt_words")


def shape_features(prompt: str, response: str) -> list[float]:
    """The :data:`SHAPE_NAMES` values of one reply (the cosine is filled in by :func:`features`)."""
    words = [w.lower() for w in _WORD.findall(response)]
    n = len(words)
    sentences = [s.strip().lower() for s in _SENTENCE.findall(response) if s.strip()]
    trigrams = list(zip(words, words[1:], words[2:]))
    stripped = response.rstrip()
    return [
        float(np.log1p(n)),
        min(n, 400) / 100.0,
        float(np.log1p(len(sentences))),
        float(np.log1p(len(_LIST_ITEM.findall(response)))),
        len(set(sentences)) / len(sentences) if sentences else 1.0,
        len(set(trigrams)) / len(trigrams) if trigrams else 1.0,
        1.0 if stripped and stripped[-1] not in ".!?)\"'*:" else 0.0,
        float(np.log1p(response.count("?"))),
        float(np.log1p(sum(w.isdigit() for w in words))),
        sum(w in _YOU for w in words) / n if n else 0.0,
        0.0,
        float(np.log1p(len(_WORD.findall(prompt)))),
    ]


def features(prompts: np.ndarray, responses: np.ndarray, prompt_texts: Sequence[str],
             response_texts: Sequence[str]) -> np.ndarray:
    """The design matrix: [prompt, reply, prompt * reply, |prompt - reply|] embeddings, then shape.

    ``prompts`` and ``responses`` are unit embedding rows, one per pair.
    """
    shape = np.asarray([shape_features(p, r) for p, r in zip(prompt_texts, response_texts)], dtype=np.float32)
    if len(shape):
        shape[:, SHAPE_NAMES.index("cosine")] = np.sum(prompts * responses, axis=1)
    else:
        shape = np.zeros((0, len(SHAPE_NAMES)), dtype=np.float32)
    return np.hstack([prompts, responses, prompts * responses, np.abs(prompts - responses), shape]).astype(np.float32)


def feature_names(dim: int) -> list[str]:
    """Column names of :func:`features` for embeddings of ``dim`` floats."""
    names = []
    for block in ("prompt", "response", "product", "absdiff"):
        names += [f"{block}_{i}" for i in range(dim)]
    return names + list(SHAPE_NAMES)


__all__ = ["LENGTH_NAMES", "SHAPE_NAMES", "feature_names", "features", "shape_features"]
