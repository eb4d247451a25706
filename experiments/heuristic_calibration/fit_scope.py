"""Fit the heuristic judge's response-scope model and measure it on prompts it never saw.

    .venv/bin/python experiments/heuristic_calibration/fit_scope.py [--write] [--folds 5]

Training data: ArGen's Gemini scope labels on 1,600 responses (read by path from
../shared/argen-reference/judged-gemini.jsonl) plus the team's scope_examples.yaml (weight
TEAM_WEIGHT each). Classes are balanced by sample weight, so the 21 S1 and 53 S3 labels count as
much as the 1,335 S0 ones. Model: scikit-learn's multinomial logistic regression over
argen.judges.heuristic_scope.features (hashed words and word pairs + topic-share features).

Reported: accuracy, balanced accuracy and the confusion matrix, in-sample and out-of-fold with
folds grouped by prompt (every response to a prompt sits in the same fold, so a fold's prompts
are unseen when it is scored). ``--write`` saves the model fit on everything to
argen/judges/heuristic_scope.npz, the file the judge loads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import yaml
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, confusion_matrix
from sklearn.model_selection import GroupKFold

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from argen.data.jsonl import read_records  # noqa: E402
from argen.judges.heuristic_features import profile_prompt, profile_response  # noqa: E402
from argen.judges.heuristic_scope import DENSE_NAMES, HASH_DIM, MODEL_PATH, SCOPE_CLASSES, ScopeModel, features  # noqa: E402

REFERENCE = ROOT.parent / "shared" / "argen-reference" / "judged-gemini.jsonl"
TEAM_EXAMPLES = Path(__file__).with_name("scope_examples.yaml")
#: Each team example counts as this many Gemini rows (before class balancing): they state the
#: project's reading of scope where Gemini's labels are thin.
TEAM_WEIGHT = 4.0
#: Inverse L2 strength, chosen by the grouped cross-validation below (0.5..8 tried).
C = 1.0


def load_reference(path: Path = REFERENCE) -> list[dict]:
    """Gemini-judged responses from the shared reference set."""
    return read_records(path)


def load_team(path: Path = TEAM_EXAMPLES) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def design(pairs: list[tuple[str, str]]) -> sparse.csr_matrix:
    """The feature matrix (hashed columns, then dense ones) for (prompt, response) pairs."""
    rows, cols, vals = [], [], []
    for i, (prompt, response) in enumerate(pairs):
        p = profile_prompt(prompt)
        r = profile_response(response, p)
        idx, val, dense = features(p, r)
        rows += [i] * (len(idx) + len(dense))
        cols += idx + list(range(HASH_DIM, HASH_DIM + len(dense)))
        vals += val + dense
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(pairs), HASH_DIM + len(DENSE_NAMES)))


def balanced_weights(y: np.ndarray, base: np.ndarray) -> np.ndarray:
    """``base`` rescaled so every class carries the same total weight."""
    w = base.astype(float).copy()
    for k in np.unique(y):
        mask = y == k
        w[mask] *= len(y) / (len(np.unique(y)) * base[mask].sum())
    return w


def fit(X: sparse.csr_matrix, y: np.ndarray, base_weight: np.ndarray, c: float = C) -> ScopeModel:
    """Multinomial logistic regression with balanced classes -> the judge's ScopeModel."""
    clf = LogisticRegression(C=c, max_iter=3000)
    clf.fit(X, y, sample_weight=balanced_weights(y, base_weight))
    coef = np.zeros((4, X.shape[1]))
    bias = np.zeros(4)
    for j, k in enumerate(clf.classes_):  # every class is present in the data, but keep the order explicit
        coef[int(k)] = clf.coef_[j]
        bias[int(k)] = clf.intercept_[j]
    return ScopeModel(sparse=coef[:, :HASH_DIM].T.copy(), dense=coef[:, HASH_DIM:].T.copy(), bias=bias)


def training_set(rows: list[dict], team: list[dict]):
    """(X, y, base weights, prompt groups) for Gemini rows followed by the team's examples."""
    pairs = [(r["prompt"], r["response"]) for r in rows] + [(t["prompt"], t["response"]) for t in team]
    X = design(pairs)
    y = np.array([SCOPE_CLASSES.index(r["response_scope"]) for r in rows] + [SCOPE_CLASSES.index(t["scope"]) for t in team])
    base = np.array([1.0] * len(rows) + [TEAM_WEIGHT] * len(team))
    groups = np.array([r["prompt"] for r in rows] + [f"team-{i}" for i in range(len(team))])
    return X, y, base, groups


def fold_models(rows: list[dict], team: list[dict], folds: int = 5, c: float = C) -> list[tuple[set[str], ScopeModel]]:
    """One model per fold, fit without that fold's prompts: [(held-out prompts, model)]."""
    X, y, base, groups = training_set(rows, team)
    n = len(rows)
    out = []
    splitter = GroupKFold(n_splits=folds)
    for train, test in splitter.split(X[:n], y[:n], groups[:n]):
        keep = np.concatenate([train, np.arange(n, len(y))])  # team examples always train
        out.append(({rows[i]["prompt"] for i in test}, fit(X[keep], y[keep], base[keep], c)))
    return out


def _report(name: str, y: np.ndarray, pred: np.ndarray) -> dict:
    cm = confusion_matrix(y, pred, labels=range(4))
    res = {
        "accuracy": round(float((y == pred).mean()), 3),
        "balanced_accuracy": round(float(balanced_accuracy_score(y, pred)), 3),
        "confusion": cm.tolist(),
    }
    print(f"{name}: accuracy {res['accuracy']:.3f}, balanced accuracy {res['balanced_accuracy']:.3f}")
    print("   rows Gemini S0..S3, columns model S0..S3:", res["confusion"])
    return res


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--c", type=float, default=C)
    parser.add_argument("--write", action="store_true", help=f"save the full fit to {MODEL_PATH.name}")
    args = parser.parse_args(argv)

    rows, team = load_reference(), load_team()
    X, y, base, groups = training_set(rows, team)
    n = len(rows)
    oof = np.zeros(n, dtype=int)
    for train, test in GroupKFold(n_splits=args.folds).split(X[:n], y[:n], groups[:n]):
        keep = np.concatenate([train, np.arange(n, len(y))])
        model = fit(X[keep], y[keep], base[keep], args.c)
        z = X[test][:, :HASH_DIM] @ model.sparse + X[test][:, HASH_DIM:] @ model.dense + model.bias
        oof[test] = np.asarray(z).argmax(axis=1)
    full = fit(X, y, base, args.c)
    z = X[:n][:, :HASH_DIM] @ full.sparse + X[:n][:, HASH_DIM:] @ full.dense + full.bias
    results = {
        "C": args.c,
        "folds": args.folds,
        "team_examples": len(team),
        "model_only_in_sample": _report("model alone, in sample", y[:n], np.asarray(z).argmax(axis=1)),
        "model_only_grouped_cv": _report(f"model alone, {args.folds}-fold grouped by prompt", y[:n], oof),
    }
    if args.write:
        full.save(MODEL_PATH)
        print(f"wrote {MODEL_PATH.relative_to(ROOT)}")
    return results


if __name__ == "__main__":
    main()
