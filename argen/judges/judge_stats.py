"""Cumulative accounting of an LLM judge: requests, calls, failures by kind, latency, tokens, cost."""

from __future__ import annotations

import math
from collections import deque

import openai

from argen.judges.replies import InvalidReply, Usage
from argen.judges.transport import DeadlineExceeded

LATENCY_WINDOW = 20_000
COUNTERS = (
    "requests", "cache_hits", "calls", "verdicts", "retries", "failures", "invalid_replies", "rate_limited",
    "server_errors", "timeouts", "connection_errors", "client_errors", "schema_fallback", "format_probes",
    "backoff_wait_s", "prompt_tokens", "completion_tokens",
)


def quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return float(sorted_values[index])


class JudgeStats:
    """Counters for one judge in one process (flat numbers, so training can log them per step)."""

    def __init__(self, price_per_1k_prompt_tokens: float = 0.0, price_per_1k_completion_tokens: float = 0.0):
        self.counters: dict[str, float] = dict.fromkeys(COUNTERS, 0)
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.price_prompt = price_per_1k_prompt_tokens
        self.price_completion = price_per_1k_completion_tokens

    def add(self, key: str, n: float = 1) -> None:
        self.counters[key] += n

    def add_usage(self, usage: Usage) -> None:
        self.counters["prompt_tokens"] += usage.prompt_tokens
        self.counters["completion_tokens"] += usage.completion_tokens

    def count_error(self, exc: BaseException) -> None:
        """One failed attempt, by kind."""
        if isinstance(exc, (openai.APITimeoutError, DeadlineExceeded)):
            self.counters["timeouts"] += 1
        elif isinstance(exc, openai.APIConnectionError):
            self.counters["connection_errors"] += 1
        elif isinstance(exc, InvalidReply):
            self.counters["invalid_replies"] += 1
        elif isinstance(exc, openai.APIStatusError):
            if exc.status_code == 429:
                self.counters["rate_limited"] += 1
            elif exc.status_code >= 500:
                self.counters["server_errors"] += 1
            else:
                self.counters["client_errors"] += 1

    def snapshot(self) -> dict[str, float]:
        """Counters plus latency quantiles, estimated cost and cache hit rate."""
        out: dict[str, float] = dict(self.counters)
        latencies = sorted(self.latencies)
        out["latency_p50_s"] = quantile(latencies, 0.50)
        out["latency_p95_s"] = quantile(latencies, 0.95)
        out["est_cost_usd"] = (
            out["prompt_tokens"] / 1000.0 * self.price_prompt + out["completion_tokens"] / 1000.0 * self.price_completion
        )
        requests = out["requests"]
        out["cache_hit_rate"] = out["cache_hits"] / requests if requests else 0.0
        return out


__all__ = ["COUNTERS", "JudgeStats", "quantile"]
