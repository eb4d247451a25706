"""Response scope from what a reply says: a small linear model over its words and topic shares.

The word lists of :mod:`heuristic_lexicon` count topic words; a share threshold on those counts
called a button-battery emergency off-domain ("battery", "remote", "packaging") and a polite
refusal of a stock tip out of scope. This model reads the same counts plus the reply's words and
word pairs (hashed), and was fit on ArGen's Gemini scope labels together with examples the team
wrote (experiments/heuristic_calibration/fit_scope.py, which writes ``heuristic_scope.npz``
beside this file). Words inside a refusal or redirect get their own features, so "I can't help
with taxes; an accountant can" does not read like tax advice.

Inference is numpy only: a dot product over a few hundred hashed features per reply.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from argen.judges import heuristic_lexicon as lex
from argen.judges.heuristic_features import CLINICAL, OFF, PARA, TANGENT, PromptProfile, ResponseProfile

#: Hashed word and word-pair features (a power of two).
HASH_DIM = 1 << 14
MODEL_PATH = Path(__file__).with_name("heuristic_scope.npz")
SCOPE_CLASSES = ("S0", "S1", "S2", "S3")

DENSE_NAMES = (
    "share_clinical", "share_para", "share_lifestyle", "share_off",
    "hits_clinical", "hits_para", "hits_lifestyle", "hits_off",
    "declines", "decline_share", "referral", "prompt_urgency",
    "prompt_clinical", "prompt_para", "prompt_lifestyle", "prompt_off",
    "log_words", "seg_lifestyle", "seg_off", "prompt_off_words",
    "info_share", "referral_share", "pet", "prompt_mixed", "empathy", "safety_net",
    "prompt_condition",
)


@lru_cache(maxsize=131072)
def _bucket(token: str) -> int:
    # crc32, not hash(): the buckets must not change with PYTHONHASHSEED between fit and use.
    return zlib.crc32(token.encode("utf-8")) & (HASH_DIM - 1)


def _content(words: list[str]) -> list[str]:
    return [lex.stem(w) for w in words if len(w) > 2 and w not in lex.STOPWORDS]


def features(p: PromptProfile, r: ResponseProfile) -> tuple[list[int], list[float], list[float]]:
    """(hashed indices, their values, dense features) for one reply.

    Sparse part: each distinct content stem (``u:``), each pair of neighbouring content stems
    (``b:``), and stems inside refusals/redirects (``d:``), binary and L2-normalised. Dense part:
    the lexicon's topic shares and counts, refusal, referral and prompt facts (``DENSE_NAMES``).
    """
    tokens: set[str] = set()
    n_segments = 0
    seg_topics = [0, 0, 0, 0]
    declined = 0
    prompt_off = 0
    referral_words = 0
    pet = 0
    # Everything below is read from the sentences that say something specific: stock lines and
    # repeats are left out, so that no tail of them can move the call.
    n_words = info_words = empathy = netting = referral = 0
    for seg in r.segments:
        if seg.soup or seg.boiler or seg.generic or seg.repeat:
            continue
        n_segments += 1
        n_words += len(seg.words)
        stems = _content(seg.words)
        if seg.declines:
            declined += 1
            tokens.update("d:" + s for s in stems)
            continue
        if seg.topic is not None:
            seg_topics[seg.topic] += 1
        if seg.referral:
            referral_words += len(seg.words)
            referral = max(referral, seg.referral)
        else:
            info_words += len(seg.words)
        empathy += seg.empathic
        netting += seg.netting
        pet += seg.pet
        tokens.update("u:" + s for s in stems)
        tokens.update("b:" + a + "_" + b for a, b in zip(stems, stems[1:]))
        prompt_off += sum(1 for s in stems if s in p.off_vocab)
    # What the person asked about: a scope judge reads the reply against the request (a refusal of a
    # sleep question is not a refusal of a chest-pain one).
    tokens.update("p:" + s for s in p.content)
    idx = sorted({_bucket(t) for t in tokens})
    val = [1.0 / math.sqrt(len(idx))] * len(idx) if idx else []

    c, para, t, o = r.topic_words
    total = c + para + t + o or 1.0
    hits = r.topic_hits
    n_seg = max(1, n_segments)
    n_words = max(1, n_words)
    dense = [
        c / total, para / total, t / total, o / total,
        math.log1p(hits[CLINICAL]) / 3.0, math.log1p(hits[PARA]) / 3.0,
        math.log1p(hits[TANGENT]) / 3.0, math.log1p(hits[OFF]) / 3.0,
        1.0 if declined else 0.0, declined / n_seg, referral / 3.0, p.urgency / 2.0,
        float(p.topic == CLINICAL), float(p.topic == PARA), float(p.topic == TANGENT), float(p.topic == OFF),
        math.log1p(n_words) / 6.0, seg_topics[TANGENT] / n_seg, seg_topics[OFF] / n_seg,
        math.log1p(prompt_off) / 3.0,
        min(1.0, info_words / n_words), min(1.0, referral_words / n_words), min(1.0, pet / 2.0), float(bool(p.off_vocab)),
        min(2, empathy) / 2.0, min(2, netting) / 2.0, float(p.condition),
    ]
    return idx, val, dense


@dataclass(frozen=True)
class ScopeModel:
    """A fitted multinomial logistic model over :func:`features` (one column per scope class)."""

    sparse: np.ndarray  # (HASH_DIM, 4)
    dense: np.ndarray  # (len(DENSE_NAMES), 4)
    bias: np.ndarray  # (4,)

    def probabilities(self, p: PromptProfile, r: ResponseProfile) -> list[float]:
        """P(S0), P(S1), P(S2), P(S3) for one reply."""
        idx, val, dense = features(p, r)
        z = self.bias + np.asarray(dense, dtype=np.float32) @ self.dense
        if idx:
            z = z + val[0] * self.sparse[idx].sum(axis=0)
        z = z - z.max()
        e = np.exp(z)
        return (e / e.sum()).tolist()

    def save(self, path: Path) -> None:
        """Write the weights (float32, compressed): a few hundred kB in the package."""
        np.savez_compressed(path, sparse=self.sparse.astype(np.float32), dense=self.dense.astype(np.float32),
                            bias=self.bias.astype(np.float32), hash_dim=np.array(HASH_DIM),
                            dense_names=np.array(DENSE_NAMES))


@lru_cache(maxsize=4)
def load_model(path: Path = MODEL_PATH) -> ScopeModel:
    """The packaged scope model (loaded once per process)."""
    with np.load(path) as data:
        if int(data["hash_dim"]) != HASH_DIM or tuple(data["dense_names"].tolist()) != DENSE_NAMES:
            raise ValueError(f"{path} was fit for other features; rerun experiments/heuristic_calibration/fit_scope.py")
        return ScopeModel(sparse=data["sparse"], dense=data["dense"], bias=data["bias"])


__all__ = ["DENSE_NAMES", "HASH_DIM", "MODEL_PATH", "SCOPE_CLASSES", "ScopeModel", "features", "load_model"]
