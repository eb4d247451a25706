"""The bottom of the schema: where the configs live and the helpers every schema module uses on
a composed config. Imports nothing of argen but :mod:`argen.errors`, so :mod:`argen.config`
(a facade above the schema) and the schema modules never import each other in a circle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from argen.errors import ConfigError


def to_plain(node: Any) -> Any:
    """A resolved plain-Python copy of a config node."""
    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    return node


_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # argen/
# The configs: inside the package when argen is installed from a wheel (setup.py ships conf/ as
# argen/conf), else the repository's top-level conf/ (a source checkout or an editable install).
CONF_DIR = str(_PACKAGE_DIR / "conf" if (_PACKAGE_DIR / "conf" / "train.yaml").is_file() else _PACKAGE_DIR.parent / "conf")
# The directory holding conf/: relative paths in the config that are not found from the working
# directory (e.g. hardware.accelerate_config: conf/accelerate/ddp.yaml) are looked up here.
REPO_ROOT = Path(CONF_DIR).parent


def resolve_config_path(value: Any) -> Path:
    """A file named in the config: absolute as given; relative to the working directory if it
    exists there, else relative to the repository root (so runs work from any directory)."""
    path = Path(str(value)).expanduser()
    if path.is_absolute() or path.exists():
        return path.resolve() if path.exists() else path
    return REPO_ROOT / path


def check_no_missing_values(cfg: DictConfig) -> None:
    """A mandatory value (``???``, e.g. ``model=local`` without ``model.path``) left unset."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(missing[0], f"is required and has no value: add {missing[0]}=... on the command line")
