"""Build the scoring path (judge + rubric + policies) from a composed config.

Training, evaluation and the score command all call :func:`build_scorer`, so they score the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import hydra.utils
from omegaconf import DictConfig, OmegaConf

from argen.errors import ConfigError
from argen.judges.base import Judge
from argen.scoring.pipeline import Scorer
from argen.scoring.rubric import Rubric, rubric_data

# Keys of the `judge` node that configure the Scorer, not the judge itself.
SCORER_KEYS = ("on_error", "max_error_rate")


def _plain(node: Any) -> dict[str, Any]:
    if isinstance(node, DictConfig):
        return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]
    return dict(node)


def build_rubric(cfg: Mapping[str, Any], mode: str | None = None) -> Rubric:
    """The rubric from ``cfg.rubric``; ``mode`` overrides its mode (the reward ablations set it)."""
    node = _plain(cfg["rubric"])
    if mode is not None:
        node["mode"] = mode
    return Rubric.from_config(node)


def build_judge(cfg: Mapping[str, Any]) -> Judge:
    """Instantiate ``cfg.judge`` (its ``_target_`` names the class); scorer keys are left out."""
    node = _plain(cfg["judge"])
    if "_target_" not in node:
        raise ConfigError("judge._target_", "is required (the judge class to build)")
    for key in SCORER_KEYS:
        node.pop(key, None)
    try:
        judge = hydra.utils.instantiate(node, _convert_="all")
    except Exception as exc:  # instantiate wraps the real error; surface it with the key
        raise ConfigError("judge", f"cannot build {node['_target_']}: {exc}") from exc
    if not isinstance(judge, Judge):
        raise ConfigError("judge._target_", f"{node['_target_']} is not an argen.judges.base.Judge")
    return judge


def build_policies(cfg: Mapping[str, Any]):
    """The policy engine from ``cfg.policy`` (None when disabled or not configured)."""
    node = cfg.get("policy") if hasattr(cfg, "get") else None
    if not node or not node.get("enabled", False):
        return None
    # Imported here so configs without policies never load regopy. No ImportError fallback:
    # policies that are switched on must not silently drop out of the reward.
    from argen.policy.engine import PolicyEngine

    # The referral/scope policies read the rubric's own tables (data.argen.rubric).
    return PolicyEngine.from_config(_plain(node), rubric=rubric_data(build_rubric(cfg)))


def build_scorer(cfg: Mapping[str, Any], *, rubric_mode: str | None = None) -> Scorer:
    """Judge + rubric + policies from a composed config, validated before anything slow."""
    rubric = build_rubric(cfg, rubric_mode)
    policies = build_policies(cfg)
    judge_node = cfg["judge"]
    on_error = str(judge_node.get("on_error", "skip"))
    if on_error not in ("skip", "raise"):
        raise ConfigError("judge.on_error", f"must be 'skip' or 'raise', got '{on_error}'")
    rate = float(judge_node.get("max_error_rate", 0.5))
    if not 0.0 <= rate <= 1.0:
        raise ConfigError("judge.max_error_rate", f"must be in [0, 1], got {rate}")
    judge = build_judge(cfg)
    return Scorer(judge, rubric, policies, on_error=on_error, max_error_rate=rate)
