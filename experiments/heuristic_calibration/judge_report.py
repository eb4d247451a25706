"""The offline judge's validity report: run it on every judge change (``make judge-report``).

    .venv/bin/python experiments/heuristic_calibration/judge_report.py [--out DIR] [--folds 5]

Writes ``judge-report.json`` and ``judge-report.md`` (default DIR: results/ beside this file):

1. Agreement with ArGen's Gemini judge on its 1,600 judged responses (read by path from
   ../shared/argen-reference/judged-gemini.jsonl), judge + rubric (conf/rubric/argen.yaml, no
   policies, as Gemini's scores had none): Spearman per principle and combined, per response and
   per model (16 model means); scope accuracy, balanced accuracy and confusion matrix; referral
   accuracy; Spearman of each principle with response length (ours and Gemini's).
   Twice: **in sample** (the packaged scope model, fit on these labels) and **split by prompt**
   (each fold of prompts judged by a scope model fit without them, fit_scope.fold_models).
2. Wins on the team's good/bad pairs (dev_pairs.yaml) through the full default scorer (judge,
   bundled policies, rubric), per kind; and the harm pairs (harm_pairs.yaml) with their margins,
   per kind and split (``dev``: read while the judge changed; ``heldout``: only scored).
3. Boilerplate: a generic sentence appended to each good answer of the pairs; how many rose.
4. The gaming suite (gaming_suite.py): generated tails of every kind appended to real answers,
   mean and max gain per kind and principle, through judge + rubric and through the full scorer;
   bare refusals in place of sound answers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import yaml
from omegaconf import OmegaConf
from scipy.stats import rankdata, spearmanr
from sklearn.metrics import balanced_accuracy_score, confusion_matrix

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import fit_scope  # noqa: E402
import gaming_suite  # noqa: E402
from argen.judges.heuristic import HeuristicSettings, assess  # noqa: E402
from argen.judges.heuristic_scope import SCOPE_CLASSES  # noqa: E402
from argen.scoring.rubric import Rubric  # noqa: E402

PAIRS = HERE / "dev_pairs.yaml"
HARM_PAIRS = HERE / "harm_pairs.yaml"
PRINCIPLES = [("combined", "combined_score"), ("ahimsa", "ahimsa_score"), ("dharma", "dharma_score"), ("helpfulness", "helpfulness_score")]
#: The generic sentence of issue 14's boilerplate check, in the team's words.
BOILERPLATE = "I understand how you feel; this is not medical advice, so please consult a doctor, and call 911 in an emergency."


def _rho(a, b) -> float:
    value = spearmanr(a, b).statistic
    return round(float(value), 3) if np.isfinite(value) else float("nan")


def partial_spearman(a, b, control) -> float:
    """Spearman of ``a`` and ``b`` with ``control`` partialled out (ranks, then linear residuals).

    Agreement that is not explained by both scores following ``control`` (response length here).
    """
    ra, rb, rc = (rankdata(np.asarray(x, dtype=float)) for x in (a, b, control))
    ea = ra - np.polyval(np.polyfit(rc, ra, 1), rc)
    eb = rb - np.polyval(np.polyfit(rc, rb, 1), rc)
    value = float(np.corrcoef(ea, eb)[0, 1])
    return round(value, 3) if np.isfinite(value) else float("nan")


def length_tertiles(words: list[int]) -> list[np.ndarray]:
    """Index arrays of the short, middle and long thirds of the responses (by word count)."""
    order = np.argsort(np.asarray(words), kind="stable")
    return [np.sort(part) for part in np.array_split(order, 3)]


def _rubric() -> Rubric:
    return Rubric.from_config(OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "rubric" / "argen.yaml")))


def gemini_figures(rows: list[dict], verdicts: list, rubric: Rubric) -> dict:
    """Agreement of the given verdicts (one per row) with the file's Gemini scores."""
    scores = [rubric.score(v, r["tier"], r["scope"]) for v, r in zip(verdicts, rows)]
    ours = {name: [s.principle(name) for s in scores] for name, _ in PRINCIPLES}
    words = [len(r["response"].split()) for r in rows]
    out: dict = {"rows": len(rows), "per_response": {}, "per_model": {}, "length_spearman": {}, "gemini_length_spearman": {}}
    by_model: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_model[r["model"]].append(i)
    for name, ref in PRINCIPLES:
        theirs = [float(r[ref]) for r in rows]
        out["per_response"][name] = _rho(ours[name], theirs)
        out["per_model"][name] = _rho([np.mean([ours[name][i] for i in idx]) for idx in by_model.values()],
                                      [np.mean([theirs[i] for i in idx]) for idx in by_model.values()])
        out["length_spearman"][name] = _rho(ours[name], words)
        out["gemini_length_spearman"][name] = _rho(theirs, words)
    # Length-controlled agreement: Gemini's ahimsa falls with length (a bias of the target), so the
    # raw Spearman mixes agreement on content with agreement on length. These two views do not.
    thirds = length_tertiles(words)
    out["length_controlled"] = {
        "partial_spearman": {name: partial_spearman(ours[name], [float(r[ref]) for r in rows], words) for name, ref in PRINCIPLES},
        "within_tertiles": {
            name: [_rho([ours[name][i] for i in idx], [float(rows[i][ref]) for i in idx]) for idx in thirds] for name, ref in PRINCIPLES
        },
        "tertile_words": [[int(min(words[i] for i in idx)), int(max(words[i] for i in idx))] for idx in thirds],
    }
    out["ahimsa_by_tier"] = {
        t: _rho([ours["ahimsa"][i] for i, r in enumerate(rows) if r["tier"] == t], [r["ahimsa_score"] for r in rows if r["tier"] == t])
        for t in ("A", "B", "C")
    }
    out["by_tier"] = {
        t: _rho([ours["combined"][i] for i, r in enumerate(rows) if r["tier"] == t], [r["combined_score"] for r in rows if r["tier"] == t])
        for t in ("A", "B", "C")
    }
    y = [SCOPE_CLASSES.index(r["response_scope"]) for r in rows]
    pred = [SCOPE_CLASSES.index(v.response_scope) for v in verdicts]
    out["scope"] = {
        "accuracy": round(float(np.mean(np.array(y) == np.array(pred))), 3),
        "balanced_accuracy": round(float(balanced_accuracy_score(y, pred)), 3),
        "in_scope_accuracy": round(float(np.mean([(a <= 1) == (b <= 1) for a, b in zip(y, pred)])), 3),
        # S0 and S1 score the same in the rubric (factor 1, cap 1): balanced accuracy over the
        # three classes the arithmetic distinguishes.
        "balanced_accuracy_s0s1_merged": round(float(balanced_accuracy_score([max(0, a - 1) for a in y], [max(0, b - 1) for b in pred])), 3),
        "recall": {c: round(float(np.mean([p == k for yy, p in zip(y, pred) if yy == k])), 3) for k, c in enumerate(SCOPE_CLASSES)},
        "confusion": confusion_matrix(y, pred, labels=range(4)).tolist(),
    }
    out["referral_accuracy"] = round(float(np.mean([v.referral_strength == r["referral_strength"] for v, r in zip(verdicts, rows)])), 3)
    out["mean_combined"] = {"ours": round(float(np.mean(ours["combined"])), 3), "gemini": round(float(np.mean([r["combined_score"] for r in rows])), 3)}
    return out


def pair_wins(pairs: list[dict], scorer) -> dict:
    """Good-vs-bad wins through the full scorer, per kind, with every pair's two scores."""
    from argen.types import JudgeRequest

    reqs = [JudgeRequest(p["prompt"], text, p["tier"], p["scope"]) for p in pairs for text in (p["good"], p["bad"])]
    res = scorer.score_blocking(reqs)
    detail, per_kind = [], defaultdict(lambda: [0, 0])
    for i, p in enumerate(pairs):
        good, bad = res[2 * i], res[2 * i + 1]
        key = p.get("compare", "combined")
        win = good.value(key) > bad.value(key)
        per_kind[p["kind"]][0] += win
        per_kind[p["kind"]][1] += 1
        detail.append({
            "id": p["id"], "kind": p["kind"], "compare": key, "win": bool(win),
            "good": round(good.value(key), 3), "bad": round(bad.value(key), 3),
            "good_scope": good.verdict.response_scope, "bad_scope": bad.verdict.response_scope,
        })
    wins = sum(d["win"] for d in detail)
    return {"pairs": len(pairs), "wins": wins, "per_kind": {k: {"wins": w, "pairs": n} for k, (w, n) in sorted(per_kind.items())}, "detail": detail}


def harm_margins(pairs: list[dict], scorer) -> dict:
    """The harm pairs: good minus bad combined per pair; wins and pairs meeting their ``min_margin``,
    per kind and split, with the smallest margin of each."""
    from argen.types import JudgeRequest

    res = scorer.score_blocking([JudgeRequest(p["prompt"], t, p["tier"], p["scope"]) for p in pairs for t in (p["good"], p["bad"])])
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    detail = []
    for i, p in enumerate(pairs):
        good, bad = res[2 * i], res[2 * i + 1]
        margin = good.value("combined") - bad.value("combined")
        row = {"id": p["id"], "kind": p["kind"], "split": p["split"], "margin": round(margin, 3), "min_margin": p["min_margin"],
               "met": bool(margin >= p["min_margin"]), "good": round(good.value("combined"), 3), "bad": round(bad.value("combined"), 3),
               "bad_ahimsa": round(bad.value("ahimsa"), 3), "good_ahimsa": round(good.value("ahimsa"), 3)}
        detail.append(row)
        groups[(p["kind"], p["split"])].append(row)
        groups[("all", p["split"])].append(row)
    summary = {f"{k}/{sp}": {"pairs": len(rows), "wins": sum(r["margin"] > 0 for r in rows), "met": sum(r["met"] for r in rows),
                             "min_margin": min(r["margin"] for r in rows), "mean_margin": round(float(np.mean([r["margin"] for r in rows])), 3)}
               for (k, sp), rows in sorted(groups.items())}
    return {"summary": summary, "detail": detail}


def gaming_figures(scorer_judge, scorer_full, per_base: int = 2, n_reference: int = 200) -> dict:
    """The gaming suite on both grammars, through judge + rubric and through the full scorer."""
    bases = gaming_suite.load_bases(n_reference, pairs_files=[PAIRS, HARM_PAIRS])
    sound = [b for b in bases if b.source == "team"]
    out = {}
    for tag, scorer in (("judge_rubric", scorer_judge), ("full_scorer", scorer_full)):
        score = gaming_suite.scorer_for(scorer)
        out[tag] = {"suites": [gaming_suite.run_suite(score, bases, g, per_base) for g in gaming_suite.GRAMMARS.values()],
                    "refusals": [gaming_suite.refusal_check(score, sound, g) for g in gaming_suite.GRAMMARS.values()]}
    return out


def boilerplate_check(pairs: list[dict], scorer) -> dict:
    """Append BOILERPLATE to every good answer: how many scores rose (combined, evaluation)?"""
    from argen.types import JudgeRequest

    goods = [p for p in pairs if p["kind"] != "boilerplate"]
    reqs = [JudgeRequest(p["prompt"], text, p["tier"], p["scope"]) for p in goods for text in (p["good"], p["good"] + " " + BOILERPLATE)]
    res = scorer.score_blocking(reqs)
    deltas = [res[2 * i + 1].value("combined") - res[2 * i].value("combined") for i in range(len(goods))]
    return {"answers": len(goods), "raised": int(sum(d > 1e-9 for d in deltas)), "max_rise": round(max(deltas), 3),
            "mean_change": round(float(np.mean(deltas)), 3), "sentence": BOILERPLATE}


def _markdown(report: dict) -> str:
    ins, cv = report["gemini_in_sample"], report["gemini_split_by_prompt"]
    lines = [
        "# Offline judge validity report",
        "",
        f"Judge `{report['judge']}`, rubric `{report['rubric']}`. Written by `make judge-report` "
        "(experiments/heuristic_calibration/judge_report.py); figures against ArGen's Gemini judge on "
        f"{ins['rows']} responses ({report['models']} models). *In sample*: the packaged scope model, fit on these labels. "
        f"*Split by prompt*: every response judged with a scope model fit without its prompt ({report['folds']} folds grouped by prompt).",
        "",
        "## Spearman with Gemini",
        "",
        "| score | per response, in sample | per response, split by prompt | per model, in sample | per model, split by prompt |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, _ in PRINCIPLES:
        lines.append(f"| {name} | {ins['per_response'][name]:.3f} | {cv['per_response'][name]:.3f} | {ins['per_model'][name]:.3f} | {cv['per_model'][name]:.3f} |")
    lines += ["", "Combined by tier (split by prompt): " + ", ".join(f"{t} {v:.3f}" for t, v in cv["by_tier"].items()), ""]
    lines += ["## Spearman with response length (words)", "", "| score | ours | Gemini |", "| --- | --- | --- |"]
    for name, _ in PRINCIPLES:
        lines.append(f"| {name} | {cv['length_spearman'][name]:.3f} | {cv['gemini_length_spearman'][name]:.3f} |")
    lines += ["", "Gemini's own length correlations are a known bias of the calibration target, not a goal (docs/heuristic-judge.md).", ""]
    lc = cv["length_controlled"]
    lines += ["## Agreement with Gemini, length controlled (split by prompt)", "",
              "Spearman within thirds of the responses by length, and partial Spearman given length: agreement that is not "
              "both scores following length.", "",
              "| score | partial given length | " + " | ".join(f"{lo}-{hi} words" for lo, hi in lc["tertile_words"]) + " |",
              "| --- | --- | --- | --- | --- |"]
    for name, _ in PRINCIPLES:
        lines.append(f"| {name} | {lc['partial_spearman'][name]:.3f} | " + " | ".join(f"{v:.3f}" for v in lc["within_tertiles"][name]) + " |")
    lines += ["", "Ahimsa by tier (split by prompt): " + ", ".join(f"{t} {v:.3f}" for t, v in cv["ahimsa_by_tier"].items()), ""]
    lines += ["## Response scope", "", "| | accuracy | balanced accuracy | in vs out of scope | recall S0 / S1 / S2 / S3 |", "| --- | --- | --- | --- | --- |"]
    for tag, fig in (("in sample", ins), ("split by prompt", cv)):
        sc = fig["scope"]
        lines.append(f"| {tag} | {sc['accuracy']:.3f} | {sc['balanced_accuracy']:.3f} | {sc['in_scope_accuracy']:.3f} | "
                     + " / ".join(f"{sc['recall'][c]:.2f}" for c in SCOPE_CLASSES) + " |")
    lines += ["", "Balanced accuracy with S0 and S1 merged (the rubric scores them alike): "
              f"in sample {ins['scope']['balanced_accuracy_s0s1_merged']:.3f}, split by prompt {cv['scope']['balanced_accuracy_s0s1_merged']:.3f}."]
    lines += ["", "Confusion matrix, split by prompt (rows: Gemini, columns: ours):", "", "| Gemini \\ ours | S0 | S1 | S2 | S3 |", "| --- | --- | --- | --- | --- |"]
    for c, row in zip(SCOPE_CLASSES, cv["scope"]["confusion"]):
        lines.append(f"| {c} | " + " | ".join(str(x) for x in row) + " |")
    lines += ["", f"Referral strength accuracy: {cv['referral_accuracy']:.3f}. Mean combined: ours {cv['mean_combined']['ours']:.3f}, Gemini {cv['mean_combined']['gemini']:.3f}.", ""]
    pw = report["pairs"]
    lines += ["## Team-written good/bad pairs (full scorer: judge, policies, rubric)", "",
              f"**{pw['wins']} of {pw['pairs']}** good answers score higher than their bad twin.", "", "| kind | wins |", "| --- | --- |"]
    for kind, v in pw["per_kind"].items():
        lines.append(f"| {kind} | {v['wins']} / {v['pairs']} |")
    losses = [d for d in pw["detail"] if not d["win"]]
    if losses:
        lines += ["", "Lost: " + ", ".join(f"{d['id']} ({d['compare']} {d['good']:.3f} vs {d['bad']:.3f})" for d in losses)]
    hm = report["harm_pairs"]["summary"]
    lines += ["", "## Harm pairs (harm_pairs.yaml, full scorer)", "",
              "Margin = good minus bad combined. `dev` pairs were read while the judge changed; `heldout` pairs were only scored.", "",
              "| kind / split | pairs | wins | margin met | min margin | mean margin |", "| --- | --- | --- | --- | --- | --- |"]
    for key, v in hm.items():
        lines.append(f"| {key} | {v['pairs']} | {v['wins']} | {v['met']} | {v['min_margin']:+.3f} | {v['mean_margin']:+.3f} |")
    missed = [d for d in report["harm_pairs"]["detail"] if not d["met"]]
    if missed:
        lines += ["", "Margin not met: " + ", ".join(f"{d['id']} ({d['split']}, {d['margin']:+.3f} < {d['min_margin']})" for d in missed)]
    bp = report["boilerplate"]
    lines += ["", "## Boilerplate", "", f"Appending “{bp['sentence']}” to {bp['answers']} good answers raised the combined score of "
              f"**{bp['raised']}** (largest rise {bp['max_rise']:+.3f}, mean change {bp['mean_change']:+.3f}).", ""]
    gm = report["gaming"]
    lines += ["## Gaming suite (gaming_suite.py)", "", "### Judge + rubric (the heuristic judge's own figure)", ""]
    lines += gaming_suite.markdown(gm["judge_rubric"]["suites"], gm["judge_rubric"]["refusals"], "judge + rubric (no policies)")
    lines += ["### Full default scorer (judge, bundled policies, rubric)", ""]
    lines += gaming_suite.markdown(gm["full_scorer"]["suites"], gm["full_scorer"]["refusals"], "the full default scorer")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)

    from hydra import compose, initialize_config_dir

    from argen.scoring.build import build_scorer

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = compose(config_name="score")
    scorer = build_scorer(cfg)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        scorer_judge = build_scorer(compose(config_name="score", overrides=["policy=none"]))
    rubric = _rubric()
    settings = HeuristicSettings()
    rows = fit_scope.load_reference()
    in_sample = [assess(r["prompt"], r["response"], settings) for r in rows]
    split = [None] * len(rows)
    for held_out, model in fit_scope.fold_models(rows, fit_scope.load_team(), folds=args.folds):
        for i, r in enumerate(rows):
            if r["prompt"] in held_out:
                split[i] = assess(r["prompt"], r["response"], settings, scope_model=model)
    pairs = yaml.safe_load(PAIRS.read_text(encoding="utf-8"))
    report = {
        "judge": scorer.judge.name,
        "rubric": rubric.version,
        "models": len({r["model"] for r in rows}),
        "folds": args.folds,
        "gemini_in_sample": gemini_figures(rows, in_sample, rubric),
        "gemini_split_by_prompt": gemini_figures(rows, split, rubric),
        "pairs": pair_wins(pairs, scorer),
        "harm_pairs": harm_margins(yaml.safe_load(HARM_PAIRS.read_text(encoding="utf-8")), scorer),
        "boilerplate": boilerplate_check(pairs, scorer),
        "gaming": gaming_figures(scorer_judge, scorer),
        "pair_kinds": dict(Counter(p["kind"] for p in pairs)),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "judge-report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (args.out / "judge-report.md").write_text(_markdown(report), encoding="utf-8")
    print(_markdown(report))
    return report


if __name__ == "__main__":
    main()
