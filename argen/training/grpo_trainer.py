"""TRL's GRPOTrainer as ArGen runs it: LoRA rollouts generated with the adapters merged.

TRL 1.16 generates each batch of rollouts with the PEFT model as it trains
(``GRPOTrainer._generate_single_turn`` -> transformers' ``generate``): every adapted linear layer
then computes ``W x + s * B (A x)`` at every decode step, three weight reads and three matmuls
where a plain layer has one. Generation is about half of a default step on a CPU, so the
adapters made a LoRA step cost more than a full fine-tuning step (issue 26: 1.19x, 1.44x on a
slower machine).

:class:`ArgenGRPOTrainer` merges the adapters into their base weights for the duration of one
generation call and puts the base weights back bit for bit afterwards
(:func:`argen.training.lora_merge.merged`): the log-prob forward and the backward pass that
follow see the unmerged model, the adapters keep their gradients, the frozen base never moves.
The merged weight is computed once in float32 and rounded once to the weight's dtype, so with
float32 weights the rollouts come from the same policy to rounding; LoRA dropout, which TRL's
generation in train mode applied to the adapter branch, is not applied to a merged layer (the
default model config sets it to 0, so both paths sample one policy).

Merged only where the weights are whole on each process: one process or DDP. Under DeepSpeed
ZeRO-3 or FSDP the parameters are shards, and with vLLM generation TRL's own weight sync merges
(exactly, :func:`argen.training.lora_merge.use_exact_merge`). ``model.merge_for_generation=false``
switches it off (for an A/B of the two paths).

It also writes ArGen's model card (:mod:`argen.reporting.model_card`) wherever the trainer saves a
model (each ``checkpoint-N/``, ``final_model/``) and where TRL writes its own card
(``create_model_card``: the folder transformers uploads with ``push_to_hub``), in place of PEFT's
template and TRL's card.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trl import GRPOTrainer

from argen.training.policy_model import merged_for_generation


class ArgenGRPOTrainer(GRPOTrainer):
    """GRPOTrainer whose transformers-generated rollouts come from the merged LoRA policy.

    ``merge_for_generation``: merge a PEFT policy's adapters while it generates rollouts (no
    effect on a full model, with vLLM, or with TRL's continuous-batching generation).
    ``model_card``: ``(steps, checkpoint) -> text`` of the card written beside every saved model
    (None: the libraries' own cards).
    """

    def __init__(self, *args: Any, merge_for_generation: bool = True,
                 model_card: Callable[[int, bool], str] | None = None, **kwargs: Any):
        self.merge_for_generation = bool(merge_for_generation)
        self.model_card = model_card
        super().__init__(*args, **kwargs)

    def _write_card(self, directory: str | Path, checkpoint: bool) -> None:
        if self.model_card is None or not self.args.should_save:
            return
        from argen.reporting.model_card import write_model_card

        write_model_card(directory, self.model_card(self.state.global_step, checkpoint))

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Save as transformers does, then put ArGen's card beside the weights (a checkpoint's card
        is written before its completeness marker, so the marker lists it)."""
        super().save_model(output_dir, _internal_call=_internal_call)
        directory = Path(output_dir or self.args.output_dir)
        self._write_card(directory, checkpoint=directory.name.startswith("checkpoint-"))

    def create_model_card(self, *args: Any, **kwargs: Any) -> None:
        """TRL's hook for the card in ``args.output_dir`` (what ``push_to_hub`` uploads): ArGen's."""
        if self.model_card is None:
            return super().create_model_card(*args, **kwargs)
        self._write_card(self.args.output_dir, checkpoint=self.state.global_step < (self.state.max_steps or 0))

    def _generate_single_turn(self, *args: Any, **kwargs: Any):
        # vLLM syncs merged weights itself; continuous batching may recast the model to bf16 in
        # place, which a restore of float32 values would then round.
        plain = not self.use_vllm and not getattr(self, "use_transformers_continuous_batching", False)
        context = merged_for_generation(self) if self.merge_for_generation and plain else contextlib.nullcontext()
        with context:
            return super()._generate_single_turn(*args, **kwargs)


__all__ = ["ArgenGRPOTrainer"]
