"""Mutation testing of ArGen's core modules: ``python -m mutation.run [MODULE ...]`` (``make mutation``).

Each module of :data:`mutation.targets.TARGETS` gets its own mutmut work directory,
``.mutation/<module>/``, holding links to ``argen/``, ``tests/`` and ``conf/`` and a
``pyproject.toml`` that is the project's own plus a ``[tool.mutmut]`` section naming that one
module and its tests. Separate directories keep each module's cache: mutmut re-tests only the
functions whose source changed since its last run there, so a second run of an unchanged module
takes seconds. mutmut keeps a verdict even when the tests change, so the previous survivors are
re-tested every time (they are few): a new test that kills one shows at once.

Printed per module: mutants, killed (a timeout counts as killed), survivors explained as
equivalent in docs/testing.md, the score against :data:`mutation.targets.TARGET_SCORE`, and every
survivor with its diff. The score is killed / (mutants - equivalent ones), the usual mutation
score: an equivalent mutant behaves exactly like the original, so no test can kill it. A survivor
must be listed in docs/testing.md (its row saying "equivalent" and why, or what would kill it);
the names not listed there are printed. Exit status: 0 when every module reaches the target and every survivor is listed,
1 otherwise, 2 on a usage error.

``--fresh`` deletes a module's work directory first; ``--jobs N`` sets mutmut's parallel workers
(default 2: the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mutation.targets import TARGET_SCORE, TARGETS, Target

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".mutation"
DOC = REPO / "docs" / "testing.md"
# What the mutated copy needs besides the package: the tests, the Hydra configs they compose, and
# the heuristic judge's calibration scripts and pairs (its tests import the gaming suite).
LINKED = ("argen", "tests", "conf", "experiments")

# mutmut's exit codes (mutmut.stats.status_by_exit_code), grouped the way the score counts them.
KILLED = {1, 3, -24, 24, 152, 255, 36}  # test failure, pytest internal error, timeouts
SURVIVED = {0}
NO_TESTS = {5, 33}
SKIPPED = {34}


@dataclass
class Outcome:
    module: str
    total: int
    killed: int
    survivors: list[str]
    no_tests: list[str]
    other: dict[str, int | None]
    equivalent: int = 0  # survivors docs/testing.md explains as equivalent

    @property
    def tested(self) -> int:
        return self.killed + len(self.survivors) + len(self.no_tests) + len(self.other)

    @property
    def score(self) -> float:
        """Killed share of the mutants that some test could kill (equivalent ones left out)."""
        killable = self.tested - self.equivalent
        return self.killed / killable if killable > 0 else 1.0


def workdir(module: str) -> Path:
    """``.mutation/argen.scoring.rubric`` for ``argen/scoring/rubric.py``."""
    return WORK / module.removesuffix(".py").replace("/", ".")


def _toml_list(items) -> str:
    return "[" + ", ".join(json.dumps(str(i)) for i in items) + "]"


def mutmut_config(module: str, target: Target) -> str:
    """The ``[tool.mutmut]`` section for one module."""
    selection = [*target.tests]
    for node in target.deselect:
        selection += ["--deselect", node]
    return "\n".join([
        "",
        "# Written by mutation/run.py for this module alone.",
        "[tool.mutmut]",
        'source_paths = ["argen"]',
        'also_copy = ["conf", "experiments"]',
        f"only_mutate = {_toml_list([module])}",
        f"pytest_add_cli_args_test_selection = {_toml_list(selection)}",
        # Slow tests never join a mutation run; no .pytest_cache inside the mutated copy.
        'pytest_add_cli_args = ["-m", "not slow", "-p", "no:cacheprovider"]',
        # The work directory is not a git checkout of its own: compare file hashes instead.
        "use_git_change_detection = false",
        "",
    ])


def prepare(module: str, target: Target, fresh: bool) -> Path:
    """Create (or refresh) the module's work directory; return it."""
    d = workdir(module)
    if fresh and d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True, exist_ok=True)
    links = [*LINKED]
    # tests/conftest.py finds the shared reference data beside the repository: link it too.
    if (REPO.parent / "shared").is_dir():
        links.append("shared")
    for name in links:
        link = d / name
        source = REPO / name if name != "shared" else REPO.parent / "shared"
        if not link.is_symlink():
            link.symlink_to(source)
    text = (REPO / "pyproject.toml").read_text() + mutmut_config(module, target)
    config = d / "pyproject.toml"
    if not config.is_file() or config.read_text() != text:
        config.write_text(text)
    # mutmut refreshes the copied .py files on every run but copies data files (scenarios, Rego
    # policies) and tests only when absent: drop them so that edits since the last run are seen.
    copied = d / "mutants"
    for name in ("tests", "experiments"):
        if (copied / name).is_dir():
            shutil.rmtree(copied / name)
    for path in (copied / "argen").rglob("*") if (copied / "argen").is_dir() else ():
        if path.is_file() and path.suffix not in (".py", ".meta", ".spans", ".pyc"):
            path.unlink()
    return d


def mutmut(d: Path, *args: str) -> int:
    """Run the mutmut command line in ``d`` (the console script: ``python -m mutmut`` re-executes itself)."""
    exe = Path(sys.executable).with_name("mutmut")
    return subprocess.run([str(exe), *args], cwd=d).returncode


def results(module: str) -> dict[str, int | None]:
    meta = workdir(module) / "mutants" / (module + ".meta")
    if not meta.is_file():
        return {}
    return json.loads(meta.read_text())["exit_code_by_key"]


def outcome(module: str) -> Outcome:
    codes = results(module)
    killed = sum(1 for c in codes.values() if c in KILLED)
    survivors = sorted(k for k, c in codes.items() if c in SURVIVED)
    no_tests = sorted(k for k, c in codes.items() if c in NO_TESTS)
    other = {k: c for k, c in codes.items() if c not in KILLED | SURVIVED | NO_TESTS | SKIPPED}
    return Outcome(module, len(codes), killed, survivors, no_tests, other)


def diff(module: str, name: str) -> str:
    """The changed lines of one mutant (what ``mutmut show`` prints, without starting a process each)."""
    try:
        from mutmut.mutation.diff_apply import get_diff_for_mutant

        here = os.getcwd()
        os.chdir(workdir(module))
        try:
            text = get_diff_for_mutant(name, path=module)
        finally:
            os.chdir(here)
    except Exception:  # noqa: BLE001 - mutmut's internals moved: ask its command line instead
        text = subprocess.run([str(Path(sys.executable).with_name("mutmut")), "show", name], cwd=workdir(module),
                              capture_output=True, text=True).stdout
    lines = [line for line in text.splitlines() if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))]
    return "\n".join(lines) or text.strip()


def run_module(module: str, jobs: int, fresh: bool) -> Outcome:
    target = TARGETS[module]
    d = prepare(module, target, fresh)
    before = outcome(module)
    print(f"\n=== {module}: mutmut in {d.relative_to(REPO)}", flush=True)
    if mutmut(d, "run", "--max-children", str(jobs)) != 0:
        raise SystemExit(f"mutation: mutmut failed on {module} (see above)")
    # Survivors of an earlier run are kept as survivors by mutmut even after a test was added
    # for them: re-test the ones whose function did not change (changed ones were just run).
    retest = [n for n in before.survivors + before.no_tests if results(module).get(n) in SURVIVED | NO_TESTS]
    if retest:
        print(f"--- re-testing {len(retest)} earlier survivor(s) of {module}", flush=True)
        if mutmut(d, "run", "--max-children", str(jobs), *retest) != 0:
            raise SystemExit(f"mutation: mutmut failed re-testing survivors of {module}")
    return outcome(module)


def equivalents(doc: str) -> set[str]:
    """Mutant names (short form) that a table row of ``doc`` explains as equivalent.

    A row is a line starting with ``|``; every backticked ``..._mutmut_N`` name on a row whose
    text says "equivalent" counts (rows saying "to kill" do not)."""
    names: set[str] = set()
    for line in doc.splitlines():
        if line.startswith("|") and "equivalent" in line.lower():
            names.update(re.findall(r"`([^`\s]+__mutmut_\d+)`", line))
    return names


def report(outcomes: list[Outcome]) -> int:
    listed = DOC.read_text() if DOC.is_file() else ""
    same = equivalents(listed)
    status = 0
    print("\n| module | mutants | killed | equivalent | other survivors | no tests | score |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for o in outcomes:
        o.equivalent = sum(1 for name in o.survivors if name.split(".")[-1] in same)
        mark = "" if o.score >= TARGET_SCORE else f" (below {TARGET_SCORE:.0%})"
        print(f"| {o.module} | {o.tested} | {o.killed} | {o.equivalent} | {len(o.survivors) - o.equivalent} | "
              f"{len(o.no_tests)} | {o.score:.1%}{mark} |")
        if o.score < TARGET_SCORE:
            status = 1
    for o in outcomes:
        left = o.survivors + o.no_tests + sorted(o.other)
        if not left:
            continue
        print(f"\n{o.module}: {len(left)} mutant(s) not killed")
        for name in left:
            short = name.split(".")[-1]
            # Listed in backticks, so that mutant 1 is not found inside the name of mutant 10.
            note = "" if f"`{short}`" in listed else "   <- not in docs/testing.md"
            if note:
                status = 1
            print(f"  {short}{note}")
            print("    " + diff(o.module, name).replace("\n", "\n    "))
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutation.run", description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"module paths (default: all): {', '.join(TARGETS)}")
    parser.add_argument("--jobs", type=int, default=2, help="parallel mutmut workers (default 2)")
    parser.add_argument("--fresh", action="store_true", help="delete the module's cached results first")
    parser.add_argument("--report-only", action="store_true", help="print the last results without running")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in TARGETS]
    if unknown:
        print(f"mutation: error: {unknown[0]} is not a mutation target; known: {', '.join(TARGETS)} "
              "(add it to mutation/targets.py)", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print("mutation: error: --jobs must be >= 1", file=sys.stderr)
        return 2
    modules = args.modules or list(TARGETS)
    if not args.report_only and shutil.which("mutmut", path=str(Path(sys.executable).parent)) is None:
        print("mutation: error: mutmut is not installed in this environment; "
              "pip install -e '.[mutation]' (make mutation does it)", file=sys.stderr)
        return 2
    outcomes = [outcome(m) if args.report_only else run_module(m, args.jobs, args.fresh) for m in modules]
    return report(outcomes)


if __name__ == "__main__":
    raise SystemExit(main())
