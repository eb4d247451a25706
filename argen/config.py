"""Where the configs live, and small helpers every command uses on a composed config.

A facade above the schema: the helpers themselves live in :mod:`argen.config_schema.base` (the
schema's bottom layer), re-exported here so callers keep one import.

The schema (one typed, checked dataclass per config group) is :mod:`argen.config_schema`;
docs/config.md describes it. A training run is checked once, in the Hydra process, by
:func:`argen.training.validation.validate_train_config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from argen.config_schema import DataConfig
from argen.config_schema.base import CONF_DIR, REPO_ROOT, check_no_missing_values, resolve_config_path, to_plain
from argen.data.scenarios import Scenario, bundled_path, load_scenarios

__all__ = [
    "CONF_DIR",
    "REPO_ROOT",
    "check_no_missing_values",
    "load_configured_scenarios",
    "resolve_config_path",
    "scenario_path",
    "to_plain",
]


def scenario_path(data: Mapping[str, Any], split: str) -> Path:
    """The configured scenario file, or the bundled set for ``split``."""
    return Path(str(data["path"])) if data.get("path") else bundled_path(split)


def load_configured_scenarios(data: Any, split: str) -> list[Scenario]:
    """Load (and fully validate) the scenarios a command uses: a ``data`` node (mapping or a
    typed :class:`~argen.config_schema.DataConfig`)."""
    if not isinstance(data, DataConfig):
        data = DataConfig.parse(data)  # the one data.limit check
    return load_scenarios(scenario_path({"path": data.path}, split), data.limit)
