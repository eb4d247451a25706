"""Structured output detected, not configured: the judge probes each kind of server the way it
really answers ``response_format`` (tests/chat_server.py PROFILES) and records its choice."""

from __future__ import annotations

import json

import pytest

from argen.errors import JudgeError
from argen.scoring.build import build_scorer
from tests.chat_server import PROFILES, ChatServer
from tests.conftest import cli_env, run_cli
from tests.test_openai_judge import KEY_ENV, SENTINEL_KEY, judge_cfg, requests_for

EXPECTED = {
    "openai": "json_schema",
    "vllm": "json_schema",
    "llama-cpp-python": "json_object_schema",  # answers json_schema with HTTP 500
    "llama-server-old": "json_object_schema",
    "no-format": "none",  # refuses every form with a 422 whose wording names nothing
}


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SENTINEL_KEY)
    monkeypatch.delenv("WORLD_SIZE", raising=False)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_preflight_picks_the_strongest_form_each_server_accepts(key_env, tmp_path, profile, caplog):
    with ChatServer(profile=profile) as srv:
        scorer = build_scorer(judge_cfg(srv, tmp_path, "judge.max_retries=0"))
        scorer.judge.preflight()
        results = scorer.score_blocking(requests_for(4))
        kinds = {c.format_kind or "none" for c in srv.calls}
    chosen = EXPECTED[profile]
    info = scorer.judge.info()
    assert info["response_format"] == chosen and info["chosen_by"] == "probe"
    assert all(r.ok for r in results), [r.error for r in results]
    assert kinds == {chosen} and srv.chat_count == 4  # no judge request was refused or retried
    stats = scorer.judge.stats()
    assert stats["failures"] == 0 and stats["retries"] == 0 and stats["client_errors"] == stats["server_errors"] == 0
    assert f"takes response_format {chosen}" in caplog.text  # the choice is logged


def test_without_preflight_the_first_batch_probes(key_env, tmp_path):
    with ChatServer(profile="llama-cpp-python") as srv:
        scorer = build_scorer(judge_cfg(srv, tmp_path, "judge.max_retries=0"))
        results = scorer.score_blocking(requests_for(6))
        probes = len(srv.probe_calls)
    assert all(r.ok for r in results) and probes == 2
    assert scorer.judge.info()["response_format"] == "json_object_schema"


def test_response_format_still_forces_a_form(key_env, tmp_path):
    with ChatServer(profile="vllm") as srv:
        scorer = build_scorer(judge_cfg(srv, tmp_path, "judge.response_format=json_object"))
        scorer.judge.preflight()
        scorer.score_blocking(requests_for(3))
        assert {c.format_kind for c in srv.calls} == {"json_object"}
        assert [c.format_kind for c in srv.probe_calls] == ["json_object"]  # the one-token check, in that form
    assert scorer.judge.info()["chosen_by"] == "forced"


def test_a_forced_form_the_server_refuses_stops_at_preflight(key_env, tmp_path):
    with ChatServer(profile="llama-cpp-python") as srv:
        judge = build_scorer(judge_cfg(srv, tmp_path, "judge.response_format=json_schema")).judge
        with pytest.raises(JudgeError, match="HTTP 500") as err:
            judge.preflight()
    assert "response_format" in str(err.value)


def test_the_choice_is_recorded_in_the_run_files(tmp_path):
    """argen.score in a real process against a llama-cpp-python-like server (HTTP 500 to json_schema)."""
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Headache for {i} days?", "response": f"See a doctor ({i}).",
                                        "tier": "B", "scope": "S0"}) + "\n" for i in range(5)))
    out = tmp_path / "out.jsonl"
    with ChatServer(profile="llama-cpp-python") as srv:
        result = run_cli(
            "argen.score", f"input={data}", f"output={out}", "judge=local", f"judge.base_url={srv.url}",
            "judge.model=judge-test", f"judge.cache.path={tmp_path}/cache.sqlite", "policy=none", "progress=false",
            env=cli_env(), timeout=300,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["judge_info"]["response_format"] == "json_object_schema"
    assert summary["judge_info"]["refused"] == {"json_schema": "HTTP 500"}
    assert summary["scored"] == 5 and summary["judge_stats"]["failures"] == 0
    assert "takes response_format json_object_schema" in result.stderr
