"""Imports point one way, as the README states: every ``argen`` import, top-level or inside a
function, goes to the same layer or one below. A violation names the importing file and line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "argen"

# Highest first. A module belongs to the first entry that matches its dotted name (a package
# entry covers everything below it).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("argen.train", "argen.evaluate", "argen.score", "argen.summarize", "argen.launch", "argen.worker", "argen.command_line"),
    ("argen.training", "argen.evaluation"),
    ("argen.rewards",),
    ("argen.scoring",),
    ("argen.judges", "argen.policy"),
    ("argen.types", "argen.errors", "argen.runtime", "argen.config", "argen.config_schema", "argen.data", "argen.models", "argen.reporting"),
)

# judges and policy share a layer but are separate components: neither imports the other.
SEPARATE = (("argen.judges", "argen.policy"),)


def _owner(module: str) -> tuple[int, str] | None:
    for level, members in enumerate(LAYERS):
        for member in members:
            if module == member or module.startswith(member + "."):
                return level, member
    return None


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _argen_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import of argen in a file, including ones inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "argen"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "argen":
                continue
            if node.module == "argen":  # `from argen import x`: x is a module of the package
                found += [(node.lineno, f"argen.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def layer_violations(package: Path = PACKAGE) -> list[str]:
    """Every upward (or sideways, between separate components) import under ``package``."""
    problems = []
    for path in sorted(package.rglob("*.py")):
        name = _module_name(path)
        here = _owner(name)
        if here is None:
            if name != "argen":
                problems.append(f"{path.relative_to(ROOT)}: module {name} is in no layer; add it to LAYERS")
            continue
        rel = str(path.relative_to(ROOT))
        for line, target in _argen_imports(path):
            there = _owner(target)
            if there is None:
                continue
            upward = there[0] < here[0]
            sideways = any({here[1], there[1]} == set(pair) for pair in SEPARATE)
            if upward or sideways:
                problems.append(f"{rel}:{line}: {name} ({here[1]}) imports {target} ({there[1]}), "
                                f"{'a higher layer' if upward else 'a separate component'}")
    return problems


def test_imports_point_down():
    assert layer_violations() == []


def test_a_violation_names_file_and_line(tmp_path):
    pkg = tmp_path / "argen"
    (pkg / "judges").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "judges" / "__init__.py").write_text("")
    (pkg / "judges" / "bad.py").write_text("import json\n\n\ndef f():\n    from argen.scoring.rubric import Rubric\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        problems = layer_violations(pkg)
    finally:
        ROOT = saved
    assert problems == ["argen/judges/bad.py:5: argen.judges.bad (argen.judges) imports argen.scoring.rubric "
                        "(argen.scoring), a higher layer"]


def test_readme_states_this_order():
    """The README's sentence lists the same layers, top to bottom."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"Dependencies point one way:(.*?)\n\n", text, re.S)
    assert match, "README.md lost its 'Dependencies point one way:' statement"
    stated = [part.strip(" .`\n") for part in match.group(1).replace("\n", " ").split("->")]
    short = [
        "/".join(m.removeprefix("argen.") for m in members) if level else "entry points"
        for level, members in enumerate(LAYERS)
    ]
    assert stated == short


def _resolve(target: str, modules: set[str]) -> str | None:
    """The longest module of the package that ``target`` names (``argen.a.b.C`` -> ``argen.a.b``)."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def import_graph(package: Path = PACKAGE) -> dict[str, dict[str, str]]:
    """module -> {imported argen module: "file:line" of the import}, every import (top-level or
    inside a function). ``from argen.x import y`` points at ``argen.x.y`` when that is a module,
    else at ``argen.x``. A package does not implicitly depend on its parent: Python imports the
    parent first, but only a written import can close a cycle."""
    paths = {_module_name(p): p for p in sorted(package.rglob("*.py"))}
    modules = set(paths)
    graph: dict[str, dict[str, str]] = {}
    for name, path in paths.items():
        rel = str(path.relative_to(ROOT))
        edges: dict[str, str] = {}
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.split(".")[0] == "argen"]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module.split(".")[0] == "argen":
                    targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                               for a in node.names]
            for target in targets:
                resolved = _resolve(target, modules)
                if resolved and resolved != name:
                    edges.setdefault(resolved, f"{rel}:{node.lineno}")
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """Cycles of a graph (each as [a, b, ..., a]); one per strongly connected component is
    enough to name the problem, and after it is removed the next run names the next."""
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(node: str, stack: list[str], on_stack: set[str]) -> None:
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, {})):
            if nxt in on_stack:
                cycle = stack[stack.index(nxt):] + [nxt]
                if not any(set(cycle) == set(c) for c in found):
                    found.append(cycle)
            elif nxt not in done:
                visit(nxt, stack, on_stack)
        stack.pop()
        on_stack.discard(node)
        done.add(node)

    for start in sorted(graph):
        if start not in done:
            visit(start, [], set())
    return found


def import_cycles(package: Path = PACKAGE) -> list[str]:
    """Every import cycle under ``package``, between modules and between the top-level parts of
    argen (``argen.config`` vs the ``argen.config_schema`` package), each named with the file and
    line of every import that closes it."""
    graph = import_graph(package)
    problems = []
    for cycle in _cycles(graph):
        steps = [f"{a} ({graph[a][b]})" for a, b in zip(cycle, cycle[1:])]
        problems.append("module import cycle: " + " -> ".join(steps) + f" -> {cycle[-1]}")

    def top(module: str) -> str:
        return ".".join(module.split(".")[:2])

    parts: dict[str, dict[str, str]] = {}
    for module, edges in graph.items():
        for target, where in edges.items():
            if top(target) != top(module):
                parts.setdefault(top(module), {}).setdefault(top(target), where)
    for cycle in _cycles(parts):
        steps = [f"{a} ({parts[a][b]})" for a, b in zip(cycle, cycle[1:])]
        problems.append("package import cycle: " + " -> ".join(steps) + f" -> {cycle[-1]}")
    return problems


def test_no_import_cycles():
    assert import_cycles() == []


def test_an_import_cycle_is_named(tmp_path):
    """A cycle closed by an import inside a function is found and named with file and line."""
    pkg = tmp_path / "argen"
    (pkg / "schema").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "config.py").write_text("def f():\n    from argen.schema import Data\n")
    (pkg / "schema" / "__init__.py").write_text("from argen.schema.values import v\n")
    (pkg / "schema" / "values.py").write_text("import json\nfrom argen.config import to_plain\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        problems = import_cycles(pkg)
    finally:
        ROOT = saved
    assert problems == [
        "module import cycle: argen.config (argen/config.py:2) -> argen.schema (argen/schema/__init__.py:1) -> "
        "argen.schema.values (argen/schema/values.py:2) -> argen.config",
        "package import cycle: argen.config (argen/config.py:2) -> argen.schema (argen/schema/values.py:2) -> argen.config",
    ]


# Modules below the entry points that still read a composed config with omegaconf, each with the
# reason. Everything else receives typed nodes (argen.config_schema); the schema and argen.config
# are where composed configs become typed ones.
OMEGACONF_ALLOWED = {
    "argen.data.outputs": "a Hydra callback (WritableRunDir) reads the hydra node before the run starts",
    "argen.training.resume": "composes the resumed config: the saved config.yaml merged with the new overrides",
    "argen.training.runner": "writes the run's resolved config.yaml (to_yaml of the plain config)",
    "argen.evaluation.end_of_training": "next step: reads a finished run's saved config.yaml (redo of its evaluation)",
}
SCHEMA = ("argen.config", "argen.config_schema")


def omegaconf_users(package: Path = PACKAGE) -> list[str]:
    """Modules below the entry points (and outside the schema) that import omegaconf, file:line."""
    found = []
    for path in sorted(package.rglob("*.py")):
        name = _module_name(path)
        owner = _owner(name)
        if owner is None or owner[0] == 0 or any(name == s or name.startswith(s + ".") for s in SCHEMA):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "omegaconf" for n in names):
                found.append(f"{name} ({path.relative_to(ROOT)}:{node.lineno})")
                break
    return found


def test_composed_configs_stay_at_the_entry_points_and_the_schema():
    """DictConfig is read by the entry points and the schema; the layers below take typed nodes."""
    unexpected = [u for u in omegaconf_users() if u.split(" ")[0] not in OMEGACONF_ALLOWED]
    assert unexpected == []
    still = {u.split(" ")[0] for u in omegaconf_users()}
    assert set(OMEGACONF_ALLOWED) <= still, f"no longer imports omegaconf, drop from OMEGACONF_ALLOWED: {set(OMEGACONF_ALLOWED) - still}"
