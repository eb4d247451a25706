"""Prompts are measured in tokens (system prompt and chat template included) against the model's
positions minus the tokens kept for the answer, and refused (not truncated) before the model loads."""

from __future__ import annotations

import json

import pytest

from argen.config import to_plain
from argen.data.scenarios import MAX_PROMPT_CHARS, load_scenarios
from argen.errors import DataError
from argen.models import resolve_model
from argen.training.prompt_length import check_evaluation_prompts, check_prompt_lengths, model_context
from tests.conftest import compose, run_cli

SYSTEM = "You are a healthcare assistant."
# About 4,300 tokens in 19,000 characters: under the character limit, over a 2,048-position model.
LONG = ("My chest hurts when I climb stairs and I also feel short of breath, dizzy and sweaty. " * 220)[:19_000]


@pytest.fixture(scope="module")
def tiny():
    from transformers import AutoTokenizer

    path = resolve_model(to_plain(compose("train", ["model=tiny"]).model))
    return path, AutoTokenizer.from_pretrained(path)


def write(path, prompts):
    path.write_text("".join(json.dumps(p if isinstance(p, dict) else {"prompt": p}) + "\n" for p in prompts))
    return path


def test_the_count_is_the_chat_the_model_sees_and_the_limit_is_exact(tmp_path, tiny):
    path, tokenizer = tiny
    src = write(tmp_path / "s.jsonl", ["Is a cold serious?", "I have had a mild headache for two days; should I worry?"])
    scenarios = load_scenarios(src)
    chats = [tokenizer.apply_chat_template([{"role": "system", "content": SYSTEM}, {"role": "user", "content": s.prompt}],
                                           add_generation_prompt=True, tokenize=True)["input_ids"] for s in scenarios]
    longest = max(len(c) for c in chats)
    assert longest > len(tokenizer(scenarios[1].prompt)["input_ids"]) + 10  # the system prompt and template count
    context = model_context(path, tokenizer)
    assert context == 2048  # the tiny model's max_position_embeddings
    fits = dict(tokenizer=tokenizer, system_prompt=SYSTEM, context=context, reserve_key="grpo.max_completion_length")
    check_prompt_lengths(scenarios, src, reserve=context - longest, **fits)  # exactly full: accepted
    with pytest.raises(DataError) as err:
        check_prompt_lengths(scenarios, src, reserve=context - longest + 1, **fits)
    assert str(err.value) == (
        f"{src}:2: the prompt is {longest:,} tokens with the system prompt and chat template, more than the "
        f"{longest - 1:,} the model has for it ({context:,} positions - grpo.max_completion_length "
        f"{context - longest + 1:,}); shorten it, or lower grpo.max_completion_length")


def test_a_prompt_under_the_character_limit_but_over_the_context_is_refused_in_evaluation(tmp_path, tiny):
    path, _ = tiny
    assert len(LONG) < MAX_PROMPT_CHARS
    src = write(tmp_path / "s.jsonl", ["Is a cold serious?", {"id": "long", "prompt": LONG}, {"id": "also", "prompt": LONG}])
    with pytest.raises(DataError, match=r"s\.jsonl:2: the prompt is [0-9,]+ tokens .* \(2,048 positions - max_new_tokens "
                                        r"256\); 1 more prompt is too long; shorten it$"):
        check_evaluation_prompts(path, load_scenarios(src), src, SYSTEM, 256)


def test_training_refuses_a_prompt_that_does_not_fit_before_the_model_loads(tmp_path):
    """It used to train on it, with only transformers' reminder about the sequence length."""
    src = write(tmp_path / "s.jsonl", ["Is a cold serious?", "Are bruises normal?", "What helps a sore throat?", LONG])
    result = run_cli("argen.train", "experiment=smoke", f"data.path={src}", f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"argen.train: error: {src}:4: the prompt is ") and "(2,048 positions" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / "run" / "final_model").exists()
