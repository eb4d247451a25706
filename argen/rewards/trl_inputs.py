"""Turn GRPOTrainer's reward-function arguments into judge requests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from argen.types import JudgeRequest


def message_text(item: Any) -> str:
    """Text of a plain string, or of the last message in a conversation (list of role/content dicts)."""
    if isinstance(item, str):
        return item
    if isinstance(item, list) and item:
        content = item[-1].get("content", "")
        if isinstance(content, list):  # content blocks
            return "".join(part.get("text", "") for part in content if isinstance(part, dict))
        return str(content)
    return ""


def user_prompt(prompt: Any) -> str:
    """The user's question: the last user turn of a conversational prompt (the system prompt is not judged)."""
    if isinstance(prompt, list):
        for message in reversed(prompt):
            if message.get("role") == "user":
                return message_text([message])
    return message_text(prompt)


def judge_requests(
    prompts: Sequence[Any],
    completions: Sequence[Any],
    tier: Sequence[str | None] | None = None,
    scope: Sequence[str | None] | None = None,
) -> list[JudgeRequest]:
    """One JudgeRequest per completion; ``tier``/``scope`` arrive from TRL as dataset columns."""
    n = len(completions)
    tiers = list(tier) if tier is not None else [None] * n
    scopes = list(scope) if scope is not None else [None] * n
    return [
        JudgeRequest(prompt=user_prompt(p), response=message_text(c), tier=t or None, scope=s or None)
        for p, c, t, s in zip(prompts, completions, tiers, scopes, strict=True)
    ]
