"""One rank of the shared-run-dir test: ``torchrun --nproc_per_node 2 tests/shared_run_dir_worker.py ROOT``.

Two ranks on gloo stand for two machines. First they check ROOT/shared, one directory both see;
then each checks ROOT/rank<N>, as if each machine had its own disk at the same path. Each rank
prints one JSON line: what each check said.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch.distributed as dist

from argen.errors import ArgenError
from argen.training.shared_run_dir import check_shared_run_dir


def _check(run_dir: Path) -> str:
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        check_shared_run_dir(run_dir, retry_s=0.5)
    except ArgenError as err:
        return f"refused: {err}"
    return "ok"


def main() -> None:
    root = Path(sys.argv[1])
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    shared = _check(root / "shared")
    separate = _check(root / f"rank{rank}")
    leftovers = sorted(p.name for p in (root / "shared").iterdir())
    print(json.dumps({"rank": rank, "shared": shared, "separate": separate, "leftovers": leftovers}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
