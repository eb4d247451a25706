"""Run the benchmarks, print a table, write ``bench/results.json`` and BENCHMARKS.md's figures.

``python -m bench.run [--quick] [--only NAME ...]`` (``make bench`` runs it without options).

Every benchmark is a module ``bench/<name>.py`` with ``run(quick: bool = False) -> dict`` of flat
metrics. Each one runs in a fresh process (``python -m bench.run --child NAME``), so a crash, a
hang (``--timeout``) or an exception is reported for that benchmark alone while the rest go on,
and no benchmark's imports, threads or memory colour another's figures.

Results: ``bench/results.json`` holds the machine (CPU model, cores, RAM, GPU), the versions
(Python, torch, TRL, transformers, ArGen), the date and every benchmark's metrics. With ``--only``
the other benchmarks' earlier entries are kept when they were measured on the same machine.
BENCHMARKS.md is rewritten only between ``<!-- bench:start -->`` and ``<!-- bench:end -->``;
everything outside the markers is left exactly as it was.

Exit status: 0 when every benchmark that ran succeeded, 1 when one failed, 2 on a usage error.
A target that is missed is shown, not an error: absolute speed depends on the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import importlib
import importlib.metadata
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from argen.data.atomic import write_atomic

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results.json"
DOC = REPO / "BENCHMARKS.md"
START = "<!-- bench:start -->"
END = "<!-- bench:end -->"

# The benchmarks, in the order they run and are shown. Modules found in bench/ but not listed
# here run after these, alphabetically; listed ones that are missing are noted as absent.
ORDER = (
    "heuristic_judge",
    "learned_judge",
    "policy_throughput",
    "judge_pipeline",
    "judge_limits",
    "judge_cache",
    "overhead",
    "training_throughput",
    "lora_step",
    "decode_limit",
    "gpu_generation",
)
# Modules of bench/ that are not benchmarks.
NOT_BENCHMARKS = {"run", "bare_trl"}

# (benchmark, metric name pattern, comparison, target): shown next to matching metrics.
# A module may add its own as a module-level TARGETS = {"metric": (">=", 100.0), ...}.
TARGETS: tuple[tuple[str, str, str, float], ...] = (
    ("overhead", "overhead_ratio", "<=", 1.05),
    ("overhead", "overhead_ratio_profiled", "<=", 1.05),
    ("lora_step", "lora_step_ratio", "<=", 1.05),
    ("heuristic_judge", "heuristic_responses_per_s", ">=", 200),
    ("policy_throughput", "policy_verdicts_per_s", ">=", 1000),
    ("judge_pipeline", "cached_rescoring_responses_per_s", ">=", 20000),
    ("judge_cache", "cache_hits_per_s*", ">=", 20000),
)

Metrics = dict[str, Any]


# --------------------------------------------------------------------------- discovery


def discover(package_dir: Path, expected: Sequence[str] = ORDER) -> tuple[list[str], list[str]]:
    """(benchmarks present, in run order; expected names whose module is missing).

    A module counts as a benchmark when its source defines a top-level ``run`` function; names
    starting with an underscore are helpers. Nothing is imported here.
    """
    found = set()
    for path in package_dir.glob("*.py"):
        name = path.stem
        if name.startswith("_") or name in NOT_BENCHMARKS:
            continue
        if re.search(r"^def run\(", path.read_text(errors="replace"), re.MULTILINE):
            found.add(name)
    present = [n for n in expected if n in found] + sorted(found - set(expected))
    absent = [n for n in expected if n not in found]
    return present, absent


# --------------------------------------------------------------------------- one benchmark


def flat_metrics(result: Any) -> Metrics:
    """Check that ``run()`` returned a flat dict of numbers, strings, booleans or None.

    Non-finite floats become None (JSON has no NaN). Raises TypeError naming the offending key.
    """
    if not isinstance(result, dict):
        raise TypeError(f"run() must return a dict of metrics, got {type(result).__name__}")
    out: Metrics = {}
    for key, value in result.items():
        if not isinstance(key, str):
            raise TypeError(f"metric names must be strings, got {key!r}")
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise TypeError(f"metric {key!r} must be a number, string, boolean or null, got {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out


def child_main(package: str, name: str, quick: bool, out: Path) -> int:
    """Inside the child process: import one benchmark, run it, write its metrics as JSON."""
    module = importlib.import_module(f"{package}.{name}")
    started = time.monotonic()
    metrics = flat_metrics(module.run(quick=quick))
    targets = getattr(module, "TARGETS", None) or {}
    out.write_text(json.dumps({
        "metrics": metrics,
        "seconds": round(time.monotonic() - started, 1),
        "targets": {k: [op, float(v)] for k, (op, v) in dict(targets).items()},
    }))
    return 0


def run_one(name: str, *, quick: bool, package: str, search_path: Path, timeout_s: float, work: Path) -> dict[str, Any]:
    """Run one benchmark in a fresh process; its entry for results.json (status ok or failed)."""
    out = work / f"{name}.json"
    log = work / f"{name}.log"
    cmd = [sys.executable, "-m", "bench.run", "--child", name, "--package", package, "--out", str(out)]
    if quick:
        cmd.append("--quick")
    env = dict(os.environ)
    # The child finds bench.run through REPO and the benchmark package through search_path.
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(search_path), str(REPO), *filter(None, [env.get("PYTHONPATH")])]))
    entry: dict[str, Any] = {"date": _now(), "quick": quick, "load_before": _load()}
    started = time.monotonic()
    with open(log, "wb") as fh:
        # A session of its own: on a timeout the benchmark's own children (training runs) go too.
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            rc = None
        except BaseException:
            _kill_group(proc)
            raise
    entry["wall_s"] = round(time.monotonic() - started, 1)
    entry["load_after"] = _load()
    if rc == 0 and out.exists():
        result = json.loads(out.read_text())
        entry.update(status="ok", seconds=result["seconds"], metrics=result["metrics"])
        if result.get("targets"):
            entry["targets"] = result["targets"]
        return entry
    tail = _tail(log.read_text(errors="replace"))
    reason = f"timed out after {timeout_s:.0f} s" if rc is None else f"exit status {rc}"
    entry.update(status="failed", error=f"{reason}: {_last_error_line(tail)}", output_tail=tail)
    return entry


def _load() -> float | None:
    """The 1-minute load average: how busy the machine was (other processes included)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _last_error_line(tail: str) -> str:
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
    for line in reversed(lines):  # the exception line of a traceback, when there is one
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b", line):
            return line
    return lines[-1] if lines else "(no output)"


# --------------------------------------------------------------------------- machine


def machine_info() -> dict[str, Any]:
    """CPU model, cores, RAM and GPU of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable, "ram_gib": ram_gib,
            "os": f"{platform.system()} {platform.release()}", "gpu": gpu_name()}


def gpu_name() -> str:
    """The GPUs nvidia-smi reports, or "none"."""
    if not shutil.which("nvidia-smi"):
        return "none"
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "none"
    names = [n.strip() for n in out.splitlines() if n.strip()]
    return ", ".join(names) if names else "none"


def versions() -> dict[str, str]:
    """Python and the installed versions of the libraries the figures depend on."""
    out = {"python": platform.python_version()}
    for dist in ("torch", "trl", "transformers", "accelerate", "argen", "vllm"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            if dist != "vllm":
                out[dist] = "not installed"
    return out


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- results


def same_machine(a: dict[str, Any] | None, b: dict[str, Any]) -> bool:
    """Whether earlier results came from this machine (CPU model, cores, GPU)."""
    return bool(a) and all(a.get(k) == b.get(k) for k in ("cpu", "cores", "gpu"))


def build_results(entries: dict[str, dict[str, Any]], *, quick: bool, previous: dict[str, Any] | None = None,
                  machine: dict[str, Any] | None = None) -> dict[str, Any]:
    """The results.json document: this run's entries over earlier ones from the same machine."""
    machine = machine or machine_info()
    benchmarks: dict[str, dict[str, Any]] = {}
    if previous and same_machine(previous.get("machine"), machine):
        benchmarks.update(previous.get("benchmarks") or {})
    benchmarks.update(entries)
    for name, entry in benchmarks.items():
        entry["target_checks"] = check_targets(name, entry)
    return {
        "generated_by": "python -m bench.run",
        "date": _now(),
        "quick": quick,
        "machine": machine,
        "versions": versions(),
        "benchmarks": benchmarks,
    }


def check_targets(name: str, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target that applies to one of the entry's metrics: metric, rule, value and whether it is met."""
    metrics = entry.get("metrics") or {}
    rules = [(pattern, op, value) for bench, pattern, op, value in TARGETS if bench == name]
    rules += [(metric, op, value) for metric, (op, value) in (entry.get("targets") or {}).items()]
    checks = []
    for metric, value in metrics.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        for pattern, op, target in rules:
            if fnmatch.fnmatchcase(metric, pattern):
                met = value <= target if op == "<=" else value >= target
                checks.append({"metric": metric, "rule": f"{op} {_fmt(target)}", "value": value, "met": met})
                break
    return checks


def load_previous(path: Path) -> dict[str, Any] | None:
    """Earlier results, or None when there are none or they cannot be read."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- presentation


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.4g}"
    return str(value)


def _rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(benchmark, metric, value, target) for every metric, failure and absence."""
    rows = []
    for name, entry in results["benchmarks"].items():
        status = entry.get("status")
        if status == "absent":
            rows.append((name, "-", "absent (module not present)", ""))
            continue
        if status == "failed":
            rows.append((name, "-", f"FAILED: {entry.get('error', '')}", ""))
            continue
        checks = {c["metric"]: c for c in entry.get("target_checks", [])}
        for metric, value in (entry.get("metrics") or {}).items():
            check = checks.get(metric)
            target = f"{check['rule']} ({'met' if check['met'] else 'MISSED'})" if check else ""
            rows.append((name, metric, _fmt(value), target))
    return rows


def text_table(results: dict[str, Any]) -> str:
    """The console table."""
    rows = [("benchmark", "metric", "value", "target")] + _rows(results)
    widths = [min(max(len(r[i]) for r in rows), 60) for i in range(4)]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_section(results: dict[str, Any]) -> str:
    """The generated part of BENCHMARKS.md (between the markers)."""
    m, v = results["machine"], results["versions"]
    lines = [
        f"_Generated by `python -m bench.run` on {results['date']}; edits between the markers are overwritten._",
        "",
        f"- **Machine:** {m.get('cpu')}, {m.get('cores')} cores ({m.get('usable_cores')} usable), "
        f"{m.get('ram_gib')} GiB RAM, {m.get('os')}, GPU: {m.get('gpu')}",
        f"- **Load:** each benchmark gives the machine's 1-minute load average before and after it "
        f"(other processes included; {m.get('cores')} means every core busy).",
        "- **Versions:** " + ", ".join(f"{k} {val}" for k, val in v.items()),
    ]
    checks = [(name, c) for name, entry in results["benchmarks"].items() for c in entry.get("target_checks", [])]
    if checks:
        lines += ["", "**Targets**", "", "| benchmark | metric | value | target | |", "|---|---|---|---|---|"]
        for name, c in checks:
            lines.append(f"| {name} | `{c['metric']}` | {_fmt(c['value'])} | {c['rule']} | {'met' if c['met'] else '**missed**'} |")
    for name, entry in results["benchmarks"].items():
        lines += ["", f"### {name}", ""]
        status = entry.get("status")
        if status == "absent":
            lines.append("Not run: the module is not present.")
            continue
        mode = "quick" if entry.get("quick") else "full"
        if status == "failed":
            lines.append(f"**Failed** ({entry.get('date')}, {mode}): `{_md(entry.get('error', ''))}`")
            continue
        load = ""
        if entry.get("load_before") is not None:
            load = f"; 1-minute load average {_fmt(entry['load_before'])} before, {_fmt(entry.get('load_after'))} after"
        lines.append(f"Measured {entry.get('date')} ({mode} run, {_fmt(entry.get('seconds'))} s{load}).")
        lines += ["", "| metric | value | target |", "|---|---|---|"]
        checks = {c["metric"]: c for c in entry.get("target_checks", [])}
        for metric, value in (entry.get("metrics") or {}).items():
            check = checks.get(metric)
            target = f"{check['rule']} ({'met' if check['met'] else '**missed**'})" if check else ""
            lines.append(f"| `{metric}` | {_md(_fmt(value))} | {target} |")
    return "\n".join(lines)


def rewrite_section(doc: Path, section: str) -> None:
    """Replace the text between the markers of ``doc``, leaving everything else as it was.

    A document without the markers gets them, with the section, at its end (a new one is
    created). One marker alone, or the end before the start, is an error: nothing is written.
    """
    block = f"{START}\n{section.rstrip()}\n{END}"
    if not doc.exists():
        doc.write_text(f"# Benchmarks\n\n{block}\n")
        return
    text = doc.read_text()
    starts, ends = text.count(START), text.count(END)
    if starts == 0 and ends == 0:
        doc.write_text(text.rstrip("\n") + f"\n\n{block}\n")
        return
    if starts != 1 or ends != 1 or text.index(START) > text.index(END):
        raise ValueError(f"{doc}: expected one {START} followed by one {END}; found {starts} and {ends}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    write_atomic(doc, head + block + tail)


# --------------------------------------------------------------------------- entry


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description="Run ArGen's benchmarks (see BENCHMARKS.md).")
    p.add_argument("--quick", action="store_true", help="shorter runs (fewer repetitions and steps)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks (others keep their earlier results)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds one benchmark may run (default 3600)")
    p.add_argument("--results", type=Path, default=RESULTS, help="results file (default bench/results.json)")
    p.add_argument("--doc", type=Path, default=DOC, help="document whose generated section is rewritten (default BENCHMARKS.md)")
    p.add_argument("--no-doc", action="store_true", help="do not touch the document")
    p.add_argument("--render", action="store_true", help="run nothing: print the table and rewrite the document from the results file")
    p.add_argument("--package", default="bench", help=argparse.SUPPRESS)
    p.add_argument("--path", type=Path, default=REPO, help=argparse.SUPPRESS)  # where --package lives
    p.add_argument("--child", metavar="NAME", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; print the table; write the results and the document section."""
    args = parse_args(argv)
    if args.child:
        return child_main(args.package, args.child, args.quick, args.out)

    if args.render:
        results = load_previous(args.results)
        if results is None:
            print(f"bench.run: no readable results in {args.results}: run the benchmarks first", file=sys.stderr)
            return 2
        print(text_table(results))
        if not args.no_doc:
            rewrite_section(args.doc, render_section(results))
            print(f"bench.run: rewrote the generated section of {args.doc}")
        return 0

    package_dir = args.path / args.package.replace(".", "/")
    expected = ORDER if args.package == "bench" else ()
    present, absent = discover(package_dir, expected)
    if args.only:
        unknown = [n for n in args.only if n not in present and n not in absent]
        if unknown:
            print(f"bench.run: unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(present + absent)}", file=sys.stderr)
            return 2
        absent = [n for n in absent if n in args.only]
        present = [n for n in present if n in args.only]

    entries: dict[str, dict[str, Any]] = {}
    for name in absent:
        print(f"bench.run: {name}: skipped, {args.package}/{name}.py is not present", flush=True)
        entries[name] = {"status": "absent", "date": _now()}
    with tempfile.TemporaryDirectory(prefix="argen-bench-") as tmp:
        for i, name in enumerate(present, 1):
            print(f"bench.run: [{i}/{len(present)}] {name} ...", flush=True)
            entry = run_one(name, quick=args.quick, package=args.package, search_path=args.path,
                            timeout_s=args.timeout, work=Path(tmp))
            if entry["status"] == "ok":
                print(f"bench.run: [{i}/{len(present)}] {name}: ok ({entry['wall_s']:.0f} s)", flush=True)
            else:
                print(f"bench.run: [{i}/{len(present)}] {name}: FAILED ({entry['error']})\n{entry['output_tail']}",
                      file=sys.stderr, flush=True)
            entries[name] = entry

    results = build_results(entries, quick=args.quick, previous=load_previous(args.results))
    results["benchmarks"] = _in_order(results["benchmarks"], expected)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(text_table(results))
    print(f"\nbench.run: wrote {args.results}", end="")
    if not args.no_doc:
        rewrite_section(args.doc, render_section(results))
        print(f" and the generated section of {args.doc}", end="")
    print()
    return 1 if any(e.get("status") == "failed" for e in entries.values()) else 0


def _in_order(benchmarks: dict[str, Any], expected: Sequence[str]) -> dict[str, Any]:
    first = [n for n in expected if n in benchmarks]
    return {n: benchmarks[n] for n in first + sorted(set(benchmarks) - set(first))}


if __name__ == "__main__":
    sys.exit(main())
