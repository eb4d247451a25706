"""The GPU paths' known faults (issue 23), each caught on a CPU: version-dependent field names,
wrapped models, dtypes, device placement, the vLLM sync of LoRA adapters, evaluation under FSDP.

Real parts: Hydra composition, the tiny model, real PEFT models, a real torch DDP wrapper on a
one-process gloo group, GRPO training runs through the CLI.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from argen.config_schema import TrainConfig
from argen.errors import ConfigError
from tests.conftest import compose

DATA = Path(__file__).parent / "data"
FLOOR_TRANSFORMERS = "5.17.0"


def training_arguments_fields(version: str = FLOOR_TRANSFORMERS) -> frozenset[str]:
    """TrainingArguments' field names in that transformers (recorded from a virtualenv with it)."""
    lines = (DATA / f"training_arguments_fields-{version}.txt").read_text().splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def floor_grpo_config_fields() -> frozenset[str]:
    """GRPOConfig's fields over the floor transformers: TRL 1.16's own fields (pinned, so the same
    everywhere) plus that version's TrainingArguments fields."""
    from transformers import TrainingArguments
    from trl import GRPOConfig

    installed_base = {f.name for f in dataclasses.fields(TrainingArguments)}
    trl_own = {f.name for f in dataclasses.fields(GRPOConfig)} - installed_base
    return frozenset(trl_own) | training_arguments_fields()


# Every grpo option and experiment, on every hardware option they are meant for.
COMPOSITIONS = [
    [],
    ["grpo=paper"],
    ["grpo=smoke"],
    ["experiment=smoke"],
    ["experiment=smoke", "model.gradient_checkpointing=true"],
    ["experiment=paper_llama1b", "eval.path=x.jsonl", "eval.at_end=false"],
    ["experiment=gpu_vllm"],
    ["experiment=gpu_vllm", "hardware=fsdp"],
    ["experiment=gpu_vllm", "hardware=zero3"],
]


# ---------------------------------------------------------------- 1. field names of transformers 5.17


@pytest.mark.parametrize("overrides", COMPOSITIONS, ids=lambda o: " ".join(o) or "default")
def test_every_grpo_argument_is_a_field_on_the_floor_transformers_too(overrides, tmp_path, monkeypatch):
    """vLLM 0.31 pins transformers < 5.18; 5.17 has no ``activation_checkpointing`` (every run crashed)."""
    import argen.training.grpo_args as grpo_args
    from argen.config_schema import grpo_config_fields

    cfg = compose("train", overrides)
    installed = grpo_config_fields()
    assert set(grpo_args.grpo_kwargs(cfg, tmp_path, [0.3, 0.4, 0.3])) <= installed
    # The same config on the floor version: ArGen reads the field set it runs on.
    floor = floor_grpo_config_fields()
    monkeypatch.setattr(grpo_args, "grpo_config_fields", lambda: floor, raising=False)
    kwargs = grpo_args.grpo_kwargs(cfg, tmp_path, [0.3, 0.4, 0.3])
    assert set(kwargs) <= floor, f"not fields in transformers {FLOOR_TRANSFORMERS}: {sorted(set(kwargs) - floor)}"
    assert kwargs["gradient_checkpointing"] is bool(cfg.model.gradient_checkpointing)


def test_the_checkpointing_flag_is_named_as_the_installed_transformers_names_it():
    from argen.training.grpo_args import checkpointing_field

    assert checkpointing_field(training_arguments_fields()) == "gradient_checkpointing"
    assert checkpointing_field(training_arguments_fields() | {"activation_checkpointing"}) == "activation_checkpointing"


@pytest.mark.parametrize("key", ["gradient_checkpointing", "model_init_kwargs"])
def test_grpo_fields_that_argen_sets_from_other_groups_are_refused_naming_that_group(key):
    with pytest.raises(ConfigError) as err:
        TrainConfig.parse(compose("train", ["experiment=smoke", f"+grpo.{key}={{}}" if key == "model_init_kwargs" else f"+grpo.{key}=true"]))
    assert err.value.key == f"grpo.{key}"
    assert ("model.gradient_checkpointing" if key == "gradient_checkpointing" else "model.dtype") in str(err.value)


# ---------------------------------------------------------------- 2. wrapped models


def _tiny_model_dir() -> str:
    from argen.config import to_plain
    from argen.models import resolve_model

    return resolve_model(to_plain(compose("train", ["experiment=smoke"]).model))


def test_lora_with_beta_starts_under_fsdp_and_ddp_wrappers(tmp_path):
    """Under FSDP ``trainer.model`` is the wrapper when ``on_train_begin`` runs, and TRL loads no
    reference model for a PEFT policy: asking the wrapper refused every LoRA run with beta > 0."""
    import json
    import subprocess
    import sys

    from argen.launch import free_port
    from tests.conftest import REPO, cli_env

    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1", "--master_port", str(free_port()),
           str(REPO / "tests" / "wrapped_policy_worker.py"), _tiny_model_dir()]
    done = subprocess.run(cmd, cwd=REPO, env=cli_env(PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"none": "started", "ddp": "started", "fsdp": "started"}


# ---------------------------------------------------------------- 3. trained weights in float32


@pytest.mark.parametrize(("overrides", "expected"), [
    (["model=llama1b"], "float32"),                              # the paper recipe: full fine-tuning, model.dtype=bfloat16
    (["experiment=paper_llama1b", "eval.path=x.jsonl"], "float32"),
    (["experiment=gpu_vllm"], "bfloat16"),                       # LoRA: the frozen base stays bf16
    (["experiment=gpu_vllm", "model.lora=false"], "float32"),
    (["experiment=smoke", "model.dtype=float16"], "float32"),
])
def test_weights_the_optimizer_updates_load_in_float32(overrides, expected):
    from argen.models import policy_init_kwargs

    settings = TrainConfig.parse(compose("train", overrides))
    assert policy_init_kwargs(settings.model, settings.hardware, visible_gpus=0)["dtype"] == expected


def _matrix_share_changed(before_dir: str, after_dir: Path) -> float:
    import torch
    from safetensors.torch import load_file

    before = load_file(str(Path(before_dir) / "model.safetensors"))
    after = load_file(str(after_dir / "model.safetensors"))
    changed = total = 0
    for name, weight in after.items():
        if weight.dim() == 2:
            changed += int((weight.float() != before[name].float()).sum())
            total += weight.numel()
            assert weight.dtype == torch.float32, f"{name} trained in {weight.dtype}"
    return changed / total


@pytest.mark.slow  # 3 GRPO steps of the tiny model through the CLI: ~1-2 min on 2 shared cores
def test_bf16_model_dtype_with_bf16_compute_still_moves_every_weight_at_the_paper_rate(tmp_path):
    """model.dtype=bfloat16, full fine-tuning, lr 3.2e-6, bf16 autocast (CPU autocast here, as on a
    GPU): the weights stored in bf16 changed 3.9% of their entries in 3 steps; in float32 all move."""
    from tests.conftest import run_cli

    run_dir = tmp_path / "run"
    result = run_cli("argen.train", "experiment=smoke", "model.dtype=bfloat16", "model.lora=false", "hardware.bf16=true",
                     "grpo.learning_rate=3.2e-6", "grpo.max_steps=3", "grpo.save_steps=3", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert _matrix_share_changed(_tiny_model_dir(), run_dir / "final_model") > 0.99


# ---------------------------------------------------------------- 5. one process, several GPUs


@pytest.mark.parametrize("hardware", [["hardware=gpu"], ["hardware=ddp", "hardware.num_processes=1"]])
def test_one_gpu_process_on_a_node_with_four_gpus_is_shown_one(hardware, monkeypatch):
    import argen.launch as launch

    settings = TrainConfig.parse(compose("train", hardware))
    monkeypatch.setattr(launch, "visible_gpus", lambda: 4)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert launch.one_gpu_pin(settings.hardware) == "0"
    assert launch.needs_workers(settings, isolate=False)  # a fresh process, so the pin holds
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert launch.one_gpu_pin(settings.hardware) == "3"
    monkeypatch.setattr(launch, "visible_gpus", lambda: 1)
    assert launch.one_gpu_pin(settings.hardware) is None


def test_several_gpu_processes_and_cpu_runs_are_not_pinned(monkeypatch):
    import argen.launch as launch

    monkeypatch.setattr(launch, "visible_gpus", lambda: 4)
    for hardware in (["hardware=ddp", "hardware.num_processes=4"], ["hardware=fsdp", "hardware.num_processes=2"], ["hardware=cpu"]):
        assert launch.one_gpu_pin(TrainConfig.parse(compose("train", hardware)).hardware) is None
    assert not launch.needs_workers(TrainConfig.parse(compose("train", ["hardware=cpu"])), isolate=False)


def test_the_policy_is_placed_on_one_gpu_or_left_to_the_engine():
    from argen.config_schema import HardwareConfig
    from argen.models import policy_device_map

    gpu = TrainConfig.parse(compose("train", ["hardware=gpu"])).hardware
    assert policy_device_map(gpu, visible_gpus=1) == {"": 0}  # not "auto": nothing spread, nothing offloaded
    with pytest.raises(ConfigError) as err:  # a process that still sees four: DataParallel over all of them
        policy_device_map(gpu, visible_gpus=4)
    assert err.value.key == "hardware" and "CUDA_VISIBLE_DEVICES=0" in str(err.value)
    assert "hardware=ddp hardware.num_processes=4" in str(err.value)
    fsdp = compose("train", ["hardware=fsdp"]).hardware
    assert policy_device_map(HardwareConfig.parse(fsdp, world_size=4), visible_gpus=4) is None  # each rank: the engine shards
    assert policy_device_map(TrainConfig.parse(compose("train", ["hardware=cpu"])).hardware, visible_gpus=4) is None


# ---------------------------------------------------------------- 6. evaluation without inference mode


def test_evaluation_generates_under_no_grad_not_inference_mode():
    """The periodic evaluation generates with the training policy (under FSDP: its gathered
    parameters); inference-mode tensors cannot enter the autograd of the next training step."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from argen.evaluation.generation import GenerationSettings, generate_batch

    model_dir = _tiny_model_dir()
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    seen = []
    model.register_forward_hook(lambda *_: seen.append((torch.is_inference_mode_enabled(), torch.is_grad_enabled())))
    generate_batch(model, AutoTokenizer.from_pretrained(model_dir), ["Is a fever of 38.5 C dangerous?"],
                   GenerationSettings(max_new_tokens=3, temperature=0.0))
    assert seen and set(seen) == {(False, False)}


# ---------------------------------------------------------------- 4. LoRA merges for vLLM syncs


def _lora_policy(dtype: str = "bfloat16", seed: int = 0):
    """The tiny model with LoRA on every linear layer, its adapters moved off their zero start
    (as after training: lora_B starts at 0, which would make every merge a no-op)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(_tiny_model_dir(), dtype=getattr(torch, dtype))
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.02)
    return model


def _frozen(model) -> dict:
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}


def _cycles(model, n: int) -> None:
    for _ in range(n):
        model.merge_adapter()
        model.unmerge_adapter()


def test_peft_merge_and_unmerge_drift_a_bf16_frozen_base():
    """The fault, as TRL's vLLM sync meets it: PEFT's own pair, 20 syncs, a bf16 base."""
    model = _lora_policy()
    before = _frozen(model)
    _cycles(model, 20)
    assert any(not torch_equal(before[n], p) for n, p in model.named_parameters() if n in before)


def torch_equal(a, b) -> bool:
    import torch

    return torch.equal(a, b)


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_exact_merge_leaves_the_frozen_base_bit_identical_after_many_syncs(dtype):
    import torch

    from argen.training.lora_merge import lora_layers, merged_weight, use_exact_merge

    model = _lora_policy(dtype)
    before = _frozen(model)
    use_exact_merge(model)
    _cycles(model, 50)
    for name, param in model.named_parameters():
        if name in before:
            assert torch.equal(before[name], param), f"{name} drifted"
    # While merged, each weight is W + s*B@A computed in float32 and rounded once.
    name, layer = lora_layers(model)[0]
    delta = layer.get_delta_weight("default").float()
    expected = (layer.get_base_layer().weight.float() + delta).to(getattr(torch, dtype))
    assert torch.equal(merged_weight(layer)[0], expected)
    model.merge_adapter()
    assert layer.merged and torch.equal(layer.get_base_layer().weight, expected)
    model.unmerge_adapter()
    assert not layer.merged


def test_merged_model_computes_what_the_adapters_compute():
    import torch

    from argen.training.lora_merge import merged

    model = _lora_policy("float32").eval()
    ids = torch.arange(3, 19).unsqueeze(0)
    with torch.no_grad():
        with_adapters = model(input_ids=ids).logits
        with merged(model):
            merged_logits = model(input_ids=ids).logits
        after = model(input_ids=ids).logits
    assert torch.allclose(merged_logits, with_adapters, atol=1e-5)
    assert torch.equal(after, with_adapters)


def test_merged_state_dict_is_the_base_model_with_adapters_merged_and_leaves_the_model_alone():
    import copy

    import torch

    from argen.training.lora_merge import merged_state_dict

    model = _lora_policy("float32")
    before = _frozen(model)
    weights = merged_state_dict(model)
    reference = copy.deepcopy(model).merge_and_unload().state_dict()  # PEFT's one-way merge, float32
    assert set(weights) == set(reference)
    for name, tensor in reference.items():
        assert torch.allclose(weights[name], tensor, atol=1e-6), name
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters() if n in before)


def test_lora_runs_install_the_exact_merge_on_the_unwrapped_policy(tmp_path):
    """The callback a LoRA run gets installs the exact pair before the first step (TRL's vLLM
    sync calls ``merge_adapter``/``unmerge_adapter`` on that very object)."""
    import torch

    from argen.training.callbacks import ExactLoraMergeCallback, build_callbacks

    cfg = compose("train", ["experiment=gpu_vllm", "eval.every_n_steps=0", "eval.at_end=false"])
    callbacks = [c for c in build_callbacks(cfg, tmp_path) if isinstance(c, ExactLoraMergeCallback)]
    assert len(callbacks) == 1
    assert not any(isinstance(c, ExactLoraMergeCallback)
                   for c in build_callbacks(compose("train", ["experiment=smoke"]), tmp_path))
    model = _lora_policy()

    class Trainer:  # what the callback reads: the model, inside a real torch wrapper as engines hold it
        accelerator = None

        def __init__(self, model):
            self.model = model

    callbacks[0].bind(Trainer(torch.nn.DataParallel(model)))
    callbacks[0].on_train_begin(None, None, None)
    before = _frozen(model)
    _cycles(model, 20)
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters() if n in before)


def test_gpu_vllm_trains_its_adapters_at_a_lora_learning_rate():
    """It trained LoRA at the paper's full fine-tuning rate (3.2e-6), where adapters barely move."""
    settings = TrainConfig.parse(compose("train", ["experiment=gpu_vllm"]))
    paper = TrainConfig.parse(compose("train", ["grpo=paper"])).grpo.trl["learning_rate"]
    assert settings.model.lora
    assert settings.grpo.trl["learning_rate"] == pytest.approx(10 * paper)


# ---------------------------------------------------------------- 7. vLLM's context length


def test_gpu_vllm_bounds_vllms_context_to_prompt_budget_plus_completion(tmp_path):
    """Unset, vLLM reserves Llama-3.2's whole 131k-token context."""
    from argen.training.grpo_args import grpo_kwargs

    cfg = compose("train", ["experiment=gpu_vllm"])
    kwargs = grpo_kwargs(cfg, tmp_path, [0.3, 0.4, 0.3])
    assert kwargs["vllm_max_model_length"] == 512 + kwargs["max_completion_length"] == 768


def test_vllms_context_is_checked_against_the_longest_prompt_before_vllm_starts():
    from transformers import AutoTokenizer

    from argen.config import load_configured_scenarios
    from argen.data.dataset import build_dataset
    from argen.training.grpo_args import longest_prompt_tokens, vllm_context_length

    settings = TrainConfig.parse(compose("train", ["experiment=gpu_vllm"]))
    dataset = build_dataset(load_configured_scenarios(settings.data, "train"), settings.data.system_prompt)
    longest = longest_prompt_tokens(AutoTokenizer.from_pretrained(_tiny_model_dir()), dataset)
    assert 100 < longest <= 512  # the bundled prompts, system prompt and chat template fit the budget
    assert vllm_context_length(settings.grpo, longest) == 768
    with pytest.raises(ConfigError) as err:
        vllm_context_length(settings.grpo, 600)
    assert err.value.key == "grpo.vllm_max_model_length" and "at least 856" in str(err.value)
    unset = TrainConfig.parse(compose("train", ["experiment=gpu_vllm", "grpo.vllm_max_model_length=null"]))
    assert vllm_context_length(unset.grpo, longest) == longest + 256


# ---------------------------------------------------------------- floors (make test-floors trains on them)


def test_every_dependency_declares_the_floor_that_make_test_floors_installs():
    from tests.dependency_floors import floor_of, floor_pins

    pins = floor_pins()
    assert pins["transformers"] == FLOOR_TRANSFORMERS and pins["trl"] == "1.16.0" and pins["torch"] == "2.13.0"
    assert floor_of("hydra-core>=1.3.2,<1.4") == ("hydra-core", "1.3.2")
    assert floor_of("omegaconf==2.3.*") == ("omegaconf", "2.3.0")
    with pytest.raises(ValueError, match="names no lower bound"):
        floor_of("pyyaml")
