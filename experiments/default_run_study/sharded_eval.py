"""One ``argen.evaluate`` run split over K processes (for a CPU shared with other jobs), merged into one run dir.

    .venv/bin/python experiments/default_run_study/sharded_eval.py OUT_DIR SCENARIOS LIMIT K [OVERRIDE ...]

Cuts the first LIMIT lines of SCENARIOS into K contiguous shards whose sizes are multiples of the
batch size (8), evaluates each in its own process (same overrides: checkpoint=..., max_new_tokens=...),
then copies every shard's rows into OUT_DIR and runs ``argen.evaluate`` once more there on the
whole file: every scenario already has its row, so no model loads; it only writes the summary,
report and plots. Answers are the same as one process would give: sampling is seeded per batch
from the batch's first scenario id, and the shards cut at batch boundaries.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

BATCH = 8


def main(argv: list[str]) -> None:
    if len(argv) < 4:
        sys.exit(__doc__)
    out, scenarios, limit, k, overrides = Path(argv[0]), Path(argv[1]), int(argv[2]), int(argv[3]), argv[4:]
    lines = [ln for ln in scenarios.read_text().splitlines() if ln.strip()][:limit]
    batches = [lines[i:i + BATCH] for i in range(0, len(lines), BATCH)]
    shards = [sum(batches[i * len(batches) // k:(i + 1) * len(batches) // k], []) for i in range(k)]
    work = out.with_name(out.name + ".shards")
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "PYTHONUNBUFFERED": "1"}
    procs = []
    for i, shard in enumerate(shards):
        path = work / f"scenarios-{i}.jsonl"
        path.write_text("\n".join(shard) + "\n")
        cmd = [sys.executable, "-m", "argen.evaluate", f"data.path={path}", "data.limit=null", "progress=false",
               *overrides, f"hydra.run.dir={work / str(i)}"]
        procs.append(subprocess.Popen(cmd, stdout=open(work / f"shard-{i}.log", "w"), stderr=subprocess.STDOUT, env=env))
    codes = [p.wait() for p in procs]
    if any(codes):
        sys.exit(f"shard exit codes {codes}; logs in {work}")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(work / "0" / "eval_meta.json", out / "eval_meta.json")
    with open(out / "responses.jsonl", "w") as fh:
        for i in range(k):
            fh.write((work / str(i) / "responses.jsonl").read_text())
    rest = [o for o in overrides if not o.startswith("data.")]
    subprocess.run([sys.executable, "-m", "argen.evaluate", f"data.path={scenarios}", f"data.limit={limit}",
                    "progress=false", *rest, f"hydra.run.dir={out}"], check=True, env=env)


if __name__ == "__main__":
    main(sys.argv[1:])
