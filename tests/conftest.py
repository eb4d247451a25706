"""Shared test helpers: paths, Hydra composition, and running the real entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from argen.runtime import quiet_openmp

# Before any test module loads torch: in-process generation on a shared CPU, threads that sleep.
quiet_openmp()

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
REFERENCE = REPO.parent / "shared" / "argen-reference"


def compose(config_name: str = "train", overrides: list[str] | None = None):
    """Compose a config with Hydra's compose API, exactly as the entry points would."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        return hydra_compose(config_name=config_name, overrides=list(overrides or []))


def cli_env(**extra: str) -> dict[str, str]:
    """Environment for subprocess runs: offline, no tracker keys, quiet tokenizers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_") and k != "OPENAI_API_KEY"}
    # PASSIVE: OpenMP threads sleep instead of spinning, which matters on a loaded 2-core machine.
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1",
               OMP_WAIT_POLICY="PASSIVE")
    env.update(extra)
    return env


def run_cli(module: str, *args: str, timeout: float = 600, env: dict[str, str] | None = None, cwd: Path = REPO):
    """Run ``python -m module args...`` and return the CompletedProcess (text, both streams captured)."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.skip("../shared/argen-reference is not present")
    return REFERENCE


@pytest.fixture
def hydra_config():
    """Set Hydra's global run config for one test (as a running job has it), and clear it after:
    helpers such as ``hydra.utils.to_absolute_path`` read it, so a leftover one changes later tests."""
    from hydra.core.hydra_config import HydraConfig

    yield HydraConfig.instance().set_config
    HydraConfig.instance().cfg = None
