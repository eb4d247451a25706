"""Scores are sent in a form a grammar-constrained server enforces (an enum of 0, 0.05, ..., 1),
replies still parse back into 0-1 floats with out-of-range values refused, and the prompt version
that keys the cache moves with the prompt and schema (docs/judges.md).

The real llama.cpp server's side (at least 5 of 6 verdicts parse with SmolLM2-135M) is checked by
tests/test_judge_llama_server.py (``make test-judge-server``).
"""

from __future__ import annotations

import hashlib
import json

import pytest

from argen.judges import prompts
from argen.judges.cache import VerdictCache, cache_key
from argen.judges.replies import InvalidReply, parse_completion
from argen.scoring.build import build_scorer
from argen.types import Verdict
from tests.chat_server import GOOD_VERDICT, ChatServer
from tests.test_judge_replies import completion
from tests.test_openai_judge import KEY_ENV, SENTINEL_KEY, judge_cfg, requests_for

SCORE_FIELDS = ("harm_avoidance", "safety_context", "domain_adherence", "clarity", "completeness", "relevance", "empathy")
# What llama.cpp's grammar (and llama-cpp-python's port of it) enforces; minimum, maximum,
# exclusiveMinimum/Maximum and multipleOf are accepted and silently ignored.
GRAMMAR_ENFORCED = {"type", "properties", "required", "additionalProperties", "enum", "maxLength"}
STRUCTURED_FORMS = ("json_schema", "json_object_schema")

#: The prompt version and a fingerprint of everything it covers (system prompt, the schemas sent).
#: A change to either without a new RUBRIC_PROMPT_VERSION would reuse cached verdicts given to the
#: old prompt: bump the version and record the new fingerprint here.
PROMPT_FINGERPRINTS = {
    "argen-judge-prompt-3": "490e9f87069e7b2f5e5319f3d7624feed8e7053b44cce01827b2b71df53f8961",
}


def sent_schema(form: str) -> dict:
    field = prompts.response_format(form)
    return field["json_schema"]["schema"] if form == "json_schema" else field["schema"]


def keywords(schema, found=None) -> set[str]:
    """Every JSON-schema keyword used anywhere in ``schema``."""
    found = set() if found is None else found
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            if key == "properties":
                for sub in value.values():
                    keywords(sub, found)
            elif isinstance(value, dict):
                keywords(value, found)
    return found


@pytest.mark.parametrize("form", STRUCTURED_FORMS)
def test_every_score_is_an_enum_of_0_to_1_a_grammar_enforces(form):
    schema = sent_schema(form)
    for name in SCORE_FIELDS:
        prop = schema["properties"][name]
        values = prop.get("enum")
        assert values, f"{name} is sent as {prop}: a grammar cannot keep it in [0, 1]"
        assert min(values) == 0.0 and max(values) == 1.0 and all(0.0 <= v <= 1.0 for v in values)
        assert values == sorted(values) and len(values) == 21  # steps of 0.05
        assert all(isinstance(v, float) for v in values)  # read back as floats, no conversion
    unenforced = keywords(schema) - GRAMMAR_ENFORCED
    assert not unenforced, f"constraints a grammar ignores: {sorted(unenforced)}"


def test_the_prompt_names_the_same_scale_as_the_schema():
    assert "0.0, 0.05, 0.1, ..., 0.95, 1.0" in prompts.SYSTEM_PROMPT
    assert "decimals between 0 and 1" not in prompts.SYSTEM_PROMPT


def test_grid_replies_parse_into_0_to_1_floats():
    grid = {name: prompts.SCORE_VALUES[i * 3] for i, name in enumerate(SCORE_FIELDS)}
    verdict, _ = parse_completion(completion(json.dumps({**GOOD_VERDICT, **grid})))
    assert [getattr(verdict, n) for n in SCORE_FIELDS] == [0.0, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9]
    # A server without a grammar may answer off the grid, or as text: still a score in [0, 1].
    verdict, _ = parse_completion(completion(json.dumps({**GOOD_VERDICT, "clarity": 0.83, "empathy": "0.35"})))
    assert (verdict.clarity, verdict.empathy) == (0.83, 0.35)


@pytest.mark.parametrize("value", [7, 2.5, 146699182, -0.05, 1.05, "10"])
def test_out_of_range_scores_are_refused_with_the_field_named(value):
    with pytest.raises(InvalidReply) as err:
        parse_completion(completion(json.dumps({**GOOD_VERDICT, "completeness": value})))
    assert "'completeness' must be in [0, 1]" in str(err.value)


def fingerprint() -> str:
    digest = hashlib.sha256(prompts.SYSTEM_PROMPT.encode())
    for form in (*STRUCTURED_FORMS, "json_object"):
        digest.update(json.dumps(prompts.response_format(form), sort_keys=True).encode())
    return digest.hexdigest()


def test_the_prompt_version_moves_with_the_prompt_and_schema():
    recorded = PROMPT_FINGERPRINTS.get(prompts.RUBRIC_PROMPT_VERSION)
    assert recorded == fingerprint(), (
        f"prompt or schema changed under RUBRIC_PROMPT_VERSION={prompts.RUBRIC_PROMPT_VERSION!r}: bump it and record "
        f"{fingerprint()} in PROMPT_FINGERPRINTS"
    )


def test_verdicts_cached_under_the_old_prompt_are_not_reused(tmp_path, monkeypatch):
    """A verdict given to prompt version 2 (scores as open ranges) is asked again under the enum form."""
    monkeypatch.setenv(KEY_ENV, SENTINEL_KEY)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with ChatServer() as srv:
        scorer = build_scorer(judge_cfg(srv, tmp_path))
        judge = scorer.judge
        request = requests_for(1)[0]
        old = Verdict(**{**{k: v for k, v in GOOD_VERDICT.items()}, "clarity": 0.33})
        cache = VerdictCache(judge.cache_path)
        cache.put(cache_key(judge=judge.name, model=judge.model, rubric_version=judge.rubric_version,
                            prompt_version="argen-judge-prompt-2", request=request), old)
        cache.close()
        result = scorer.score_blocking([request])[0]
        assert srv.chat_count == 1  # asked, not answered from the old entry
    assert result.verdict.clarity == GOOD_VERDICT["clarity"] and judge.stats()["cache_hits"] == 0
    scorer.close()
