"""The settings of the OpenAI-compatible judge (``conf/judge/openai.yaml``), checked once.

Every error names its config key; a value that looks like a pasted key is never echoed.
"""

from __future__ import annotations

import functools
import math
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from argen.data.outputs import writable_problem
from argen.config_schema.values import check_type
from argen.errors import ConfigError
from argen.judges.cache import default_cache_path
from argen.judges.formats import CHOICES
from argen.runtime import world_size

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class JudgeSettings:
    """Validated settings; the rate and concurrency limits are this process's share."""

    model: str
    name: str
    base_url: str | None
    api_key_env: str | None
    require_key: bool
    temperature: float
    max_tokens: int
    request_timeout_s: float
    preflight_timeout_s: float
    max_concurrency: int
    requests_per_minute: float | None
    tokens_per_minute: float | None
    max_retries: int
    retry_deadline_s: float
    backoff_initial_s: float
    backoff_max_s: float
    response_format: str
    cache_enabled: bool
    cache_path: Path
    cache_memory_entries: int
    rubric_version: str
    price_per_1k_prompt_tokens: float
    price_per_1k_completion_tokens: float
    world_size: int


@functools.lru_cache(maxsize=1)
def _setting_types() -> dict[str, Any]:
    """build_settings' parameters and their types (the judge node's keys)."""
    return {k: v for k, v in typing.get_type_hints(build_settings).items() if k != "return"}


def build_settings(
    *,
    model: str = "gpt-4o-mini",
    name: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = "OPENAI_API_KEY",
    require_key: bool = True,
    temperature: float = 0.2,
    max_tokens: int = 400,
    request_timeout_s: float = 60.0,
    preflight_timeout_s: float = 5.0,
    max_concurrency: int = 16,
    requests_per_minute: float | None = 500,
    tokens_per_minute: float | None = 200_000,
    max_retries: int = 5,
    retry_deadline_s: float = 120.0,
    backoff_initial_s: float = 1.0,
    backoff_max_s: float = 60.0,
    response_format: str = "auto",
    cache: Mapping[str, Any] | None = None,
    rubric_version: str = "unversioned",
    price_per_1k_prompt_tokens: float = 0.0,
    price_per_1k_completion_tokens: float = 0.0,
) -> JudgeSettings:
    """Check every setting (errors name the key) and divide the whole-run limits by ``$WORLD_SIZE``."""
    given = dict(locals())  # the parameters only: nothing else is bound yet
    for setting, annotation in _setting_types().items():  # each by its declared type before any float()/int()
        check_type(given[setting], annotation, f"judge.{setting}")
    if not model:
        raise ConfigError("judge.model", "is required (the model name the server serves)")
    if api_key_env is not None and api_key_env != "" and not _ENV_NAME.match(str(api_key_env)):
        # Never echo the value: a user who pasted the key itself here must not see it in a log.
        raise ConfigError(
            "judge.api_key_env",
            "must be the NAME of an environment variable (e.g. OPENAI_API_KEY), not the key itself",
        )
    if base_url and urlsplit(str(base_url)).scheme not in ("http", "https"):
        raise ConfigError("judge.base_url", "must be an http(s) URL such as http://127.0.0.1:8000/v1 (or null for OpenAI)")
    if require_key and not api_key_env:
        raise ConfigError("judge.api_key_env", "is required when judge.require_key is true")
    if response_format not in CHOICES:
        raise ConfigError("judge.response_format", f"must be one of {', '.join(CHOICES)}, got {response_format!r}")
    for key, value in (
        ("max_tokens", max_tokens),
        ("request_timeout_s", request_timeout_s),
        ("preflight_timeout_s", preflight_timeout_s),
        ("max_concurrency", max_concurrency),
        ("retry_deadline_s", retry_deadline_s),
    ):
        if value is None or isinstance(value, bool) or not math.isfinite(float(value)) or float(value) <= 0:
            raise ConfigError(f"judge.{key}", f"must be > 0, got {value!r}")
    for key, value in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute)):
        if value is not None and float(value) < 0:
            raise ConfigError(f"judge.{key}", f"must be >= 0 (0 or null: no limit), got {value!r}")
    if float(retry_deadline_s) < float(request_timeout_s):
        raise ConfigError("judge.retry_deadline_s", f"({retry_deadline_s:g}) is the total time one response may take, "
                          f"retries included: it cannot be below judge.request_timeout_s ({request_timeout_s:g}), "
                          "the time of one attempt; raise it or lower judge.request_timeout_s")
    if int(max_retries) < 0:
        raise ConfigError("judge.max_retries", f"must be >= 0, got {max_retries!r}")
    if not 0.0 <= float(temperature) <= 2.0:
        raise ConfigError("judge.temperature", f"must be in [0, 2], got {temperature!r}")
    cache = dict(cache or {})
    unknown = set(cache) - {"enabled", "path", "memory_entries"}
    if unknown:
        raise ConfigError(f"judge.cache.{sorted(unknown)[0]}", "is not a cache setting (enabled, path, memory_entries)")

    cache_path = Path(cache["path"]).expanduser() if cache.get("path") else default_cache_path()
    if cache.get("enabled", True) and (problem := writable_problem(cache_path.parent)):
        where = "" if cache.get("path") else " (null: under ARGEN_CACHE_DIR, default ~/.cache/argen)"
        raise ConfigError("judge.cache.path", f"{cache_path}{where} cannot be written: {problem}; "
                          "set judge.cache.path to a writable place, or judge.cache.enabled=false")
    world = world_size()
    return JudgeSettings(
        model=str(model),
        name=str(name) if name else f"openai:{model}",
        base_url=str(base_url).rstrip("/") if base_url else None,
        api_key_env=str(api_key_env) if api_key_env else None,
        require_key=bool(require_key),
        temperature=float(temperature),
        max_tokens=int(max_tokens),
        request_timeout_s=float(request_timeout_s),
        preflight_timeout_s=float(preflight_timeout_s),
        max_concurrency=max(1, math.ceil(int(max_concurrency) / world)),
        requests_per_minute=float(requests_per_minute) / world if requests_per_minute else None,
        tokens_per_minute=float(tokens_per_minute) / world if tokens_per_minute else None,
        max_retries=int(max_retries),
        retry_deadline_s=float(retry_deadline_s),
        backoff_initial_s=float(backoff_initial_s),
        backoff_max_s=float(backoff_max_s),
        response_format=str(response_format),
        cache_enabled=bool(cache.get("enabled", True)),
        cache_path=cache_path,
        cache_memory_entries=int(cache.get("memory_entries", 200_000)),
        rubric_version=str(rubric_version),
        price_per_1k_prompt_tokens=float(price_per_1k_prompt_tokens or 0.0),
        price_per_1k_completion_tokens=float(price_per_1k_completion_tokens or 0.0),
        world_size=world,
    )


__all__ = ["JudgeSettings", "build_settings"]
