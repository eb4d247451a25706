"""One rank that wraps a LoRA policy as the engines do and asks ArGen's checks about it:
``torchrun --nproc_per_node 1 tests/wrapped_policy_worker.py MODEL_DIR``.

The tiny model gets LoRA adapters (real PEFT), then is wrapped in real PyTorch FSDP (one unit per
decoder layer, as conf/accelerate/fsdp.yaml asks) and in DDP, on the CPU (gloo). For each
wrapper, the beta schedule's start-of-training check runs against a trainer whose ``model`` is
that wrapper and whose ``ref_model`` is None, as TRL leaves it for a PEFT policy. Prints one JSON
line: the outcome per wrapper.
"""

from __future__ import annotations

import functools
import json
import sys

import torch
import torch.distributed as dist
from accelerate import Accelerator
from peft import LoraConfig, get_peft_model
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy
from torch.nn.parallel import DistributedDataParallel as DDP
from transformers import AutoModelForCausalLM
from transformers.models.llama.modeling_llama import LlamaDecoderLayer

from argen.config_schema import TrainConfig
from argen.training.beta_schedule import BetaSchedule
from argen.training.callbacks import BetaScheduleCallback, TrainerMetrics
from tests.conftest import compose


class Trainer:
    """What the callback reads of a GRPOTrainer: model (maybe wrapped), ref_model, accelerator."""

    def __init__(self, model, accelerator):
        self.model = model
        self.ref_model = None
        self.accelerator = accelerator


def main(model_dir: str) -> None:
    accelerator = Accelerator(cpu=True)  # joins the process group torchrun set up (gloo)
    assert dist.is_initialized()
    settings = TrainConfig.parse(compose("train", ["experiment=smoke", "model.lora=true", "grpo.beta=0.04"]))
    schedule = BetaSchedule.from_grpo(settings.grpo)

    def policy():
        base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        return get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))

    wrap = functools.partial(transformer_auto_wrap_policy, transformer_layer_cls={LlamaDecoderLayer})
    wrappers = {
        "none": lambda m: m,
        "ddp": lambda m: DDP(m),
        "fsdp": lambda m: FSDP(m, auto_wrap_policy=wrap, device_id=torch.device("cpu"), use_orig_params=True),
    }
    outcome = {}
    for name, wrapper in wrappers.items():
        callback = BetaScheduleCallback(schedule, TrainerMetrics())
        callback.bind(Trainer(wrapper(policy()), accelerator))
        try:
            callback.on_train_begin(None, None, None)
            outcome[name] = "started"
        except RuntimeError as err:
            outcome[name] = f"refused: {err}"
    if dist.get_rank() == 0:
        print(json.dumps(outcome), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
