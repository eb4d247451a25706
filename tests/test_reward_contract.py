"""Issue 25 item 5: a reward that breaks TRL's contract stops the run with one line naming its key.

Real custom rewards (tests/custom_rewards.py) plugged in from the command line into real
``experiment=smoke`` runs of the tiny model, and the check itself on each kind of return.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from argen.rewards.checked import RewardCheck, RewardError, checked_reward
from tests import custom_rewards
from tests.conftest import cli_env, run_cli

COMPLETIONS = [[{"role": "assistant", "content": f"answer {i}"}] for i in range(4)]
KWARGS = {"prompts": ["q"] * 4, "completions": COMPLETIONS}


@pytest.mark.parametrize(("func", "message"), [
    (custom_rewards.nan_reward, "returned nan for completion 4 of 4: each reward must be a finite number, or None"),
    (custom_rewards.inf_reward, "returned inf for completion 1 of 4: each reward must be a finite number"),
    (custom_rewards.string_reward, "returned '0.5' (str) for completion 1 of 4: each reward must be a finite number"),
    (custom_rewards.short_reward, "returned 3 rewards for 4 completions (one per completion expected)"),
    (custom_rewards.none_reward, "returned None (NoneType) instead of a list of 4 rewards, one per completion"),
    (lambda completions, **kw: {"a": 1.0}, "returned {'a': 1.0} (dict) instead of a list of 4 rewards"),
    (lambda completions, **kw: [0.1, 0.2, [0.3], 0.4], "returned [0.3] (list) for completion 3 of 4"),
    (custom_rewards.raising_reward, "raised IndexError: list index out of range"),
])
def test_each_broken_return_is_one_error_naming_the_key_and_the_value(tmp_path, func, message):
    reward = checked_reward(func, "mine", tmp_path / "error.txt")
    with pytest.raises(RewardError) as err:
        reward(**KWARGS)
    text = str(err.value)
    assert text.startswith("reward 'mine' (reward.functions.mine) ") and message in text, text
    assert "\n" not in text and text.endswith(f"is in {tmp_path / 'error.txt'}")
    log = (tmp_path / "error.txt").read_text()
    assert log.startswith(text.split("; ")[0])
    if func is custom_rewards.raising_reward:  # the user's own traceback, down to their line
        assert "The reward's traceback:" in log and "custom_rewards.py" in log and "in raising_reward" in log
    else:
        assert "It returned:" in log


def test_numbers_of_every_kind_and_none_pass_as_plain_floats(caplog):
    values = [1, 0.5, np.float32(0.25), torch.tensor(0.125)]
    assert RewardCheck("r").values(values, KWARGS) == [1.0, 0.5, 0.25, 0.125]
    assert RewardCheck("r").values(np.array([0.0, 1.0, 0.5, 0.5]), KWARGS) == [0.0, 1.0, 0.5, 0.5]
    assert RewardCheck("r").values([None, 0.5, None, True], KWARGS) == [None, 0.5, None, 1.0]
    # None for a whole batch is TRL's contract for "cannot score any of these": allowed, said once.
    check = RewardCheck("all_none")
    assert check.values([None] * 4, KWARGS) == [None] * 4
    assert check.values([None] * 4, KWARGS) == [None] * 4
    warnings = [r for r in caplog.records if "returned None for every completion" in r.getMessage()]
    assert len(warnings) == 1 and "reward.functions.all_none" in warnings[0].getMessage()


def test_async_rewards_are_checked_too_and_argen_errors_pass_through():
    import asyncio

    from argen.errors import JudgeError

    async def nan_async(completions, **kwargs):
        return [math.nan] * len(completions)

    async def over_error_rate(completions, **kwargs):
        raise JudgeError("judge failed on 4 of 4 responses")

    with pytest.raises(RewardError, match=r"reward 'a' \(reward.functions.a\) returned nan for completion 1 of 4"):
        asyncio.run(checked_reward(nan_async, "a")(**KWARGS))
    with pytest.raises(JudgeError, match="judge failed on 4 of 4"):  # ArGen's own stop, unchanged
        asyncio.run(checked_reward(over_error_rate, "b")(**KWARGS))


def _train_with(tmp_path, target: str):
    run_dir = tmp_path / "run"
    result = run_cli("argen.train", "experiment=smoke", f"hydra.run.dir={run_dir}",
                     f"+reward.functions.bad._target_=tests.custom_rewards.{target}", "+reward.weights.bad=0.2",
                     env=cli_env())
    return run_dir, result


def _one_line_naming_the_reward(run_dir, result, returned: str) -> str:
    assert result.returncode == 2, (result.stdout + result.stderr)[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("argen.train: error: reward 'bad' (reward.functions.bad) at step 1 " + returned), line
    assert "Traceback" not in result.stderr
    assert line.endswith(f"is in {run_dir / 'error.txt'}")
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "failed" and status["error_type"] == "RewardError"
    return (run_dir / "error.txt").read_text()


def test_a_reward_that_raises_is_named_and_its_traceback_goes_to_the_error_log(tmp_path):
    """The run stops at the first batch (about 30 s on 2 cores, most of it loading)."""
    run_dir, result = _train_with(tmp_path, "raising_reward")
    log = _one_line_naming_the_reward(run_dir, result, "raised IndexError: list index out of range")
    assert "The reward's traceback:" in log and "in raising_reward" in log


@pytest.mark.slow  # one real run per case, ~30 s each
@pytest.mark.parametrize(("target", "returned"), [
    ("nan_reward", "returned nan for completion 4 of 4"),
    ("inf_reward", "returned inf for completion 1 of 4"),
    ("string_reward", "returned '0.5' (str) for completion 1 of 4"),
    ("short_reward", "returned 3 rewards for 4 completions"),
    ("none_reward", "returned None (NoneType) instead of a list of 4 rewards"),
])
def test_a_reward_breaking_the_contract_stops_the_run_in_one_line(tmp_path, target, returned):
    run_dir, result = _train_with(tmp_path, target)
    log = _one_line_naming_the_reward(run_dir, result, returned)
    assert "It returned:" in log


@pytest.mark.slow  # a whole smoke run
def test_a_reward_returning_none_for_every_completion_trains(tmp_path):
    run_dir, result = _train_with(tmp_path, "all_none_reward")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "reward 'bad' (reward.functions.bad) returned None for every completion" in result.stdout + result.stderr
    assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"
