"""Scenarios -> the conversational dataset GRPOTrainer trains on.

``tier``, ``scope`` and ``id`` stay as columns, so TRL passes them to every reward function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from argen.data.scenarios import Scenario


def chat_prompt(system_prompt: str | None, user_prompt: str) -> list[dict[str, str]]:
    """The messages a policy sees for one scenario (system prompt first, when set)."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": user_prompt})
    return messages


def scenario_rows(scenarios: Sequence[Scenario], system_prompt: str | None) -> list[dict[str, Any]]:
    """Plain rows (prompt as messages, labels as strings; "" when unlabelled)."""
    return [
        {"prompt": chat_prompt(system_prompt, s.prompt), "tier": s.tier or "", "scope": s.scope or "", "id": s.id}
        for s in scenarios
    ]


def build_dataset(scenarios: Sequence[Scenario], system_prompt: str | None):
    """A ``datasets.Dataset`` of conversational prompts with tier/scope/id columns."""
    from datasets import Dataset

    return Dataset.from_list(scenario_rows(scenarios, system_prompt))
