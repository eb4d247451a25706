"""Everything that touches ``regopy``: the preload that makes it safe beside torch, the C-API glue
on its private handles, and the workarounds for regopy 1.5.2, each with its reason.

The rest of :mod:`argen.policy` sees :class:`Compiled` (modules + data + one query bundle),
:class:`EvalError`, :data:`CATALOG_QUERY` and :func:`safe_text`. Upgrading regopy means revisiting
this file only: every private handle (``_impl``, ``rego_shared``) and every pinned workaround is here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
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
from regopy import rego_shared as _native  # noqa: E402  (the C API: private to regopy, pinned 1.5.2)

from argen.policy.files import PolicyError, PolicyFile  # noqa: E402

# The catalog query iterates over package names, which makes regopy evaluate every rule of every
# package: fine once at load time (it also exercises helper rules), far too slow per response.
CATALOG_QUERY = "x := {name: c | c := data.argen.policies[name].catalog}"


def _collect_query(names: Iterable[str]) -> str:
    """One query for every package's violations, naming each package (see CATALOG_QUERY).

    Each value is wrapped in an array comprehension so an undefined `violations` gives [] instead
    of making the whole object undefined (and plain sub-path queries trip a regopy 1.5.2 planner bug).
    """
    items = ", ".join(f'"{n}": [v | v := data.argen.policies.{n}.violations]' for n in names)
    return f"x := {{{items}}}"


class EvalError(Exception):
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
    """Decode one query output, raising :class:`EvalError` with Rego's messages on failure.

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
                raise EvalError(
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
        raise EvalError("; ".join(dict.fromkeys(messages)))
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


class Compiled:
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


# regopy 1.5.2 passes Python strings to Rego unescaped, yet escapes nothing on the way out and
# re-parses escapes inside some builtins: a straight double quote or a backslash in a response
# would corrupt the result (or fail trim_space). Policies therefore see them as look-alikes.
_UNSAFE_CHARS = str.maketrans({'"': "\u201d", "\\": "\u29f5"})


def safe_text(text: str) -> str:
    """The text as policies see it: straight double quotes become ”, backslashes become ⧵."""
    return text.translate(_UNSAFE_CHARS)


__all__ = ["CATALOG_QUERY", "Compiled", "EvalError", "safe_text"]
