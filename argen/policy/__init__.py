"""Policy-as-code: Rego policies judge every verdict, and their violations shape the rewards.

A policy is a Rego module in package ``argen.policies.<name>`` whose ``violations`` set holds
``{id, message, severity}`` objects. :class:`~argen.policy.engine.PolicyEngine` loads the bundled
policies (``argen/policy/rego/*.rego``) plus the user's (``policy.extra_paths``), validates each
one at start-up, and evaluates them in-process with ``regopy``. See docs/policies.md.

Names are imported lazily, so ``argen.policy.report`` (summaries) never loads regopy.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Effect": "argen.policy.effects",
    "EffectTable": "argen.policy.effects",
    "PolicyEngine": "argen.policy.engine",
    "PolicyError": "argen.policy.files",
    "PolicyFile": "argen.policy.files",
    "violation_counts": "argen.policy.report",
    "violation_rates": "argen.policy.report",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'argen.policy' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
