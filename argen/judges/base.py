"""The judge interface: one call scores a batch of responses into one verdict each.

A judge never returns a made-up score: a response it could not judge comes back as a
:class:`~argen.types.JudgeFailure`, which the scorer turns into ``None`` rewards.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from argen.types import JudgeFailure, JudgeRequest, Verdict


class Judge(abc.ABC):
    """Base class for judges. Subclasses implement :meth:`judge_batch`."""

    #: Identifies the judge in caches and reports (e.g. ``heuristic-v2``, ``openai:gpt-4o-mini``).
    name: str = "judge"

    @abc.abstractmethod
    async def judge_batch(self, requests: Sequence[JudgeRequest]) -> list[Verdict | JudgeFailure]:
        """Return one verdict (or failure) per request, in order."""

    def preflight(self) -> None:
        """Check the judge can work (key present, server reachable) before anything slow starts.

        Raise :class:`argen.errors.JudgeError` with a clear message if not.
        """

    def preflight_lazy(self) -> None:
        """The start-up check for a command that may be answered wholly from a verdict cache
        (scoring, evaluation): what needs no server is checked now, the server only when a verdict
        is not cached. Judges without a server check everything now (the default: :meth:`preflight`).
        """
        self.preflight()

    def info(self) -> dict[str, Any]:
        """Facts about this judge that a run records beside its results (name; LLM judges add the
        model, the server and the structured-output form in use)."""
        return {"name": self.name}

    def stats(self) -> dict[str, Any]:
        """Accounting so far (calls, cache hits, failures, tokens...); empty for judges with none."""
        return {}

    async def aclose(self) -> None:
        """Release network clients and files."""


__all__ = ["Judge", "JudgeFailure", "JudgeRequest", "Verdict"]
