"""One rank of the FSDP periodic-evaluation test: ``torchrun --nproc_per_node 2 tests/fsdp_lockstep_worker.py
MODEL_DIR lockstep|none``.

The tiny model is wrapped in PyTorch FSDP on the CPU (gloo), one FSDP unit per decoder layer as
conf/accelerate/fsdp.yaml asks, so every forward pass all-gathers parameters: a collective. Three
scenarios over two ranks leave one rank a scenario short. The root parameters are summoned as TRL
1.16 does before its own generation; rank 0 prints the gathered scenario ids as one JSON line.
"""

from __future__ import annotations

import functools
import json
import sys

import torch
import torch.distributed as dist
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.models.llama.modeling_llama import LlamaDecoderLayer

from argen.data.scenarios import Scenario
from argen.scoring.build import build_rubric
from argen.scoring.pipeline import Scorer
from argen.training.periodic_eval import PeriodicEvaluator
from tests.conftest import compose
from tests.rule_judge import RuleJudge

ISOLATED = ["judge._target_=tests.rule_judge.RuleJudge", "judge.name=rule", "policy.enabled=false"]


def main(model_dir: str, mode: str) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    wrap = functools.partial(transformer_auto_wrap_policy, transformer_layer_cls={LlamaDecoderLayer})
    model = FSDP(AutoModelForCausalLM.from_pretrained(model_dir), auto_wrap_policy=wrap, device_id=torch.device("cpu"),
                 use_orig_params=True)
    scenarios = [Scenario(f"s{i}", f"question number {i}?", "C", "S0") for i in range(3)]
    evaluator = PeriodicEvaluator(Scorer(RuleJudge(), build_rubric(compose("train", ISOLATED))),
                                  AutoTokenizer.from_pretrained(model_dir), scenarios, system_prompt=None,
                                  max_new_tokens=8, temperature=0.9, batch_size=1, seed=rank)

    def gather(rows: list) -> list:
        parts: list = [None] * world
        dist.all_gather_object(parts, rows)
        return [row for part in parts for row in part]

    with FSDP.summon_full_params(model, recurse=False):
        _, records = evaluator.evaluate(model.module, step=1, shard=(rank, world), gather=gather, lockstep=mode == "lockstep")
    if rank == 0:
        print(json.dumps({"ids": [r["id"] for r in records]}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
