"""The bare-TRL side of the overhead benchmark: GRPOTrainer called directly, nothing else.

``python -m bench.bare_trl SPEC.json`` reads a spec written by :mod:`bench.overhead` and trains
with it. What it keeps from ArGen is only what both sides must share so that they do the same
work: the bundled scenarios and system prompt (the same dataset rows), the tiny model's path, and
the reward. The reward is the heuristic judge scored through the rubric (``reward: "judge"``) or,
with ``reward: "scorer"``, through ArGen's full Scorer (judge, Rego policies, rubric), exposed as
three plain synchronous TRL reward functions (ahimsa, dharma, helpfulness) with ArGen's weights.

No Hydra, no ArGen callbacks, no metrics file, no async reward adapters, no sub-score logging.
The only addition is :class:`WallClock`, which appends each logged row, stamped with the time, to
the spec's ``rows`` file, exactly as ArGen's metrics.jsonl is written, so both sides are timed the
same way. The spec's ``out`` file receives the GRPOConfig keyword arguments used.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from argen.data.jsonl import append_record

PRINCIPLES = ("ahimsa", "dharma", "helpfulness")


def build_scorer(reward: str):
    """The heuristic judge + rubric (+ the bundled Rego policies when ``reward == "scorer"``)."""
    from omegaconf import OmegaConf

    from argen.config import CONF_DIR
    from argen.scoring.build import build_scorer as argen_build_scorer

    conf = Path(CONF_DIR)
    node = {
        "judge": OmegaConf.load(conf / "judge" / "heuristic.yaml"),
        "rubric": OmegaConf.load(conf / "rubric" / "argen.yaml"),
        "policy": OmegaConf.load(conf / "policy" / "default.yaml"),
    }
    if reward == "judge":
        node["policy"]["enabled"] = False
    elif reward != "scorer":
        raise ValueError(f"reward must be 'judge' or 'scorer', got {reward!r}")
    return argen_build_scorer(node)


def reward_functions(scorer) -> list:
    """Three synchronous TRL reward functions reading one verdict per completion (the Scorer memoises)."""
    from argen.types import JudgeRequest

    def score(prompts, completions, tier, scope):
        requests = [
            JudgeRequest(prompt=next(m["content"] for m in reversed(p) if m["role"] == "user"),
                         response=c[-1]["content"], tier=t or None, scope=s or None)
            for p, c, t, s in zip(prompts, completions, tier, scope, strict=True)
        ]
        return scorer.score_blocking(requests)

    def make(principle: str):
        def reward(prompts, completions, tier, scope, **_: Any) -> list[float | None]:
            return [r.value(principle) for r in score(prompts, completions, tier, scope)]

        reward.__name__ = principle
        return reward

    return [make(p) for p in PRINCIPLES]


def main(spec_path: str) -> None:
    """Train as the spec says and write the used settings and the timed log rows to ``spec['out']``."""
    spec = json.loads(Path(spec_path).read_text())
    from omegaconf import OmegaConf

    from argen.config import CONF_DIR
    from argen.data.dataset import build_dataset
    from argen.data.scenarios import bundled_path, load_scenarios

    scenarios = load_scenarios(bundled_path("train"), spec["data_limit"])
    system_prompt = OmegaConf.load(Path(CONF_DIR) / "data" / "bundled.yaml").system_prompt
    dataset = build_dataset(scenarios, system_prompt)
    funcs = reward_functions(build_scorer(spec["reward"]))

    import torch
    from transformers import AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    class WallClock(TrainerCallback):
        """Each logged row, with the seconds since the trainer was built, appended to a JSONL file
        as it is logged (as ArGen's metrics.jsonl is, so both sides can be followed the same way)."""

        def __init__(self, path: Path) -> None:
            self.start = time.monotonic()
            self.path = path

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs:
                row = {"step": state.global_step, "wall_s": round(time.monotonic() - self.start, 3), **logs}
                append_record(self.path, row)

    kwargs = dict(spec["grpo_kwargs"])
    args = GRPOConfig(**kwargs)
    args.model_init_kwargs = {"dtype": getattr(torch, spec["dtype"])}
    tokenizer = AutoTokenizer.from_pretrained(spec["model_path"])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    clock = WallClock(Path(spec["rows"]))
    trainer = GRPOTrainer(model=spec["model_path"], reward_funcs=funcs, args=args, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=[clock])
    trainer.train()
    Path(spec["out"]).write_text(json.dumps({"grpo_kwargs": kwargs}, default=str))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bench.bare_trl SPEC.json  (written by bench/overhead.py)")
    main(sys.argv[1])
