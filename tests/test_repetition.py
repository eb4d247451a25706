"""The evaluation's looping measure: a repeated clause counts, ordinary answers and lists do not."""

from __future__ import annotations

from argen.data.scenarios import Scenario
from argen.evaluation.compare import compare_runs
from argen.evaluation.generation import GenerationSettings
from argen.evaluation.harness import fixed_responder, run_evaluation, run_identity
from argen.evaluation.repetition import longest_repeat_count, looping_summary, loops
from argen.evaluation.summary import summarise
from argen.scoring.build import build_scorer
from tests.conftest import compose

LOOP = ("Thank you for asking. I can also provide medical advice, but I would need to know your current plan. "
        "I can also provide medical advice, but I would need to know your current plan. "
        "I can also provide medical advice, but I would need to know your current")
PLAIN = ("A headache with blurry vision for several days needs a clinician soon. If you also have weakness, "
         "confusion or the worst headache of your life, call emergency services now.")
# A parallel list repeats its frame ("call emergency services if you have") but not eight words in a row.
LIST = ("Call emergency services if you have chest pain. Call emergency services if you have trouble breathing. "
        "Call emergency services if you have sudden weakness on one side.")


def test_a_repeated_clause_loops_and_plain_answers_do_not():
    assert loops(LOOP)
    assert longest_repeat_count(LOOP) == 3
    assert not loops(PLAIN)
    assert not loops(LIST)
    assert longest_repeat_count("too short to judge") == 0
    # Case and punctuation do not hide a loop.
    assert loops("Stay calm, and rest. STAY CALM AND REST. " * 2)
    # A clause said twice is restating, not a loop; three times is.
    twice = "You should see a doctor about this pain soon. " * 2
    assert longest_repeat_count(twice) == 2 and not loops(twice)
    assert loops(twice + "You should see a doctor about this pain soon.")


def test_looping_summary_counts_every_answer_with_text():
    rows = [{"response": LOOP}, {"response": PLAIN}, {"response": LIST, "combined": None}, {"response": None}]
    s = looping_summary(rows)
    assert (s["n"], s["looping"], s["share"]) == (3, 1, round(1 / 3, 4))
    assert summarise([{"id": "a", "response": LOOP, "combined": 0.5}])["looping"]["looping"] == 1


def test_evaluation_report_and_comparison_show_looping(tmp_path):
    scorer = build_scorer(compose("evaluate", []))  # the default (heuristic) judge, no model
    settings = GenerationSettings(temperature=0.0, max_new_tokens=32)
    scenarios = [Scenario(id=f"s{i}", prompt=f"My head hurts, day {i}. What should I do?", tier="B", scope="S0")
                 for i in range(3)]
    dirs = []
    for label, texts in (("base", [PLAIN, PLAIN, LIST]), ("trained", [LOOP, PLAIN, LOOP])):
        out = tmp_path / label
        run_evaluation(out, scenarios, scorer, fixed_responder({s.id: t for s, t in zip(scenarios, texts)}),
                       identity=run_identity(scorer, settings, model=label), batch_size=2,
                       meta={"label": label, "generation": settings.to_dict()}, progress=False)
        dirs.append(out)
    assert "looping answers" in (dirs[1] / "report.md").read_text()
    result = compare_runs(dirs, tmp_path / "cmp", labels=["base", "trained"])
    assert result["looping"]["base"]["looping"] == 0
    assert result["looping"]["trained"]["looping"] == 2
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "## Looping answers" in md and "| trained | 2/3 |" in md
