"""A wall-clock deadline per attempt against a server that trickles, and secrets redacted before
error text is cut (a key echoed across the cut must not survive in rows, summary or stderr)."""

from __future__ import annotations

import json
import time

import pytest

from argen.judges.redaction import MIN_FRAGMENT, REDACTED, clean_error, display_url, redact
from argen.scoring.build import build_scorer
from tests.chat_server import ChatServer, Reply
from tests.conftest import cli_env, run_cli
from tests.test_openai_judge import KEY_ENV, SENTINEL_KEY, judge_cfg, requests_for


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SENTINEL_KEY)
    with ChatServer() as srv:
        yield srv


# ---------------------------------------------------------------------------- deadline
@pytest.mark.timeout(120)  # without a deadline, two trickled replies would take many minutes
def test_a_trickling_server_cannot_hold_an_attempt_past_its_deadline(server, tmp_path):
    # Headers at once, then one byte every 0.25 s: a read timeout would never fire (the body is
    # several hundred bytes, so a whole reply would take minutes).
    server.enqueue(Reply(trickle_s=0.25), Reply(trickle_s=0.25))
    scorer = build_scorer(judge_cfg(server, tmp_path, "judge.request_timeout_s=1.5", "judge.max_retries=1",
                                    "judge.max_error_rate=1.0", "judge.response_format=json_schema"))
    started = time.monotonic()
    result = scorer.score_blocking(requests_for(1))[0]
    elapsed = time.monotonic() - started
    assert not result.ok and "judge.request_timeout_s=1.5" in result.error
    stats = scorer.judge.stats()
    assert stats["timeouts"] == 2 and stats["calls"] == 2
    # Neither attempt was cut short of its 1.5 s (a lower bound, which load cannot break); how far
    # past it they ran is a speed, measured in `make bench` (bench/judge_limits.py).
    assert elapsed >= 3.0, elapsed
    # The server saw both replies abandoned part-way: the client hung up, it did not read them out.
    waited = 0.0
    while len(server.trickled) < 2 and waited < 60:  # the server notices at its next byte
        time.sleep(0.1)
        waited += 0.1
    assert len(server.trickled) == 2
    assert all(sent < total for sent, total in server.trickled), server.trickled


def test_the_deadline_leaves_a_slow_but_complete_reply_alone(server, tmp_path):
    server.enqueue(Reply(delay_s=0.3))
    scorer = build_scorer(judge_cfg(server, tmp_path, "judge.request_timeout_s=2", "judge.max_retries=0"))
    assert scorer.score_blocking(requests_for(1))[0].ok


# ---------------------------------------------------------------------------- redaction
def test_redact_replaces_every_fragment_of_eight_or_more():
    key = "sk-abcdefghijklmnop"
    assert redact(f"pre {key} post", [key]) == f"pre {REDACTED} post"
    assert redact(f"tail {key[:-1]}", [key]) == f"tail {REDACTED}"  # 18 of 19 characters
    assert redact(f"head {key[5:]}!", [key]) == f"head {REDACTED}!"
    assert redact("x" + key[3 : 3 + MIN_FRAGMENT] + "y", [key]) == f"x{REDACTED}y"
    short = key[3 : 3 + MIN_FRAGMENT - 1]
    assert redact(short, [key]) == short  # 7 characters identify nothing
    assert redact("nothing here", [key, None, ""]) == "nothing here"


@pytest.mark.parametrize("offset", range(380, 420, 3))
def test_clean_error_redacts_before_the_cut(offset):
    key = SENTINEL_KEY
    text = "x" * offset + key + " and more"
    cleaned = clean_error(text, [key], limit=400)
    assert len(cleaned) <= 400
    for i in range(len(key) - MIN_FRAGMENT + 1):
        assert key[i : i + MIN_FRAGMENT] not in cleaned


def test_redact_at_the_edges_of_eight_characters():
    assert redact("abcdefgh", ["abcdefgh"]) == REDACTED  # a secret of exactly 8, the whole text
    assert redact("key=abcdefgh!", ["abcdefgh"]) == f"key={REDACTED}!"
    assert redact("abcdefg", ["abcdefg"]) == "abcdefg"  # a 7-character secret is never looked for
    assert redact("  abcdefgh \n", ["  abcdefgh \n"]) == f"  {REDACTED} \n"  # the secret is stripped first
    two = redact("sk-aaaaaaaa and sk-bbbbbbbb", ["sk-aaaaaaaa", "sk-bbbbbbbb"])
    assert two == f"{REDACTED} and {REDACTED}"


def test_clean_error_is_one_line_of_at_most_400_characters_by_default():
    assert clean_error("HTTP 500:\n  upstream\tfailed  ", []) == "HTTP 500: upstream failed"
    assert clean_error(ValueError("x " * 300), []) == ("x " * 300)[:400]  # an exception: its text
    assert len(clean_error("y" * 1000, [])) == 400
    assert clean_error("y" * 50, [], limit=10) == "y" * 10


@pytest.mark.parametrize("url,shown", [
    ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
    ("https://user:pw-secret@api.example.com/v1", "https://api.example.com/v1"),
    ("https://user:pw-secret@api.example.com:8443/v1?x=1", "https://api.example.com:8443/v1?x=1"),
    ("http://token-only@host/v1", "http://host/v1"),  # a user name alone is often the key
    ("http://:pw-secret@host/v1", "http://host/v1"),
    ("http://user:pw-secret@/v1", "http:///v1"),  # no host at all: still nothing of the secret
])
def test_display_url_drops_credentials(url, shown):
    assert display_url(url) == shown


def _fragments(key: str) -> list[str]:
    return [key[i : i + MIN_FRAGMENT] for i in range(len(key) - MIN_FRAGMENT + 1)]


def test_a_key_echoed_across_the_cut_reaches_no_row_summary_or_stderr(tmp_path):
    """argen.score in a real process; the server echoes the key at every offset around character 400."""
    n = 24
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Question {i}?", "response": f"Answer <{i}>."}) + "\n" for i in range(n)))
    out = tmp_path / "out.jsonl"

    def respond(call):
        i = int(call.judged_response.split("<")[1].split(">")[0])
        # The error text starts "HTTP 500 from http://127.0.0.1:PORT/v1: Error code: 500 - {'error': ..."; padding
        # moves the key through every position around the 400-character cut.
        return Reply(status=500, error_message="p" * (330 + 3 * i) + SENTINEL_KEY + " was rejected upstream")

    with ChatServer() as srv:
        srv.responder = respond
        result = run_cli(
            "argen.score", f"input={data}", f"output={out}", "judge=openai", f"judge.base_url={srv.url}",
            "judge.model=judge-test", f"judge.api_key_env={KEY_ENV}", f"judge.cache.path={tmp_path}/cache.sqlite",
            "judge.max_retries=0", "judge.max_error_rate=1.0", "judge.requests_per_minute=0", "policy=none",
            "progress=false", env=cli_env(**{KEY_ENV: SENTINEL_KEY}), timeout=300,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == n and all(r["combined"] is None and "HTTP 500" in r["error"] for r in rows)
    assert any(REDACTED in r["error"] for r in rows)
    # Some rows must have had the key straddling the cut for this test to mean anything.
    assert any(r["error"].endswith(REDACTED) or r["error"].endswith(REDACTED[:-1]) or len(r["error"]) == 400 for r in rows)
    texts = {"rows": out.read_text(), "summary": (tmp_path / "out.summary.json").read_text(),
             "stderr": result.stderr, "stdout": result.stdout}
    for where, text in texts.items():
        for fragment in _fragments(SENTINEL_KEY):
            assert fragment not in text, (where, fragment)
