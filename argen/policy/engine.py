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

The pieces: :mod:`~argen.policy.files` (reading files), :mod:`~argen.policy.effects` (what a
violation does to a reward), :mod:`~argen.policy.probes` (load-time inputs) and
:mod:`~argen.policy.regopy_backend` (everything regopy). This module holds the engine and the
per-process compile cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from argen.errors import ConfigError
from argen.policy.effects import SEVERITIES, Effect, EffectTable
from argen.policy.files import BUNDLED_DIR, PACKAGE_PREFIX, PolicyError, PolicyFile, bundled_paths, load_user_path
from argen.policy.probes import PROBES
from argen.policy.regopy_backend import CATALOG_QUERY, Compiled, EvalError, safe_text
from argen.types import PRINCIPLES, VERDICT_FIELDS, JudgeRequest, PolicyOutcome, Verdict

log = logging.getLogger(__name__)

_SEVERITY_RANK = {"none": 0, "minor": 1, "major": 2}
DEFAULT_PRINCIPLE = "ahimsa"
CONFIG_KEYS = ("enabled", "extra_paths", "bundled", "exclude", "params", "effects")


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
_COMPILED: dict[str, tuple[Compiled, dict[str, Any]]] = {}
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
    :class:`~argen.types.PolicyOutcome` per (request, verdict). ``rubric`` is the rubric's tables
    as Rego data (``data.argen.rubric``; :func:`argen.scoring.rubric.rubric_data` builds them).
    """

    def __init__(
        self,
        files: Sequence[PolicyFile],
        rubric: Mapping[str, Any],
        effects: EffectTable | None = None,
        params: Mapping[str, Any] | None = None,
    ):
        names: dict[str, str] = {}
        for f in files:
            if f.name in names:
                raise PolicyError(f.path, f"package {PACKAGE_PREFIX}{f.name} is already used by {names[f.name]}")
            names[f.name] = f.path
        self.files: tuple[PolicyFile, ...] = tuple(files)
        self.rubric = json.loads(json.dumps(dict(rubric)))  # plain JSON values only
        self.effects = effects or EffectTable()
        self.params = json.loads(json.dumps(dict(params or {})))  # plain JSON values only
        self.data = {"argen": {"rubric": self.rubric, "params": self.params}}
        self._by_name = {f.name: f for f in self.files}
        self.catalog: dict[str, dict[str, Any]] = {}  # id -> catalog entry + its policy name
        self._catalogued: dict[str, set[str]] = {}  # policy name -> declared ids
        self._compiled = self._compile()
        self._check_effects()

    # ------------------------------------------------------------------ building
    @classmethod
    def from_config(cls, node: Mapping[str, Any], *, rubric: Mapping[str, Any]) -> "PolicyEngine":
        """Build from a plain ``policy`` config node and the rubric's tables (``data.argen.rubric``).

        Raises :class:`ConfigError` for a bad key and :class:`PolicyError` (naming the file) for a
        policy that does not compile or emits malformed violations on the probe inputs.
        """
        node = dict(node or {})
        unknown = sorted(set(node) - set(CONFIG_KEYS))
        if unknown:
            raise ConfigError(f"policy.{unknown[0]}", f"unknown key; expected one of {', '.join(CONFIG_KEYS)}")
        files: list[PolicyFile] = []
        if bool(node.get("bundled", True)):
            files += [PolicyFile.load(p, bundled=True) for p in bundled_paths()]
        extra = node.get("extra_paths") or []
        if isinstance(extra, (str, bytes)) or not isinstance(extra, Sequence):
            raise ConfigError("policy.extra_paths", f"must be a list of .rego files or folders, got {extra!r}")
        for i, entry in enumerate(extra):
            files += load_user_path(entry, f"policy.extra_paths[{i}]")
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

    def _compile(self) -> Compiled:
        key = _fingerprint(self.files, self.data)
        with _COMPILED_LOCK:
            cached = _COMPILED.get(key)
            if cached is None:
                catalogs = {f.name: self._validate(f) for f in self.files}
                cached = (Compiled(self.files, self.data), catalogs)
                _COMPILED[key] = cached
        compiled, catalogs = cached
        for f in self.files:
            self._add_catalog(f, catalogs[f.name])
        return compiled

    def _validate(self, f: PolicyFile) -> Any:
        """Compile one file alone and run it on every probe; raise PolicyError naming it.

        Returns the file's raw catalog (None when it declares none).
        """
        alone = Compiled([f], self.data, strict=True)
        docs = [policy_input(req, verdict) for req, verdict in PROBES]
        try:
            # A comprehension, not data.argen.policies.<name>.catalog: regopy 1.5.2 fails to plan
            # some plain sub-path queries ("bundle verify: raw index ... >= local_count").
            catalogs = alone.query(CATALOG_QUERY, docs[0])
        except EvalError as exc:
            raise PolicyError(f.path, f"fails to evaluate: {exc}") from None
        catalog = (catalogs or {}).get(f.name)
        ids = _catalog_ids(f, catalog)
        for i, doc in enumerate(docs):
            try:
                result = alone.run(doc)
            except EvalError as exc:
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
        except EvalError as exc:
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

    def _blame(self, request: JudgeRequest, verdict: Verdict, exc: EvalError) -> PolicyError:
        """Find which file fails on this input (the combined query cannot say)."""
        doc = policy_input(request, verdict)
        for f in self.files:
            try:
                Compiled([f], self.data).run(doc)
            except EvalError as single:
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
    "safe_text",
]
