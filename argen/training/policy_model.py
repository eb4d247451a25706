"""The policy as TRL's trainer holds it, for callbacks that use it between steps: readied for
generation exactly as TRL readies it (adapters merged while it generates), whether it is a PEFT
model, and the trainer's event loop.
"""

from __future__ import annotations

import contextlib
from typing import Any


def is_peft(model: Any) -> bool:
    """Whether ``model`` itself is a PEFT (adapter) model. Ask it of :func:`unwrapped_policy`, not of
    ``trainer.model``, which an engine may have wrapped."""
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(model, PeftModel)


def unwrapped_policy(trainer: Any) -> Any:
    """The policy as built, whatever the engine wrapped it in.

    Under FSDP, transformers replaces ``trainer.model`` with the FSDP wrapper before
    ``on_train_begin``; DDP and DeepSpeed wrap it too. A check of what the policy *is* (a PEFT
    model, its dtype, its class) must ask the module inside, as TRL does with
    ``accelerator.unwrap_model``.
    """
    model = trainer.model
    accelerator = getattr(trainer, "accelerator", None)
    if accelerator is not None:
        return accelerator.unwrap_model(model)
    from accelerate.utils import extract_model_from_parallel

    return extract_model_from_parallel(model)


def uses_adapters_as_reference(trainer: Any) -> bool:
    """Whether the policy is a PEFT model: TRL then computes the reference log-probs with its
    adapters switched off and loads no reference model (``ref_model`` stays None)."""
    return is_peft(unwrapped_policy(trainer))


def _backend(trainer: Any) -> Any:
    from trl.distributed import DistributedBackend

    return getattr(trainer, "_dist", None) or DistributedBackend(trainer.accelerator)


def weights_are_whole(trainer: Any) -> bool:
    """Whether each process holds the policy's full parameters (one process, DDP), not shards
    (DeepSpeed ZeRO-3, FSDP): only whole weights can be merged in place."""
    backend = _backend(trainer)
    return not (backend.is_zero3 or backend.is_fsdp)


@contextlib.contextmanager
def merged_for_generation(trainer: Any):
    """While inside, a LoRA policy computes with its adapters merged into its base weights; on
    leaving, the base weights are exactly what they were (:func:`argen.training.lora_merge.merged`).
    Nothing happens for a full model or sharded weights (:func:`weights_are_whole`)."""
    policy = unwrapped_policy(trainer)
    if not is_peft(policy) or not weights_are_whole(trainer):
        yield policy
        return
    from argen.training.lora_merge import merged

    # Whole weights: swap merged tensors in and out (no copy of the base either way). On a CPU the
    # merged tensors are kept for the next call: freeing and mapping hundreds of MB per rollout batch
    # costs page faults; a GPU's caching allocator reuses the memory anyway, and keeps it free between.
    buffers = None
    if next(policy.parameters()).device.type == "cpu":
        buffers = trainer.__dict__.setdefault("_argen_merge_buffers", {})
    with merged(policy, swap=True, buffers=buffers):
        yield policy


@contextlib.contextmanager
def generation_model(trainer: Any, fallback: Any, merge: bool = False):
    """(policy, lockstep): the policy readied for generation exactly as TRL 1.16 readies it for its
    own (``GRPOTrainer._generate_single_turn``): unwrapped (DDP; DeepSpeed ZeRO-3 parameters
    gathered; gradient checkpointing off meanwhile), then, under FSDP, the root module's parameters
    summoned (``DistributedBackend.summon_full_params(recurse=False)``); with ``merge``, a LoRA
    policy's adapters merged meanwhile, as ArGen's trainer merges them for rollouts
    (:func:`merged_for_generation`). ``lockstep``: parameters are sharded across processes, so
    generation must proceed in step (see periodic_eval)."""
    from trl.models import unwrap_model_for_generation

    wrapped = next((m for m in (getattr(trainer, "model_wrapped", None), trainer.model, fallback) if m is not None), None)
    accelerator = trainer.accelerator
    backend = _backend(trainer)
    lockstep = accelerator.num_processes > 1 and (backend.is_zero3 or backend.is_fsdp)
    with (
        unwrap_model_for_generation(
            wrapped,
            accelerator,
            gather_deepspeed3_params=getattr(trainer.args, "ds3_gather_for_generation", True),
            gradient_checkpointing_kwargs=getattr(trainer.args, "gradient_checkpointing_kwargs", None),
        ) as model,
        backend.summon_full_params(wrapped, recurse=False),
        merged_for_generation(trainer) if merge else contextlib.nullcontext(),
    ):
        yield model, lockstep


def on_loop(loop: Any) -> Any:
    """A function that runs a coroutine on ``loop`` and waits for it (None without a loop).

    That loop is the one TRL runs the async reward functions on: judge clients stay on one loop.
    """
    if loop is None:
        return None
    import asyncio

    return lambda coro: asyncio.run_coroutine_threadsafe(coro, loop).result()


__all__ = ["generation_model", "is_peft", "merged_for_generation", "on_loop", "unwrapped_policy", "uses_adapters_as_reference",
           "weights_are_whole"]
