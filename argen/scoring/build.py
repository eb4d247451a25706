"""Build the scoring path (judge + rubric + policies) from the typed config nodes.

Training, evaluation and the score command all build it here, so they score the same way. The
commands pass typed nodes (:mod:`argen.config_schema`) to the ``*_from`` functions and
:func:`scorer_from_settings`; ``build_*`` take a composed mapping with ``judge``, ``rubric`` and
``policy`` and parse it through the same schema classes: a convenience for tests, benchmarks and
scripts (and, for now, the end-of-training evaluation, which reads the run's saved config.yaml).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import hydra.utils

from argen.config_schema import JudgeConfig, PolicyConfig, RubricConfig
from argen.errors import ConfigError
from argen.judges.base import Judge
from argen.scoring.pipeline import Scorer
from argen.scoring.rubric import Rubric, rubric_data


def rubric_from(node: RubricConfig) -> Rubric:
    """The rubric of a ``rubric`` node (its tables checked here, naming the key)."""
    return Rubric.from_config(dict(node.tables))


def judge_from(node: JudgeConfig) -> Judge:
    """Instantiate the judge a ``judge`` node names (``_target_``) with its own settings."""
    try:
        judge = hydra.utils.instantiate(node.instantiate_node(), _convert_="all")
    except ConfigError:
        raise
    except Exception as exc:  # instantiate wraps the real error; surface it with the key
        cause = exc.__cause__ if isinstance(exc.__cause__, ConfigError) else None
        if cause is not None:  # the judge's own settings check named the key
            raise cause from None
        unknown = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if unknown:  # a key the judge class does not take
            raise ConfigError(f"judge.{unknown.group(1)}", f"is not a setting of {node.target}") from None
        real = exc.__cause__ if isinstance(exc.__cause__, (ValueError, TypeError)) else None
        named = re.match(r"(\w+) must be ", str(real)) if real is not None else None
        if named and named.group(1) in node.settings:  # the judge's own check, "<setting> must be ..."
            raise ConfigError(f"judge.{named.group(1)}", str(real).split(" ", 1)[1]) from None
        raise ConfigError("judge", f"cannot build {node.target}: {real if real is not None else exc}") from exc
    if not isinstance(judge, Judge):
        raise ConfigError("judge._target_", f"{node.target} is not an argen.judges.base.Judge")
    return judge


def policies_from(node: PolicyConfig, rubric: Rubric):
    """The policy engine of a ``policy`` node (None when disabled)."""
    if not node.enabled:
        return None
    # Imported here so configs without policies never load regopy. No ImportError fallback:
    # policies that are switched on must not silently drop out of the reward.
    from argen.policy.engine import PolicyEngine

    # The referral/scope policies read the rubric's own tables (data.argen.rubric).
    return PolicyEngine.from_config(dict(node.node), rubric=rubric_data(rubric))


def scorer_from_settings(judge: JudgeConfig, rubric: RubricConfig, policy: PolicyConfig) -> Scorer:
    """Judge + rubric + policies from their typed nodes."""
    built_rubric = rubric_from(rubric)
    policies = policies_from(policy, built_rubric)
    return Scorer(judge_from(judge), built_rubric, policies, on_error=judge.scorer.on_error,
                  max_error_rate=judge.scorer.max_error_rate)


def _rubric_node(cfg: Mapping[str, Any], mode: str | None) -> RubricConfig:
    node = RubricConfig.parse(cfg["rubric"])
    if mode is None:
        return node
    return RubricConfig.parse({**node.tables, "mode": mode})


def build_rubric(cfg: Mapping[str, Any], mode: str | None = None) -> Rubric:
    """The rubric from ``cfg.rubric``; ``mode`` replaces its mode (evaluation uses the full one)."""
    return rubric_from(_rubric_node(cfg, mode))


def build_judge(cfg: Mapping[str, Any]) -> Judge:
    """Instantiate ``cfg.judge`` (its ``_target_`` names the class)."""
    return judge_from(JudgeConfig.parse(cfg["judge"]))


def build_policies(cfg: Mapping[str, Any]):
    """The policy engine from ``cfg.policy`` (None when disabled or not configured)."""
    node = cfg.get("policy") if hasattr(cfg, "get") else None
    if not node:
        return None
    return policies_from(PolicyConfig.parse(node), build_rubric(cfg))


def build_scorer(cfg: Mapping[str, Any], *, rubric_mode: str | None = None) -> Scorer:
    """Judge + rubric + policies from a composed config; ``rubric_mode`` replaces rubric.mode."""
    policy = cfg.get("policy") if hasattr(cfg, "get") else None
    return scorer_from_settings(JudgeConfig.parse(cfg["judge"]), _rubric_node(cfg, rubric_mode),
                                PolicyConfig.parse(policy) if policy else PolicyConfig(False, {}))
