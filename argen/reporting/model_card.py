"""The model card (README.md) ArGen writes beside every model it saves.

PEFT's ``save_pretrained`` leaves a template ("[More Information Needed]" in every field) beside a
LoRA adapter, and TRL's card names only the trainer. ArGen's card says what a Hugging Face user
looks for: the base model, how it was trained (GRPO, LoRA or full, steps, learning rate, beta),
what scored it (judge and rubric versions, the Rego policies), the base-vs-trained evaluation per
principle with its paired test under the reward judge and the audit judge, looping answers, the
command that reproduces the run, and what the model is not for. The YAML header carries the
Hub's metadata (``base_model``, ``library_name``, ``license``, ``tags``, ``pipeline_tag``).

A checkpoint's card is written when it is saved, before any evaluation, and says so;
``final_model``'s card is written at the end of training and rewritten once the end-of-training
evaluation has run (:func:`render_model_card` with ``evaluation``).

Works from plain data only (the resolved config, the run summary's ``evaluation`` block), so the
training process, the end-evaluation process and tests render the same card.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from argen.data.atomic import write_atomic
from argen.types import PRINCIPLES

CARD = "README.md"
SCORES = (*PRINCIPLES, "combined")
# Override keys whose values a card must never show (a token typed on the command line).
_SECRET_KEY = re.compile(r"(token|secret|password|api_key|apikey|credential)", re.IGNORECASE)


def reproduce_command(overrides: Sequence[str] | None) -> str:
    """``python -m argen.train KEY=VALUE ...`` from the run's Hydra overrides (``.hydra/overrides.yaml``).

    The run dir itself (``hydra.run.dir``) and a ``resume`` are left out (they name where a run went,
    not what it was); a value under a secret-looking key is replaced by ``<redacted>``.
    """
    kept = []
    for item in overrides or ():
        key, sep, value = str(item).partition("=")
        bare = key.lstrip("+~")
        if bare in ("hydra.run.dir", "resume", "resume_allow_changes", "hydra.output_subdir"):
            continue
        if sep and _SECRET_KEY.search(bare):
            item = f"{key}=<redacted>"
        kept.append(_shell_word(str(item)))
    return " ".join(["python -m argen.train", *kept])


def _shell_word(text: str) -> str:
    if re.fullmatch(r"[\w./:=+,@~\[\]-]+", text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"


def read_overrides(run_dir: Path) -> list[str] | None:
    """The Hydra overrides a run was started with (None when the run dir has no ``.hydra/``)."""
    path = Path(run_dir) / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return None
    import yaml  # a Hydra record, a plain YAML list of strings

    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [str(v) for v in loaded] if loaded else []


# ----------------------------------------------------------------------------------- formatting
def _fmt(value: Any, digits: int = 3) -> str:
    return "n/a" if not isinstance(value, (int, float)) else f"{value:.{digits}f}"


def _p(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "n/a"
    return "<0.0001" if value < 1e-4 else (f"{value:.2g}" if value < 0.01 else f"{value:.2f}")


def _paired_cell(test: Mapping[str, Any] | None) -> str:
    """``0.512 -> 0.587 (+0.075, 95% CI [+0.031, +0.118], p=0.004)`` from a stored paired test."""
    if not test or not test.get("n"):
        return "n/a"
    diff = test.get("mean_diff")
    ci = ("[" + ", ".join(f"{test[k]:+.3f}" for k in ("ci_low", "ci_high")) + "]"
          if isinstance(test.get("ci_low"), (int, float)) and isinstance(test.get("ci_high"), (int, float)) else "n/a")
    change = f"{diff:+.3f}" if isinstance(diff, (int, float)) else "n/a"
    mark = " **significant**" if test.get("significant") else ""
    return (f"{_fmt(test.get('mean_before'))} -> {_fmt(test.get('mean_after'))} "
            f"({change}, 95% CI {ci}, p={_p(test.get('p_value'))}){mark}")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def _yaml_header(meta: Mapping[str, Any]) -> list[str]:
    import json

    lines = ["---"]
    for key, value in meta.items():
        if value is None or value == []:
            continue
        if isinstance(value, (list, tuple)):
            lines.append(f"{key}:")
            lines += [f"- {json.dumps(str(v))}" for v in value]
        else:
            lines.append(f"{key}: {json.dumps(value) if not isinstance(value, (int, float)) else value}")
    lines.append("---")
    return lines


# ----------------------------------------------------------------------------------- the card
def render_model_card(
    config: Mapping[str, Any],
    *,
    steps: int,
    judge: str | None,
    policies: Sequence[str] = (),
    command: str | None = None,
    evaluation: Mapping[str, Any] | None = None,
    checkpoint: bool = False,
    trl_version: str | None = None,
    argen_version: str | None = None,
) -> str:
    """The model card of a model a run saved.

    ``config``: the run's resolved config (``config.yaml``); ``steps``: optimizer steps the saved
    weights have taken; ``judge``: the reward judge's name (its version); ``policies``: the Rego
    policies loaded; ``command``: :func:`reproduce_command`; ``evaluation``: the run summary's
    ``evaluation`` block (None: not evaluated yet); ``checkpoint``: a mid-run checkpoint.
    """
    model = config.get("model") or {}
    grpo = config.get("grpo") or {}
    reward = config.get("reward") or {}
    rubric = config.get("rubric") or {}
    ev = config.get("eval") or {}
    lora = bool(model.get("lora"))
    lc = model.get("lora_config") or {}
    base = model.get("base_model") or (model.get("path") if model.get("source") == "hub" else None)
    base_name = base or str(model.get("name") or "the base model")
    max_steps = grpo.get("max_steps")

    tags = ["argen", "grpo", "trl", "healthcare", "text-generation"]
    if lora:
        tags += ["lora", "peft"]
        if base:
            tags.append(f"base_model:adapter:{base}")
    meta = {
        "base_model": base,
        "library_name": "peft" if lora else "transformers",
        "license": model.get("license"),
        "language": ["en"],
        "pipeline_tag": "text-generation",
        "tags": tags,
    }
    lines = _yaml_header(meta)
    lines += ["", f"# {model.get('name', 'model')}: ArGen GRPO fine-tune ({'LoRA adapter' if lora else 'full weights'})", ""]
    lines.append(f"A demonstration healthcare assistant: {base_name} fine-tuned by ArGen with GRPO (TRL's "
                 "`GRPOTrainer`) to follow three principles scored from one judge verdict per answer: **ahimsa** "
                 "(non-harm, referral that fits the urgency), **dharma** (staying in the healthcare domain) and "
                 "**helpfulness**.")
    lines.append("")
    if checkpoint:
        lines.append(f"**Checkpoint at step {steps} of {max_steps}. Not evaluated:** the base-vs-trained evaluation "
                     "runs when training ends and is written into `final_model/README.md`; this card describes "
                     "training only.")
    elif evaluation is None:
        lines.append(f"**Trained {steps} steps. Not evaluated yet** (the end-of-training evaluation rewrites this "
                     "card with its results; with `eval.at_end=false` run `python -m argen.evaluate "
                     "checkpoint=RUN_DIR`).")
    elif evaluation.get("error"):
        lines.append(f"**Trained {steps} steps. The end-of-training evaluation failed:** {evaluation.get('error')}. "
                     f"{evaluation.get('headline', '')}")
    else:
        lines.append(f"**Trained {steps} steps; evaluated on {evaluation.get('scenarios', 'n/a')} held-out scenarios "
                     "(below).**")
    lines.append("")

    # ---- training
    lines += ["## Training", ""]
    method = (f"LoRA r={lc.get('r')}, alpha={lc.get('alpha')}, dropout={lc.get('dropout')}, on "
              f"{lc.get('target_modules')}" if lora else "full fine-tuning (every weight)")
    schedule = (grpo.get("beta_schedule") or {})
    beta = f"{grpo.get('beta')}"
    if schedule.get("kind") not in (None, "constant"):
        beta += f" ({schedule.get('kind')} schedule {schedule.get('start')} -> {schedule.get('end')})"
    weights = reward.get("weights") or {}
    rows = [
        ["base model", f"`{base_name}`" + (f" (license {model['license']})" if model.get("license") else "")],
        ["method", f"GRPO ({'TRL ' + trl_version if trl_version else 'TRL'}), {method}"],
        ["steps", f"{steps}" + (f" of {max_steps}" if checkpoint and max_steps is not None else "")],
        ["learning rate", str(grpo.get("learning_rate"))],
        ["beta (KL)", beta],
        ["completions per prompt", str(grpo.get("num_generations"))],
        ["completion tokens (max)", str(grpo.get("max_completion_length"))],
        ["loss", f"{grpo.get('loss_type')}, scale_rewards={grpo.get('scale_rewards')}"],
        ["sampling temperature", str(grpo.get("temperature"))],
        ["reward weights", ", ".join(f"{k} {v}" for k, v in weights.items()) or "n/a"],
        ["seed", str(config.get("seed"))],
        ["weights dtype", str(model.get("dtype"))],
    ]
    lines += _table(["setting", "value"], rows) + [""]
    lines += ["## What scored it", ""]
    lines += _table(["part", "version"], [
        ["reward judge", f"`{judge}`" if judge else "n/a"],
        ["rubric", f"`{rubric.get('version', 'n/a')}`"],
        ["Rego policies", ", ".join(f"`{p}`" for p in policies) or "none"],
        ["audit judge (evaluation only)", f"`{ev.get('audit_judge')}`" if ev.get("audit_judge") else "none"],
    ]) + [""]

    # ---- evaluation
    lines += ["## Evaluation: base against trained", ""]
    if evaluation is None or evaluation.get("error") or not evaluation.get("stats"):
        lines += ["Not evaluated in this card (see the note at the top).", ""]
    else:
        lines += _evaluation_section(evaluation, judge, config)

    # ---- reproduce and use
    lines += ["## Reproduce", "", "```bash", command or "python -m argen.train  # overrides not recorded: see the run's config.yaml", "```", ""]
    lines.append("The run dir's `config.yaml` holds the whole resolved config"
                 + (f"; ArGen {argen_version}." if argen_version else "."))
    lines += ["", "## Use", "", "```python"]
    if lora:
        lines += ["from peft import AutoPeftModelForCausalLM", "from transformers import AutoTokenizer", "",
                  "model = AutoPeftModelForCausalLM.from_pretrained(PATH).merge_and_unload()",
                  "tokenizer = AutoTokenizer.from_pretrained(PATH)"]
    else:
        lines += ["from transformers import AutoModelForCausalLM, AutoTokenizer", "",
                  "model = AutoModelForCausalLM.from_pretrained(PATH)", "tokenizer = AutoTokenizer.from_pretrained(PATH)"]
    lines += ["```", "", "Prompt it as it was trained: the run's system prompt (`data.system_prompt` in `config.yaml`) "
              "and the user's question, through the tokenizer's chat template.", ""]
    lines += ["## Intended use and limits", "",
              "- A demonstration of principle-guided reinforcement learning (ArGen), for research and teaching. "
              "**It is not medical advice** and must not be used to diagnose, treat or triage anyone.",
              f"- {base_name} is a small model: its answers can be wrong, incomplete or repetitive whatever the "
              "scores say.",
              "- The scores come from automatic judges (an offline heuristic or learned judge, or an LLM), not from "
              "clinicians: a higher score means the judge liked the answer better, not that the answer is safe. "
              "A lift under the reward judge alone can be the policy learning that judge's blind spots; the audit "
              "judge's lift is shown beside it for that reason.",
              "- Trained and evaluated on English healthcare questions written for ArGen; other languages and "
              "domains were not tested.", ""]
    return "\n".join(lines)


def _evaluation_section(evaluation: Mapping[str, Any], judge: str | None, config: Mapping[str, Any]) -> list[str]:
    ev = config.get("eval") or {}
    stats = evaluation.get("stats") or {}
    overall = stats.get("overall") or {}
    audit = evaluation.get("audit") or None
    n = evaluation.get("scenarios")
    lines = [f"Base and trained model answered the same {n} held-out scenarios (temperature {ev.get('temperature')}, "
             f"up to {ev.get('max_new_tokens')} new tokens); each answer was scored by the reward judge"
             + (f" and by the audit judge `{audit.get('judge')}`" if audit else "")
             + ". Each cell: base -> trained (mean paired difference, 95% bootstrap CI, Wilcoxon signed-rank p; "
             "significant means p < 0.05, per-principle rows uncorrected for multiple comparisons).", ""]
    header = ["score", f"reward judge `{judge}`"]
    if audit:
        header.append(f"audit judge `{audit.get('judge')}`")
    rows = []
    for key in SCORES:
        row = [key, _paired_cell(overall.get(key))]
        if audit:
            row.append(_paired_cell(audit.get("audit_lift") if key == "combined"
                                    else ((audit.get("by_principle") or {}).get(key) or {}).get("audit_lift")))
        rows.append(row)
    lines += _table(header, rows) + [""]
    if audit and audit.get("flag"):
        lines += [f"**Judges disagree:** {audit['flag']}", ""]
    looping = evaluation.get("looping") or {}
    base, trained = looping.get("base") or {}, looping.get("trained") or {}
    if base and trained:
        lines += [f"Looping answers ({base.get('rule', 'repeated runs of words')}): {base.get('looping')}/{base.get('n')} "
                  f"(base) -> {trained.get('looping')}/{trained.get('n')} (trained).", ""]
    if evaluation.get("report"):
        lines += ["The full comparison (tiers, scopes, violations, per-scenario moves) is the run's "
                  f"`{Path(str(evaluation['report'])).relative_to(Path(str(evaluation['report'])).parents[1])}`.", ""]
    return lines


def card_for_run(config: Mapping[str, Any], run_dir: str | Path, *, steps: int, judge: str | None,
                 policies: Sequence[str] = (), evaluation: Mapping[str, Any] | None = None,
                 checkpoint: bool = False) -> str:
    """:func:`render_model_card` for a run dir: the command from its ``.hydra/overrides.yaml``, the
    installed TRL's and ArGen's versions."""
    import importlib.metadata

    def version(dist: str) -> str | None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    overrides = read_overrides(Path(run_dir))
    return render_model_card(
        config, steps=steps, judge=judge, policies=policies, evaluation=evaluation, checkpoint=checkpoint,
        command=None if overrides is None else reproduce_command(overrides),
        trl_version=version("trl"), argen_version=version("argen"),
    )


def write_model_card(directory: str | Path, text: str) -> Path:
    """Replace ``directory/README.md`` with ``text`` (written whole: a reader never sees half a card)."""
    path = Path(directory) / CARD
    write_atomic(path, text)
    return path


__all__ = ["CARD", "card_for_run", "read_overrides", "render_model_card", "reproduce_command", "write_model_card"]
