"""Continue a run from its last completed checkpoint, refusing silent config changes."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from argen.errors import ConfigError
from argen.training.checkpoints import checkpoint_step, is_resumable, latest_checkpoint

# Keys that may differ between the original run and its resumption.
IGNORED_KEYS = ("resume", "resume_allow_changes")
# Where a machine of a multi-machine run sits, not what the run trains: each machine has its own.
PLACEMENT_KEYS = ("hardware.machine_rank", "hardware.main_address", "hardware.main_port")


def resolve_resume(resume: Any, run_dir: Path) -> tuple[Path, Path] | None:
    """Map ``resume`` (false | true | a run dir | a checkpoint dir) to (run dir, checkpoint dir)."""
    if resume in (False, None, "false", "False", ""):
        return None
    if resume in (True, "true", "True"):
        target = run_dir
    else:
        target = Path(str(resume)).expanduser()
        if not target.exists():
            raise ConfigError("resume", f"{target} does not exist")
        if not target.is_dir():
            raise ConfigError("resume", f"{target} is a file, not a run dir or a checkpoints/checkpoint-N dir")
    if os.path.lexists(target / "checkpoints") and not (target / "checkpoints").is_dir():
        raise ConfigError("resume", f"{target / 'checkpoints'} is not a directory (was it replaced by a file?): "
                          "nothing to resume from")
    if checkpoint_step(target) is not None and target.parent.name == "checkpoints":
        if not is_resumable(target):
            raise ConfigError("resume", f"{target} is not a complete checkpoint (its save was interrupted); "
                              f"resume={target.parent.parent} picks the newest complete one")
        return target.parent.parent, target
    checkpoint = latest_checkpoint(target / "checkpoints")
    if checkpoint is None:
        raise ConfigError("resume", f"no completed checkpoint under {target / 'checkpoints'} (nothing to resume)")
    return target, checkpoint


def flatten(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def config_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Keys whose values differ (or exist on one side only), as ``key: old -> new`` lines."""
    a = {k: v for k, v in flatten(saved).items() if k.split(".")[0] not in IGNORED_KEYS and k not in PLACEMENT_KEYS}
    b = {k: v for k, v in flatten(current).items() if k.split(".")[0] not in IGNORED_KEYS and k not in PLACEMENT_KEYS}
    missing = object()
    return [
        f"{key}: {a.get(key, '<absent>')!r} -> {b.get(key, '<absent>')!r}"
        for key in sorted(set(a) | set(b))
        if a.get(key, missing) != b.get(key, missing)
    ]


def check_same_config(run_dir: Path, current: Mapping[str, Any], allow_changes: bool) -> list[str]:
    """Refuse to resume with a different config unless ``resume_allow_changes=true``; return the differences."""
    saved_path = run_dir / "config.yaml"
    if not saved_path.is_file():
        raise ConfigError("resume", f"{run_dir} has no config.yaml: not an ArGen run dir")
    saved = OmegaConf.to_container(OmegaConf.load(saved_path), resolve=True)
    diffs = config_differences(saved, current)  # type: ignore[arg-type]
    if diffs and not allow_changes:
        listing = "; ".join(diffs[:20]) + (f"; ... {len(diffs) - 20} more" if len(diffs) > 20 else "")
        raise ConfigError(
            "resume",
            f"the config differs from the run being resumed ({listing}); "
            "pass resume_allow_changes=true to resume anyway",
        )
    return diffs


def resume_config(cfg, task_overrides: list[str]):
    """The config to resume with: the run's own saved config, plus this command's key overrides.

    ``python -m argen.train resume=RUN_DIR`` continues exactly as configured. Key overrides
    (``grpo.max_steps=60``) are applied on top of the saved config, and :func:`check_same_config`
    then refuses them unless ``resume_allow_changes=true``. Group overrides (``model=...``) cannot
    be applied to a saved config and are refused.
    """
    resume = cfg.get("resume", False)
    if resume in (False, None, True, "false", "False", "true", "True", ""):
        return cfg
    resolved = resolve_resume(resume, Path("."))
    assert resolved is not None
    saved = _with_overrides(OmegaConf.load(resolved[0] / "config.yaml"), task_overrides)
    saved.resume = resume
    saved.resume_allow_changes = cfg.get("resume_allow_changes", False)
    return saved


def _with_overrides(saved, task_overrides: list[str]):
    """The saved config with this command's key overrides applied (``resume*`` and ``hydra.*`` skipped)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    for override in OverridesParser.create().parse_overrides(list(task_overrides)):
        key = override.key_or_group
        if key.startswith("resume") or key.startswith("hydra"):
            continue
        if "." not in key:
            raise ConfigError(key, "config groups cannot change when resuming; override single keys instead")
        OmegaConf.update(saved, key, override.value(), force_add=True)
    return saved


def finished_message(resume: Any, run_dir: Path, task_overrides: list[str]) -> str | None:
    """When ``resume`` continues a run that already trained every step this command asks for: the
    line saying so, else None (then training goes on, or a refusal comes later with its reasons).

    A finished run resumed used to train one step past its end (the Trainer checks for the last
    step only after taking one). Finished means the checkpoint's step has reached ``grpo.max_steps``
    as this command sets it, or, with the config unchanged, the Trainer's own planned step count
    (an epoch-based run). Only a raised ``grpo.max_steps`` (``resume_allow_changes=true``) trains on.
    """
    import json

    try:
        resolved = resolve_resume(resume, run_dir)
        if resolved is None:
            return None
        run_dir, checkpoint = resolved
        state = json.loads((checkpoint / "trainer_state.json").read_text())
        step, planned = int(state["global_step"]), int(state.get("max_steps") or 0)
        saved = OmegaConf.load(run_dir / "config.yaml")
        current = _with_overrides(OmegaConf.load(run_dir / "config.yaml"), task_overrides)
    except (ConfigError, OSError, ValueError, KeyError, TypeError):
        return None  # what is wrong is reported where the resume is checked, with its own words
    plain = OmegaConf.to_container(current, resolve=True)
    changed = config_differences(OmegaConf.to_container(saved, resolve=True), plain)  # type: ignore[arg-type]
    allowed = any(o.split("=", 1)[0].lstrip("+") == "resume_allow_changes" and o.split("=", 1)[1] in ("true", "True")
                  for o in task_overrides)
    if changed and not allowed:
        return None
    max_steps = int((plain.get("grpo") or {}).get("max_steps") or -1)  # type: ignore[union-attr]
    target = max_steps if max_steps > 0 else (None if changed else planned)
    if not target or step < target:
        return None
    return (f"argen.train: {run_dir} is finished: it trained {step} of {target} steps ({checkpoint.name}); nothing to do, "
            f"nothing changed. To train further, raise grpo.max_steps: python -m argen.train resume={run_dir} "
            f"grpo.max_steps={step * 2} resume_allow_changes=true")
