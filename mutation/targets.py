"""The modules ``make mutation`` mutates, each with the fast tests that speak for it.

mutmut runs, for every mutant, only the selected tests that called the mutated function while
it collected its statistics, fastest first, and stops at the first failure. The selection below
keeps that statistics run (and each survivor's full run) to seconds: tests that start a training
run or a CLI in a subprocess are left out, because a subprocess's calls are invisible to mutmut's
statistics and each of them costs tens of seconds.

To add a module: one entry, its path as the key. ``make mutation MODULE=<path>`` then runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    """The tests for one mutated module: test files (or node ids) and node ids to leave out."""

    tests: tuple[str, ...]
    deselect: tuple[str, ...] = field(default=())


# Subprocess tests that the per-module selections below leave out (slow, and invisible to mutmut).
_RESUME_SUBPROCESS = (
    "tests/test_resume.py::test_sigterm_checkpoints_and_resume_continues_exactly",
    "tests/test_resume.py::test_a_refused_resume_leaves_no_stray_dir_and_keeps_the_record",
)

_HEURISTIC_TESTS = ("tests/test_heuristic_pinned.py", "tests/test_heuristic_judge.py", "tests/test_heuristic_scope_rules.py")
_HEURISTIC_SLOW = (
    "tests/test_heuristic_judge.py::test_every_reference_response_gets_a_valid_verdict",
    "tests/test_heuristic_judge.py::test_phrase_gates_never_change_what_a_pattern_finds",
    "tests/test_heuristic_judge.py::test_generated_tails_of_every_kind_buy_nothing_on_the_teams_answers",
    "tests/test_heuristic_judge.py::test_generated_tails_buy_nothing_on_argens_answers",
    "tests/test_heuristic_judge.py::test_the_report_suite_gains_at_most_010_on_any_answer_but_one_cliff_kind",
)

# The reading modules (lexicon, sentence reading, scope model) also answer to the pinned readings
# of the team's ~240 calibration texts: one line each, so a mutant that changes how any of them is
# read fails at once.
_READING_TESTS = (*_HEURISTIC_TESTS, "tests/test_heuristic_corpus.py")

TARGETS: dict[str, Target] = {
    # The policy engine's tests reach the rubric too, but at a second each through Rego; the
    # rubric's own tests cover factors, caps and every mode by hand.
    "argen/scoring/rubric.py": Target(tests=("tests/test_rubric.py", "tests/test_rewards.py")),
    "argen/training/checkpoints.py": Target(
        tests=("tests/test_resume.py", "tests/test_checkpoint_rules.py"),
        deselect=_RESUME_SUBPROCESS,
    ),
    "argen/training/resume.py": Target(
        tests=("tests/test_resume.py", "tests/test_checkpoint_rules.py"),
        deselect=_RESUME_SUBPROCESS,
    ),
    "argen/evaluation/paired_stats.py": Target(tests=("tests/test_paired_stats.py",)),
    "argen/data/jsonl.py": Target(
        tests=("tests/test_jsonl.py", "tests/test_metrics_file.py"),
        deselect=(
            "tests/test_jsonl.py::test_score_reads_its_own_output_with_line_separators",
            "tests/test_jsonl.py::test_score_refuses_a_lone_surrogate_before_judging",
        ),
    ),
    "argen/judges/redaction.py": Target(tests=("tests/test_judge_deadline_and_redaction.py",)),
    # Its own tests cover every effect; the policy engine's (a second each, through Rego) add nothing.
    "argen/policy/effects.py": Target(tests=("tests/test_policy_effects.py",)),
    # The heuristic judge: its pinned verdicts (hand-checked numbers), the harm terms worked by
    # hand, the odd replies and the orderings. The suites over ArGen's 1,600 responses and the
    # generated gaming tails take seconds each and check only relations: left out.
    "argen/judges/heuristic.py": Target(tests=_HEURISTIC_TESTS, deselect=_HEURISTIC_SLOW),
    "argen/judges/heuristic_medicines.py": Target(
        tests=("tests/test_heuristic_medicines.py", *_HEURISTIC_TESTS), deselect=_HEURISTIC_SLOW
    ),
    "argen/judges/heuristic_features.py": Target(tests=_READING_TESTS, deselect=_HEURISTIC_SLOW),
    # (heuristic_content.py is not listed: it is patterns and word lists, and its one function runs
    # at import, where mutmut never switches a mutant on; mutmut's own check then stops the run,
    # "Unable to force test failures". Its patterns answer to the pinned readings instead.)
    "argen/judges/heuristic_scope.py": Target(tests=_READING_TESTS, deselect=_HEURISTIC_SLOW),
    "argen/judges/heuristic_lexicon.py": Target(tests=_READING_TESTS, deselect=_HEURISTIC_SLOW),
    "argen/judges/generic_text.py": Target(
        tests=("tests/test_generic_text.py", *_READING_TESTS), deselect=_HEURISTIC_SLOW
    ),
}

#: The share of mutants the tests must kill in every module (killed + timed out) / tested.
TARGET_SCORE = 0.85
