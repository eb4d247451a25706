"""A user-style reward function, plugged in from the command line by tests."""


def brevity(completions, **kwargs):
    """1.0 for a completion of at most ``limit`` words, falling off linearly to 0 at 4x."""
    limit = kwargs.get("limit", 30)
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [max(0.0, min(1.0, 1.0 - (len(t.split()) - limit) / (3 * limit))) for t in texts]


# Rewards that break TRL's contract, one way each (issue 25 item 5: each must stop the run with one
# line naming the reward's key; tests/test_reward_contract.py).
def nan_reward(completions, **kwargs):
    """NaN for the last completion of every batch."""
    return [0.5] * (len(completions) - 1) + [float("nan")]


def inf_reward(completions, **kwargs):
    return [float("inf")] + [0.5] * (len(completions) - 1)


def raising_reward(completions, **kwargs):
    """Fails the way a user's parsing code does."""
    return [float(c[-1]["content"].split()[99]) for c in completions]


def string_reward(completions, **kwargs):
    return ["0.5"] * len(completions)


def short_reward(completions, **kwargs):
    """One reward too few."""
    return [0.5] * (len(completions) - 1)


def none_reward(completions, **kwargs):
    """Returns None instead of a list."""
    return None


def all_none_reward(completions, **kwargs):
    """None for every completion: TRL's contract allows it (the completions are left out of its mean)."""
    return [None] * len(completions)
