"""LoRA adapters merged into their base weights exactly, and taken out again without a trace.

PEFT's ``merge_adapter()`` adds each adapter's product to its base weight in place
(``W += s * B @ A``) and ``unmerge_adapter()`` subtracts it again, both in the base weight's dtype.
In bf16 every cycle rounds twice, so a frozen base drifts a little more at each cycle; TRL merges
and unmerges at every vLLM weight sync, hundreds of times a run (TRL issue 6688 measured the drift
growing with the cycles in bf16 and fp16). Even in float32, ``W + d - d`` is not ``W`` bit for bit.

Here a merged weight is computed once, in float32, and rounded once to the base weight's dtype:
``(W.float() + sum(s * B @ A)).to(W.dtype)``. Two ways to use it:

- out of place, the model untouched: :func:`merged_weight` (one layer) and
  :func:`merged_state_dict` (every weight of the base model, under the base model's own names),
  for handing the current policy to another engine or process;
- in place, so the model itself computes with merged weights, then put back:
  :func:`merge_in_place` keeps a copy of each weight it overwrites and
  :meth:`MergedWeights.restore` copies it back (the base is bit-identical after any number of
  cycles); :func:`merged` is the ``with`` form. :func:`use_exact_merge` makes a PEFT model's ``merge_adapter`` /
  ``unmerge_adapter`` (what TRL's vLLM sync calls) do exactly this.

The in-place form writes into the parameters' own storage (so views of it, such as the full
parameters an engine gathers, see the merged values) and holds one copy of every adapted base
weight while merged. ``swap=True`` (ArGen's merged rollouts, where each process holds whole
weights) instead points each parameter at a separate tensor holding the merged values and points
it back afterwards: no copy of the base in either direction, and on a CPU the merged tensors are
kept in ``buffers`` from one merge to the next (no fresh allocation per rollout batch). A float32
Linear layer's merged value is then one fused ``addmm`` (``W + s * B @ A``, rounded once).
Plain LoRA only (Linear, Embedding, Conv layers; no DoRA or other variants, which refuse).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

ADAPTER_PREFIX = "base_model.model."


def lora_layers(model: Any) -> list[tuple[str, Any]]:
    """(name, layer) for every LoRA layer of a PEFT model (``peft.tuners.lora.LoraLayer``)."""
    from peft.tuners.lora import LoraLayer

    return [(name, module) for name, module in model.named_modules() if isinstance(module, LoraLayer)]


def _adapters(layer: Any, adapter_names: Sequence[str] | None) -> list[str]:
    names = list(layer.active_adapters) if adapter_names is None else list(adapter_names)
    names = [n for n in names if n in layer.lora_A or n in getattr(layer, "lora_embedding_A", {})]
    for name in names:
        if name in getattr(layer, "lora_variant", {}):
            raise NotImplementedError(f"adapter {name!r} of {type(layer).__name__} is a LoRA variant "
                                      f"({type(layer.lora_variant[name]).__name__}); only plain LoRA merges exactly here")
    return names


def merged_weight(layer: Any, adapter_names: Sequence[str] | None = None) -> tuple[Any, Any | None]:
    """(weight, bias) of one LoRA layer with its adapters merged, computed out of place.

    ``W + sum(scale * B @ A)`` in float32, rounded once to the base weight's dtype; the bias is
    None unless an adapter carries one (``lora_bias``). ``adapter_names``: default, the active ones.
    """
    import torch

    base = layer.get_base_layer()
    names = _adapters(layer, adapter_names)
    weight = base.weight.detach()
    total = weight.to(torch.float32, copy=True)
    bias = None
    for name in names:
        total += layer.get_delta_weight(name).detach().to(torch.float32)
        if getattr(layer, "lora_bias", {}).get(name):
            if bias is None:
                bias = base.bias.detach().to(torch.float32, copy=True)
            bias += layer.lora_B[name].bias.detach().to(torch.float32) * layer.scaling[name]
    return total.to(weight.dtype), None if bias is None else bias.to(base.bias.dtype)


def base_name(name: str) -> str:
    """A PEFT model's parameter name as the base model names it (what vLLM and from_pretrained expect)."""
    if name.startswith(ADAPTER_PREFIX):
        name = name[len(ADAPTER_PREFIX):]
    return re.sub(r"\.modules_to_save\.[^.]+\.", ".", name.replace(".base_layer.", "."))


def merged_state_dict(model: Any, adapter_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Every weight of the base model with the adapters merged, under the base model's names.

    Out of place: the model is not modified. Adapted weights are new tensors (:func:`merged_weight`);
    every other entry is the model's own tensor (detached, not copied). Adapter parameters are left out.
    """
    replaced: dict[str, Any] = {}
    for name, layer in lora_layers(model):
        weight, bias = merged_weight(layer, adapter_names)
        prefix = f"{name}.base_layer." if hasattr(layer, "base_layer") else f"{name}."
        replaced[prefix + "weight"] = weight
        if bias is not None:
            replaced[prefix + "bias"] = bias
    out = {}
    for name, tensor in model.state_dict(keep_vars=False).items():
        if ".lora_" in name or ".original_module." in name:
            continue
        out[base_name(name)] = replaced.get(name, tensor.detach())
    return out


@dataclass
class MergedWeights:
    """What :func:`merge_in_place` overwrote: each parameter with a copy of the values it held
    (``swapped``: the very tensor it held, put back by pointing the parameter at it again)."""

    replaced: list[tuple[Any, Any]] = field(default_factory=list)
    layers: list[tuple[Any, list[str]]] = field(default_factory=list)
    restored: bool = False
    swapped: bool = False

    def restore(self) -> None:
        """Copy the original values back (bit for bit) and mark the layers unmerged. Idempotent."""
        if self.restored:
            return
        import torch

        with torch.no_grad():
            for param, original in reversed(self.replaced):
                if self.swapped:
                    param.data = original
                else:
                    param.data.copy_(original)
        for layer, _names in self.layers:
            layer.merged_adapters = []
        self.replaced.clear()
        self.restored = True


def _fused_merge(layer: Any, names: list[str], out: Any) -> bool:
    """``out = W + s * B @ A`` in one ``addmm``, when that is exactly :func:`merged_weight`'s value
    to rounding: one adapter on a float32 ``nn.Linear`` base, no adapter bias, no transposed weight.
    False when it does not apply (the caller computes :func:`merged_weight` instead)."""
    import torch

    base = layer.get_base_layer()
    if len(names) != 1 or not isinstance(base, torch.nn.Linear) or base.weight.dtype != torch.float32:
        return False
    name = names[0]
    if name not in layer.lora_A or getattr(layer, "fan_in_fan_out", False) or getattr(layer, "lora_bias", {}).get(name):
        return False
    a, b = layer.lora_A[name].weight, layer.lora_B[name].weight
    if a.dtype != torch.float32 or b.dtype != torch.float32:
        return False
    torch.addmm(base.weight.detach(), b.detach(), a.detach(), alpha=float(layer.scaling[name]), out=out)
    return True


def merge_in_place(model: Any, adapter_names: Sequence[str] | None = None, *, swap: bool = False,
                   buffers: dict[str, Any] | None = None) -> MergedWeights:
    """Merge the adapters into the base weights in place; the returned record restores them exactly.

    Each adapted parameter's values are copied aside, then overwritten with its merged value
    (:func:`merged_weight`); :meth:`MergedWeights.restore` copies them back. The layers are marked
    merged as PEFT marks them, so their forward uses the merged weight alone.

    ``swap``: each adapted weight is pointed at a tensor holding its merged value instead, and
    pointed back at its own tensor by ``restore`` (no copies; views of the old storage do not see
    the merge, so not for sharded or gathered parameters). ``buffers``: a dict kept by the caller
    in which the merged tensors are reused from one call to the next.
    """
    import torch

    record = MergedWeights(swapped=swap)
    try:
        with torch.no_grad():
            for layer_name, layer in lora_layers(model):
                if layer.merged:
                    raise RuntimeError(f"{type(layer).__name__} is already merged: restore (or unmerge) it first")
                names = _adapters(layer, adapter_names)
                if not names:
                    continue
                base = layer.get_base_layer()
                if swap:
                    _swap_in(record, layer_name, layer, names, base, buffers)
                else:
                    weight, bias = merged_weight(layer, names)
                    for param, value in ((base.weight, weight), (base.bias, bias)):
                        if value is not None:
                            record.replaced.append((param, param.data.clone()))
                            param.data.copy_(value)
                layer.merged_adapters = list(names)
                record.layers.append((layer, names))
    except BaseException:
        record.restore()
        raise
    return record


def _swap_in(record: MergedWeights, layer_name: str, layer: Any, names: list[str], base: Any,
             buffers: dict[str, Any] | None) -> None:
    import torch

    key = f"{layer_name}.weight"
    out = buffers.get(key) if buffers is not None else None
    if out is None or out.shape != base.weight.shape or out.dtype != base.weight.dtype or out.device != base.weight.device:
        out = torch.empty_like(base.weight.data)
    bias = None
    if not _fused_merge(layer, names, out):
        weight, bias = merged_weight(layer, names)
        out.copy_(weight)
    if buffers is not None:
        buffers[key] = out
    record.replaced.append((base.weight, base.weight.data))
    base.weight.data = out
    if bias is not None:
        record.replaced.append((base.bias, base.bias.data))
        base.bias.data = bias


@contextlib.contextmanager
def merged(model: Any, adapter_names: Sequence[str] | None = None, *, swap: bool = False,
           buffers: dict[str, Any] | None = None) -> Iterator[Any]:
    """``with merged(model):`` the model computes with merged weights; afterwards its base weights
    are exactly what they were (``swap``, ``buffers``: see :func:`merge_in_place`)."""
    record = merge_in_place(model, adapter_names, swap=swap, buffers=buffers)
    try:
        yield model
    finally:
        record.restore()


def use_exact_merge(peft_model: Any) -> None:
    """Make ``peft_model.merge_adapter()`` / ``unmerge_adapter()`` merge exactly and restore bit for bit.

    TRL's vLLM weight sync calls these two around reading the weights it sends; with PEFT's own they
    drift the frozen base at every sync. Set on this model object only (instance attributes), so
    every holder of it (the trainer, TRL's vLLM generation, an engine's wrapper) gets the exact pair.
    Idempotent.
    """
    if getattr(peft_model, "_argen_exact_merge", False):
        return
    pending: list[MergedWeights] = []

    def merge_adapter(adapter_names: Sequence[str] | None = None, safe_merge: bool = False) -> None:
        record = merge_in_place(peft_model, adapter_names)
        if safe_merge:
            import torch

            if not all(torch.isfinite(p.data).all() for p, _ in record.replaced):
                record.restore()
                raise ValueError("NaNs detected in the merged weights: an adapter seems to be broken")
        pending.append(record)

    def unmerge_adapter() -> None:
        while pending:
            pending.pop().restore()

    peft_model.merge_adapter = merge_adapter
    peft_model.unmerge_adapter = unmerge_adapter
    peft_model._argen_exact_merge = True


__all__ = ["MergedWeights", "base_name", "lora_layers", "merge_in_place", "merged", "merged_state_dict", "merged_weight",
           "use_exact_merge"]
