"""``make gpu-check``: what runs on a CPU. Its stages up to the GPU, its exit status, its case
list, and its judging of run dirs (real safetensors files, real metrics files, and, in the slow
test, the run dirs of real CPU training runs).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

from bench import gpu_check as gc
from tests.conftest import CONF, REPO, cli_env, compose, run_cli

NAMES = [c.name for c in gc.GPU_CASES]


def _case(name: str) -> gc.Case:
    return next(c for c in gc.GPU_CASES if c.name == name)


# --- the exit status and the stages -----------------------------------------------------------


def test_without_a_gpu_nothing_is_checked_and_the_exit_status_says_so(tmp_path):
    """Imports and config stage pass; then one line says nothing was checked, and the status is 3."""
    out = tmp_path / "gpu_check.json"
    result = subprocess.run([sys.executable, "-m", "bench.gpu_check", "--out", str(out)], cwd=REPO,
                            env=cli_env(CUDA_VISIBLE_DEVICES=""), capture_output=True, text=True, timeout=600)
    assert result.returncode == gc.NOTHING_CHECKED == 3, result.stdout + result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("gpu-check: imports OK (torch ") and lines[0].endswith(f"config OK: {len(NAMES)} cases compose and validate")
    assert lines[-1] == ("gpu-check: nothing was checked: no CUDA GPU visible (torch.cuda.is_available() is False, "
                         "CUDA_VISIBLE_DEVICES=); run it on a machine with a CUDA GPU")
    report = json.loads(out.read_text())
    assert report["checked"] is False and report["exit_code"] == 3 and report["cases"] == {}
    assert report["planned"] == NAMES and report["versions"]["trl"].startswith("1.16")


def test_a_case_that_does_not_compose_fails_at_the_config_stage():
    broken = gc.Case("typo", "a key that does not exist", ("grpo.no_such_field=1",))
    errors = gc.config_stage([broken, _case("lora")], [])
    assert list(errors) == ["typo"] and "grpo.no_such_field" in errors["typo"]


@pytest.mark.parametrize("statuses, code", [
    ([], 3),                          # nothing planned or run
    (["SKIP", "SKIP"], 3),            # every case skipped: nothing was checked
    (["PASS", "SKIP"], 0),
    (["PASS", "FAIL", "SKIP"], 1),
    (["FAIL"], 1),
])
def test_exit_status(statuses, code):
    assert gc.exit_code({str(i): {"status": s} for i, s in enumerate(statuses)}) == code


# --- the case list ----------------------------------------------------------------------------------


def test_the_cases_the_issue_asks_for_are_there():
    one_gpu = {c.name for c in gc.GPU_CASES if c.gpus == 1}
    assert {"lora", "full_ft_bf16_autocast_fp32_weights", "beta_full_ft", "beta_lora", "grad_ckpt_full_ft", "grad_ckpt_lora",
            "periodic_and_end_eval", "paper_recipe_llama1b_shape"} <= one_gpu
    two = {c.name: c for c in gc.GPU_CASES if c.gpus >= 2}
    assert set(two) == {"fsdp_2_ranks_sharded_lockstep_eval", "fsdp_2_ranks_lora_beta", "zero3_2_ranks_end_eval",
                        "ddp_2_ranks_full_ft_bf16"}
    assert len(NAMES) == len(set(NAMES))


def test_one_gpu_names_what_it_cannot_run():
    def have(package: str) -> bool:
        return True

    reasons = {c.name: gc.skip_reason(c, 1, have) for c in gc.GPU_CASES}
    for name, reason in reasons.items():
        if _case(name).gpus > 1:
            assert reason == f"needs {_case(name).gpus} GPUs (several ranks), 1 visible: one GPU cannot run it"
        else:
            assert reason is None
    assert gc.skip_reason(_case("zero2_1_process"), 1, lambda p: p != "deepspeed").startswith("the deepspeed package is not installed")
    assert gc.skip_reason(_case("fsdp_2_ranks_lora_beta"), 2, have) is None


def _composed(name: str):
    return compose("train", _case(name).args)


def test_each_case_composes_what_it_claims():
    for name in ("beta_full_ft", "beta_lora"):
        cfg = _composed(name)
        assert cfg.grpo.beta > 0 and cfg.model.lora is (name == "beta_lora")
    for name in ("grad_ckpt_full_ft", "grad_ckpt_lora"):
        cfg = _composed(name)
        assert cfg.model.gradient_checkpointing is True and cfg.model.lora is (name == "grad_ckpt_lora")
    cfg = _composed("full_ft_bf16_autocast_fp32_weights")
    assert (cfg.hardware.bf16, cfg.hardware.use_cpu, cfg.model.dtype, cfg.model.lora, cfg.grpo.learning_rate) == (
        True, False, "bfloat16", False, 3.2e-6)
    assert gc.fp32_weights in _case("full_ft_bf16_autocast_fp32_weights").checks  # the saved weights, not config.yaml
    cfg = _composed("periodic_and_end_eval")
    assert cfg.eval.every_n_steps == 1 and cfg.eval.at_end is True
    assert {gc.periodic_rows, gc.end_evaluation} <= set(_case("periodic_and_end_eval").checks)
    for case in gc.GPU_CASES:
        assert compose("train", case.args).hardware.use_cpu is False, case.name


def test_the_paper_case_is_the_paper_recipe_on_llama_3_2_1b_shape():
    cfg = _composed("paper_recipe_llama1b_shape")
    paper = yaml.safe_load((CONF / "grpo" / "paper.yaml").read_text())
    for key, value in paper.items():
        assert cfg.grpo[key] == (2 if key == "max_steps" else value), key
    assert (cfg.grpo.num_generations, cfg.grpo.loss_type, cfg.grpo.scale_rewards, cfg.grpo.temperature) == (6, "bnpo", "none", 0.9)
    assert cfg.grpo.disable_dropout is True and cfg.reward.mode == "combined"
    # Llama-3.2-1B's config (hidden 2048, 16 layers, 32/8 heads, MLP 8192, rope theta 500000),
    # random weights built locally: no hub.
    m = cfg.model
    assert (m.source, m.hidden_size, m.num_layers, m.num_attention_heads, m.num_key_value_heads, m.intermediate_size) == (
        "tiny", 2048, 16, 32, 8, 8192)
    assert m.rope_theta == 500000.0 and m.max_position_embeddings == 131072 and m.dtype == "bfloat16"


def test_the_tokenizer_override_reaches_every_case(tmp_path):
    (tmp_path / "tokenizer.json").write_text("{}")
    extra = gc.tokenizer_overrides(str(tmp_path))
    assert extra == [f"++model.tokenizer={tmp_path.resolve()}"]
    assert gc.case_command(_case("lora"), tmp_path / "run", extra)[-2:] == [*extra, f"hydra.run.dir={tmp_path / 'run'}"]
    assert compose("train", [*_case("paper_recipe_llama1b_shape").args, *extra]).model.tokenizer == str(tmp_path.resolve())


# --- judging what a run left behind ------------------------------------------------------------------

LAYER = "model.layers.0.mlp.up_proj.weight"


def _model(directory: Path, tensors: dict[str, torch.Tensor]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(directory / "model.safetensors"))
    return directory


def _run(tmp_path: Path, final: dict[str, torch.Tensor] | None = None, base: dict[str, torch.Tensor] | None = None,
         rows: list[dict] | None = None, **summary) -> tuple[Path, dict]:
    run = tmp_path / "run"
    run.mkdir(parents=True, exist_ok=True)
    if final is not None:
        _model(run / "final_model", final)
    if base is not None:
        summary["model_path"] = str(_model(tmp_path / "base", base))
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows or []))
    summary = {"status": "completed", "steps": 2, "world_size": 1, **summary}
    (run / "summary.json").write_text(json.dumps(summary))
    return run, summary


def test_weights_saved_in_bf16_fail_and_fp32_weights_pass(tmp_path):
    torch.manual_seed(0)
    w = torch.randn(64, 64) * 0.02
    run, summary = _run(tmp_path, final={LAYER: w.to(torch.bfloat16)})
    assert gc.fp32_weights(run, summary) == "final_model/ holds {'BF16': 1} tensors, expected only F32 (fp32 trained weights)"
    run, summary = _run(tmp_path / "b", final={LAYER: w})
    assert gc.fp32_weights(run, summary) is None


def test_updates_lost_to_bf16_rounding_fail(tmp_path):
    """The issue's measurement: 3.9% of entries moved. A check of the config alone would pass it."""
    torch.manual_seed(0)
    base = torch.randn(100, 100) * 0.02
    lost = base.to(torch.bfloat16).float()  # loaded from the bf16 checkpoint, saved back as it was...
    lost.view(-1)[:390] += 1e-4  # ...but for 3.9% of its entries
    run, summary = _run(tmp_path, final={LAYER: lost}, base={LAYER: base.to(torch.bfloat16)})
    assert gc.weights_moved()(run, summary) == ("only 3.9% of the layer matrices' entries moved in 2 steps "
                                                 "(expected >= 50%): updates lost")
    moved = base.to(torch.bfloat16).float() + 6.4e-7  # one Adam step at the paper's warmed-up rate: fp32 keeps it
    run, summary = _run(tmp_path / "b", final={LAYER: moved, "model.embed_tokens.weight": base},
                        base={LAYER: base.to(torch.bfloat16), "model.embed_tokens.weight": base})
    assert gc.weights_moved()(run, summary) is None


def test_an_adapter_that_did_not_train_fails(tmp_path):
    def adapter(directory: Path, b: torch.Tensor) -> None:
        directory.mkdir(parents=True)
        (directory / "adapter_config.json").write_text("{}")
        save_file({"base_model.model.model.layers.0.mlp.up_proj.lora_A.weight": torch.randn(8, 64).to(b.dtype),
                   "base_model.model.model.layers.0.mlp.up_proj.lora_B.weight": b}, str(directory / "adapter_model.safetensors"))

    run, summary = _run(tmp_path)
    assert gc.lora_trained(run, summary) == "final_model/ holds no LoRA adapter (adapter_config.json)"
    adapter(run / "final_model", torch.zeros(64, 8))
    assert gc.lora_trained(run, summary) == "only 0.0% of lora_B entries left zero in 2 steps: the adapter did not train"
    run, summary = _run(tmp_path / "b")
    adapter(run / "final_model", torch.randn(64, 8).to(torch.bfloat16))
    assert gc.lora_trained(run, summary) == "the adapter holds {'BF16': 2} tensors, expected only F32"
    run, summary = _run(tmp_path / "c")
    adapter(run / "final_model", torch.randn(64, 8))
    assert gc.lora_trained(run, summary) is None


def test_periodic_evaluation_needs_a_scored_row_at_step_1(tmp_path):
    rows = [{"step": 0, "eval/combined": 0.3}, {"step": 1, "reward": 0.2}, {"step": 2, "reward": 0.3, "eval/combined": 0.4}]
    run, summary = _run(tmp_path, rows=rows)
    assert gc.periodic_rows(run, summary) == "periodic evaluation scored at steps [0, 2], expected 0, 1 and 2"
    rows[1]["eval/combined"] = 0.35
    run, summary = _run(tmp_path / "b", rows=rows)
    assert gc.periodic_rows(run, summary) is None


def test_beta_cases_need_the_kl_of_every_step(tmp_path):
    run, summary = _run(tmp_path, rows=[{"step": 1, "reward": 0.1, "kl": 0.0}, {"step": 2, "reward": 0.2}])
    assert gc.kl_logged(run, summary) == "no KL logged at steps [2]: the reference model never ran"
    run, summary = _run(tmp_path / "b", rows=[{"step": 1, "reward": 0.1, "kl": 0.0}, {"step": 2, "reward": 0.2, "kl": 1e-6}])
    assert gc.kl_logged(run, summary) is None


def test_a_judged_run_reports_its_figures(tmp_path):
    resources = {"step_s_mean": 0.84, "gpu_peak_mb": 2210.5, "tokens_per_s_mean": 1520.0}
    run, _ = _run(tmp_path, rows=[{"step": 1, "reward": 0.1, "kl": 0.0}, {"step": 2, "reward": 0.2, "kl": 0.01}],
                  resources=resources)
    result = gc.judge_run(gc.Case("x", "beta", checks=(gc.kl_logged,)), run)
    assert result == {"status": "PASS", "reason": "trained 2 steps, world size 1", "s_per_step": 0.84, "gpu_peak_mb": 2210.5,
                      "tokens_per_s": 1520.0}
    assert gc.result_line("x", {**result, "seconds": 21.0}) == (
        "PASS x: trained 2 steps, world size 1 (21.0 s, 0.84 s/step, 2210 MiB peak, 1520 tokens/s)")
    (run / "metrics.jsonl").write_text("")
    failed = gc.judge_run(gc.Case("x", "beta", checks=(gc.kl_logged,)), run)
    assert failed["status"] == "FAIL" and failed["reason"] == "no KL logged at steps any: the reference model never ran"


# --- the checks against real runs (CPU stands in for the GPU) -------------------------------------


@pytest.mark.slow  # two smoke runs: ~1 min on 2 idle cores
def test_the_checks_pass_on_real_runs(tmp_path):
    """What TRL and ArGen really write (metric names, adapter and weight files) passes the checks;
    the same checks the GPU cases apply, on hardware=cpu."""
    runs = {
        "full": ["model.lora=false", "grpo.beta=0.04", "eval.every_n_steps=1", "eval.limit=2"],
        "lora": ["model.lora=true", "grpo.beta=0.04", "model.gradient_checkpointing=true"],
    }
    for name, overrides in runs.items():
        result = run_cli("argen.train", "experiment=smoke", *overrides, f"hydra.run.dir={tmp_path / name}",
                         env=cli_env(OMP_NUM_THREADS="1"))
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    full = gc.judge_run(gc.Case("full", "", checks=(gc.kl_logged, gc.periodic_rows, gc.fp32_weights, gc.weights_moved())),
                        tmp_path / "full")
    assert full["status"] == "PASS", full
    lora = gc.judge_run(gc.Case("lora", "", checks=(gc.kl_logged, gc.lora_trained,
                                                    gc.training_args(gradient_checkpointing=True))), tmp_path / "lora")
    assert lora["status"] == "PASS", lora
    assert full["s_per_step"] > 0 and full["tokens_per_s"] > 0
