"""``data``, ``logging``, and train.yaml's own ``eval`` and ``completions`` keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from argen.config_schema.values import _mapping, boolean, is_number, non_negative_int, one_of, positive_int
from argen.errors import ConfigError

if TYPE_CHECKING:
    from argen.config_schema.audit import AuditJudge

@dataclass(frozen=True)
class DataConfig:
    """``data``: the training scenarios (null path: the bundled set) and the system prompt."""

    path: str | None
    limit: int | None
    system_prompt: str | None

    @classmethod
    def parse(cls, node: Any, prefix: str = "data") -> "DataConfig":
        data = _mapping(node, prefix)
        limit = positive_int(data.get("limit"), f"{prefix}.limit", allow_none=True)
        prompt = data.get("system_prompt")
        return cls(path=str(data["path"]) if data.get("path") else None, limit=limit,
                   system_prompt=None if prompt is None else str(prompt))


LOGGING_BACKENDS = ("none", "wandb")
WANDB_MODES = ("auto", "offline", "online")


@dataclass(frozen=True)
class LoggingConfig:
    """``logging``: none, or wandb (offline under the run dir unless a key is set or mode=online)."""

    backend: str
    project: str = "argen"
    entity: str | None = None
    mode: str = "auto"
    tags: tuple[str, ...] = ()
    # false: the console shows ArGen's lines only, the libraries' output goes to the run's train.log
    # (argen.reporting.console_output); true: everything on the console.
    verbose: bool = False

    @classmethod
    def parse(cls, node: Any) -> "LoggingConfig":
        log = _mapping(node, "logging")
        backend = one_of(log.get("backend", "none"), LOGGING_BACKENDS, "logging.backend")
        mode = one_of(log.get("mode", "auto"), WANDB_MODES, "logging.mode")
        verbose = log.get("verbose", False)
        if not isinstance(verbose, bool):
            raise ConfigError("logging.verbose", f"must be true or false, got {verbose!r}")
        return cls(backend=backend, project=str(log.get("project", "argen")),
                   entity=None if log.get("entity") is None else str(log["entity"]), mode=mode,
                   tags=tuple(str(t) for t in (log.get("tags") or ())), verbose=verbose)


@dataclass(frozen=True)
class EvalConfig:
    """``eval`` (training): the end-of-training and periodic evaluations (docs/watching.md)."""

    at_end: bool
    path: str | None
    limit: int | None
    max_new_tokens: int | None
    temperature: float
    batch_size: int | None
    every_n_steps: int
    periodic_limit: int | None
    audit_judge: str | None
    audit_judge_overrides: Any
    require_path: bool = False

    # The audit judge's typed node, resolved against the run's rubric by TrainConfig.parse.
    audit: "AuditJudge | None" = None

    @property
    def scenarios(self) -> DataConfig:
        """The evaluation scenarios, as a data node (null path: the bundled eval set)."""
        return DataConfig(self.path, self.limit, None)

    @property
    def any(self) -> bool:
        """Whether the run evaluates at all (at the end or every N steps)."""
        return bool(self.at_end or self.every_n_steps)

    @classmethod
    def parse(cls, node: Any) -> "EvalConfig":
        ev = _mapping(node, "eval")
        for key in ("at_end", "require_path"):
            boolean(ev.get(key, False), f"eval.{key}")
        ints = {key: positive_int(ev.get(key), f"eval.{key}", allow_none=True) for key in ("limit", "max_new_tokens", "batch_size")}
        every = non_negative_int(ev.get("every_n_steps", 0), "eval.every_n_steps")
        if ev.get("require_path") and not ev.get("path") and (ev.get("at_end") or every):
            # An experiment that names no default benchmark (experiment=paper_llama1b).
            raise ConfigError("eval.path", "is required here: add eval.path=/path/to/benchmark.jsonl (the scenarios to evaluate on)")
        temp = ev.get("temperature", 0.2)
        if temp is None or not is_number(temp) or temp < 0:
            raise ConfigError("eval.temperature", f"must be >= 0, got {temp}")
        periodic = positive_int(ev.get("periodic_limit"), "eval.periodic_limit", allow_none=True, none_means=" (null: eval.limit)")
        limit = ints["limit"]
        if periodic is not None and limit is not None and periodic > limit:
            raise ConfigError("eval.periodic_limit", f"{periodic} is more than eval.limit ({limit}), the scenarios loaded for evaluation "
                              f"(set eval.periodic_limit={limit} or null, or eval.every_n_steps=0)")
        audit = ev.get("audit_judge")
        return cls(at_end=boolean(ev.get("at_end", False), "eval.at_end"), path=str(ev["path"]) if ev.get("path") else None, limit=limit,
                   max_new_tokens=ints["max_new_tokens"], temperature=float(temp), batch_size=ints["batch_size"],
                   every_n_steps=every, periodic_limit=periodic, audit_judge=None if audit is None else str(audit),
                   audit_judge_overrides=ev.get("audit_judge_overrides"), require_path=boolean(ev.get("require_path", False), "eval.require_path"))


@dataclass(frozen=True)
class CompletionsConfig:
    """``completions``: a sample of completions with their verdicts every N steps (0 = off)."""

    every_n_steps: int = 0
    sample: int = 4

    @classmethod
    def parse(cls, node: Any) -> "CompletionsConfig":
        c = _mapping(node, "completions")
        every = non_negative_int(c.get("every_n_steps", 0), "completions.every_n_steps", "an integer >= 0 (0 = off)")
        return cls(every_n_steps=every, sample=int(positive_int(c.get("sample", 4), "completions.sample")))
