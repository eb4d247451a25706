"""No secret reaches a file: train, evaluate and score with a sentinel key against a local judge.

Every file the runs wrote (run dirs, wandb offline files, logs, the judge cache, HOME) and their
console output are searched for the key.
"""

from __future__ import annotations

import pytest

from argen.data.jsonl import iter_records, write_records
from tests.chat_server import ChatServer
from tests.conftest import cli_env, run_cli

SENTINEL = "sk-argen-sentinel-7f3a9c2e1d5b4a60"


def test_sentinel_key_never_written_anywhere(tmp_path, reference_dir):
    home = tmp_path / "home"
    home.mkdir()
    env = cli_env(OPENAI_API_KEY=SENTINEL, HOME=str(home), ARGEN_CACHE_DIR=str(tmp_path / "cache"))
    outputs = []
    with ChatServer(require_key=SENTINEL) as server:
        judge = ["judge=openai", f"judge.base_url={server.url}", "judge.model=judge-test", "judge.max_retries=1"]
        train = run_cli(
            "argen.train", "experiment=smoke", "logging=wandb", "eval.at_end=true", "eval.limit=2",
            f"hydra.run.dir={tmp_path}/train", *judge, env=env, cwd=tmp_path,
        )
        outputs.append(train)
        assert train.returncode == 0, train.stderr[-3000:]
        evaluate = run_cli(
            "argen.evaluate", "model=tiny", "data.limit=2", "max_new_tokens=8", "progress=false",
            f"hydra.run.dir={tmp_path}/eval", *judge, env=env, cwd=tmp_path,
        )
        outputs.append(evaluate)
        assert evaluate.returncode == 0, evaluate.stderr[-3000:]
        rows = [row for _, row in iter_records(reference_dir / "judged-gemini.jsonl")][:3]
        write_records(tmp_path / "answers.jsonl", rows)
        score = run_cli(
            "argen.score", f"input={tmp_path}/answers.jsonl", f"output={tmp_path}/scored.jsonl", "progress=false",
            *judge, env=env, cwd=tmp_path,
        )
        outputs.append(score)
        assert score.returncode == 0, score.stderr[-3000:]
        # The judge really was used, with the key, by all three commands.
        assert server.chat_count > 8
        assert all({k.lower(): v for k, v in c.headers.items()}["authorization"] == f"Bearer {SENTINEL}" for c in server.calls)

    assert list((tmp_path / "train" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert list((tmp_path / "cache").rglob("*.sqlite*"))
    needle = SENTINEL.encode()
    searched = 0
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.is_symlink():
            searched += 1
            assert needle not in path.read_bytes(), f"secret found in {path}"
    assert searched > 30
    for result in outputs:
        assert SENTINEL not in result.stdout and SENTINEL not in result.stderr


def pieces(secret: str, n: int = 8) -> set[str]:
    """Every n-character piece of the secret: none may be anywhere (a cut key is still a leak)."""
    return {secret[i : i + n] for i in range(len(secret) - n + 1)}


def assert_nothing_leaked(texts: dict[str, bytes | str], secret: str = SENTINEL) -> None:
    for where, text in texts.items():
        data = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        found = [p for p in pieces(secret) if p in data]
        assert not found, f"a piece of the secret ({found[0]!r}) is in {where}"


def files_under(root) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


COMMAND_LINE_CASES = {
    "a key as the variable name": ("argen.train", ["judge.api_key_env=" + SENTINEL, "hydra.run.dir=RUN"], "judge.api_key_env"),
    "a key as a new key": ("argen.train", ["+judge.api_key=" + SENTINEL, "hydra.run.dir=RUN"], "judge.api_key"),
    "printing the config": ("argen.train", ["--cfg", "job", "+judge.api_key=" + SENTINEL], "judge.api_key"),
    "a sweep": ("argen.train", ["-m", "experiment=smoke", f"judge.api_key_env=OPENAI_API_KEY,{SENTINEL}",
                                "hydra.sweep.dir=SWEEP"], "judge.api_key_env"),
    "a key pasted alone": ("argen.train", [SENTINEL, "hydra.run.dir=RUN"], "command-line argument 1"),
    "evaluate": ("argen.evaluate", ["model=tiny", "+judge.api_key=" + SENTINEL, "hydra.run.dir=RUN"], "judge.api_key"),
    "score": ("argen.score", ["input=answers.jsonl", "output=scored.jsonl", "judge.api_key_env=" + SENTINEL],
              "judge.api_key_env"),
    "an audit judge's key": ("argen.score", ["input=answers.jsonl", "output=scored.jsonl", "audit_judge=openai",
                                             "+audit_judge_overrides.api_key=" + SENTINEL], "audit_judge_overrides.api_key"),
}


@pytest.mark.parametrize("case", list(COMMAND_LINE_CASES))
def test_a_key_typed_on_the_command_line_is_refused_before_anything_is_written(tmp_path, case):
    module, args, key = COMMAND_LINE_CASES[case]
    (tmp_path / "answers.jsonl").write_text('{"prompt": "Is a cold serious?", "response": "Rarely."}\n')
    args = [a.replace("=RUN", f"={tmp_path}/run").replace("=SWEEP", f"={tmp_path}/sweep") for a in args]
    result = run_cli(module, *args, cwd=tmp_path, env=cli_env(ARGEN_CACHE_DIR=str(tmp_path / "cache")))
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{module}: error: ") and key in lines[0], lines
    assert_nothing_leaked({"stdout": result.stdout, "stderr": result.stderr})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.jsonl"]  # no run dir, sweep dir, cache, output


def test_a_key_in_a_config_file_is_refused_and_redacted_from_what_hydra_recorded(tmp_path):
    """A key that reaches Hydra from a config file, not the command line: Hydra's records (the
    job's .hydra/, the sweep's multirun.yaml) have it replaced, --cfg job prints it replaced, and
    the run refuses it (naming the key) before writing any file of its own."""
    extra = tmp_path / "conf" / "extra"
    extra.mkdir(parents=True)
    (extra / "leaky.yaml").write_text(f"note: {SENTINEL}\n")
    leak = ["--config-dir", str(tmp_path / "conf"), "+extra=leaky"]
    env = cli_env(ARGEN_CACHE_DIR=str(tmp_path / "cache"))
    shown = run_cli("argen.train", *leak, "--cfg", "job", cwd=tmp_path, env=env)
    assert shown.returncode == 0 and "note: [redacted]" in shown.stdout, shown.stderr[-2000:]
    sweep = run_cli("argen.train", "-m", *leak, "experiment=smoke", "grpo.beta=0.0", f"hydra.sweep.dir={tmp_path}/sweep",
                    cwd=tmp_path, env=env)
    assert sweep.returncode == 1, sweep.stderr[-2000:]  # each job failed, and the sweep said so
    assert "config key 'extra.note': looks like an API key" in sweep.stderr
    assert (tmp_path / "sweep" / "multirun.yaml").is_file() and (tmp_path / "sweep" / "0" / ".hydra" / "config.yaml").is_file()
    evaluate = run_cli("argen.evaluate", *leak, "model=tiny", f"hydra.run.dir={tmp_path}/eval", cwd=tmp_path, env=env)
    assert evaluate.returncode == 2 and "config key 'extra.note'" in evaluate.stderr, evaluate.stderr[-2000:]
    assert not (tmp_path / "sweep" / "0" / "config.yaml").exists()  # the run's own record was never written
    records = files_under(tmp_path / "sweep") | files_under(tmp_path / "eval")
    assert any(name.endswith("multirun.yaml") for name in records)
    assert_nothing_leaked(records)
    outputs = {f"{r.args[2:4]} {name}": getattr(r, name) for r in (shown, sweep, evaluate) for name in ("stdout", "stderr")}
    assert_nothing_leaked(outputs)
