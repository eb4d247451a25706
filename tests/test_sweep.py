"""Sweeps: named sweep configs, the SLURM launcher config, the sweep summary, and real multiruns."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from argen.training.validation import validate_train_config
from argen.launch import write_status
from argen.reporting.metrics import append_jsonl
from argen.reporting.summaries import last_quarter
from argen.summarize import plot_series, summarize
from tests.conftest import CONF, compose, run_cli


def _has_submitit() -> bool:
    # find_spec raises when the parent namespace package (hydra_plugins) is absent too.
    try:
        return importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is not None
    except ModuleNotFoundError:
        return False


def _compose_with_hydra(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        return hydra_compose("train", overrides=overrides, return_hydra_config=True)


# --- named sweeps -----------------------------------------------------------------------------


@pytest.mark.parametrize("sweep, key", [("reward_weights", "reward"), ("beta", "grpo.beta")])
def test_named_sweeps_define_a_grid_whose_every_point_validates(sweep, key):
    cfg = _compose_with_hydra([f"+sweep={sweep}"])
    params = dict(cfg.hydra.sweeper.params)
    assert list(params) == [key]
    values = str(params[key]).split(",")
    assert len(values) >= 3
    for value in values:
        validate_train_config(compose("train", [f"{key}={value}"]))


def test_beta_sweep_includes_no_reference_model_and_paper_beta():
    values = [float(v) for v in str(_compose_with_hydra(["+sweep=beta"]).hydra.sweeper.params["grpo.beta"]).split(",")]
    assert 0.0 in values and 0.1 in values


def test_two_sweeps_started_in_the_same_second_get_different_dirs():
    first = _compose_with_hydra([]).hydra.sweep.dir
    second = _compose_with_hydra([]).hydra.sweep.dir
    for value in (first, second):
        assert re.fullmatch(r"multirun/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d-\d{6}", value), value  # microseconds
    assert first != second


def test_sweep_summary_callback_is_configured():
    callbacks = _compose_with_hydra([]).hydra.callbacks
    assert callbacks.sweep_summary._target_ == "argen.summarize.SweepSummaryCallback"


@pytest.mark.skipif(not _has_submitit(),
                    reason="hydra-submitit-launcher is not installed (pip install -e '.[slurm]')")
def test_slurm_launcher_config_composes_and_builds_a_launcher(hydra_config):
    import hydra.utils

    cfg = _compose_with_hydra(["hydra/launcher=slurm", "hardware=ddp", "hardware.num_processes=4",
                               "+sweep=beta", "hydra.launcher.partition=gpu"])
    hydra_config(cfg)
    launcher = hydra.utils.instantiate(cfg.hydra.launcher)  # binds every key to the plugin's signature
    assert type(launcher).__name__ == "SlurmLauncher"
    params = launcher.params
    assert params["gpus_per_node"] == 4 and params["tasks_per_node"] == 1 and params["nodes"] == 1
    assert params["partition"] == "gpu"
    assert params["submitit_folder"].startswith(str(cfg.hydra.sweep.dir))


# --- the summary, from run dirs written as a sweep writes them ---------------------------------


def _job(root: Path, num: int, overrides: list[str], rewards: list[float] | None, status: str | None,
         evaluation: dict | None = None, error: str | None = None) -> Path:
    job = root / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(overrides)))
    if rewards is not None:
        for step, value in enumerate(rewards, start=1):
            append_jsonl(job / "metrics.jsonl", {"step": step, "reward": value, "rewards/ahimsa/mean": value / 2,
                                                 "rewards/dharma/mean": 1.0})
        summary = {"status": "completed", "steps": len(rewards), "wall_s": 10.0}
        if evaluation:
            summary["evaluation"] = evaluation
        (job / "summary.json").write_text(json.dumps(summary))
    if status:
        write_status(job, status, wall_s=12.5, **({"error": error} if error else {}))
    return job


@pytest.fixture
def sweep_dir(tmp_path):
    root = tmp_path / "sweep"
    # The shape argen.evaluation.end_of_training returns.
    ev = {"scenarios": 16, "base": {"combined": 0.5, "ahimsa": 0.6}, "trained": {"combined": 0.7, "ahimsa": 0.8},
          "delta": {"combined": 0.2, "ahimsa": 0.2}, "violation_rates": {"base": {"any": 0.4}, "trained": {"any": 0.1}},
          "headline": "combined 0.500 -> 0.700"}
    _job(root, 0, ["reward=balanced", "grpo.beta=0.0"], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], "completed", ev)
    _job(root, 1, ["reward=balanced", "grpo.beta=0.04"], [1.0, 1.0, 1.0, 2.0], "completed", ev)
    _job(root, 2, ["reward=ahimsa_heavy", "grpo.beta=0.0"], [0.5, 0.5, 0.5, 0.5], "completed", ev)
    _job(root, 3, ["reward=ahimsa_heavy", "grpo.beta=0.04"], None, "failed", error="config key 'grpo.beta': bad")
    _job(root, 10, ["reward=ahimsa_heavy", "grpo.beta=0.1"], None, None)  # killed before it recorded anything
    return root


def test_summary_has_one_row_per_job_in_job_order(sweep_dir):
    result = summarize(sweep_dir)
    with open(result["csv"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["job"] for r in rows] == ["0", "1", "2", "3", "10"]
    assert [r["status"] for r in rows] == ["completed", "completed", "completed", "failed", "incomplete"]
    assert rows[0]["overrides"] == "reward=balanced grpo.beta=0.0"
    assert rows[1]["override:grpo.beta"] == "0.04" and rows[2]["override:reward"] == "ahimsa_heavy"
    assert rows[3]["error"] == "config key 'grpo.beta': bad" and rows[3]["wall_s"] == "12.5"


def test_summary_final_rewards_are_last_quarter_means_per_principle(sweep_dir):
    rows = summarize(sweep_dir)["rows"]
    assert rows[0]["reward"] == 6.5  # mean of the last 2 of 8 steps
    assert rows[0]["reward_ahimsa"] == 3.25 and rows[0]["reward_dharma"] == 1.0
    assert rows[1]["reward"] == 2.0  # a quarter of 4 points is the last one
    assert "reward" not in rows[3]
    assert last_quarter([]) is None and last_quarter([3.0]) == 3.0


def test_summary_carries_evaluation_scores(sweep_dir):
    rows = summarize(sweep_dir)["rows"]
    assert rows[0]["eval_base_combined"] == 0.5 and rows[0]["eval_trained_combined"] == 0.7
    assert rows[0]["eval_trained_violations_any"] == 0.1 and rows[0]["eval_delta_combined"] == 0.2
    assert rows[0]["eval_scenarios"] == 16 and "eval_headline" not in rows[0]
    # An evaluation summary block (means + violation rates) is read too.
    from argen.evaluation.sweep_jobs import evaluation_columns

    assert evaluation_columns({"trained": {"means": {"combined": 0.9}, "violation_rates": {"any": 0.05}}}) == {
        "eval_trained_combined": 0.9, "eval_trained_violations_any": 0.05}
    text = (sweep_dir / "summary.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| job |"))
    assert "| eval_base_combined |" in header and "| eval_trained_combined |" in header
    assert "config key 'grpo.beta': bad" in text


def _eval_dir(job: Path, label: str, combined: list[float], judge: str = "heuristic-v1") -> None:
    """An evaluation run dir as the end-of-training evaluation writes it (rows + summary)."""
    out = job / "eval" / label
    out.mkdir(parents=True)
    for i, value in enumerate(combined):
        append_jsonl(out / "responses.jsonl", {
            "id": f"eval-{i:03d}", "prompt": f"question {i}", "tier": "ABC"[i % 3], "scope": "S0", "response": "...",
            "combined": value, "ahimsa": value, "dharma": 0.9, "helpfulness": value,
            "violations": ["helpfulness"] if value < 0.45 else []})
    (out / "summary.json").write_text(json.dumps({"label": label, "judge": {"name": judge}, "rubric_version": "argen-1"}))


def test_summary_tests_each_job_against_its_base_and_the_baseline_job(tmp_path):
    root = tmp_path / "sweep"
    base = [0.30 + 0.01 * i for i in range(24)]
    better = [v + 0.1 for v in base]
    for num, overrides in enumerate(["grpo.beta=0.0", "grpo.beta=0.04", "grpo.beta=0.1", "grpo.beta=0.2"]):
        job = _job(root, num, [overrides], [1.0, 1.0, 1.0, 1.0], "completed")
        if num == 2:
            continue  # eval.at_end=false: no rows, nothing to test
        _eval_dir(job, "base", base)
        _eval_dir(job, "trained", better if num == 0 else base, judge="other-judge" if num == 3 else "heuristic-v1")
    result = summarize(root)
    rows = result["rows"]
    assert result["baseline"] == "0"
    # Job 0 learned (+0.1 on all 24 scenarios); job 1 did not move.
    assert rows[0]["lift_combined"] == pytest.approx(0.1) and rows[0]["lift_n"] == 24
    assert rows[0]["lift_combined_p"] < 0.01 and rows[0]["lift_combined_ci_low"] > 0
    assert rows[0]["lift_verdict"].endswith("n=24, significant (p=<0.0001)")
    assert rows[1]["lift_combined"] == 0.0 and rows[1]["lift_verdict"].endswith("not significant (p=1.00)")
    assert rows[1]["lift_dharma_p"] == 1.0
    # Against the baseline job's trained model, job 1 is significantly worse.
    assert rows[0]["vs_baseline_verdict"] == "baseline"
    assert rows[1]["vs_baseline_combined"] == pytest.approx(-0.1) and rows[1]["vs_baseline_combined_p"] < 0.01
    assert (root / rows[1]["vs_baseline_report"]).is_file()
    assert "## Is the change more than noise? job 1 against job 0" in (root / rows[1]["vs_baseline_report"]).read_text()
    assert "lift_verdict" not in rows[2] and "vs_baseline_verdict" not in rows[2]
    assert rows[3]["vs_baseline_verdict"].startswith("not tested: runs are not comparable")
    assert rows[3]["lift_verdict"].startswith("not tested: runs are not comparable")
    md = (root / "summary.md").read_text()
    assert "## Is each job's change more than noise?" in md
    assert "| 1 | grpo.beta=0.04 | +0.000, 95% CI [+0.000, +0.000], n=24, not significant (p=1.00) | -0.100, " in md
    assert "| 2 | grpo.beta=0.1 | not tested (no evaluation rows) | not tested (no evaluation rows) |" in md
    with open(result["csv"], newline="") as fh:
        header = next(csv.reader(fh))
    assert {"lift_combined", "lift_combined_ci_low", "lift_combined_p", "vs_baseline_ahimsa_p"} <= set(header)
    # Another baseline, chosen by name; an unknown one is refused naming the jobs.
    assert summarize(root, baseline="1")["rows"][0]["vs_baseline_combined"] == pytest.approx(0.1)
    from argen.errors import ArgenError

    with pytest.raises(ArgenError, match=r"baseline job '7' is not a job of .* \(jobs: 0, 1, 2, 3\)"):
        summarize(root, baseline="7")


def test_summary_without_evaluation_rows_says_nothing_is_tested(sweep_dir):
    text = (summarize(sweep_dir)["markdown"]).read_text()
    assert "nothing here is tested" in text
    header = next(line for line in text.splitlines() if line.startswith("| job |"))
    assert "eval_delta" not in header  # an untested delta stays in the CSV only


def test_summary_plot_is_reward_against_beta_with_one_line_per_preset(sweep_dir):
    result = summarize(sweep_dir)
    assert result["plot"].is_file() and result["plot"].stat().st_size > 5_000
    data = plot_series(result["rows"])
    assert data["x"] == "grpo.beta" and data["metric"] == "eval_trained_combined"
    # failed and incomplete jobs are left out
    assert data["series"] == {"reward=balanced": [(0.0, 0.7), (0.04, 0.7)], "reward=ahimsa_heavy": [(0.0, 0.7)]}


def test_summary_plot_without_evaluation_compares_presets_by_unweighted_principle_mean(tmp_path):
    root = tmp_path / "sweep"
    _job(root, 0, ["reward=balanced"], [1.0, 1.0, 1.0, 1.0], "completed")
    _job(root, 1, ["reward=ahimsa_heavy"], [3.0, 3.0, 3.0, 3.0], "completed")
    data = plot_series(summarize(root)["rows"])
    assert data["x"] is None and data["metric"] == "reward_principle_mean"  # bars: no numeric key
    assert data["series"]["jobs"] == [("reward=balanced", 0.75), ("reward=ahimsa_heavy", 1.25)]


def test_summarize_cli_on_a_dir_without_jobs_fails_with_one_line(tmp_path):
    result = run_cli("argen.summarize", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"argen.summarize: error: {tmp_path}: has no job dirs (expected subdirectories 0, 1, ... written by `python -m argen.train -m`)"
    ]


def test_summarize_cli_rewrites_the_files(sweep_dir):
    result = run_cli("argen.summarize", str(sweep_dir))
    assert result.returncode == 0, result.stderr
    assert (sweep_dir / "summary.csv").is_file() and (sweep_dir / "summary.png").is_file()
    assert "| 3 | reward=ahimsa_heavy grpo.beta=0.04 | failed |" in result.stdout


def test_a_killed_job_and_a_torn_metrics_file_are_flagged(tmp_path):
    """Issue 25 item 10: a job killed at step 3 of 8 showed its partial last-quarter reward beside
    "failed" as if it were final, and a torn metrics.jsonl line was skipped without a word. The
    partial rewards are now left out and both are flagged, in the tables and on stderr."""
    root = tmp_path / "sweep"
    _job(root, 0, ["grpo.beta=0.0"], [0.1] * 8, "completed")
    killed = _job(root, 1, ["grpo.beta=0.04"], None, "failed",
                  error="training workers failed (worker, killed by signal 9); full output in workers.log")
    for step in (1, 2, 3):  # what its worker logged before the kill
        append_jsonl(killed / "metrics.jsonl", {"step": step, "reward": 0.9, "rewards/ahimsa/mean": 0.9})
    torn = _job(root, 2, ["grpo.beta=0.1"], [0.2] * 8, "completed")
    with open(torn / "metrics.jsonl", "ab") as fh:  # a write cut off (a kill mid-write, a full disk)
        fh.write(b'{"step": 9, "rew')
    result = run_cli("argen.summarize", str(root))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(root / "summary.csv", newline="")))
    assert rows[0]["flags"] == "" and rows[0]["reward"] == "0.1"
    assert rows[1]["status"] == "failed" and rows[1]["reward"] == "" and rows[1]["reward_ahimsa"] == ""
    assert rows[1]["flags"] == ("rewards left out: the job is failed, its metrics.jsonl stops at step 3 "
                                "(partial training, not final numbers)")
    assert rows[2]["reward"] == "0.2"
    assert rows[2]["flags"] == "metrics.jsonl line 9 is torn (16 bytes and no newline: a write was cut off), skipped"
    warnings = [line for line in result.stderr.splitlines() if line.startswith("argen.summarize: warning:")]
    assert warnings == [f"argen.summarize: warning: job 1: {rows[1]['flags']}",
                        f"argen.summarize: warning: job 2: {rows[2]['flags']}"]
    markdown = (root / "summary.md").read_text()
    assert f"- job 1: {rows[1]['flags']}" in markdown and f"- job 2: {rows[2]['flags']}" in markdown


def test_a_sweep_whose_end_evaluations_failed_exits_3_and_flags_how_to_redo_them(tmp_path, capsys):
    """Issue 25 item 7 in a sweep: every job trained, one job's end evaluation failed."""
    from argen.summarize import SweepSummaryCallback

    root = tmp_path / "sweep"
    failed_eval = {"dir": str(root / "1" / "eval"), "error": "judge local:x failed on 4 of 4 responses",
                   "headline": "eval failed (...)"}
    _job(root, 0, ["grpo.beta=0.0"], [0.1] * 4, "completed")
    _job(root, 1, ["grpo.beta=0.04"], [0.1] * 4, "completed", failed_eval)
    with pytest.raises(SystemExit) as stop:
        SweepSummaryCallback().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(root)}}}))
    assert stop.value.code == 3
    rows = list(csv.DictReader(open(root / "summary.csv", newline="")))
    assert rows[0]["flags"] == ""
    assert rows[1]["flags"] == ("end-of-training evaluation failed (judge local:x failed on 4 of 4 responses); redo it "
                                f"with: python -m argen.evaluate end_of_training={root / '1'}")
    assert "1 of 2 sweep jobs trained but their end-of-training evaluation failed: 1" in capsys.readouterr().err


# --- real multiruns ---------------------------------------------------------------------------


def test_a_failing_job_is_recorded_and_the_sweep_goes_on(tmp_path):
    """Job 0 fails validation in the Hydra process; job 1 still runs and fails inside its worker
    (the judge's server, checked where the judge is used, does not answer)."""
    sweep = tmp_path / "sweep"
    result = run_cli("argen.train", "-m", "experiment=smoke", "grpo.beta=-1,0.0", "judge=local",
                     "judge.base_url=http://127.0.0.1:9/v1", "judge.preflight_timeout_s=1", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 1, result.stderr[-3000:]  # every job ran; the exit status still says some failed
    first = json.loads((sweep / "0" / "status.json").read_text())
    second = json.loads((sweep / "1" / "status.json").read_text())
    assert first["status"] == "failed" and first["error"] == "config key 'grpo.beta': must be >= 0, got -1"
    assert second["status"] == "failed" and "worker, exit code 2" in second["error"]
    assert "127.0.0.1:9" in second["error"]
    rows = list(csv.DictReader(open(sweep / "summary.csv", newline="")))
    assert [(r["job"], r["status"]) for r in rows] == [("0", "failed"), ("1", "failed")]
    assert "argen.train: 2 of 2 sweep jobs failed: 0, 1" in result.stderr


@pytest.mark.slow
def test_a_2x2_smoke_sweep_gives_four_run_dirs_and_a_four_row_summary(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_cli("argen.train", "-m", "experiment=smoke", "reward=balanced,ahimsa_heavy", "grpo.beta=0.0,0.04",
                     f"hydra.sweep.dir={sweep}", timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0", "1", "2", "3"]
    seen = set()
    for job in jobs:
        summary = json.loads((job / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["steps"] == 2 and summary["world_size"] == 1
        assert json.loads((job / "status.json").read_text())["status"] == "completed"
        config = OmegaConf.load(job / "config.yaml")
        seen.add((config.reward.weights.ahimsa, config.grpo.beta))
        assert summary["run_dir"] == str(job)
    assert seen == {(0.3, 0.0), (0.3, 0.04), (0.6, 0.0), (0.6, 0.04)}
    rows = list(csv.DictReader(open(sweep / "summary.csv", newline="")))
    assert len(rows) == 4 and {r["status"] for r in rows} == {"completed"}
    assert {r["overrides"] for r in rows} == {f"experiment=smoke reward={r} grpo.beta={b}"
                                              for r in ("balanced", "ahimsa_heavy") for b in ("0.0", "0.04")}
    assert all(float(r["reward_ahimsa"]) >= 0 for r in rows)
    assert (sweep / "summary.md").is_file() and (sweep / "summary.png").stat().st_size > 5_000


@pytest.mark.slow
@pytest.mark.skipif(not _has_submitit(),
                    reason="hydra-submitit-launcher is not installed (pip install -e '.[slurm]')")
def test_a_sweep_job_runs_through_submitit(tmp_path):
    """The cluster path without a cluster: submitit's local executor pickles the same entry point
    and runs it in a separate job process, as sbatch would on a node."""
    sweep = tmp_path / "sweep"
    result = run_cli("argen.train", "-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10",
                     "experiment=smoke", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert json.loads((sweep / "0" / "summary.json").read_text())["steps"] == 2
    assert list((sweep / ".submitit").glob("*/*_result.pkl"))  # submitit ran it as a job
    rows = list(csv.DictReader(open(sweep / "summary.csv", newline="")))
    assert [r["status"] for r in rows] == ["completed"]
