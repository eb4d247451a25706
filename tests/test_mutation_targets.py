"""``make mutation``'s list of modules stays runnable: every module and test it names exists, and
the mutmut configuration written for a module is valid TOML naming that module and its tests.
(The mutation run itself is not part of ``make test``: docs/testing.md.)"""

from __future__ import annotations

import tomllib

import pytest

from mutation.run import Outcome, equivalents, main, mutmut_config, workdir
from mutation.targets import TARGET_SCORE, TARGETS
from tests.conftest import REPO


@pytest.mark.parametrize("module", sorted(TARGETS))
def test_every_target_names_a_module_and_tests_that_exist(module):
    target = TARGETS[module]
    assert (REPO / module).is_file(), module
    assert target.tests, module
    for test in target.tests:
        assert (REPO / test.split("::")[0]).is_file(), test
    for node in target.deselect:
        assert node.split("::")[0] in target.tests, f"{node} deselects from a file the target does not run"
        name = node.split("::")[1].split("[")[0]
        assert f"def {name}(" in (REPO / node.split("::")[0]).read_text(), node


def test_the_written_configuration_names_the_module_and_its_tests():
    module = "argen/scoring/rubric.py"
    config = tomllib.loads(mutmut_config(module, TARGETS[module]))["tool"]["mutmut"]
    assert config["only_mutate"] == [module] and config["source_paths"] == ["argen"]
    selection = config["pytest_add_cli_args_test_selection"]
    assert selection[: len(TARGETS[module].tests)] == list(TARGETS[module].tests)
    assert selection[len(TARGETS[module].tests):] == [a for node in TARGETS[module].deselect for a in ("--deselect", node)]
    assert config["pytest_add_cli_args"] == ["-m", "not slow", "-p", "no:cacheprovider"]
    # Appended to the project's own pyproject.toml, the whole file is still one valid document.
    merged = tomllib.loads((REPO / "pyproject.toml").read_text() + mutmut_config(module, TARGETS[module]))
    assert merged["tool"]["pytest"]["ini_options"]["markers"]
    assert workdir(module).name == "argen.scoring.rubric"
    assert 0.8 <= TARGET_SCORE < 1.0


def test_an_unknown_module_is_refused_with_the_list(capsys):
    assert main(["argen/nope.py"]) == 2
    err = capsys.readouterr().err
    assert "argen/nope.py is not a mutation target" in err and "argen/scoring/rubric.py" in err


def test_survivors_explained_as_equivalent_leave_the_score():
    doc = "\n".join([
        "| `x_f__mutmut_1`, `x_f__mutmut_2` | `<=` | equivalent: at the bound both branches agree |",
        "| `x_f__mutmut_3` | a constant | **to kill**: needs a row |",
        "The `x_f__mutmut_4` mentioned in prose, equivalent or not, is no table row.",
        "| `xǁCǁm__mutmut_5` | `None` | Equivalent in tests: only its truth is read |",
    ])
    assert equivalents(doc) == {"x_f__mutmut_1", "x_f__mutmut_2", "xǁCǁm__mutmut_5"}
    # 17 killed of 20, 2 of the 3 survivors equivalent: 17 / 18.
    outcome = Outcome("m.py", 20, 17, ["m.x_f__mutmut_1", "m.x_f__mutmut_2", "m.x_f__mutmut_3"], [], {}, equivalent=2)
    assert outcome.tested == 20 and outcome.score == pytest.approx(17 / 18)
    assert Outcome("m.py", 2, 0, ["a", "b"], [], {}, equivalent=2).score == 1.0
