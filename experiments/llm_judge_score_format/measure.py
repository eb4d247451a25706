"""Which score form lets a grammar-constrained server give valid verdicts? Measured on the real
llama.cpp server (llama-cpp-python 0.3.36, ``make test-judge-server`` builds it) serving the
packaged SmolLM2-135M, with this project's rubric prompt and fenced request.

Each candidate changes only how the seven 0-1 scores are asked for (the schema sent in
``{"type": "json_object", "schema": ...}``, the form llama-cpp-python takes, and the prompt's
OUTPUT line); everything else is the judge's request as sent today (temperature 0.2,
max_tokens 300 as in tests/test_judge_llama_server.py). A reply counts as parsed when
:func:`argen.judges.replies.verdict_from_text` accepts it (after the candidate's own read-back).

    .venv/bin/python experiments/llm_judge_score_format/measure.py [--rounds 2] [--only NAME ...]

Writes results/score_formats.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import openai

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from argen.judges import prompts  # noqa: E402
from argen.judges.replies import InvalidReply, decode_body, load_json, message_text, usage_of, verdict_from_text  # noqa: E402
from argen.types import _UNIT_FIELDS, Verdict, verdict_json_schema  # noqa: E402
from tests.llama_server import ALIAS, llama_server  # noqa: E402
from tests.test_judge_llama_server import ANSWERS  # noqa: E402

OUT = Path(__file__).parent / "results" / "score_formats.json"
OLD_OUTPUT_LINE = "Numbers are decimals between 0 and 1"


def base_schema() -> dict[str, Any]:
    """The verdict schema of prompt version 2: reasoning first (capped at 400 characters), scores as ranges."""
    schema = verdict_json_schema()
    props = schema["properties"]
    props["reasoning"] = {"type": "string", "maxLength": prompts.REASONING_MAX_CHARS}
    ordered = {"reasoning": props["reasoning"], **{k: v for k, v in props.items() if k != "reasoning"}}
    return {**schema, "properties": ordered, "required": list(ordered)}


def with_scores(score: dict[str, Any]) -> dict[str, Any]:
    schema = base_schema()
    for key in _UNIT_FIELDS:
        schema["properties"][key] = dict(score)
    return schema


def read_decimal(text: str) -> Verdict:
    return verdict_from_text(text)


def read_tenths(text: str) -> Verdict:
    """Integers 0-10 read back as tenths (anything else left for the verdict check to refuse)."""
    data = load_json(text)
    if isinstance(data, dict):
        for key in _UNIT_FIELDS:
            value = data.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                data[key] = value / 10
    return verdict_from_text(json.dumps(data))


def grid(step_count: int) -> list[float]:
    return [round(i / step_count, 2) for i in range(step_count + 1)]


@dataclass(frozen=True)
class Candidate:
    name: str
    score_schema: dict[str, Any]
    output_line: str
    read: Callable[[str], Verdict] = read_decimal
    scale_text: tuple[tuple[str, str], ...] = ()

    def system_prompt(self) -> str:
        text = prompts.SYSTEM_PROMPT
        for old, new in self.scale_text:
            text = text.replace(old, new)
        start = text.index("Numbers are") if "Numbers are" in text else text.index("Scores are")
        end = text.index(";", start)
        return text[:start] + self.output_line + text[end:]


CANDIDATES = [
    Candidate("range (prompt 2)", {"type": "number", "minimum": 0, "maximum": 1}, OLD_OUTPUT_LINE),
    Candidate("number enum, steps of 0.05", {"type": "number", "enum": grid(20)},
              "Scores are one of 0.0, 0.05, 0.1, ..., 0.95, 1.0 (steps of 0.05)"),
    Candidate("number enum, steps of 0.1", {"type": "number", "enum": grid(10)},
              "Scores are one of 0.0, 0.1, 0.2, ..., 0.9, 1.0"),
    Candidate("string enum, steps of 0.05", {"type": "string", "enum": [f"{v:.2f}" for v in grid(20)]},
              'Scores are strings, one of "0.00", "0.05", "0.10", ..., "0.95", "1.00" (steps of 0.05)'),
    Candidate("integer enum 0-10, read as tenths", {"type": "integer", "enum": list(range(11))},
              "Scores are integers from 0 to 10 (10 is the top of the scale)", read_tenths,
              (("(0 to 1)", "(0 to 10)"), ("1 = nothing", "10 = nothing"), ("1 = the answer", "10 = the answer"),
               ("Each 0 to 1", "Each 0 to 10"))),
]


def measure(url: str, candidate: Candidate, rounds: int) -> dict[str, Any]:
    client = openai.OpenAI(base_url=url, api_key="no-key-required", max_retries=0, timeout=300)
    system = candidate.system_prompt()
    schema = with_scores(candidate.score_schema)
    outcomes: list[dict[str, Any]] = []
    for round_ in range(rounds):
        for prompt, response, _tier in ANSWERS:
            user = prompts.build_user_message(prompt, response)
            started = time.perf_counter()
            try:
                raw = client.chat.completions.with_raw_response.create(
                    model=ALIAS, temperature=0.2, max_tokens=300, seed=1000 + round_,
                    messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                    response_format={"type": "json_object", "schema": schema},
                )
                body = decode_body(raw.http_response.content)
                usage = usage_of(body)
                verdict = candidate.read(message_text(body, 300))
                outcome = {"ok": True, "scores": [getattr(verdict, k) for k in _UNIT_FIELDS]}
            except InvalidReply as exc:
                outcome, usage = {"ok": False, "reason": str(exc)[:200]}, None
            except openai.OpenAIError as exc:
                outcome, usage = {"ok": False, "reason": f"{type(exc).__name__}: {str(exc)[:160]}"}, None
            outcome["seconds"] = round(time.perf_counter() - started, 2)
            outcome["completion_tokens"] = usage.completion_tokens if usage else None
            outcomes.append(outcome)
            print(f"  {candidate.name}: {'ok' if outcome['ok'] else outcome['reason'][:100]} ({outcome['seconds']} s)", flush=True)
    ok = [o for o in outcomes if o["ok"]]
    values = [v for o in ok for v in o["scores"]]
    return {
        "candidate": candidate.name,
        "score_schema": candidate.score_schema if "enum" not in candidate.score_schema
        else {**candidate.score_schema, "enum": f"{len(candidate.score_schema['enum'])} values"},
        "n": len(outcomes),
        "parsed": len(ok),
        "failures": Counter(o["reason"].split(":")[0] if "must be in" not in o["reason"] else "score out of [0, 1]"
                            for o in outcomes if not o["ok"]),
        "failure_examples": [o["reason"] for o in outcomes if not o["ok"]][:3],
        "distinct_score_values": sorted(set(values)),
        "median_seconds": statistics.median(o["seconds"] for o in outcomes),
        "median_completion_tokens": statistics.median(o["completion_tokens"] for o in ok) if ok else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="passes over the 6 answers (seed differs per pass)")
    parser.add_argument("--only", nargs="*", help="candidate names to run (default: all)")
    args = parser.parse_args()
    chosen = [c for c in CANDIDATES if not args.only or c.name in args.only]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[:3]
    results = []
    with tempfile.TemporaryDirectory() as tmp, llama_server(Path(tmp) / "server.log") as (url, _proc):
        for candidate in chosen:
            results.append(measure(url, candidate, args.rounds))
    OUT.write_text(json.dumps({"load_average_at_start": load, "rounds": args.rounds, "results": results}, indent=2) + "\n")
    print(f"\n{'candidate':<36} {'parsed':>8} {'median s':>9} {'tokens':>7}  distinct values")
    for r in results:
        print(f"{r['candidate']:<36} {r['parsed']:>3}/{r['n']:<4} {r['median_seconds']:>9} {r['median_completion_tokens']!s:>7}  "
              f"{len(r['distinct_score_values'])}  failures: {dict(r['failures'])}")
    print(f"\nwritten to {OUT} (load average {' '.join(load)} at start)")


if __name__ == "__main__":
    main()
