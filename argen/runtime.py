"""Process-level facts every entry point and worker shares: this process's rank, the world size,
the OpenMP wait policy, and the SLURM step a task runs in (multi-machine runs). Bottom layer:
imports nothing of argen, and never torch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


def quiet_openmp() -> None:
    """Make OpenMP threads sleep, not spin, while they wait; call before torch loads.

    Threads that busy-wait collapse when the CPU is shared (tests, a second run, a benchmark).
    Measured on 2 cores under load ~7: 32 new tokens with SmolLM2-135M took 104 s with the default
    wait policy and 5.5 s with PASSIVE; sleeping threads cost little when alone. An explicit
    setting in the environment wins.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def rank() -> int:
    """This process's rank among the training processes (``$RANK``, 0 when unset)."""
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """Rank 0 (or a single process): the only one that writes run files."""
    return rank() == 0


def world_size() -> int:
    """How many training processes share the run (``$WORLD_SIZE``, 1 when unset or bad)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))
    except ValueError:
        return 1


# ---------------------------------------------------------------- SLURM (multi-machine runs)

@dataclass(frozen=True)
class SlurmStep:
    """What SLURM tells one task about the step it runs in (``srun``), for a multi-machine run.

    ``node_id`` is this node's index in the step (``SLURM_NODEID``: 0 on the step's first node);
    ``first_host`` is the first host of the step's node list, the one with node id 0.
    """

    job_id: str
    step_id: str | None
    num_nodes: int
    node_id: int
    first_host: str

    @property
    def name(self) -> str:
        """``JOB`` or ``JOB.STEP``, as SLURM names a job step."""
        return self.job_id if self.step_id in (None, "") else f"{self.job_id}.{self.step_id}"


def slurm_step(environ: Mapping[str, str] | None = None) -> SlurmStep | None:
    """This process's SLURM step, or None outside SLURM (or when SLURM's variables are incomplete).

    Reads ``SLURM_JOB_ID``, ``SLURM_STEP_ID``, the node count (``SLURM_STEP_NUM_NODES``, else
    ``SLURM_NNODES``, else ``SLURM_JOB_NUM_NODES``), ``SLURM_NODEID`` and the node list
    (``SLURM_STEP_NODELIST``, else ``SLURM_JOB_NODELIST``, else ``SLURM_NODELIST``).
    """
    env = os.environ if environ is None else environ
    job = env.get("SLURM_JOB_ID") or env.get("SLURM_JOBID")
    nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    nodes = env.get("SLURM_STEP_NUM_NODES") or env.get("SLURM_NNODES") or env.get("SLURM_JOB_NUM_NODES")
    node_id = env.get("SLURM_NODEID")
    if not job or not nodelist or not nodes or node_id is None:
        return None
    try:
        return SlurmStep(job_id=job, step_id=env.get("SLURM_STEP_ID"), num_nodes=int(nodes), node_id=int(node_id),
                         first_host=first_host(nodelist))
    except ValueError:
        return None


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list, as ``scontrol show hostnames LIST | head -n 1`` prints it.

    ``gpu[03-05,09],cpu1`` -> ``gpu03``; ``rack[1-2]-n[08-09]`` -> ``rack1-n08`` (each bracket
    contributes its first value, zero padding kept). Raises ValueError on an empty or malformed list.
    """
    text = nodelist.strip()
    host, depth = [], 0
    for ch in text:  # the first top-level item: commas inside brackets separate ranges, not hosts
        if ch == "," and depth == 0:
            break
        depth += (ch == "[") - (ch == "]")
        if depth < 0 or depth > 1:
            raise ValueError(f"malformed SLURM node list {nodelist!r}")
        host.append(ch)
    item = "".join(host)
    if depth != 0 or not item:
        raise ValueError(f"malformed SLURM node list {nodelist!r}")
    out, rest = [], item
    while "[" in rest:
        before, _, tail = rest.partition("[")
        inside, _, rest = tail.partition("]")
        first = inside.split(",")[0].split("-")[0].strip()
        if not first.isdigit():
            raise ValueError(f"malformed SLURM node list {nodelist!r}")
        out += [before, first]
    out.append(rest)
    return "".join(out)
