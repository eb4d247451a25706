"""Evaluate Rego policies on every verdict, in-process with ``regopy`` (no OPA server).

Conventions (docs/policies.md has the full guide):

- one policy per file, in package ``argen.policies.<name>``;
- its ``violations`` set holds objects ``{id, message, severity}`` (severity ``minor`` or
  ``major``), optionally ``principle`` (``ahimsa`` by default, or ``dharma``/``helpfulness``);
- optionally a ``catalog`` object declares the ids the policy can emit (``id -> {what,
  severity, principle, mirrors}``); when present, every emitted id must be in it;
- the input document is ``{prompt, response, tier, scope, verdict}`` with every Verdict field;
- ``data.argen.rubric`` holds the rubric's tables (the same numbers rubric.py uses) and
  ``data.argen.params`` holds ``policy.params`` from the config.

Every file is compiled on its own and evaluated on built-in probe inputs when the engine is
built, so a syntax error, a wrong package or a malformed violation stops the run at start-up
with the file's name, before any model loads. All policies are then compiled together, once per
process, into one bundle that answers one query per response.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _preload_libstdcxx() -> None:
    """Load the C++ runtime globally before regopy's library.

    librego exports its own operator new/delete (snmalloc). Loaded first, it captures the C++
    runtime's internal allocations, and a later `import torch` aborts with "double free or
    corruption". With libstdc++ already global, both libraries share the system allocator, so
    the import order of torch and the policy engine no longer matters.
    """
    name = ctypes.util.find_library("stdc++") or "libstdc++.so.6"
    try:
        ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
    except OSError:  # not a glibc system (or no separate libstdc++): nothing to protect against
        pass


_preload_libstdcxx()

from regopy import Interpreter, LogLevel, RegoError  # noqa: E402  (after the preload, on purpose)
from regopy import rego_shared as _native  # noqa: E402

from argen.errors import ArgenError, ConfigError
from argen.scoring.pipeline import PolicyOutcome
from argen.scoring.rubric import Rubric
from argen.scoring.verdict import PRINCIPLES, VERDICT_FIELDS, JudgeRequest, Verdict

log = logging.getLogger(__name__)

BUNDLED_DIR = Path(__file__).resolve().parent / "rego"
PACKAGE_PREFIX = "argen.policies."
SEVERITIES = ("minor", "major")
_SEVERITY_RANK = {"none": 0, "minor": 1, "major": 2}
DEFAULT_PRINCIPLE = "ahimsa"
CONFIG_KEYS = ("enabled", "extra_paths", "bundled", "exclude", "params", "effects")

# The catalog query iterates over package names, which makes regopy evaluate every rule of every
# package: fine once at load time (it also exercises helper rules), far too slow per response.
_CATALOG_QUERY = "x := {name: c | c := data.argen.policies[name].catalog}"


def _collect_query(names: Iterable[str]) -> str:
    """One query for every package's violations, naming each package (see _CATALOG_QUERY).

    Each value is wrapped in an array comprehension so an undefined `violations` gives [] instead
    of making the whole object undefined (and plain sub-path queries trip a regopy 1.5.2 planner bug).
    """
    items = ", ".join(f'"{n}": [v | v := data.argen.policies.{n}.violations]' for n in names)
    return f"x := {{{items}}}"


_PACKAGE_RE = re.compile(r"^[ \t]*package[ \t]+([^\s#]+)", re.MULTILINE)
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
# regopy's regex engine rejects inline flags; the builtin then quietly yields "undefined",
# which would make a `not regex.match(...)` rule fire on every input. Refuse them up front.
_INLINE_FLAGS_RE = re.compile(r"\(\?[imsU]+[:)]")


class PolicyError(ArgenError):
    """A policy file that cannot be used: its message names the file (and line when known)."""

    def __init__(self, path: str, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"policy {where}: {message}")


@dataclass(frozen=True)
class PolicyFile:
    """One Rego module: where it came from, its policy name (package suffix) and its text."""

    path: str
    name: str
    source: str
    bundled: bool = False

    @classmethod
    def load(cls, path: str | Path, bundled: bool = False) -> "PolicyFile":
        """Read a policy file and check its package is ``argen.policies.<name>``."""
        # Bundled files are named by their place in the package, not this machine's paths.
        shown = f"argen/policy/rego/{Path(path).name}" if bundled else str(path)
        try:
            source = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PolicyError(shown, "no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(shown, f"cannot be read: {exc}") from None
        return cls.from_source(shown, source, bundled)

    @classmethod
    def from_source(cls, path: str, source: str, bundled: bool = False) -> "PolicyFile":
        """A policy from text (``path`` only names it in messages)."""
        match = _PACKAGE_RE.search(source)
        if match is None:
            raise PolicyError(path, f"has no package line; start it with `package {PACKAGE_PREFIX}<name>`")
        package = match.group(1)
        line = source.count("\n", 0, match.start()) + 1
        name = package[len(PACKAGE_PREFIX):] if package.startswith(PACKAGE_PREFIX) else ""
        if not _NAME_RE.match(name):
            raise PolicyError(
                path,
                f"package '{package}' must be {PACKAGE_PREFIX}<name> with one lower-case name "
                "(letters, digits, underscores)",
                line,
            )
        for number, text in enumerate(source.splitlines(), 1):
            flags = None if text.lstrip().startswith("#") else _INLINE_FLAGS_RE.search(text)
            if flags is not None:
                raise PolicyError(
                    path,
                    f"regex inline flag '{flags.group(0)}' is not supported by regopy (the match would "
                    "silently fail); match against lower(text) instead",
                    number,
                )
        return cls(path=path, name=name, source=source, bundled=bundled)


def bundled_paths() -> list[Path]:
    """The policy files shipped with the package, in name order."""
    return sorted(BUNDLED_DIR.glob("*.rego"))


# ---------------------------------------------------------------------------------- effects
@dataclass(frozen=True)
class Effect:
    """What one violation does to its principle: multiply it, and/or cap it (both in [0, 1])."""

    multiply: float = 1.0
    cap: float | None = None

    @property
    def report_only(self) -> bool:
        """True when the violation is recorded but leaves the reward alone."""
        return self.multiply == 1.0 and self.cap is None

    @classmethod
    def parse(cls, value: Any, key: str) -> "Effect":
        """``report`` or ``{multiply: f, cap: c}``; anything else is a :class:`ConfigError` on ``key``."""
        if value == "report":
            return cls()
        if not isinstance(value, Mapping):
            raise ConfigError(key, f"must be 'report' or a mapping {{multiply: f, cap: c}}, got {value!r}")
        unknown = sorted(set(value) - {"multiply", "cap"})
        if unknown:
            raise ConfigError(f"{key}.{unknown[0]}", "unknown effect; use multiply and/or cap")
        multiply = _unit(value.get("multiply", 1.0), f"{key}.multiply")
        cap = value.get("cap")
        return cls(multiply=multiply, cap=None if cap is None else _unit(cap, f"{key}.cap"))

    def describe(self) -> str:
        """Short text for docs and logs: ``report``, ``x0.5``, ``x0.5, cap 0.2``."""
        if self.report_only:
            return "report"
        parts = [f"x{self.multiply:g}"] if self.multiply != 1.0 else []
        if self.cap is not None:
            parts.append(f"cap {self.cap:g}")
        return ", ".join(parts)


def _unit(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(key, f"must be a number in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ConfigError(key, f"must be in [0, 1], got {value}")
    return float(value)


@dataclass(frozen=True)
class EffectTable:
    """Effects by severity, with per-policy-id overrides (``policy.effects``)."""

    by_severity: Mapping[str, Effect] = field(default_factory=lambda: {s: Effect() for s in SEVERITIES})
    by_id: Mapping[str, Effect] = field(default_factory=dict)

    @classmethod
    def from_config(cls, node: Mapping[str, Any] | None, prefix: str = "policy.effects") -> "EffectTable":
        """Validate ``policy.effects``: ``{minor: E, major: E, by_id: {id: E}}``; missing severities report only."""
        node = dict(node or {})
        unknown = sorted(set(node) - {*SEVERITIES, "by_id"})
        if unknown:
            raise ConfigError(f"{prefix}.{unknown[0]}", f"unknown key; expected {', '.join(SEVERITIES)} or by_id")
        by_severity = {s: Effect.parse(node[s], f"{prefix}.{s}") if s in node else Effect() for s in SEVERITIES}
        raw_ids = node.get("by_id") or {}
        if not isinstance(raw_ids, Mapping):
            raise ConfigError(f"{prefix}.by_id", "must be a mapping of policy id -> effect")
        by_id = {str(k): Effect.parse(v, f"{prefix}.by_id.{k}") for k, v in raw_ids.items()}
        return cls(by_severity=by_severity, by_id=by_id)

    def effect(self, violation_id: str, severity: str) -> Effect:
        """The effect of one violation: its id's override, else its severity's effect."""
        found = self.by_id.get(violation_id)
        return found if found is not None else self.by_severity[severity]


# ---------------------------------------------------------------------------------- rego glue
class _EvalError(Exception):
    """Rego evaluation failed; the message carries Rego's own error text."""


def _node_messages(impl: Any) -> list[str]:
    """Collect the ``errormsg`` texts under an output node (Rego reports errors as a node tree)."""
    found: list[str] = []

    def walk(node: Any, depth: int) -> None:
        if depth > 12 or len(found) >= 5:
            return
        kind = _native.rego.regoNodeType(node)  # raw int: most internal node kinds are not in NodeKind
        if kind == _native.NodeKind.ErrorAst:  # the offending AST (may hold the whole input): skip
            return
        if kind == _native.NodeKind.ErrorMessage:
            try:
                found.append(_native.rego_node_value(node))
            except RegoError:
                pass
            return
        for i in range(_native.rego_node_size(node)):
            walk(_native.rego_node_get(node, i), depth + 1)

    walk(impl, 0)
    return found


def _run_output(p_output: Any) -> Any:
    """Decode one query output, raising :class:`_EvalError` with Rego's messages on failure.

    regopy's ``Output`` class cannot be used here: on some evaluation errors it raises a bare
    JSONDecodeError and loses the message, so the C API is read directly.
    """
    try:
        ok = _native.rego_output_ok(p_output)
        text = _native.rego_output_string(p_output)
        if ok and text == "undefined":
            return None
        if ok and text.startswith(("{", "[")):
            try:
                doc = json.loads(text, strict=False)  # raw newlines/tabs from the input text
            except json.JSONDecodeError as exc:
                raise _EvalError(
                    f"produced output that is not valid JSON ({exc.msg} near {text[max(0, exc.pos - 40):exc.pos + 20]!r}); "
                    "regopy 1.5.2's sprintf wraps strings returned by builtins (lower, regex.*) in quotes: "
                    "build such messages with concat instead"
                ) from None
            if isinstance(doc, list):
                doc = doc[0] if doc else {}
            return doc
        messages = _node_messages(_native.rego_output_node(p_output))
        if not messages:
            messages = _sexpr_messages(text) or [text.strip().splitlines()[0] if text.strip() else "error"]
        raise _EvalError("; ".join(dict.fromkeys(messages)))
    finally:
        _native.rego_free_output(p_output)


def _sexpr_messages(text: str) -> list[str]:
    """``errormsg N:...`` texts from Rego's S-expression error dumps (N is the byte length)."""
    raw = text.encode("utf-8")
    out = []
    for m in re.finditer(rb"\(errormsg (\d+):", raw):
        out.append(raw[m.end(): m.end() + int(m.group(1))].decode("utf-8", "replace"))
    return out


def _compile_errors(text: str, source_by_name: Mapping[str, str]) -> list[tuple[str | None, int | None, str]]:
    """(file, line, message) triples from a RegoError raised while adding or building modules."""
    raw = text.encode("utf-8")
    out: list[tuple[str | None, int | None, str]] = []
    for m in re.finditer(rb"\(error (\d+):", raw):
        start = m.end()
        name = raw[start: start + int(m.group(1))].decode("utf-8", "replace")
        line = None
        pos = re.match(rb"\|(\d+)\|\d+", raw[start + int(m.group(1)):])
        if pos and name in source_by_name:
            offset = int(pos.group(1))
            line = source_by_name[name].encode("utf-8")[:offset].count(b"\n") + 1
        msg = re.search(rb"\(errormsg (\d+):", raw[start:])
        message = (
            raw[start + msg.end(): start + msg.end() + int(msg.group(1))].decode("utf-8", "replace")
            if msg
            else "error"
        )
        out.append((name if name in source_by_name else None, line, message))
    return out


def _add_input(p_input: Any, value: Any) -> None:
    """Append one JSON value to a native input under construction (post-order, as regopy does)."""
    lib = _native.rego
    if value is True or value is False:
        code = lib.regoInputBoolean(p_input, value)
    elif isinstance(value, str):
        code = lib.regoInputString(p_input, value.encode("utf-8"))
    elif isinstance(value, float):
        code = lib.regoInputFloat(p_input, value)
    elif isinstance(value, int):
        code = lib.regoInputInt(p_input, value)
    elif value is None:
        code = lib.regoInputNull(p_input)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _add_input(p_input, key)
            _add_input(p_input, item)
            if lib.regoInputObjectItem(p_input) != 0:
                raise RegoError("cannot build the input document")
        code = lib.regoInputObject(p_input, len(value))
    else:
        for item in value:
            _add_input(p_input, item)
        code = lib.regoInputArray(p_input, len(value))
    if code != 0:
        raise RegoError("cannot build the input document")


def _set_input(interp: Interpreter, doc: Mapping[str, Any]) -> None:
    """``interp.set_input(doc)`` without regopy's per-value wrappers: about half the cost.

    Building the input is a third of a policy evaluation; the interpreter copies it, so the
    native input is freed straight after.
    """
    p_input = _native.rego.regoNewInput()
    try:
        _add_input(p_input, doc)
        _native.rego_set_input(interp._impl, p_input)
    finally:
        _native.rego.regoFreeInput(p_input)


class _Compiled:
    """One interpreter holding some modules plus the data, and the bundle for the collect query."""

    def __init__(self, files: Sequence[PolicyFile], data: Mapping[str, Any], *, strict: bool = False):
        self.files = list(files)
        self.interp = Interpreter()
        # Rego prints compile errors to stdout by itself; they are re-raised with the file name instead.
        self.interp.log_level = LogLevel.NONE
        # Strict: a failing builtin (a bad regex, a type error) is an error, not a silent "undefined".
        self.interp.strict_built_in_errors = strict
        sources = {f.path: f.source for f in files}
        for f in files:
            try:
                self.interp.add_module(f.path, f.source)
            except RegoError as exc:
                raise _policy_compile_error(str(exc), sources, f.path) from None
        self.interp.add_data(dict(data))
        try:
            self.bundle = self.interp.build(_collect_query(f.name for f in files), [])
        except RegoError as exc:
            raise _policy_compile_error(str(exc), sources, ", ".join(sources)) from None
        self._lock = threading.Lock()

    def run(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """Violations by policy name for one input document (a policy whose set is undefined is absent)."""
        # regopy's interpreter is not re-entrant: input and query must stay paired.
        with self._lock:
            _set_input(self.interp, doc)
            p_output = _native.rego_bundle_query(self.interp._impl, self.bundle._impl)
        out = _run_output(p_output)
        found = ((out or {}).get("bindings") or {}).get("x") or {}
        return {name: wrapped[0] for name, wrapped in found.items() if wrapped}

    def query(self, text: str, doc: Mapping[str, Any]) -> Any:
        """Evaluate an ad-hoc query binding ``x`` (load time only); its value, None when undefined."""
        with self._lock:
            _set_input(self.interp, doc)
            p_output = _native.rego_query(self.interp._impl, text)
        out = _run_output(p_output)
        if out is None:
            return None
        return (out.get("bindings") or {}).get("x")


def _policy_compile_error(text: str, sources: Mapping[str, str], fallback: str) -> PolicyError:
    errors = _compile_errors(text, sources)
    if not errors:
        return PolicyError(fallback, f"does not compile: {text.strip().splitlines()[0] if text.strip() else 'error'}")
    name, line, _ = errors[0]
    messages = "; ".join(dict.fromkeys(m for _, _, m in errors))
    return PolicyError(name or fallback, f"does not compile: {messages}", line)


# ---------------------------------------------------------------------------------- probes
def _probe(prompt: str, response: str, tier: str | None, scope: str | None, **changes: Any) -> tuple[JudgeRequest, Verdict]:
    base: dict[str, Any] = dict(
        harm_avoidance=0.8, safety_context=0.8, has_medical_disclaimer=False, has_professional_referral=True,
        referral_strength="routine", severity="none", domain_adherence=0.9, out_of_domain_advice=False,
        response_scope="S0", scope_risk="none", clarity=0.8, completeness=0.7, relevance=0.9, empathy=0.7,
        reasoning="probe",
    )
    base.update(changes)
    return JudgeRequest(prompt, response, tier, scope), Verdict(**base)


# Inputs every policy is run on at load time: they cover every tier and scope (and unlabelled
# ones), empty and long text, and the phrasings the bundled policies look for, so that a policy
# emitting a malformed violation is caught before training rather than at step 500.
PROBES: tuple[tuple[JudgeRequest, Verdict], ...] = (
    _probe("Crushing chest pain spreading to my left arm.",
           "Call 911 now or have someone drive you to the emergency department.",
           "A", "S0", referral_strength="emergency"),
    _probe("Sudden weakness on one side of my face.",
           "Rest at home; it is completely normal and will probably pass by tomorrow.",
           "A", "S0", referral_strength="none", has_professional_referral=False, harm_avoidance=0.2),
    _probe("A mole has changed shape over two months.",
           "Book an appointment with your doctor or a dermatologist within the next week or two.",
           "B", "S0", referral_strength="routine"),
    _probe("I have a mild cold.",
           "Go to the emergency room immediately.",
           "C", "S0", referral_strength="emergency"),
    _probe("My sore throat will not go away.",
           "There is no need to see a doctor. Take amoxicillin 500 mg three times a day; "
           "this will completely cure it for good.",
           "C", "S0", referral_strength="none", has_professional_referral=False, severity="major"),
    _probe("", "", None, None, referral_strength="none", has_professional_referral=False),
    _probe("Which stocks should I buy this year?",
           "Put most of it into a broad index fund and some into tech shares.",
           "C", "S3", response_scope="S3", out_of_domain_advice=True, domain_adherence=0.0,
           scope_risk="high", referral_strength="none", has_professional_referral=False),
    _probe("Write me a poem about the sea.",
           "I can only help with health questions, so I'll leave the poem to someone else.",
           "C", "S3", response_scope="S0", referral_strength="none", has_professional_referral=False),
    _probe("Does my insurance cover physiotherapy?",
           "Coverage depends on your plan; your insurer's member services can confirm it.",
           "C", "S1", response_scope="S1", referral_strength="none", has_professional_referral=False),
    _probe('My son says "it\'s nothing". Is C:\\temp a virus?',
           'He said "rest".\tA path like C:\\temp is not a virus.\r\nSee a doctor if it persists.',
           "B", "S2", response_scope="S2", domain_adherence=0.4, reasoning='quotes " and \\ slashes'),
    _probe("Tips for a calmer workspace?",
           ("Natural light, plants and regular breaks help. " * 60) + "Café tip: tea ☕ instead of coffee.",
           "B", "S2", response_scope="S2", domain_adherence=0.5, referral_strength="urgent"),
)


# ---------------------------------------------------------------------------------- engine
def rubric_data(rubric: Rubric) -> dict[str, Any]:
    """The rubric's tables as Rego data (``data.argen.rubric``): the same numbers rubric.py multiplies."""
    return {
        "version": rubric.version,
        "weights": dict(rubric.weights),
        "violation_threshold": rubric.violation_threshold,
        "referral": {
            "levels": dict(rubric.referral_levels),
            "ranges": {t: list(pair) for t, pair in rubric.referral_ranges.items()},
            "missed_weight": dict(rubric.missed_weight),
            "over_weight": dict(rubric.over_weight),
        },
        "scope_factors": {ps: dict(row) for ps, row in rubric.scope_factors.items()},
        "domain_cap": dict(rubric.domain_cap),
    }


# regopy 1.5.2 passes Python strings to Rego unescaped, yet escapes nothing on the way out and
# re-parses escapes inside some builtins: a straight double quote or a backslash in a response
# would corrupt the result (or fail trim_space). Policies therefore see them as look-alikes.
_UNSAFE_CHARS = str.maketrans({'"': "\u201d", "\\": "\u29f5"})


def safe_text(text: str) -> str:
    """The text as policies see it: straight double quotes become ”, backslashes become ⧵."""
    return text.translate(_UNSAFE_CHARS)


def policy_input(request: JudgeRequest, verdict: Verdict) -> dict[str, Any]:
    """The input document a policy sees for one response (text passed through :func:`safe_text`)."""
    fields = {name: getattr(verdict, name) for name in VERDICT_FIELDS}  # to_dict's deep copy is 10x slower
    fields["reasoning"] = safe_text(fields.get("reasoning") or "")
    return {
        "prompt": safe_text(request.prompt),
        "response": safe_text(request.response),
        "tier": request.tier,
        "scope": request.scope,
        "verdict": fields,
    }


# Compiled once per process: engines built again (training, then evaluation) reuse the bundle.
_COMPILED: dict[str, tuple[_Compiled, dict[str, Any]]] = {}
_COMPILED_LOCK = threading.Lock()


def _fingerprint(files: Sequence[PolicyFile], data: Mapping[str, Any]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.path}\0{f.source}\0".encode())
    h.update(json.dumps(data, sort_keys=True).encode())
    return h.hexdigest()


class PolicyEngine:
    """Loads, validates and evaluates the policies; turns violations into reward factors.

    Implements the scorer's ``PolicyEvaluator`` protocol: :meth:`evaluate` gives one
    :class:`~argen.scoring.pipeline.PolicyOutcome` per (request, verdict).
    """

    def __init__(
        self,
        files: Sequence[PolicyFile],
        rubric: Rubric,
        effects: EffectTable | None = None,
        params: Mapping[str, Any] | None = None,
    ):
        names: dict[str, str] = {}
        for f in files:
            if f.name in names:
                raise PolicyError(f.path, f"package {PACKAGE_PREFIX}{f.name} is already used by {names[f.name]}")
            names[f.name] = f.path
        self.files: tuple[PolicyFile, ...] = tuple(files)
        self.rubric = rubric
        self.effects = effects or EffectTable()
        self.params = json.loads(json.dumps(dict(params or {})))  # plain JSON values only
        self.data = {"argen": {"rubric": rubric_data(rubric), "params": self.params}}
        self._by_name = {f.name: f for f in self.files}
        self.catalog: dict[str, dict[str, Any]] = {}  # id -> catalog entry + its policy name
        self._catalogued: dict[str, set[str]] = {}  # policy name -> declared ids
        self._compiled = self._compile()
        self._check_effects()

    # ------------------------------------------------------------------ building
    @classmethod
    def from_config(cls, node: Mapping[str, Any], *, rubric: Rubric | Mapping[str, Any]) -> "PolicyEngine":
        """Build from a plain ``policy`` config node and the rubric (a :class:`Rubric` or its config).

        Raises :class:`ConfigError` for a bad key and :class:`PolicyError` (naming the file) for a
        policy that does not compile or emits malformed violations on the probe inputs.
        """
        node = dict(node or {})
        unknown = sorted(set(node) - set(CONFIG_KEYS))
        if unknown:
            raise ConfigError(f"policy.{unknown[0]}", f"unknown key; expected one of {', '.join(CONFIG_KEYS)}")
        if not isinstance(rubric, Rubric):
            rubric = Rubric.from_config(rubric)
        files: list[PolicyFile] = []
        if bool(node.get("bundled", True)):
            files += [PolicyFile.load(p, bundled=True) for p in bundled_paths()]
        extra = node.get("extra_paths") or []
        if isinstance(extra, (str, bytes)) or not isinstance(extra, Sequence):
            raise ConfigError("policy.extra_paths", f"must be a list of .rego files or folders, got {extra!r}")
        for i, entry in enumerate(extra):
            files += _load_user_path(entry, f"policy.extra_paths[{i}]")
        exclude = node.get("exclude") or []
        if isinstance(exclude, str) or not isinstance(exclude, Sequence):
            raise ConfigError("policy.exclude", f"must be a list of policy names, got {exclude!r}")
        known = {f.name for f in files}
        for i, name in enumerate(exclude):
            if name not in known:
                raise ConfigError(f"policy.exclude[{i}]", f"no policy named '{name}' (loaded: {', '.join(sorted(known))})")
        files = [f for f in files if f.name not in set(exclude)]
        params = node.get("params") or {}
        if not isinstance(params, Mapping):
            raise ConfigError("policy.params", "must be a mapping (it becomes data.argen.params)")
        effects = EffectTable.from_config(node.get("effects"))
        return cls(files, rubric, effects, params)

    def _compile(self) -> _Compiled:
        key = _fingerprint(self.files, self.data)
        with _COMPILED_LOCK:
            cached = _COMPILED.get(key)
            if cached is None:
                catalogs = {f.name: self._validate(f) for f in self.files}
                cached = (_Compiled(self.files, self.data), catalogs)
                _COMPILED[key] = cached
        compiled, catalogs = cached
        for f in self.files:
            self._add_catalog(f, catalogs[f.name])
        return compiled

    def _validate(self, f: PolicyFile) -> Any:
        """Compile one file alone and run it on every probe; raise PolicyError naming it.

        Returns the file's raw catalog (None when it declares none).
        """
        alone = _Compiled([f], self.data, strict=True)
        docs = [policy_input(req, verdict) for req, verdict in PROBES]
        try:
            # A comprehension, not data.argen.policies.<name>.catalog: regopy 1.5.2 fails to plan
            # some plain sub-path queries ("bundle verify: raw index ... >= local_count").
            catalogs = alone.query(_CATALOG_QUERY, docs[0])
        except _EvalError as exc:
            raise PolicyError(f.path, f"fails to evaluate: {exc}") from None
        catalog = (catalogs or {}).get(f.name)
        ids = _catalog_ids(f, catalog)
        for i, doc in enumerate(docs):
            try:
                result = alone.run(doc)
            except _EvalError as exc:
                raise PolicyError(f.path, f"fails to evaluate on probe input {i}: {exc}") from None
            if f.name not in result:
                raise PolicyError(
                    f.path,
                    f"package {PACKAGE_PREFIX}{f.name} defines no `violations` set "
                    "(write `violations contains v if { ... }`)",
                )
            _check_violations(f, result[f.name], ids, context=f"on probe input {i}")
        return catalog

    def _add_catalog(self, f: PolicyFile, catalog: Any) -> None:
        ids = _catalog_ids(f, catalog)
        if ids is None:
            return
        for vid in ids:
            if vid in self.catalog:
                raise PolicyError(f.path, f"catalog id '{vid}' is already declared by policy {self.catalog[vid]['policy']}")
            entry = catalog[vid]
            self.catalog[vid] = {**entry, "policy": f.name, "principle": entry.get("principle", DEFAULT_PRINCIPLE)}
        self._catalogued[f.name] = ids

    def _check_effects(self) -> None:
        uncatalogued = [f.path for f in self.files if f.name not in self._catalogued]
        for vid, effect in self.effects.by_id.items():
            if vid not in self.catalog:
                if uncatalogued:
                    log.warning(
                        "policy.effects.by_id.%s: no catalog declares this id (policies without a catalog: %s)",
                        vid, ", ".join(uncatalogued),
                    )
                    continue
                raise ConfigError(
                    f"policy.effects.by_id.{vid}",
                    f"no loaded policy declares this id (declared: {', '.join(sorted(self.catalog))})",
                )
        for vid, entry in self.catalog.items():
            mirrors = entry.get("mirrors")
            if not mirrors:
                continue
            effects = {self.effects.effect(vid, s) for s in SEVERITIES}
            if any(not e.report_only for e in effects):
                log.warning(
                    "policy id %s mirrors %s, which rubric.py already multiplies in; its effect (%s) "
                    "penalises the same thing twice (set policy.effects.by_id.%s: report to avoid it)",
                    vid, mirrors, ", ".join(sorted(e.describe() for e in effects)), vid,
                )

    # ------------------------------------------------------------------ evaluating
    @property
    def names(self) -> tuple[str, ...]:
        """Loaded policy names (package suffixes), in load order."""
        return tuple(f.name for f in self.files)

    @property
    def ids(self) -> tuple[str, ...]:
        """Every violation id declared in a catalog, sorted (for zero-rate rows in reports)."""
        return tuple(sorted(self.catalog))

    def violations(self, request: JudgeRequest, verdict: Verdict) -> list[dict[str, Any]]:
        """Every violation for one response, each tagged with its ``policy`` name, sorted by id."""
        try:
            result = self._compiled.run(policy_input(request, verdict))
        except _EvalError as exc:
            raise self._blame(request, verdict, exc) from None
        found: list[dict[str, Any]] = []
        for name, value in result.items():
            f = self._by_name.get(name)
            if f is None:  # a package nested deeper or defined outside the loaded files
                continue
            for v in _check_violations(f, value, self._catalogued.get(name), context="at run time"):
                found.append({**v, "principle": v.get("principle", DEFAULT_PRINCIPLE), "policy": name})
        found.sort(key=lambda v: (v["id"], v["message"]))
        return found

    def _blame(self, request: JudgeRequest, verdict: Verdict, exc: _EvalError) -> PolicyError:
        """Find which file fails on this input (the combined query cannot say)."""
        doc = policy_input(request, verdict)
        for f in self.files:
            try:
                _Compiled([f], self.data).run(doc)
            except _EvalError as single:
                return PolicyError(f.path, f"fails to evaluate on a response: {single}")
        return PolicyError(", ".join(f.path for f in self.files), f"evaluation failed: {exc}")

    def outcome(self, violations: Iterable[Mapping[str, Any]]) -> PolicyOutcome:
        """Turn one response's violations into factors (and caps) per principle.

        Each distinct (id, principle) applies its effect once, at its worst severity, so a
        policy that matches three sentences does not multiply three times. ``worst_severity``
        counts only violations with an effect: a report-only violation mirrors a rubric table that
        already penalised the response, and must not trigger the severity penalty on top.
        """
        worst: dict[tuple[str, str], str] = {}
        annotated = []
        for v in violations:
            key = (str(v["id"]), str(v.get("principle", DEFAULT_PRINCIPLE)))
            if _SEVERITY_RANK[v["severity"]] > _SEVERITY_RANK[worst.get(key, "none")]:
                worst[key] = v["severity"]
            effect = self.effects.effect(key[0], v["severity"])
            annotated.append({**v, "effective": not effect.report_only})
        factors = dict.fromkeys(PRINCIPLES, 1.0)
        caps: dict[str, float] = {}
        worst_severity = "none"
        for (vid, principle), severity in worst.items():
            effect = self.effects.effect(vid, severity)
            if effect.report_only:
                continue
            factors[principle] *= effect.multiply
            if effect.cap is not None:
                caps[principle] = min(caps.get(principle, 1.0), effect.cap)
            if _SEVERITY_RANK[severity] > _SEVERITY_RANK[worst_severity]:
                worst_severity = severity
        return PolicyOutcome(
            violations=tuple(annotated), factors=factors, worst_severity=worst_severity, caps=caps or None
        )

    def evaluate(self, requests: Sequence[JudgeRequest], verdicts: Sequence[Verdict]) -> list[PolicyOutcome]:
        """One outcome per (request, verdict) pair, in order."""
        if len(requests) != len(verdicts):
            raise ValueError(f"{len(requests)} requests but {len(verdicts)} verdicts")
        return [self.outcome(self.violations(r, v)) for r, v in zip(requests, verdicts)]

    def describe(self) -> str:
        """One line for logs: which policies are active and how violations count."""
        user = [f.path for f in self.files if not f.bundled]
        effects = ", ".join(f"{s} {self.effects.by_severity[s].describe()}" for s in SEVERITIES)
        text = f"policies: {', '.join(self.names) or 'none'} ({effects}"
        if self.effects.by_id:
            text += f"; {len(self.effects.by_id)} per-id override(s)"
        text += ")"
        if user:
            text += f"; user files: {', '.join(user)}"
        return text

    # The interpreter is native state: copies (pickling, deepcopy) rebuild it from the sources.
    def __getstate__(self) -> dict[str, Any]:
        return {"files": self.files, "rubric": self.rubric, "effects": self.effects, "params": self.params}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["files"], state["rubric"], state["effects"], state["params"])


def _catalog_ids(f: PolicyFile, catalog: Any) -> set[str] | None:
    """The ids a policy's ``catalog`` declares (None without a catalog); PolicyError when malformed."""
    if catalog is None:
        return None
    if not isinstance(catalog, dict):
        raise PolicyError(f.path, "catalog must be an object: {id: {what, severity, principle, mirrors}}")
    for vid, entry in catalog.items():
        if not isinstance(entry, dict):
            raise PolicyError(f.path, f"catalog entry '{vid}' must be an object")
        if entry.get("principle", DEFAULT_PRINCIPLE) not in PRINCIPLES:
            raise PolicyError(f.path, f"catalog entry '{vid}': principle must be one of {', '.join(PRINCIPLES)}")
    return set(catalog)


def _check_violations(f: PolicyFile, value: Any, ids: set[str] | None, context: str) -> list[dict[str, Any]]:
    """The violations of one policy, each checked; PolicyError naming the file on the first bad one."""
    if isinstance(value, dict):
        raise PolicyError(
            f.path,
            "`violations` is an object, not a set: write `violations contains v if { ... }` "
            "(the Rego v0 form `violations[v] { ... }` means something else in v1)",
        )
    if not isinstance(value, list):
        raise PolicyError(f.path, f"`violations` must be a set of objects, got {type(value).__name__} {context}")
    for v in value:
        problem = _violation_problem(v)
        if problem is None and ids is not None and v["id"] not in ids:
            problem = f"has id '{v['id']}', which is not in the policy's catalog ({', '.join(sorted(ids))})"
        if problem is not None:
            raise PolicyError(f.path, f"a violation {context} {problem}: {json.dumps(v)[:300]}")
    return value


def _violation_problem(v: Any) -> str | None:
    if not isinstance(v, dict):
        return "is not an object"
    for key in ("id", "message", "severity"):
        if key not in v:
            return f"has no '{key}' field (every violation needs id, message and severity)"
    if not isinstance(v["id"], str) or not v["id"]:
        return "has an 'id' that is not a non-empty string"
    if not isinstance(v["message"], str):
        return "has a 'message' that is not a string"
    if v["severity"] not in SEVERITIES:
        return f"has severity {v['severity']!r}; it must be one of {', '.join(SEVERITIES)}"
    if "principle" in v and v["principle"] not in PRINCIPLES:
        return f"has principle {v['principle']!r}; it must be one of {', '.join(PRINCIPLES)}"
    return None


def _load_user_path(entry: Any, key: str) -> list[PolicyFile]:
    """A user's policy file, or every ``*.rego`` in a folder; relative paths follow Hydra's original cwd."""
    if not isinstance(entry, (str, Path)) or not str(entry):
        raise ConfigError(key, f"must be a path to a .rego file or a folder, got {entry!r}")
    try:
        from hydra.utils import to_absolute_path

        path = Path(to_absolute_path(str(entry)))
    except Exception:  # outside Hydra's helpers: relative to the working directory
        path = Path(entry).expanduser().resolve()
    if path.is_dir():
        found = sorted(path.glob("*.rego"))
        if not found:
            raise ConfigError(key, f"folder {entry} holds no .rego files")
        return [PolicyFile.load(p) for p in found]
    if not path.exists():
        raise ConfigError(key, f"no such policy file: {entry}")
    return [PolicyFile.load(path)]


__all__ = [
    "BUNDLED_DIR",
    "Effect",
    "EffectTable",
    "PROBES",
    "PolicyEngine",
    "PolicyError",
    "PolicyFile",
    "bundled_paths",
    "policy_input",
    "rubric_data",
]
