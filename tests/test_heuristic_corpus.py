"""What the heuristic judge reads in the team's calibration texts (tests/data/heuristic_corpus_readings.yaml).

The pinned table (tests/test_heuristic_pinned.py) pins verdicts and readings of replies written
for it; this file widens the net for the reading alone: the 240 or so replies of the dev pairs,
harm pairs and scope examples in experiments/heuristic_calibration, each with every count the
judge scores from, each sentence's reading and the scope model's probabilities, one line per
text. Tuning those texts' *scores* is what the calibration does; pinning how they are *read*
makes any change to the lexicon, the sentence reading or the scope model show as a diff to
review (``python -m tests.heuristic_pinned --write`` rewrites the file).
"""

from __future__ import annotations

import pytest

from tests import heuristic_pinned as pinned

TEXTS = pinned.corpus_texts()
PINNED = pinned.load_readings(pinned.CORPUS)


def test_the_corpus_file_reads_every_calibration_text_and_nothing_else():
    assert set(PINNED) == set(TEXTS)
    assert len(TEXTS) >= 200


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_pinned_corpus_reading(key):
    # Read inside each test (not in a shared fixture): mutation testing credits each call to the
    # test that made it.
    prompt, reply = TEXTS[key]
    diff = pinned.reading_differences(PINNED[key], pinned.read_text(prompt, reply))
    assert not diff, f"{key}: {diff[:8]}; if intended, run python -m tests.heuristic_pinned --write"
