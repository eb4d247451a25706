"""No secret reaches a file: train, evaluate and score with a sentinel key against a local judge.

Every file the runs wrote (run dirs, wandb offline files, logs, the judge cache, HOME) and their
console output are searched for the key.
"""

from __future__ import annotations

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
