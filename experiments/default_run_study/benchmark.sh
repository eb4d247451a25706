#!/usr/bin/env bash
# ArGen's benchmark at ArGen's 256 new tokens, base model against a trained run, in one command:
#   bash experiments/default_run_study/benchmark.sh RUN_DIR [LIMIT]
# RUN_DIR is a training run dir (its final_model/ is evaluated); LIMIT the number of benchmark
# scenarios (default: all 100). Writes RUN_DIR/benchmark/{base,trained}/ (responses, summary,
# report) and RUN_DIR/benchmark/compare.md: per-principle paired deltas with 95% bootstrap CI and
# Wilcoxon p, and the looping answers of each model. Judge, policies and generation settings are
# argen.evaluate's defaults (temperature 0.2, batch 64, seed 42). A finished base or trained
# evaluation is not redone: the harness resumes a run dir (set BASE_DIR=... to reuse another
# run's base evaluation made with the same judge and limit).
set -euo pipefail
RUN=${1:?usage: benchmark.sh RUN_DIR [LIMIT]}
LIMIT=${2:-null}
PY=${PYTHON:-.venv/bin/python}
BENCH=../shared/argen-reference/benchmark-100.jsonl
OUT=$RUN/benchmark
BASE=${BASE_DIR:-$OUT/base}
COMMON=(data.path=$BENCH data.limit=$LIMIT max_new_tokens=256 progress=false)
"$PY" -m argen.evaluate "${COMMON[@]}" label=base "hydra.run.dir=$BASE"
"$PY" -m argen.evaluate "${COMMON[@]}" checkpoint="$RUN" label=trained "hydra.run.dir=$OUT/trained"
"$PY" -m argen.evaluate "compare=[$BASE,$OUT/trained]" "hydra.run.dir=$OUT"
