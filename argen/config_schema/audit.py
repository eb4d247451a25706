"""The audit judge's node: ``audit_judge=<option>`` (``eval.audit_judge`` in training) names a
judge option (``conf/judge/<option>.yaml``), adjusted by ``audit_judge_overrides``; the node is
resolved against the run's rubric and read into a :class:`JudgeConfig` here, in the schema, so
the evaluation code receives a typed node (argen.evaluation.audit builds the scorer from it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from argen.config_schema.base import CONF_DIR, to_plain
from argen.config_schema.scoring import JudgeConfig, RubricConfig
from argen.errors import ConfigError

CONF_JUDGE_DIR = Path(CONF_DIR) / "judge"


def judge_options() -> list[str]:
    """The judge options a user can name (``conf/judge/*.yaml``)."""
    return sorted(p.stem for p in CONF_JUDGE_DIR.glob("*.yaml"))


def _load_option(option: str, key: str, seen: tuple[str, ...] = ()) -> DictConfig:
    path = CONF_JUDGE_DIR / f"{option}.yaml"
    if not option or "/" in option or not path.is_file():
        raise ConfigError(key, f"unknown judge option {option!r}; choose one of {', '.join(judge_options())}")
    if option in seen:
        raise ConfigError(key, f"judge option {option!r} includes itself")
    raw = OmegaConf.load(path)
    defaults = raw.pop("defaults", None) or []
    node = OmegaConf.create({})
    self_done = False
    for entry in defaults:  # the judge group's own defaults: other judge options and _self_
        if entry == "_self_":
            node = OmegaConf.merge(node, raw)
            self_done = True
        else:
            node = OmegaConf.merge(node, _load_option(str(entry), key, (*seen, option)))
    return OmegaConf.merge(node, raw) if not self_done else node  # type: ignore[return-value]


def _override_node(value: Any, key: str) -> DictConfig | None:
    """Settings for the audit judge's node: a mapping (``+KEY.base_url=...`` on the command line)
    or a list of ``key=value`` strings."""
    if value is None or (hasattr(value, "__len__") and len(value) == 0):
        return None
    if isinstance(value, (DictConfig, Mapping)):
        plain = OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else dict(value)
        return OmegaConf.create(plain)
    if isinstance(value, (ListConfig, list, tuple)):
        items = [str(v) for v in value]
        for item in items:
            if "=" not in item or not item.split("=", 1)[0].strip():
                raise ConfigError(key, f"entry {item!r} is not key=value")
        return OmegaConf.from_dotlist(items)
    raise ConfigError(key, f"must be a mapping (+{key}.base_url=...) or a list of key=value strings, got {value!r}")


def audit_judge_node(rubric: RubricConfig | Mapping[str, Any], option: str, overrides: Any = None, *,
                     key: str = "audit_judge") -> dict[str, Any]:
    """The audit judge's config node: the option's file, then ``overrides``, resolved against the rubric."""
    node = _load_option(str(option), key)
    extra = _override_node(overrides, f"{key}_overrides")
    if extra is not None:
        node = OmegaConf.merge(node, extra)
    tables = dict(rubric.tables) if isinstance(rubric, RubricConfig) else to_plain(rubric)
    root = OmegaConf.create({"rubric": tables, "judge": node})
    try:
        return OmegaConf.to_container(root, resolve=True)["judge"]  # type: ignore[index,return-value]
    except Exception as exc:  # an interpolation the option cannot resolve here
        raise ConfigError(key, f"cannot resolve judge option {option!r}: {exc}") from None


@dataclass(frozen=True)
class AuditJudge:
    """An audit judge: the option named (for messages) and its typed node."""

    option: str
    judge: JudgeConfig
    key: str = "audit_judge"  # the config key that named it (eval.audit_judge in training)


def audit_judge_config(option: str | None, overrides: Any, rubric: RubricConfig | Mapping[str, Any], *,
                       key: str = "audit_judge") -> "AuditJudge | None":
    """The typed audit judge node (None when no option is named); every error names one key."""
    if not option:
        if overrides:
            raise ConfigError(f"{key}_overrides", f"is set but {key} is not; name a judge option, e.g. {key}=local")
        return None
    node = audit_judge_node(rubric, str(option), overrides, key=key)
    try:
        return AuditJudge(str(option), JudgeConfig.parse(node), key)
    except ConfigError as exc:
        raise audit_error(exc, str(option), key) from None


def audit_error(exc: ConfigError, option: str, key: str) -> ConfigError:
    """A ConfigError of the audit judge's node re-keyed for the user: ``judge.batch_size`` of the
    option becomes ``<key>_overrides.batch_size``, anything else ``<key>``."""
    return exc.within(f"{key}_overrides" if exc.key.startswith("judge.") else key, "judge", f"audit judge {option}")

