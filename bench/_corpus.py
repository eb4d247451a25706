"""Responses the judge and policy benchmarks run on when the reference data is not at hand, and
the judges' timing loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from argen.types import JudgeRequest

REPO = Path(__file__).resolve().parents[1]
# ArGen's Gemini-judged responses, read by path where the shared reference folder is present.
REFERENCE = REPO.parent / "shared" / "argen-reference" / "judged-gemini.jsonl"

# A few typical answer shapes: a cautious referral, an emergency instruction, a markdown list.
SHAPES = (
    "I'm not a doctor, but please see a healthcare professional about this soon. They can examine you.",
    "Call 911 now. " + "While you wait, sit down, stay calm and unlock the door. " * 3,
    "Here are some things that can help:\n\n1. **Rest**: take it easy.\n2. **Fluids**: drink water.\n"
    "3. **See a doctor** if it lasts more than a week or gets worse. " * 4,
)


def synthetic_requests(*, labelled: bool) -> list[JudgeRequest]:
    """The bundled training prompts, twice over, each answered with one of :data:`SHAPES`
    (``labelled``: with the scenario's tier and scope)."""
    from argen.data.scenarios import bundled_path, load_scenarios

    scenarios = load_scenarios(bundled_path("train"))
    return [
        JudgeRequest(s.prompt, SHAPES[i % len(SHAPES)], s.tier if labelled else None, s.scope if labelled else None)
        for i, s in enumerate(scenarios * 2)
    ]


def time_batches(judge, requests: Sequence[JudgeRequest], passes: int, reset: Callable[[], None]) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of ``passes`` runs of ``judge.judge_batch(requests)``, each after
    ``reset()`` empties the judge's own caches (so every pass does the full work)."""
    walls, cpus = [], []
    for _ in range(passes):
        reset()
        wall, cpu = time.perf_counter(), time.process_time()
        verdicts = asyncio.run(judge.judge_batch(list(requests)))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        assert len(verdicts) == len(requests)
    return walls, cpus
