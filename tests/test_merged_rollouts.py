"""LoRA rollouts generated with the adapters merged (argen.training.grpo_trainer), on the tiny model.

The merged policy computes what the adapter model computes (fp32: to rounding); a training step
generates its rollouts merged and computes its loss unmerged; afterwards the frozen base weights
are bit-identical and the adapters have moved.
"""

from __future__ import annotations

import pytest

from tests.conftest import compose


def _tiny_model_dir() -> str:
    from argen.config import to_plain
    from argen.models import resolve_model

    return resolve_model(to_plain(compose("train", ["experiment=smoke"]).model))


def _length_reward(completions, **kwargs):
    """A reward that varies within a group (longer answers score higher), so the loss has a gradient."""
    return [float(len(c[0]["content"] if isinstance(c, list) else c)) / 10.0 for c in completions]


def _trainer(tmp_path, *, merge: bool = True, learning_rate: float = 1e-2):
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer
    from trl import GRPOConfig

    from argen.training.grpo_trainer import ArgenGRPOTrainer

    path = _tiny_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    prompts = [[{"role": "user", "content": text}] for text in
               ("I have a headache.", "My knee hurts after running.", "Is a fever of 38C dangerous?", "I feel dizzy.")]
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, num_generations=4, max_completion_length=8,
        max_steps=1, learning_rate=learning_rate, beta=0.0, use_cpu=True, report_to=[], save_strategy="no",
        logging_steps=1, seed=0, temperature=1.0, disable_tqdm=True,
        model_init_kwargs={"dtype": torch.float32},
    )
    trainer = ArgenGRPOTrainer(
        model=path, reward_funcs=[_length_reward], args=args, train_dataset=Dataset.from_dict({"prompt": prompts}),
        processing_class=tokenizer, merge_for_generation=merge,
        peft_config=LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    return trainer


def _move_adapters(model, seed: int = 0) -> None:
    """lora_B starts at 0 (every merge would be a no-op): give it trained-looking values."""
    import torch

    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.02)


def _frozen(model) -> dict:
    return {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}


def test_merged_policy_computes_the_adapter_models_logits_and_puts_the_base_back(tmp_path):
    import torch

    from argen.training.policy_model import merged_for_generation, unwrapped_policy

    trainer = _trainer(tmp_path)
    model = unwrapped_policy(trainer)
    _move_adapters(model)
    model.eval()
    before = _frozen(model)
    ids = torch.arange(5, 29).unsqueeze(0)
    with torch.no_grad():
        through_adapters = model(input_ids=ids).logits
        with merged_for_generation(trainer):
            assert all(layer.merged for _, layer in _lora_layers(model))
            merged_logits = model(input_ids=ids).logits
        after = model(input_ids=ids).logits
        with model.disable_adapter():
            base_only = model(input_ids=ids).logits
    # float32: the same function to rounding (W x + s B A x against (W + s B A) x)
    assert torch.allclose(merged_logits, through_adapters, atol=1e-5, rtol=0)
    assert not torch.allclose(base_only, through_adapters, atol=1e-3), "the adapters change nothing: a vacuous test"
    assert torch.equal(after, through_adapters)
    assert not any(layer.merged for _, layer in _lora_layers(model))
    for name, param in model.named_parameters():
        if name in before:
            assert torch.equal(param, before[name]), f"{name} changed"


def _lora_layers(model):
    from argen.training.lora_merge import lora_layers

    return lora_layers(model)


def test_a_training_step_generates_merged_learns_unmerged_and_leaves_the_base_bit_identical(tmp_path):
    import torch

    from argen.training.policy_model import unwrapped_policy

    trainer = _trainer(tmp_path)
    model = unwrapped_policy(trainer)
    _move_adapters(model)
    frozen = _frozen(model)
    adapters = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert frozen and adapters and all("lora_" in n for n in adapters)

    # Every call of one adapted layer: was it merged, and was autograd recording (the loss pass)?
    _, layer = _lora_layers(model)[0]
    calls: list[tuple[bool, bool]] = []
    layer.register_forward_pre_hook(lambda module, inputs: calls.append((bool(module.merged), torch.is_grad_enabled())))
    trainer.train()

    generation = [merged for merged, grad in calls if not grad]
    loss_pass = [merged for merged, grad in calls if grad]
    assert generation and all(generation), "rollouts were generated through the unmerged adapters"
    assert loss_pass and not any(loss_pass), "the loss was computed on merged weights"
    for name, param in model.named_parameters():
        if name in frozen:
            assert torch.equal(param, frozen[name]), f"frozen base weight {name} moved"
    moved = [n for n, p in model.named_parameters() if n in adapters and not torch.equal(p, adapters[n])]
    assert moved, "the adapters did not train"


def test_merge_for_generation_false_generates_through_the_adapters(tmp_path):
    import torch

    from argen.training.policy_model import unwrapped_policy

    trainer = _trainer(tmp_path, merge=False, learning_rate=0.0)
    model = unwrapped_policy(trainer)
    _, layer = _lora_layers(model)[0]
    calls: list[bool] = []
    layer.register_forward_pre_hook(lambda module, inputs: calls.append(bool(module.merged)) if not torch.is_grad_enabled() else None)
    trainer.train()
    assert calls and not any(calls)


@pytest.mark.parametrize("merge", [True, False])
def test_periodic_evaluation_generates_as_the_rollouts_do(tmp_path, merge):
    from argen.training.policy_model import generation_model, unwrapped_policy

    trainer = _trainer(tmp_path, merge=merge)
    model = unwrapped_policy(trainer)
    _move_adapters(model)
    with generation_model(trainer, None, merge=trainer.merge_for_generation) as (policy, lockstep):
        assert not lockstep
        assert all(layer.merged == merge for _, layer in _lora_layers(policy))
    assert not any(layer.merged for _, layer in _lora_layers(model))


def test_merge_for_generation_is_a_checked_model_key():
    from argen.config_schema import TrainConfig
    from argen.errors import ConfigError

    assert TrainConfig.parse(compose("train", [])).model.merge_for_generation is True
    assert TrainConfig.parse(compose("train", ["model.merge_for_generation=false"])).model.merge_for_generation is False
    with pytest.raises(ConfigError, match="model.merge_for_generation"):
        TrainConfig.parse(compose("train", ["model.merge_for_generation=sometimes"]))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_swapped_merge_computes_the_merged_weights_and_puts_the_very_tensors_back(dtype):
    """``merged(..., swap=True)``: each adapted weight points at its merged value (float32: one fused
    addmm, equal to the out-of-place merge to rounding; bfloat16: that merge exactly), then at its
    own tensor again; the merged tensors are reused from one merge to the next."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from argen.training.lora_merge import lora_layers, merged, merged_weight

    base = AutoModelForCausalLM.from_pretrained(_tiny_model_dir(), dtype=getattr(torch, dtype))
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    _move_adapters(model)
    before = {n: (p.data, p.detach().clone()) for n, p in model.named_parameters() if not p.requires_grad}
    expected = {name: merged_weight(layer)[0] for name, layer in lora_layers(model)}
    buffers: dict = {}
    seen = []
    for _ in range(3):
        with merged(model, swap=True, buffers=buffers):
            for name, layer in lora_layers(model):
                weight = layer.get_base_layer().weight
                assert layer.merged
                if dtype == "float32":
                    assert torch.allclose(weight, expected[name], atol=1e-6, rtol=0), name
                else:
                    assert torch.equal(weight, expected[name]), name
            seen.append({k: v.data_ptr() for k, v in buffers.items()})
    assert seen[0] == seen[1] == seen[2] and len(seen[0]) == len(expected)
    for name, param in model.named_parameters():
        if name in before:
            tensor, values = before[name]
            assert param.data.data_ptr() == tensor.data_ptr() and torch.equal(param, values), name
    assert not any(layer.merged for _, layer in lora_layers(model))
