"""Score finished evaluation run dirs again with today's judge, then compare them: no model, no generation.

    .venv/bin/python experiments/default_run_study/rescore.py OUT_DIR LABEL=EVAL_DIR [LABEL=EVAL_DIR ...] [-- OVERRIDE ...]

Each EVAL_DIR (an ``argen.evaluate`` run dir, or a training run's ``eval/base`` / ``eval/trained``)
keeps its answers; they are judged again by the judge, policies and rubric that
``argen.evaluate`` composes now (plus any Hydra OVERRIDE, e.g. ``judge.name=...``), into
OUT_DIR/LABEL, and OUT_DIR/compare.md compares them (the first is the baseline) with the
paired statistics of every comparison. Used when the judge changed after the answers were
generated: the models did not change, only how their answers are scored.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from argen.data.scenarios import Scenario  # noqa: E402
from argen.evaluation.compare import compare_runs  # noqa: E402
from argen.evaluation.generation import Generation, GenerationSettings  # noqa: E402
from argen.evaluation.harness import RESPONSES, SUMMARY, run_evaluation, run_identity  # noqa: E402
from argen.reporting.metrics import read_jsonl  # noqa: E402


def rescore(src: Path, out: Path, label: str, scorer) -> None:
    import json

    rows = read_jsonl(src / RESPONSES)
    old = json.loads((src / SUMMARY).read_text())
    gen = old.get("generation") or {}
    settings = GenerationSettings(temperature=float(gen.get("temperature", 0.2)),
                                  max_new_tokens=int(gen.get("max_new_tokens", 96)),
                                  batch_size=int(gen.get("batch_size", 8)), seed=int(gen.get("seed", 42)),
                                  system_prompt=gen.get("system_prompt"))
    by_id = {str(r["id"]): r for r in rows}
    scenarios = [Scenario(id=str(r["id"]), prompt=r["prompt"], tier=r.get("tier"), scope=r.get("scope")) for r in rows]

    def respond(batch: Sequence[Scenario]) -> list[Generation]:
        return [Generation(text=by_id[s.id]["response"], new_tokens=int(by_id[s.id].get("new_tokens") or 0),
                           truncated=bool(by_id[s.id].get("truncated"))) for s in batch]

    identity = run_identity(scorer, settings, model=str(old.get("model")), checkpoint=old.get("checkpoint"))
    run_evaluation(out / label, scenarios, scorer, respond, identity=identity, batch_size=settings.batch_size,
                   meta={"label": label, "data_path": old.get("data_path"), "generation": settings.to_dict(),
                         "rescored_from": str(src)}, progress=False)


def main(argv: list[str]) -> None:
    overrides: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, overrides = argv[:i], argv[i + 1:]
    if len(argv) < 3:
        sys.exit(__doc__)
    out = Path(argv[0])
    pairs = [a.split("=", 1) for a in argv[1:]]
    from hydra import compose, initialize_config_dir

    from argen.scoring.build import build_scorer

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = compose(config_name="evaluate", overrides=overrides)
    scorer = build_scorer(cfg)
    for label, src in pairs:
        rescore(Path(src), out, label, scorer)
    result = compare_runs([out / label for label, _ in pairs], out, labels=[label for label, _ in pairs])
    for label, line in result["headlines"].items():
        print(f"{label}: {line}")
    print(f"judge {scorer.judge.name}; comparison in {out / 'compare.md'}")


if __name__ == "__main__":
    main(sys.argv[1:])
