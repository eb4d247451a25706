"""What every entry point checks on its raw command line, before Hydra composes or writes anything.

- :func:`refuse_secrets`: a key or token typed on the command line is refused (one line naming the
  config key, never the value), because Hydra records every override in several files and on the
  console before any ArGen code runs (docs/reliability.md, Secrets).
- :func:`lock_run_dir`: a run dir named on the command line (``hydra.run.dir=...``, or the run a
  ``resume=`` continues) is locked before Hydra writes its ``.hydra/`` files into it, so a second
  writer is refused before it touches the first one's records (:mod:`argen.data.run_lock`).
- :class:`RedactHydraRecords`: a Hydra callback that rewrites what Hydra recorded (``.hydra/*.yaml``,
  ``multirun.yaml``) with anything shaped like a key replaced, for keys that came from a config
  file rather than the command line (the run itself then refuses them: they must not reach its
  own files); :func:`redact_printed_config` does the same for ``--cfg job``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from argen.errors import ArgenError, ConfigError

# Hydra flags after which no job runs and no run dir is made (help, printing the config).
_NO_JOB_FLAGS = ("--cfg", "-c", "--help", "-h", "--hydra-help", "--info", "-i", "--shell-completion", "-sc")
_MULTIRUN_FLAGS = ("-m", "--multirun")
# The last part of a config key that holds a secret itself (judge.api_key, logging.wandb_api_key, hf_token).
_SECRET_NAMES = ("api_key", "apikey", "token", "secret", "secret_key", "password", "passwd", "credential",
                 "credentials", "private_key", "access_key")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NULLS = ("", "null", "None", "~", "''", '""')


def _split(arg: str) -> tuple[str | None, str]:
    """(config key, raw value) of an override ``[+~]key=value``; (None, arg) for anything else."""
    if arg.startswith("-") or "=" not in arg:
        return None, arg
    key, _, value = arg.partition("=")
    return key.lstrip("+~"), value


def _names_a_secret(key: str) -> bool:
    last = key.rsplit(".", 1)[-1].lower()
    return any(last == name or last.endswith("_" + name) for name in _SECRET_NAMES)


def _names_a_key_variable(key: str) -> bool:
    last = key.rsplit(".", 1)[-1].lower()
    return last.endswith("key_env") or last.endswith("token_env")


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def refuse_secrets(argv: Sequence[str]) -> None:
    """Refuse a command line that carries a secret; the message names the key, never the value.

    Refused: any value for a key named like a secret (``+judge.api_key=...``, ``hf_token=...``);
    anything but a variable NAME for ``*.api_key_env`` (``judge.api_key_env=sk-...``); and
    anything shaped like an API key or token anywhere on the line.
    """
    from argen.judges.redaction import KEY_ADVICE, key_shaped

    for position, arg in enumerate(argv, 1):
        key, value = _split(arg)
        if key is not None and _names_a_key_variable(key):
            names = [_unquote(v) for v in _unquote(value).strip("[]").split(",")]
            if any(n not in _NULLS and not _ENV_NAME.match(n) for n in names) or key_shaped(value):
                raise ConfigError(key, "must be the NAME of an environment variable (e.g. OPENAI_API_KEY), not the key "
                                  "itself; the value is not shown and nothing was written")
            continue
        if key is not None and _names_a_secret(key) and _unquote(value) not in _NULLS:
            raise ConfigError(key, "a secret on the command line would be recorded in the run's files (not shown; "
                              f"nothing was written); {KEY_ADVICE}")
        if key_shaped(arg):
            what = f"looks like an API key or token (not shown; nothing was written); {KEY_ADVICE}"
            if key is not None:
                raise ConfigError(key, what)  # the one format of a key's error (argen.errors)
            raise ArgenError(f"command-line argument {position}: {what}")


def _override(argv: Sequence[str], key: str) -> str | None:
    """The value of ``key=...`` on the command line, unquoted as Hydra reads it (the last one wins)."""
    found = None
    for arg in argv:
        name, value = _split(arg)
        if name == key:
            found = value
    if found is None:
        return None
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides([f"{key}={found}"])[0].value()
    except Exception:  # Hydra reports a malformed override itself, with its own words
        return None
    return parsed if isinstance(parsed, str) else None


def on_first_machine(argv: Sequence[str]) -> bool:
    """Whether this process runs on machine 0 of its run. A run spanning machines trains in one
    shared run dir, and only machine 0 writes its records, so only machine 0 takes its lock
    (``hardware.machine_rank`` on the command line, else SLURM's node id)."""
    import os

    given = [_unquote(value) for key, value in map(_split, argv) if key == "hardware.machine_rank"]
    if given and given[-1].isdigit():
        return int(given[-1]) == 0
    node = os.environ.get("SLURM_NODEID", "")
    return not (node.isdigit() and int(node) > 0)


def lock_run_dir(argv: Sequence[str], prog: str) -> None:
    """Lock the run dir named on the command line for this process (held until it exits).

    Only a literal ``hydra.run.dir`` is locked here (one with ``${...}`` is resolved by Hydra: the
    job locks it when it starts); not with ``-m`` (each job locks its own dir) nor when Hydra runs
    no job (``--cfg job``, ``--help``). Raises :class:`~argen.data.run_lock.OutputLocked` naming
    the holder, before Hydra writes anything there.
    """
    if any(a in _NO_JOB_FLAGS or a in _MULTIRUN_FLAGS for a in argv) or not on_first_machine(argv):
        return
    run_dir = _override(argv, "hydra.run.dir")
    if not run_dir or "${" in run_dir:
        return
    from argen.data.outputs import check_writable_dir
    from argen.data.run_lock import acquire_output_lock

    check_writable_dir(run_dir, "hydra.run.dir")  # the one-line error Hydra's callback would give
    key = "resume" if _override(argv, "resume") not in (None, "false", "False") else "hydra.run.dir"
    acquire_output_lock(Path(run_dir), is_dir=True, key=key, prog=prog, what="run dir")


class _RedactingStream:
    """A text stream that writes through, with anything shaped like a key replaced."""

    def __init__(self, stream: Any):
        self._stream = stream

    def write(self, text: str) -> int:
        from argen.judges.redaction import redact_key_shaped

        self._stream.write(redact_key_shaped(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def redact_printed_config(argv: Sequence[str]) -> None:
    """``--cfg job`` (and ``--info``) print the composed config: a key from a config file is
    shown as ``[redacted]``. Only then: a run's own output is not filtered."""
    import sys

    if any(a in _NO_JOB_FLAGS for a in argv):
        sys.stdout = _RedactingStream(sys.stdout)


def _redact_file(path: Path) -> None:
    from argen.data.atomic import write_atomic
    from argen.judges.redaction import redact_key_shaped

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    cleaned = redact_key_shaped(text)
    if cleaned != text:
        write_atomic(path, cleaned)


class RedactHydraRecords(Callback):
    """After Hydra saved a job's ``.hydra/`` files (and a sweep's ``multirun.yaml``), replace
    anything shaped like an API key in them: a key set in a config file is not kept in the run's
    records. (A key on the command line never gets this far: :func:`refuse_secrets`.)"""

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        from omegaconf import OmegaConf

        runtime_dir = OmegaConf.select(config, "hydra.runtime.output_dir")
        subdir = OmegaConf.select(config, "hydra.output_subdir")
        if runtime_dir and subdir:
            for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
                _redact_file(Path(str(runtime_dir)) / str(subdir) / name)
        sweep_dir = OmegaConf.select(config, "hydra.sweep.dir")
        if str(OmegaConf.select(config, "hydra.mode")) == "RunMode.MULTIRUN" and sweep_dir:
            _redact_file(Path(str(sweep_dir)) / "multirun.yaml")
