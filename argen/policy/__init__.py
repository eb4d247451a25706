"""Policy-as-code: Rego policies judge every verdict, and their violations shape the rewards.

A policy is a Rego module in package ``argen.policies.<name>`` whose ``violations`` set holds
``{id, message, severity}`` objects. :class:`~argen.policy.engine.PolicyEngine` loads the bundled
policies (``argen/policy/rego/*.rego``) plus the user's (``policy.extra_paths``), validates each
one at start-up, and evaluates them in-process with ``regopy``. See docs/policies.md.
"""

from argen.policy.engine import Effect, EffectTable, PolicyEngine, PolicyError, PolicyFile
from argen.policy.report import violation_counts, violation_rates

__all__ = [
    "Effect",
    "EffectTable",
    "PolicyEngine",
    "PolicyError",
    "PolicyFile",
    "violation_counts",
    "violation_rates",
]
