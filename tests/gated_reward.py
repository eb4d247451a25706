"""A reward function that holds a training step until the test lets it go (tests/test_second_signal.py).

Each call is counted in ``$ARGEN_TEST_GATE_DIR``; from call ``$ARGEN_TEST_GATE_AT`` on it writes
``waiting-N`` and waits for a ``release`` file there, so a test knows the run is inside that step.
"""

import os
import time
from pathlib import Path


def gated(completions, **kwargs):
    """0.5 for every completion, once the gate (if any) is open."""
    gate = Path(os.environ["ARGEN_TEST_GATE_DIR"])
    # Claim the next number atomically: two ranks calling at once must not both count as call N.
    call = 1
    while True:
        try:
            os.close(os.open(gate / f"call-{call}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            call += 1
    if call >= int(os.environ["ARGEN_TEST_GATE_AT"]):
        (gate / f"waiting-{call}").touch()
        deadline = time.monotonic() + 600  # never hang a test run for good
        while not (gate / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return [0.5] * len(completions)
