"""Agreement of the heuristic judge with ArGen's Gemini judge on 1,600 judged responses.

    .venv/bin/python experiments/heuristic_calibration/calibrate.py \
        [--reference ../shared/argen-reference/judged-gemini.jsonl] [--json results.json]

Both judges' verdicts go through this project's rubric (conf/rubric/argen.yaml) for the heuristic
side; the reference side uses the scores stored in the file. Reported: Spearman rank correlation
per response and per model (16 model means) on combined and each principle, a few verdict fields,
and response-scope / referral-strength accuracy. Spearman is computed here (average ranks for
ties, then Pearson on the ranks) so the study needs nothing beyond numpy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[2]

from argen.data.jsonl import iter_records  # noqa: E402
from argen.judges.heuristic import HeuristicJudge  # noqa: E402
from argen.scoring.pipeline import Scorer  # noqa: E402
from argen.scoring.rubric import Rubric  # noqa: E402
from argen.scoring.verdict import JudgeRequest  # noqa: E402

DEFAULT_REFERENCE = ROOT.parent / "shared" / "argen-reference" / "judged-gemini.jsonl"

# (name in our scores or verdict, name in the reference file)
PRINCIPLE_PAIRS = [
    ("combined", "combined_score"),
    ("ahimsa", "ahimsa_score"),
    ("dharma", "dharma_score"),
    ("helpfulness", "helpfulness_score"),
]
FIELD_PAIRS = [
    ("harm_avoidance", "harm_avoidance_score"),
    ("safety_context", "safety_context_score"),
    ("domain_adherence", "domain_adherence_score"),
    ("clarity", "clarity_score"),
    ("completeness", "completeness_score"),
    ("relevance", "relevance_score"),
    ("empathy", "empathy_score"),
]


def ranks(values: list[float]) -> np.ndarray:
    """Ranks 1..n, ties sharing their average rank."""
    x = np.asarray(values, dtype=float)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    out = np.empty(len(x), dtype=float)
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        out[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return out


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rho (Pearson correlation of average ranks); nan when either side is constant."""
    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def load(path: Path) -> list[dict]:
    return [row for _, row in iter_records(path)]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)

    rows = load(args.reference)
    rubric = Rubric.from_config(OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "rubric" / "argen.yaml")))
    scorer = Scorer(HeuristicJudge(), rubric, None, on_error="raise")
    requests = [JudgeRequest(r["prompt"], r["response"], r.get("tier"), r.get("scope")) for r in rows]
    start = time.perf_counter()
    scored = scorer.score_blocking(requests)
    elapsed = time.perf_counter() - start

    ours: dict[str, list[float]] = defaultdict(list)
    for res in scored:
        for name, _ in PRINCIPLE_PAIRS:
            ours[name].append(res.value(name))
        for name, _ in FIELD_PAIRS:
            ours[name].append(float(getattr(res.verdict, name)))

    results: dict = {"rows": len(rows), "seconds": round(elapsed, 3), "per_response": {}, "per_model": {}}
    for name, ref in PRINCIPLE_PAIRS + FIELD_PAIRS:
        results["per_response"][name] = round(spearman(ours[name], [float(r[ref]) for r in rows]), 3)

    by_model: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_model[r["model"]].append(i)
    results["models"] = len(by_model)
    model_means: dict[str, dict[str, tuple[float, float]]] = {}
    for name, ref in PRINCIPLE_PAIRS:
        a = [float(np.mean([ours[name][i] for i in idx])) for idx in by_model.values()]
        b = [float(np.mean([rows[i][ref] for i in idx])) for idx in by_model.values()]
        results["per_model"][name] = round(spearman(a, b), 3)
        for (model, _), x, y in zip(by_model.items(), a, b):
            model_means.setdefault(model, {})[name] = (round(x, 3), round(y, 3))
    results["model_means"] = model_means

    # Stability: the same agreement on two disjoint halves of the prompts, and within each tier.
    prompts = list(dict.fromkeys(r["prompt"] for r in rows))
    halves = {"first_50_prompts": set(prompts[: len(prompts) // 2]), "last_50_prompts": set(prompts[len(prompts) // 2 :])}
    results["halves"] = {}
    for half, chosen in halves.items():
        idx = [i for i, r in enumerate(rows) if r["prompt"] in chosen]
        results["halves"][half] = round(spearman([ours["combined"][i] for i in idx], [rows[i]["combined_score"] for i in idx]), 3)
    results["by_tier"] = {}
    for tier in ("A", "B", "C"):
        idx = [i for i, r in enumerate(rows) if r.get("tier") == tier]
        results["by_tier"][tier] = round(spearman([ours["combined"][i] for i in idx], [rows[i]["combined_score"] for i in idx]), 3)

    scope_hits = sum(res.verdict.response_scope == r["response_scope"] for res, r in zip(scored, rows))
    inscope = lambda s: s in ("S0", "S1")  # noqa: E731 - the rubric treats S0 and S1 alike
    coarse_hits = sum(inscope(res.verdict.response_scope) == inscope(r["response_scope"]) for res, r in zip(scored, rows))
    referral_hits = sum(res.verdict.referral_strength == r["referral_strength"] for res, r in zip(scored, rows))
    results["response_scope_accuracy"] = round(scope_hits / len(rows), 3)
    results["in_scope_accuracy"] = round(coarse_hits / len(rows), 3)
    results["referral_strength_accuracy"] = round(referral_hits / len(rows), 3)
    results["scope_confusion"] = {
        f"{a}->{b}": n
        for (a, b), n in sorted(Counter((r["response_scope"], res.verdict.response_scope) for res, r in zip(scored, rows)).items())
    }
    results["referral_confusion"] = {
        f"{a}->{b}": n
        for (a, b), n in sorted(Counter((r["referral_strength"], res.verdict.referral_strength) for res, r in zip(scored, rows)).items())
    }
    results["mean_combined"] = {"heuristic": round(float(np.mean(ours["combined"])), 3), "reference": round(float(np.mean([r["combined_score"] for r in rows])), 3)}

    print(f"{len(rows)} responses, {len(by_model)} models, judged in {elapsed:.2f} s")
    print(f"{'':18}{'per response':>14}{'per model':>12}")
    for name, _ in PRINCIPLE_PAIRS:
        print(f"{name:18}{results['per_response'][name]:>14.3f}{results['per_model'][name]:>12.3f}")
    for name, _ in FIELD_PAIRS:
        print(f"{name:18}{results['per_response'][name]:>14.3f}")
    print("combined, per response, by half of the prompts:", results["halves"], "by tier:", results["by_tier"])
    print(f"response scope accuracy {results['response_scope_accuracy']:.3f} (in-scope S0/S1 vs S2/S3: {results['in_scope_accuracy']:.3f})")
    print(f"referral strength accuracy {results['referral_strength_accuracy']:.3f}")
    print("scope confusion (reference->heuristic):", results["scope_confusion"])
    print("referral confusion (reference->heuristic):", results["referral_confusion"])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
