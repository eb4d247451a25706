"""Every reply ends as a verdict or as null with a reason: hostile shapes through the real server,
a property test over generated shapes, and a real ``argen.score`` process that meets them all."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from argen.judges.replies import InvalidReply, parse_completion
from argen.scoring.build import build_scorer
from argen.types import Verdict
from tests.chat_server import GOOD_VERDICT, ChatServer, Reply
from tests.conftest import cli_env, run_cli
from tests.test_openai_judge import KEY_ENV, SENTINEL_KEY, judge_cfg, requests_for

HUGE = int("9" * 401)  # too large for a float


def completion(content=None, *, message=None, choice=None, choices=None, usage=None) -> bytes:
    """A chat-completion body with any part replaced."""
    if message is None:
        message = {"role": "assistant", "content": json.dumps(GOOD_VERDICT) if content is None else content}
    if choice is None:
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
    body = {"id": "x", "object": "chat.completion", "choices": [choice] if choices is None else choices}
    if usage is not None:
        body["usage"] = usage
    return json.dumps(body).encode()


def verdict_text(**changes) -> str:
    return json.dumps({**GOOD_VERDICT, **changes})


# name -> (reply, verdict expected?)
HOSTILE = {
    "401_digit_score": (Reply(content=verdict_text(clarity=HUGE)), False),
    "401_digit_in_text": (Reply(content=json.dumps(GOOD_VERDICT).replace("0.85", "9" * 401)), False),
    "content_is_object": (Reply(content_json=GOOD_VERDICT), False),
    "content_is_number": (Reply(content_json=42), False),
    "content_is_list_of_numbers": (Reply(content_json=[1, 2]), False),
    "content_is_true": (Reply(content_json=True), False),
    "content_is_json_number_text": (Reply(content="3.5"), False),
    "content_is_json_array_text": (Reply(content="[1, 2, 3]"), False),
    "nan_score": (Reply(content=json.dumps(GOOD_VERDICT).replace("0.85", "NaN")), False),
    "infinity_score": (Reply(content=json.dumps(GOOD_VERDICT).replace("0.85", "Infinity")), False),
    "negative_infinity_score": (Reply(content=json.dumps(GOOD_VERDICT).replace("0.85", "-Infinity")), False),
    "score_is_object": (Reply(content=verdict_text(clarity={"value": 0.5})), False),
    "bool_is_list": (Reply(content=verdict_text(has_medical_disclaimer=[True])), False),
    "enum_is_number": (Reply(content=verdict_text(response_scope=0)), False),
    "reasoning_is_nested_junk": (Reply(content=verdict_text(reasoning={"a": [[[{"b": None}]]]})), True),
    "deeply_nested_content": (Reply(content="[" * 100_000 + "]" * 100_000), False),
    "empty_body": (Reply(body=b""), False),
    "cut_off_body": (Reply(body=completion()[:57]), False),
    "body_is_array": (Reply(body=b"[1, 2, 3]"), False),
    "body_is_number": (Reply(body=b"1e999"), False),
    "body_is_html": (Reply(body=b"<html><body>Bad gateway</body></html>", content_type="text/html"), False),
    "json_under_wrong_content_type": (Reply(body=completion(), content_type="text/plain"), True),
    "choices_is_object": (Reply(body=completion(choices={"0": {}})), False),
    "choices_empty": (Reply(body=completion(choices=[])), False),
    "choice_is_string": (Reply(body=completion(choice="stop")), False),
    "message_is_null": (Reply(body=json.dumps({"choices": [{"message": None}]}).encode()), False),
    "refusal_is_object": (Reply(body=completion(message={"content": None, "refusal": {"why": "no"}})), False),
    "hostile_usage": (Reply(body=completion(usage={"prompt_tokens": HUGE, "completion_tokens": "many"})), True),
    "not_utf8": (Reply(body=b"\xff\xfe\x00garbage"), False),
}


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SENTINEL_KEY)
    with ChatServer() as srv:
        yield srv


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_reply_ends_as_verdict_or_null_with_a_reason(server, tmp_path, name):
    reply, verdict_expected = HOSTILE[name]
    scorer = build_scorer(judge_cfg(server, tmp_path, "judge.max_retries=0", "judge.max_error_rate=1.0",
                                    "judge.response_format=json_schema"))
    server.responder = lambda call: reply if "-1:" in call.judged_response else None
    results = scorer.score_blocking(requests_for(3))
    assert results[0].ok and results[2].ok  # its neighbours are unaffected
    hostile = results[1]
    if verdict_expected:
        assert hostile.ok, hostile.error
    else:
        assert not hostile.ok and hostile.value("combined") is None
        assert hostile.error and len(hostile.error) <= 400
        record = hostile.to_record()
        json.dumps(record, allow_nan=False)  # the row can be written as strict JSON
    stats = scorer.judge.stats()
    assert stats["prompt_tokens"] < 10**9  # a 401-digit usage figure is not believed


# ---------------------------------------------------------------------------- property test
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**420), max_value=10**420),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
)
json_junk = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                         max_leaves=20)
FIELDS = list(GOOD_VERDICT)


@st.composite
def hostile_bodies(draw):
    """A chat-completion body with junk placed at one level: body, choices, choice, message, content, a field."""
    level = draw(st.sampled_from(["body", "choices", "choice", "message", "content", "content_text", "field", "usage", "bytes"]))
    junk = draw(json_junk)
    if level == "bytes":
        return draw(st.binary(max_size=200))
    if level == "body":
        return json.dumps(junk).encode()
    if level == "choices":
        return completion(choices=junk)
    if level == "choice":
        return completion(choice=junk)
    if level == "message":
        return completion(message=junk)
    if level == "content":
        return completion(message={"role": "assistant", "content": junk})
    if level == "content_text":
        return completion(json.dumps(junk))
    if level == "usage":
        return completion(usage=junk)
    field = draw(st.sampled_from(FIELDS))
    verdict = dict(GOOD_VERDICT)
    if draw(st.booleans()):
        verdict[field] = junk
    else:
        verdict.pop(field)
    body = completion(json.dumps(verdict))
    if draw(st.booleans()):  # cut off somewhere
        body = body[: draw(st.integers(min_value=0, max_value=len(body)))]
    return body


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_bodies())
def test_any_reply_shape_is_a_verdict_or_an_invalid_reply(body):
    try:
        verdict, usage = parse_completion(body, max_tokens=400)
    except InvalidReply as exc:
        assert str(exc)  # always a reason
        return
    assert isinstance(verdict, Verdict)
    assert 0 <= usage.prompt_tokens <= 10**9 and 0 <= usage.completion_tokens <= 10**9


# ---------------------------------------------------------------------------- a real run
def test_a_score_run_survives_every_hostile_shape(tmp_path):
    """The issue's fault probe: a 401-digit score, content that is an object or a number. Exit 0, every row
    scored or failed with a reason, every row written."""
    names = sorted(HOSTILE)
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Question {i}?", "response": f"Answer {i} ({name})."}) + "\n"
                            for i, name in enumerate(names)))
    out = tmp_path / "out.jsonl"

    def respond(call):
        for name in names:
            if f"({name})." in call.judged_response:
                return HOSTILE[name][0]
        return None

    with ChatServer() as srv:
        srv.responder = respond
        result = run_cli(
            "argen.score", f"input={data}", f"output={out}", "judge=local", f"judge.base_url={srv.url}",
            "judge.model=judge-test", f"judge.cache.path={tmp_path}/cache.sqlite", "judge.max_retries=1",
            "judge.backoff_initial_s=0.01", "judge.backoff_max_s=0.02", "judge.max_error_rate=1.0", "policy=none",
            "progress=false", "batch_size=8", env=cli_env(), timeout=300,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(names)
    for name, row in zip(names, rows):
        assert (row["combined"] is not None) == HOSTILE[name][1], (name, row.get("error"))
        if row["combined"] is None:
            assert row["error"], name
