"""Check a training run's whole config once, in the Hydra process, before anything loads or spawns.

:class:`~argen.config_schema.TrainConfig` checks every group's values. What can only be checked by
building it is built here and let go: the judge (its class and settings), the rubric tables, the
Rego policies, the reward callables and the audit judge's node. So a bad ``judge.*``,
``rubric.*`` or ``policy.*`` key stops a multi-process run before any worker starts, as a bad
``grpo.*`` key does. Then every scenario file is read, so a bad line is found here too.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from argen.config import load_configured_scenarios, to_plain
from argen.config_schema import TrainConfig, launched_world_size
from argen.errors import ConfigError
from argen.judges.redaction import refuse_key_shaped_values


def validate_train_config(cfg: Any, *, world_size: int | None = None) -> TrainConfig:
    """Every check a training run needs before it loads anything heavy; return the typed config.

    ``world_size``: the process count of a run already launched (default: $WORLD_SIZE when > 1).
    Raises :class:`~argen.errors.ArgenError` naming the key (or file and line) at fault.
    """
    settings = TrainConfig.parse(cfg, world_size if world_size is not None else launched_world_size())
    # A key in a config file (or an ${oc.env:...}) stops here, before config.yaml, wandb or a worker records it.
    refuse_key_shaped_values(to_plain(cfg))
    if settings.grpo.use_vllm and importlib.util.find_spec("vllm") is None:
        raise ConfigError("grpo.use_vllm", "needs the vllm package on the GPU machine: "
                          "pip install -e '.[gpu]' (vllm 0.22.0-0.31.0, the range TRL 1.16 supports)")
    if settings.model.lora and importlib.util.find_spec("peft") is None:
        raise ConfigError("model.lora", "needs the peft package (a dependency of argen): pip install -e .")
    check_scoring(cfg, settings)
    # Reading the scenario files is cheap and finds every bad line here, in the Hydra process,
    # before any worker starts (the runner reads them again where they are used).
    check_enough_scenarios(len(load_configured_scenarios(settings.data, "train")), settings)
    if settings.eval.any:
        load_configured_scenarios(settings.eval.scenarios, "eval")
    return settings


def check_enough_scenarios(count: int, settings: TrainConfig) -> None:
    """Refuse a run whose scenarios cannot fill one training step (it would train nothing and
    call itself done), naming ``data.limit`` or ``data.path`` and the number needed."""
    need, how = settings.grpo.scenarios_per_step(settings.hardware.num_processes)
    if count >= need:
        return
    have = f"{count} scenario{'s' if count != 1 else ''}"
    if settings.data.limit is not None and settings.data.limit < need:
        raise ConfigError("data.limit", f"{have}, but one training step needs {need} ({how}); set data.limit={need} or more")
    where = settings.data.path or "the bundled training set"
    raise ConfigError("data.path", f"{where} holds {have}, but one training step needs {need} ({how}); "
                      "add scenarios, or lower grpo.per_device_train_batch_size")


def check_scoring(cfg: Any, settings: TrainConfig) -> None:
    """Build the scorer (judge, rubric, policies), the reward functions and the audit judge, then
    let them go: each raises a ConfigError (or PolicyError) naming what is wrong. Nothing here
    opens a connection or a cache: the judge's preflight runs where the judge is used."""
    from argen.evaluation.audit import build_audit_scorer
    from argen.rewards.registry import build_reward_functions
    from argen.scoring.build import scorer_from_settings

    scorer = scorer_from_settings(settings.judge, settings.rubric, settings.policy)
    try:
        build_reward_functions(settings.reward, scorer)
    finally:
        scorer.close()
    if settings.eval.at_end:
        audit = build_audit_scorer(settings.eval.audit, settings.rubric, settings.policy)
        if audit is not None:
            audit.close()
