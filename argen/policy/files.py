"""Policy files: reading a Rego module, checking its package line, and finding the bundled and the
user's files. A file that cannot be used is a :class:`PolicyError` naming it (and its line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argen.errors import ArgenError, ConfigError

BUNDLED_DIR = Path(__file__).resolve().parent / "rego"
PACKAGE_PREFIX = "argen.policies."

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



def load_user_path(entry: Any, key: str) -> list[PolicyFile]:
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


__all__ = ["BUNDLED_DIR", "PACKAGE_PREFIX", "PolicyError", "PolicyFile", "bundled_paths", "load_user_path"]
