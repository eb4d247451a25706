"""A user-style reward function, plugged in from the command line by tests."""


def brevity(completions, **kwargs):
    """1.0 for a completion of at most ``limit`` words, falling off linearly to 0 at 4x."""
    limit = kwargs.get("limit", 30)
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [max(0.0, min(1.0, 1.0 - (len(t.split()) - limit) / (3 * limit))) for t in texts]
